//! The subject key store (docs/FORMAT.md, "Subject key store"): one AES-256 key per data
//! subject, wrapped under the KEK, in `keys/subjects`, apart from the segments. Erasing a
//! subject rewrites the file without its key (and without its blind-index entries), so
//! that once the rename is durable no copy of the key is left in the data directory;
//! what the medium may keep is in docs/PRIVACY.md.
//!
//! Its parts: [`entry`] encodes and decodes one entry (MAC-chained, a key sealed with
//! AES-256-GCM), [`file`] appends, syncs and cuts a torn tail, [`erase`] rewrites the
//! store atomically; this module is the store's API and what it holds in memory. New
//! entries are buffered; the log's writer thread [`write`s](SubjectKeys::write) them
//! before the records sealed with them, and they are [`sync`ed](SubjectKeys::sync) before
//! those records are (so before any is acknowledged).

mod entry;
mod erase;
mod file;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

pub use file::Unsynced;

use super::Kek;
use super::fingerprint::{ByFingerprint, Fingerprint, Fingerprinter};
use crate::error::{CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::storage::Storage;
use entry::{Entry, EntryKeys, Mac, NONCE_BYTES, encode_blind};
use file::{KeyFile, header};

/// The key store's file, under the data directory's `keys/`.
pub const SUBJECT_KEYS_FILE: &str = "subjects";

/// The longest subject id (an actor id: at most 256 bytes by validation).
const MAX_SUBJECT_BYTES: usize = 256;

/// One subject's key.
pub struct SubjectKey {
    /// Names this key in sealed records: random, never reused in one store.
    pub id: u64,
    /// The subject (an actor id).
    pub subject: String,
    /// When it was made.
    pub created: Timestamp,
    bytes: [u8; 32],
    /// The keys sealing uses, derived once (a key schedule per event would cost more
    /// than the encryption).
    pub(crate) derived: crate::privacy::seal::DerivedKeys,
}

impl Drop for SubjectKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.blind_key);
    }
}

impl Drop for SubjectKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    fn new(id: u64, subject: String, created: Timestamp, bytes: [u8; 32]) -> SubjectKey {
        SubjectKey {
            id,
            subject,
            created,
            derived: crate::privacy::seal::DerivedKeys::of(&bytes),
            bytes,
        }
    }

    /// The 32 key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

/// What an erasure destroyed, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The subject.
    pub subject: String,
    /// The id of the key destroyed.
    pub key_id: u64,
    /// When.
    pub at: Timestamp,
    /// The log's tree size then.
    pub tree_size: u64,
}

/// The subject keys of one data directory.
pub struct SubjectKeys {
    file: KeyFile,
    entries: EntryKeys,
    blind_key: [u8; 32],
    /// The KEK's check value, in the header: a store opens only under its own KEK.
    check: [u8; 16],
    /// Every live key by id.
    keys: HashMap<u64, Arc<SubjectKey>>,
    /// The live key of each subject, by the subject's fingerprint.
    current: ByFingerprint<Live>,
    fingerprints: Fingerprinter,
    /// Blind-index token → the keys (so subjects) it was seen with.
    blind: HashMap<[u8; 32], Vec<u64>>,
    /// Every id ever used (live or erased): a new key never takes one.
    used_ids: HashSet<u64>,
    erasures: Vec<Erasure>,
    /// Entries made but not yet written.
    pending: Vec<u8>,
    /// The MAC of the last entry, written or pending (the header's check value before
    /// the first): each entry's MAC covers it, so no entry can be taken out of the
    /// middle, or moved, unnoticed.
    last_mac: Mac,
    /// Each live key's entry as written (without its MAC), copied as it is when the
    /// store is rewritten.
    key_entries: HashMap<u64, Vec<u8>>,
    read_only: bool,
    random: RandomPool,
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("path", &self.file.path())
            .field("keys", &self.keys.len())
            .field("erasures", &self.erasures.len())
            .finish_non_exhaustive()
    }
}

/// A subject's live key, and the fingerprint of the e-mail address last noted with it:
/// the address an event brings is almost always that one, and then neither the blind
/// token nor the store's lock for writing is needed (gone with the key at erasure).
struct Live {
    key: Arc<SubjectKey>,
    last_email: Option<Fingerprint>,
}

