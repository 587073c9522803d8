//! The subject key store (docs/FORMAT.md, "Subject key store"): one AES-256 key per data
//! subject, wrapped under the KEK, in `keys/subjects`, apart from the segments. Erasing a
//! subject rewrites the file without its key (and without its blind-index entries), so
//! that once the rename is durable no copy of the key is left in the data directory;
//! what the medium may keep is in docs/PRIVACY.md.
//!
//! The file is a 32-byte header, then record frames (the segments' framing: length,
//! CRC32, payload). Each payload is one entry, ending in a 16-byte MAC under a key
//! derived from the KEK; a key entry's key is also sealed with AES-256-GCM. New entries
//! are buffered; the log's writer thread [`write`s](SubjectKeys::write) them before the
//! records sealed with them, and they are [`sync`ed](SubjectKeys::sync) before those
//! records are (so before any is acknowledged).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce};

use super::Kek;
use super::fingerprint::{ByFingerprint, Fingerprint, Fingerprinter};
use crate::Timestamp;
use crate::codec::{begin_frame, finish_frame, split_frame};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::segment::{FORMAT_VERSION, unsupported_version};
use crate::storage::{
    OpenMode, ReplaceError, Storage, StorageFile, read_all, replace_atomically, write_atomically,
};

/// The key store's file, under the data directory's `keys/`.
pub const SUBJECT_KEYS_FILE: &str = "subjects";

/// `\x89ALK\r\n\x1a\n`.
const MAGIC: [u8; 8] = [0x89, b'A', b'L', b'K', b'\r', b'\n', 0x1a, b'\n'];
const HEADER_BYTES: usize = 32;
/// The most bytes one flush writes before it syncs them: how long a torn tail can be.
const MAX_UNSYNCED_BYTES: usize = 64 << 10;
/// The format version that introduced the key store.
const FIRST_VERSION: u16 = 4;
const MAC_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// The longest subject id (an actor id: at most 256 bytes by validation).
const MAX_SUBJECT_BYTES: usize = 256;

const KIND_KEY: u8 = 1;
const KIND_BLIND: u8 = 2;
const KIND_ERASED: u8 = 3;

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
    pub(crate) derived: super::seal::DerivedKeys,
}

impl Drop for SubjectKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.mac_key);
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
            derived: super::seal::DerivedKeys::of(&bytes),
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
    storage: Arc<dyn Storage>,
    path: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    /// Bytes of the file that hold whole entries.
    len: u64,
    /// Bytes of the file known to be on disk.
    synced_len: u64,
    wrap: LessSafeKey,
    mac_key: [u8; 32],
    blind_key: [u8; 32],
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
    last_mac: [u8; MAC_BYTES],
    /// Each live key's entry as written (without its MAC), copied as it is when the
    /// store is rewritten.
    key_entries: HashMap<u64, Vec<u8>>,
    torn_tail: Option<u64>,
    read_only: bool,
    /// Set by a failed write: what reached the disk is unknown until a reopen.
    failed: bool,
    random: RandomPool,
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("path", &self.path)
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

/// Bytes of the store written but not yet known to be on disk (see
/// [`SubjectKeys::unsynced`]).
pub struct Unsynced {
    file: Arc<dyn StorageFile>,
    len: u64,
}

impl std::fmt::Debug for Unsynced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsynced").field("len", &self.len).finish()
    }
}

impl Unsynced {
    /// fdatasyncs the bytes.
    pub fn sync_data(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// An entry whose fields are read but whose MAC is not yet checked.
enum Parsed<'a> {
    Key {
        id: u64,
        created: Timestamp,
        subject: String,
        aad_len: usize,
        nonce: [u8; NONCE_BYTES],
        sealed: &'a [u8],
    },
    Ready(Entry),
}

/// One decoded entry.
enum Entry {
    Key(Box<SubjectKey>),
    Blind { key_id: u64, token: [u8; 32] },
    Erased(Erasure),
}

impl SubjectKeys {
    /// Reads the key store in `keys_dir` under `kek` (an absent file is an empty store,
    /// created at the first flush). A last entry that a crash left incomplete is cut,
    /// unless `read_only`; a KEK that did not write the store is refused; any other
    /// damage is a [`Corruption`].
    pub fn open(
        storage: Arc<dyn Storage>,
        keys_dir: &Path,
        kek: &Kek,
        read_only: bool,
    ) -> Result<SubjectKeys> {
        let mut random = RandomPool::default();
        let mut salt = [0; 32];
        random.fill(&mut salt)?;
        let mut store = SubjectKeys {
            storage,
            path: keys_dir.join(SUBJECT_KEYS_FILE),
            file: None,
            len: 0,
            synced_len: 0,
            wrap: kek.wrapping_key(),
            mac_key: kek.mac_key(),
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
            torn_tail: None,
            read_only,
            failed: false,
            random,
        };
        if !store.storage.exists(&store.path) {
            return Ok(store);
        }
        let path = store.path.clone();
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        let bytes = read_all(store.storage.as_ref(), &store.path).map_err(io)?;
        store.decode(&bytes)?;
        if !read_only {
            let file = store
                .storage
                .open(&store.path, OpenMode::ReadWrite)
                .map_err(io)?;
            if store.torn_tail.is_some() {
                file.set_len(store.len)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| Error::io(format!("cutting {}", store.path.display()), e))?;
            }
            store.file = Some(file);
        }
        Ok(store)
    }