impl SubjectKeys {
    /// Reads the key store in `keys_dir` under `kek` (an absent file is an empty store,
    /// created at the first flush). A last entry that a crash left incomplete is cut,
    /// unless `read_only`; a KEK that did not write the store is refused; any other
    /// damage is a [`Corruption`](crate::Corruption).
    pub fn open(
        storage: Arc<dyn Storage>,
        keys_dir: &Path,
        kek: &Kek,
        read_only: bool,
    ) -> Result<SubjectKeys> {
        let mut store = SubjectKeys::empty(storage, keys_dir, kek, true)?;
        if let Some(bytes) = store.file.read()? {
            store.decode(&bytes)?;
        }
        if !read_only {
            store.open_for_appends()?;
        }
        Ok(store)
    }

    /// Takes a store read by a read-only [`open`](Self::open) for appends, cutting an
    /// interrupted last entry (so a log can read and check its keys first, and change
    /// the file only once every check has passed).
    pub fn open_for_appends(&mut self) -> Result<()> {
        self.read_only = false;
        self.file.open_for_appends()
    }

    /// A store holding nothing, whose file is `keys_dir`'s, not read.
    fn empty(
        storage: Arc<dyn Storage>,
        keys_dir: &Path,
        kek: &Kek,
        read_only: bool,
    ) -> Result<SubjectKeys> {
        let mut random = RandomPool::default();
        let mut salt = [0; 32];
        random.fill(&mut salt)?;
        Ok(SubjectKeys {
            file: KeyFile::new(storage, keys_dir.join(SUBJECT_KEYS_FILE)),
            entries: EntryKeys::new(kek),
            blind_key: kek.blind_key(),
            check: kek.check_value(),
            keys: HashMap::new(),
            current: ByFingerprint::default(),
            fingerprints: Fingerprinter::new(salt),
            blind: HashMap::new(),
            used_ids: HashSet::new(),
            erasures: Vec::new(),
            pending: Vec::new(),
            last_mac: kek.check_value(),
            key_entries: HashMap::new(),
            read_only,
            random,
        })
    }

    /// Decodes a whole key store file's bytes under `kek` (for the fuzz target: nothing
    /// is read or written).
    #[cfg(feature = "testing")]
    pub(crate) fn decode_bytes(kek: &Kek, bytes: &[u8]) -> Result<SubjectKeys> {
        let storage: Arc<dyn Storage> = Arc::new(crate::storage::FsStorage::default());
        let mut store = SubjectKeys::empty(storage, Path::new("/nonexistent"), kek, true)?;
        store.decode(bytes)?;
        Ok(store)
    }

    /// The header a store written under `kek` begins with (for the fuzz target).
    #[cfg(feature = "testing")]
    pub(crate) fn header_for(kek: &Kek) -> Vec<u8> {
        header(&kek.check_value()).to_vec()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Bytes of an incomplete last entry found at open (cut, unless read-only).
    pub fn torn_tail(&self) -> Option<u64> {
        self.file.torn_tail()
    }

    /// The key of id `key_id`, unless it was erased (or never existed).
    pub fn key(&self, key_id: u64) -> Option<&Arc<SubjectKey>> {
        self.keys.get(&key_id)
    }

    /// Whether the key of id `key_id` was erased (an erasure entry names it).
    pub fn was_erased(&self, key_id: u64) -> bool {
        !self.keys.contains_key(&key_id) && self.used_ids.contains(&key_id)
    }

    /// `subject`'s live key, made (and buffered for the next [`flush`](Self::flush)) if
    /// it has none: its first event, or its first after an erasure.
    pub fn key_for(&mut self, subject: &str) -> Result<&Arc<SubjectKey>> {
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(Error::InvalidArgument(format!(
                "a subject id is 1 to {MAX_SUBJECT_BYTES} bytes"
            )));
        }
        self.writable()?;
        let fingerprint = self.fingerprints.of(subject);
        if self.current.contains_key(&fingerprint) {
            return Ok(&self.current[&fingerprint].key);
        }
        let mut random = [0u8; 8 + 32 + NONCE_BYTES];
        let key = loop {
            self.random.fill(&mut random)?;
            let id = u64::from_le_bytes(random[..8].try_into().unwrap_or_default());
            if !self.used_ids.contains(&id) {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(&random[8..40]);
                break SubjectKey::new(id, subject.to_owned(), Timestamp::now(), bytes);
            }
        };
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(&random[40..]);
        let entry = self.entries.encode_key(&key, nonce)?;
        self.push_entry(&entry)?;
        let id = key.id;
        self.key_entries.insert(id, entry);
        self.apply_entry(Entry::Key(Box::new(key)));
        Ok(&self.keys[&id])
    }

    /// `subject`'s live key if it has one and `email` (if any) is the address last
    /// noted with it: then sealing an event needs nothing written.
    pub fn known(&self, subject: &str, email: Option<&str>) -> Option<&Arc<SubjectKey>> {
        let live = self.current.get(&self.fingerprints.of(subject))?;
        match email {
            Some(email) if live.last_email != Some(self.fingerprints.of(email)) => None,
            _ => Some(&live.key),
        }
    }

    /// Notes that `email` belongs to the subject of key `key_id` (the blind index: a
    /// keyed hash of the address, never the address), buffered like a new key.
    pub fn note_email(&mut self, key_id: u64, email: &str) -> Result<()> {
        let Some(subject) = self
            .keys
            .get(&key_id)
            .map(|k| self.fingerprints.of(&k.subject))
        else {
            return Err(Error::InvalidArgument(format!("no live key {key_id:016x}")));
        };
        let token = self.blind_token(email);
        if !self
            .blind
            .get(&token)
            .is_some_and(|ids| ids.contains(&key_id))
        {
            self.push_entry(&encode_blind(key_id, &token))?;
            self.apply_entry(Entry::Blind { key_id, token });
        }
        let email = self.fingerprints.of(email);
        if let Some(live) = self.current.get_mut(&subject)
            && live.key.id == key_id
        {
            live.last_email = Some(email);
        }
        Ok(())
    }

    /// The subjects an e-mail address was seen with, until their keys are erased.
    pub fn subjects_with_email(&self, email: &str) -> Vec<&str> {
        let token = self.blind_token(email);
        let mut subjects: Vec<&str> = self
            .blind
            .get(&token)
            .into_iter()
            .flatten()
            .filter_map(|id| self.keys.get(id).map(|k| k.subject.as_str()))
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        subjects
    }

    /// Writes the buffered entries and fdatasyncs them: after it returns, every key
    /// handed out is durable. On failure the store refuses further appends until
    /// reopened, because what reached the disk is unknown.
    pub fn flush(&mut self) -> Result<()> {
        self.write()?;
        self.sync()
    }

    /// Writes the buffered entries without waiting for the disk (but never leaving more
    /// than 64 KiB unsynced: it syncs first when they would be, so a crash leaves at most
    /// that much torn at the end, all an open may take for a torn tail). The log writes a
    /// group's new keys so before the group's records, and [`sync`](Self::sync)s them
    /// before the records' fdatasync.
    pub fn write(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.writable()?;
        self.file.append(&self.pending, &header(&self.check))?;
        self.pending.clear();
        Ok(())
    }

    /// Whether entries wait for [`write`](Self::write).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// fdatasyncs what [`write`](Self::write) wrote.
    pub fn sync(&mut self) -> Result<()> {
        // After a failed write or sync what reached the disk is unknown: a sync that
        // succeeds now proves nothing of it.
        if self.file.unsynced().is_some() {
            self.writable()?;
        }
        self.file.sync()
    }

    /// What [`sync`](Self::sync) would fdatasync, if anything: a caller that shares the
    /// store syncs it without holding the store, then reports with
    /// [`synced`](Self::synced).
    pub fn unsynced(&self) -> Result<Option<Unsynced>> {
        match self.file.unsynced() {
            Some(unsynced) => {
                self.writable()?;
                Ok(Some(unsynced))
            }
            None => Ok(None),
        }
    }

    /// Records the outcome of syncing `unsynced`: on failure the store refuses further
    /// appends until reopened.
    pub fn synced(&mut self, unsynced: Unsynced, done: std::io::Result<()>) -> Result<()> {
        self.file.synced(unsynced, done)
    }

    /// The newest erasure of `subject`, if it was ever erased.
    pub fn last_erasure(&self, subject: &str) -> Option<&Erasure> {
        self.erasures.iter().rev().find(|e| e.subject == subject)
    }

    /// Every erasure, oldest first.
    pub fn erasures(&self) -> &[Erasure] {
        &self.erasures
    }