    /// Decodes a whole key store file's bytes under `kek` (for the fuzz target: nothing
    /// is read or written).
    #[cfg(feature = "testing")]
    pub(crate) fn decode_bytes(kek: &Kek, bytes: &[u8]) -> Result<SubjectKeys> {
        let storage: Arc<dyn Storage> = Arc::new(crate::storage::FsStorage::default());
        let mut store = SubjectKeys::open(storage, Path::new("/nonexistent"), kek, true)?;
        store.decode(bytes)?;
        Ok(store)
    }

    /// The header a store written under `kek` begins with (for the fuzz target).
    #[cfg(feature = "testing")]
    pub(crate) fn header_for(kek: &Kek) -> Vec<u8> {
        let storage: Arc<dyn Storage> = Arc::new(crate::storage::FsStorage::default());
        SubjectKeys::open(storage, Path::new("/nonexistent"), kek, true)
            .map(|s| s.header().to_vec())
            .unwrap_or_default()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of an incomplete last entry found at open (cut, unless read-only).
    pub fn torn_tail(&self) -> Option<u64> {
        self.torn_tail
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
        let entry = self.encode_key(&key, nonce)?;
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
    /// than `MAX_UNSYNCED_BYTES` unsynced: it syncs first when they would be, so a crash
    /// leaves at most that much torn at the end, all an open may take for a torn tail).
    /// The log writes a group's new keys so before the group's records, and
    /// [`sync`](Self::sync)s them before the records' fdatasync.
    pub fn write(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.writable()?;
        let path = self.path.clone();
        let io = |e| Error::io(format!("appending to {}", path.display()), e);
        let file = match &self.file {
            Some(file) => Arc::clone(file),
            None => self.create().map_err(io)?,
        };
        let mut written = 0;
        while written < self.pending.len() {
            let mut end = written;
            while end < self.pending.len() {
                let len = entry_frame_len(&self.pending[end..]);
                // Unsynced bytes before this entry: written earlier, or in this part.
                let before = self.len - self.synced_len + (end - written) as u64;
                // With nothing unsynced an entry always goes, even alone over the bound
                // (none is near it).
                if before > 0 && before + len as u64 > MAX_UNSYNCED_BYTES as u64 {
                    break;
                }
                end += len;
            }
            if end == written {
                // Not even one more entry fits unsynced: sync what is written first.
                self.sync()?;
                continue;
            }
            if let Err(e) = file.write_all_at(&self.pending[written..end], self.len) {
                let _ = file.set_len(self.len);
                self.failed = true;
                return Err(io(e));
            }
            self.len += (end - written) as u64;
            written = end;
        }
        self.pending.clear();
        Ok(())
    }

    /// Whether entries wait for [`write`](Self::write).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// fdatasyncs what [`write`](Self::write) wrote.
    pub fn sync(&mut self) -> Result<()> {
        match self.unsynced()? {
            Some(unsynced) => {
                let done = unsynced.sync_data();
                self.synced(unsynced, done)
            }
            None => Ok(()),
        }
    }

    /// What [`sync`](Self::sync) would fdatasync, if anything: a caller that shares the
    /// store syncs it without holding the store, then reports with
    /// [`synced`](Self::synced).
    pub fn unsynced(&self) -> Result<Option<Unsynced>> {
        if self.len == self.synced_len {
            return Ok(None);
        }
        self.writable()?;
        Ok(self.file.as_ref().map(|file| Unsynced {
            file: Arc::clone(file),
            len: self.len,
        }))
    }

    /// Records the outcome of syncing `unsynced`: on failure the store refuses further
    /// appends until reopened.
    pub fn synced(&mut self, unsynced: Unsynced, done: std::io::Result<()>) -> Result<()> {
        // An erasure may have replaced the file meanwhile, having synced the old one
        // first and written the new one whole: the old one's outcome no longer matters.
        let same_file = self
            .file
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, &unsynced.file));
        if !same_file {
            return Ok(());
        }
        if let Err(e) = done {
            self.failed = true;
            return Err(Error::io(format!("syncing {}", self.path.display()), e));
        }
        self.synced_len = self.synced_len.max(unsynced.len);
        Ok(())
    }

    /// Destroys every key of `subject` durably and atomically: the store is rewritten
    /// without them and without their blind-index entries, with an erasure entry for
    /// each, and renamed over the old one. Before it returns the keys are still there
    /// (a crash leaves them); after it, they are gone. `None` if the subject has no key.
    pub fn erase(
        &mut self,
        subject: &str,
        at: Timestamp,
        tree_size: u64,
    ) -> Result<Option<Erasure>> {
        self.writable()?;
        self.flush()?;
        let fingerprint = self.fingerprints.of(subject);
        let Some(key_id) = self.current.get(&fingerprint).map(|live| live.key.id) else {
            return Ok(None);
        };
        let erasure = Erasure {
            subject: subject.to_owned(),
            key_id,
            at,
            tree_size,
        };
        let mut bytes = self.header().to_vec();
        let mut mac = self.check;
        // The other keys' entries as they are (sealed once, under their own nonces), in
        // id order; then the blind index without the subject's; then every erasure.
        let mut kept: Vec<&u64> = self.keys.keys().filter(|&&id| id != key_id).collect();
        kept.sort_unstable();
        for id in kept {
            let entry = self.key_entries.get(id).ok_or_else(|| {
                Error::InvalidArgument(format!("the entry of key {id:016x} is missing"))
            })?;
            mac = self.frame_into(&mut bytes, entry, &mac)?;
        }
        let mut tokens: Vec<_> = self.blind.iter().collect();
        tokens.sort_unstable();
        for (token, ids) in tokens {
            for &id in ids.iter().filter(|&&id| id != key_id) {
                mac = self.frame_into(&mut bytes, &encode_blind(id, token), &mac)?;
            }
        }
        for e in self.erasures.iter().chain(std::iter::once(&erasure)) {
            let payload = encode_erasure(e);
            mac = self.frame_into(&mut bytes, &payload, &mac)?;
        }
        // The old file handle must not outlive the rename: appends go to the new file.
        let old_file = self.file.take();
        let path = self.path.clone();
        let rewriting = |e| Error::io(format!("rewriting {}", path.display()), e);
        let replaced = replace_atomically(self.storage.as_ref(), &self.path, &bytes);
        if let Err(ReplaceError::Unchanged(e)) = replaced {
            // The old store stands, whole and synced: nothing was erased, nothing lost.
            self.file = old_file;
            return Err(rewriting(e));
        }
        drop(old_file);
        // From the rename on, the key is gone from the file system's view: from memory too.
        self.len = bytes.len() as u64;
        self.synced_len = self.len;
        self.last_mac = mac;
        self.key_entries.remove(&key_id);
        self.apply_entry(Entry::Erased(erasure.clone()));
        if let Err(ReplaceError::Replaced(e)) = replaced {
            // Whether the rename is durable is unknown: not acknowledged, and no append
            // until a reopen reads what the disk holds.
            self.failed = true;
            return Err(rewriting(e));
        }
        let file = self
            .storage
            .open(&self.path, OpenMode::ReadWrite)
            .map_err(|e| {
                self.failed = true;
                Error::io(format!("opening {}", self.path.display()), e)
            })?;
        self.file = Some(file);
        Ok(Some(erasure))
    }

    /// The newest erasure of `subject`, if it was ever erased.
    pub fn last_erasure(&self, subject: &str) -> Option<&Erasure> {
        self.erasures.iter().rev().find(|e| e.subject == subject)
    }

    /// Every erasure, oldest first.
    pub fn erasures(&self) -> &[Erasure] {
        &self.erasures
    }