    pub(super) fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument(
                "the key store is open read-only".into(),
            ));
        }
        if self.file.failed() {
            return Err(Error::WriterFailed(format!(
                "a write to {} failed; reopen to go on",
                self.file.path().display()
            )));
        }
        Ok(())
    }

    fn blind_token(&self, email: &str) -> [u8; 32] {
        let normalized = email.trim().to_lowercase();
        *blake3::keyed_hash(&self.blind_key, normalized.as_bytes()).as_bytes()
    }

    /// Appends `payload` (with its MAC, chained to the last) to the pending entries.
    fn push_entry(&mut self, payload: &[u8]) -> Result<()> {
        self.last_mac = self
            .entries
            .frame_into(&mut self.pending, payload, &self.last_mac)?;
        Ok(())
    }

    /// Every entry of a whole file's bytes, checked and applied in order.
    fn decode(&mut self, bytes: &[u8]) -> Result<()> {
        let mut frames = self.file.frames(bytes, &self.check)?;
        for frame in frames.by_ref() {
            let (at, framed) = frame?;
            let bad = |why: String| self.file.corrupt(at, CorruptionKind::BadField(why));
            let (entry, mac) = self
                .entries
                .decode_entry(framed, &self.last_mac)
                .map_err(|e| bad(e.to_string()))?;
            self.check_order(&entry)
                .map_err(|why| bad(why.to_owned()))?;
            if let Entry::Key(key) = &entry {
                let payload = framed.get(..framed.len() - entry::MAC_BYTES);
                self.key_entries
                    .insert(key.id, payload.unwrap_or_default().to_vec());
            }
            self.last_mac = mac;
            self.apply_entry(entry);
        }
        self.file.read_through(&frames);
        Ok(())
    }

    /// Refuses an entry that no sequence of appends and erasures writes: a key id used
    /// twice, a blind-index entry of no live key, an erasure of a key still live.
    fn check_order(&self, entry: &Entry) -> std::result::Result<(), &'static str> {
        match entry {
            Entry::Key(key) if self.used_ids.contains(&key.id) => Err("a key id used twice"),
            Entry::Key(key)
                if self
                    .current
                    .contains_key(&self.fingerprints.of(&key.subject)) =>
            {
                Err("a second live key of one subject")
            }
            Entry::Blind { key_id, .. } if !self.keys.contains_key(key_id) => {
                Err("a blind-index entry of no live key")
            }
            Entry::Erased(e) if self.keys.contains_key(&e.key_id) => {
                Err("an erasure of a key still in the store")
            }
            Entry::Erased(e) if self.used_ids.contains(&e.key_id) => Err("a key id erased twice"),
            _ => Ok(()),
        }
    }

    fn apply_entry(&mut self, entry: Entry) {
        match entry {
            Entry::Key(key) => {
                self.used_ids.insert(key.id);
                let key: Arc<SubjectKey> = Arc::from(key);
                let live = Live {
                    key: Arc::clone(&key),
                    last_email: None,
                };
                self.current
                    .insert(self.fingerprints.of(&key.subject), live);
                self.keys.insert(key.id, key);
            }
            Entry::Blind { key_id, token } => {
                let ids = self.blind.entry(token).or_default();
                if !ids.contains(&key_id) {
                    ids.push(key_id);
                }
            }
            Entry::Erased(erasure) => {
                self.used_ids.insert(erasure.key_id);
                let subject = self.fingerprints.of(&erasure.subject);
                if self.keys.remove(&erasure.key_id).is_some()
                    && self
                        .current
                        .get(&subject)
                        .is_some_and(|live| live.key.id == erasure.key_id)
                {
                    self.current.remove(&subject);
                }
                for ids in self.blind.values_mut() {
                    ids.retain(|&id| id != erasure.key_id);
                }
                self.blind.retain(|_, ids| !ids.is_empty());
                self.erasures.push(erasure);
            }
        }
    }
}

/// Randomness from the operating system, drawn 4 KiB at a time: a new key needs 52
/// bytes, and a system call per key was a tenth of the cost of sealing a new subject's
/// event. Bytes handed out are wiped from the pool.
struct RandomPool {
    bytes: Box<[u8; 4096]>,
    used: usize,
}

impl Default for RandomPool {
    fn default() -> RandomPool {
        RandomPool {
            bytes: Box::new([0; 4096]),
            used: 4096,
        }
    }
}

impl RandomPool {
    fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        for chunk in out.chunks_mut(self.bytes.len()) {
            if self.bytes.len() - self.used < chunk.len() {
                getrandom::fill(&mut self.bytes[..]).map_err(|e| {
                    Error::io("drawing random bytes", std::io::Error::other(e.to_string()))
                })?;
                self.used = 0;
            }
            let taken = &mut self.bytes[self.used..self.used + chunk.len()];
            chunk.copy_from_slice(taken);
            taken.fill(0);
            self.used += chunk.len();
        }
        Ok(())
    }
}