    fn writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument(
                "the key store is open read-only".into(),
            ));
        }
        if self.failed {
            return Err(Error::WriterFailed(format!(
                "a write to {} failed; reopen to go on",
                self.path.display()
            )));
        }
        Ok(())
    }

    fn blind_token(&self, email: &str) -> [u8; 32] {
        let normalized = email.trim().to_lowercase();
        *blake3::keyed_hash(&self.blind_key, normalized.as_bytes()).as_bytes()
    }

    fn header(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[16..32].copy_from_slice(&self.check);
        h
    }

    fn create(&mut self) -> std::io::Result<Arc<dyn StorageFile>> {
        if let Some(dir) = self.path.parent() {
            self.storage.create_dir_all(dir)?;
        }
        // The header is written whole before anything is appended to it.
        write_atomically(self.storage.as_ref(), &self.path, &self.header())?;
        let file = self.storage.open(&self.path, OpenMode::ReadWrite)?;
        self.len = HEADER_BYTES as u64;
        self.synced_len = self.len;
        self.file = Some(Arc::clone(&file));
        Ok(file)
    }

    /// A key entry: `kind ‖ id ‖ created ‖ subject length ‖ subject ‖ nonce ‖ sealed key
    /// ‖ GCM tag` (the bytes before the nonce are the GCM's associated data).
    fn encode_key(&self, key: &SubjectKey, nonce: [u8; NONCE_BYTES]) -> Result<Vec<u8>> {
        let mut payload = vec![KIND_KEY];
        payload.extend_from_slice(&key.id.to_le_bytes());
        payload.extend_from_slice(&key.created.0.to_le_bytes());
        put_subject(&mut payload, &key.subject);
        let aad_len = payload.len();
        payload.extend_from_slice(&nonce);
        let mut sealed = key.bytes.to_vec();
        let tag = self
            .wrap
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&payload[..aad_len]),
                &mut sealed,
            )
            .map_err(|_| Error::InvalidArgument("sealing a subject key failed".into()))?;
        payload.extend_from_slice(&sealed);
        payload.extend_from_slice(tag.as_ref());
        Ok(payload)
    }

    /// Appends `payload` (with its MAC, chained to the last) to the pending entries.
    fn push_entry(&mut self, payload: &[u8]) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        let framed = self.frame_into(&mut pending, payload, &self.last_mac);
        self.pending = pending;
        self.last_mac = framed?;
        Ok(())
    }

    /// Appends `payload ‖ MAC(previous MAC ‖ payload)` as one record frame to `out`;
    /// the MAC.
    fn frame_into(
        &self,
        out: &mut Vec<u8>,
        payload: &[u8],
        previous: &[u8; MAC_BYTES],
    ) -> Result<[u8; MAC_BYTES]> {
        let start = begin_frame(out);
        let mac = self.mac(previous, payload);
        out.extend_from_slice(payload);
        out.extend_from_slice(&mac);
        finish_frame(out, start)
            .map_err(|e| Error::InvalidArgument(format!("a key store entry: {e}")))?;
        Ok(mac)
    }

    fn mac(&self, previous: &[u8; MAC_BYTES], payload: &[u8]) -> [u8; MAC_BYTES] {
        let mut hasher = blake3::Hasher::new_keyed(&self.mac_key);
        hasher.update(previous);
        hasher.update(payload);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&hasher.finalize().as_bytes()[..MAC_BYTES]);
        mac
    }

    /// Every entry of a whole file's bytes; sets `len` and `torn_tail`.
    fn decode(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.path.clone();
        let corrupt =
            |offset: usize, kind| Error::Corruption(Corruption::new(&path, offset as u64, kind));
        let bad =
            |offset: usize, what: &str| corrupt(offset, CorruptionKind::BadField(what.to_owned()));
        let Some(head) = bytes.get(..HEADER_BYTES) else {
            return Err(bad(0, "shorter than its header"));
        };
        if head[..8] != MAGIC {
            return Err(corrupt(0, CorruptionKind::BadMagic));
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version < FIRST_VERSION {
            return Err(bad(
                8,
                &format!("format version {version} had no key store"),
            ));
        }
        if let Some(kind) = unsupported_version(version) {
            return Err(corrupt(8, kind));
        }
        if head[10..16].iter().any(|&b| b != 0) {
            return Err(bad(10, "reserved bytes are not zero"));
        }
        if head[16..32] != self.check {
            return Err(Error::InvalidArgument(format!(
                "{}: the key-encryption key given is not the one this key store was written with",
                self.path.display()
            )));
        }
        let mut at = HEADER_BYTES;
        while at < bytes.len() {
            let rest = &bytes[at..];
            // A frame that does not split or check within the last MAX_UNSYNCED_BYTES is
            // the tail of an interrupted flush (a flush syncs no more at once); further
            // from the end it is damage.
            let frame = match split_frame(rest).and_then(|f| f.check().map(|()| f)) {
                Ok(frame) => frame,
                Err(_) if rest.len() <= MAX_UNSYNCED_BYTES => {
                    self.torn_tail = Some(rest.len() as u64);
                    break;
                }
                Err(e) => return Err(bad(at, &e.to_string())),
            };
            let (entry, mac) = self
                .decode_entry(frame.payload)
                .map_err(|why| bad(at, &why))?;
            self.check_order(&entry).map_err(|why| bad(at, why))?;
            if let Entry::Key(key) = &entry {
                let payload = &frame.payload[..frame.payload.len() - MAC_BYTES];
                self.key_entries.insert(key.id, payload.to_vec());
            }
            self.last_mac = mac;
            self.apply_entry(entry);
            at += frame.total;
        }
        self.len = at as u64;
        self.synced_len = self.len;
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

    /// One entry: its fields are read first (so a fuzzer reaches every check), then its
    /// MAC, then a key entry's seal is opened.
    fn decode_entry(&self, framed: &[u8]) -> std::result::Result<(Entry, [u8; MAC_BYTES]), String> {
        let split = framed
            .len()
            .checked_sub(MAC_BYTES)
            .ok_or("an entry shorter than its MAC")?;
        let (payload, mac) = framed.split_at(split);
        let mut r = Reader(payload);
        let entry = match r.u8()? {
            KIND_KEY => {
                let id = r.u64()?;
                let created = Timestamp(r.u64()? as i64);
                let subject = r.subject()?;
                let aad_len = payload.len() - r.0.len();
                let nonce: [u8; NONCE_BYTES] = r.array()?;
                let sealed = r.take(32 + TAG_BYTES)?;
                r.end()?;
                Parsed::Key {
                    id,
                    created,
                    subject,
                    aad_len,
                    nonce,
                    sealed,
                }
            }
            KIND_BLIND => {
                let key_id = r.u64()?;
                let token = r.array()?;
                r.end()?;
                Parsed::Ready(Entry::Blind { key_id, token })
            }
            KIND_ERASED => {
                let key_id = r.u64()?;
                let at = Timestamp(r.u64()? as i64);
                let tree_size = r.u64()?;
                let subject = r.subject()?;
                r.end()?;
                Parsed::Ready(Entry::Erased(Erasure {
                    subject,
                    key_id,
                    at,
                    tree_size,
                }))
            }
            kind => return Err(format!("unknown entry kind {kind}")),
        };
        let expected = self.mac(&self.last_mac, payload);
        if mac != expected {
            return Err(
                "an entry's MAC does not match (altered, moved, an entry before it taken out, \
                 or another KEK's)"
                    .into(),
            );
        }
        let entry = match entry {
            Parsed::Ready(entry) => entry,
            Parsed::Key {
                id,
                created,
                subject,
                aad_len,
                nonce,
                sealed,
            } => {
                let mut sealed = sealed.to_vec();
                let opened = self
                    .wrap
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&payload[..aad_len]),
                        &mut sealed,
                    )
                    .map_err(|_| "a subject key does not open under this KEK")?;
                let bytes: [u8; 32] = (&*opened)
                    .try_into()
                    .map_err(|_| "a subject key is not 32 bytes")?;
                Entry::Key(Box::new(SubjectKey::new(id, subject, created, bytes)))
            }
        };
        Ok((entry, expected))
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

/// The length of the frame at the start of `frames` (pending entries, well formed).
fn entry_frame_len(frames: &[u8]) -> usize {
    split_frame(frames).map_or(frames.len(), |f| f.total)
}

fn encode_blind(key_id: u64, token: &[u8; 32]) -> Vec<u8> {
    let mut payload = vec![KIND_BLIND];
    payload.extend_from_slice(&key_id.to_le_bytes());
    payload.extend_from_slice(token);
    payload
}

fn encode_erasure(e: &Erasure) -> Vec<u8> {
    let mut payload = vec![KIND_ERASED];
    payload.extend_from_slice(&e.key_id.to_le_bytes());
    payload.extend_from_slice(&e.at.0.to_le_bytes());
    payload.extend_from_slice(&e.tree_size.to_le_bytes());
    put_subject(&mut payload, &e.subject);
    payload
}

fn put_subject(out: &mut Vec<u8>, subject: &str) {
    // Subjects are at most MAX_SUBJECT_BYTES long (checked where keys are made).
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(subject.as_bytes());
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

/// Reads an entry's fields in order; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("an entry ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn subject(&mut self) -> std::result::Result<String, String> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        if len == 0 || len > MAX_SUBJECT_BYTES {
            return Err(format!("a subject id of {len} bytes"));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a subject id that is not UTF-8".into())
    }

    fn end(&self) -> std::result::Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err("bytes after an entry's last field".into())
        }
    }
}
