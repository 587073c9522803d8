//! The offline check behind `auditlog verify`: recompute every CRC, every record's leaf
//! hash, every stored tree node, every segment's chain link (header frontier, footer tree
//! head, offset table, time bounds), every record's tenant link, and every signed
//! checkpoint (signature, root and tenant heads at its size), reading each byte once; and [`verify_segment`], one segment file alone. It
//! needs only the data directory (and the public key) and writes nothing. The first fault
//! is returned as [`Corruption`] with its file and byte offset.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::checkpoint::{CheckpointLog, NoteVerifier, SignedCheckpoint, load_verifier};
use crate::codec::{
    FrameError, RecordError, RecordHead, TenantLink, decode_index_fields, decode_record_head,
    split_frame,
};
use crate::config::LogConfig;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::heads::TenantHeads;
use crate::index::{IndexChecker, SealedIndex};
use crate::merkle::{CompactRange, Hash, HashAlg};
use crate::segment::{
    FOOTER_BYTES, SegmentFooter, SegmentHeader, list_segment_bases, segment_path,
};
use crate::storage::{FsStorage, MappedBytes, OpenMode, Storage, StorageFile, read_all};
use crate::tree::{LEVEL_HEADER_BYTES, TREE_DIR, check_level_header, level_path};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Records (events) checked.
    pub records: u64,
    /// Bytes of segment data read.
    pub bytes: u64,
    /// Tree nodes compared with the stored level files.
    pub nodes_checked: u64,
    /// Signed checkpoints of the log's own checkpoint log whose signature and tree head
    /// were checked.
    pub checkpoints: usize,
    /// Checkpoints the auditor gave ([`verify_dir_against`]), checked the same way.
    pub held_checkpoints: usize,
    /// The tree head of all records.
    pub root: Hash,
    /// The hash algorithm.
    pub alg: HashAlg,
    /// Index files rebuilt from their segments and found equal to the stored ones.
    pub indexes_checked: usize,
    /// Things that are not faults but worth saying (a log not cleanly closed).
    pub notes: Vec<String>,
}

fn corrupt(path: &Path, offset: u64, kind: CorruptionKind) -> Error {
    Error::Corruption(Corruption::new(path, offset, kind))
}

fn corruption_offset(error: &Error) -> Option<u64> {
    match error {
        Error::Corruption(c) => Some(c.offset),
        _ => None,
    }
}

/// Reads one level file front to back as the check asks for its nodes in index order.
struct LevelCursor {
    path: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    stored: u64,
    buf: Vec<u8>,
}

impl LevelCursor {
    const CHUNK_NODES: u64 = 1 << 16;

    fn open(storage: &dyn Storage, dir: &Path, alg: HashAlg, level: u32) -> Result<LevelCursor> {
        let path = level_path(&dir.join(TREE_DIR), level);
        let mut cursor = LevelCursor {
            path: path.clone(),
            file: None,
            stored: 0,
            buf: Vec::new(),
        };
        if storage.exists(&path) {
            let file = storage
                .open(&path, OpenMode::Read)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            let len = file
                .len()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut header = [0u8; LEVEL_HEADER_BYTES as usize];
            if len >= LEVEL_HEADER_BYTES {
                file.read_exact_at(&mut header, 0)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            }
            check_level_header(&path, &header, alg, level)?;
            cursor.stored = len.saturating_sub(LEVEL_HEADER_BYTES) / 32;
            cursor.file = Some(file);
        }
        Ok(cursor)
    }

    /// Compares the computed nodes `first..first + row.len()` with the stored ones, a
    /// slice at a time. Nodes past the stored end are not checked (the count says how many
    /// were).
    fn compare(&mut self, first: u64, row: &[Hash]) -> Result<Compared> {
        let end = self.stored.min(first + row.len() as u64);
        let mut index = first;
        while index < end {
            let Some(file) = &self.file else { break };
            let n = (end - index).min(Self::CHUNK_NODES) as usize;
            self.buf.resize(n * 32, 0);
            file.read_exact_at(&mut self.buf, LEVEL_HEADER_BYTES + index * 32)
                .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
            let computed = row
                .get((index - first) as usize..)
                .and_then(|rest| rest.get(..n))
                .unwrap_or_default();
            if computed.as_flattened() != self.buf.as_slice() {
                let at = computed
                    .iter()
                    .zip(self.buf.chunks_exact(32))
                    .position(|(computed, stored)| computed[..] != *stored)
                    .unwrap_or(0);
                return Ok(Compared {
                    checked: index - first,
                    differs: Some(index + at as u64),
                });
            }
            index += n as u64;
        }
        Ok(Compared {
            checked: end.saturating_sub(first),
            differs: None,
        })
    }
}

/// What comparing a row of computed nodes with the stored level found.
struct Compared {
    /// Nodes found stored and equal.
    checked: u64,
    /// The first node whose stored hash differs.
    differs: Option<u64>,
}

/// The stored level files, each read front to back as the tree grows.
struct StoredTree<'a> {
    storage: &'a dyn Storage,
    dir: &'a Path,
    alg: HashAlg,
    levels: Vec<LevelCursor>,
    /// Nodes found stored and equal so far.
    nodes_checked: u64,
    /// Whether computed nodes were found missing at the end of a level file.
    missing: bool,
    /// A leaf hash that differs from the stored one, not yet blamed (see [`LeafFault`]).
    leaf_fault: Option<LeafFault>,
}

/// A record whose leaf hash differs from the stored leaf hash: either the record or the
/// level file changed. A root that the records contradict (a sealed segment's footer, a
/// signed checkpoint) blames the record; a footer that agrees with the records blames
/// the level file. Until then no more stored nodes are compared (they would all differ).
struct LeafFault {
    /// The fault if the record changed: at its frame.
    record: Error,
    /// The fault if the level file changed: at the stored leaf hash.
    stored: Error,
}

impl StoredTree<'_> {
    /// Compares the computed nodes `first..` of `level` with the stored ones; a differing
    /// node is a fault, named with the records under it (`name_record(first leaf)`). A
    /// differing leaf whose record `record_fault` can place is held as a [`LeafFault`].
    fn check_row(
        &mut self,
        level: u32,
        first: u64,
        row: &[Hash],
        name_record: &dyn Fn(u64) -> String,
        record_fault: &dyn Fn(u64) -> Option<Error>,
    ) -> Result<()> {
        if self.leaf_fault.is_some() {
            return Ok(());
        }
        while self.levels.len() <= level as usize {
            let next = self.levels.len() as u32;
            let cursor = LevelCursor::open(self.storage, self.dir, self.alg, next)?;
            self.levels.push(cursor);
        }
        let Some(cursor) = self.levels.get_mut(level as usize) else {
            return Ok(());
        };
        let compared = cursor.compare(first, row)?;
        self.nodes_checked += compared.checked;
        let Some(index) = compared.differs else {
            self.missing |= compared.checked < row.len() as u64;
            return Ok(());
        };
        let record = name_record(index << level);
        let stored = corrupt(
            &cursor.path,
            LEVEL_HEADER_BYTES + index * 32,
            CorruptionKind::HashMismatch(format!(
                "stored tree node ({level}, {index}) differs from the one computed from the \
                 records{record}"
            )),
        );
        match (level == 0).then(|| record_fault(index)).flatten() {
            Some(record) => {
                self.leaf_fault = Some(LeafFault { record, stored });
                Ok(())
            }
            None => Err(stored),
        }
    }

    /// `root_fault`, a root the records contradict, or the changed record that explains it.
    fn blame(&mut self, root_fault: Error) -> Error {
        self.leaf_fault.take().map_or(root_fault, |f| f.record)
    }

    /// `fault`, found in a segment's records, unless a record at or before it hashes
    /// differently from its stored leaf (one forged with a valid CRC): that one is the
    /// first fault in the file.
    fn first_fault(&mut self, fault: Error) -> Error {
        match self.leaf_fault.take() {
            Some(leaf) if corruption_offset(&leaf.record) <= corruption_offset(&fault) => {
                leaf.record
            }
            _ => fault,
        }
    }
}

/// Verifies every byte of the log in `dir`, checking its checkpoints with the directory's
/// own public key. `progress` is called with the bytes of segment data done so far.
pub fn verify_dir(dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
    verify_dir_with_key(dir, None, progress)
}

/// [`verify_dir`], checking the checkpoints' signatures with `key` (the one an auditor was
/// given) or, when `None`, with the directory's own `keys/checkpoint.pub`.
pub fn verify_dir_with_key(
    dir: &Path,
    key: Option<&NoteVerifier>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    verify_dir_against(dir, key, &[], progress)
}

/// [`verify_dir_with_key`], also checking signed checkpoints the auditor holds (`held`:
/// each file's name and bytes, e.g. notes received earlier): each must be signed by the
/// key and have its root in the records' tree, whatever the data directory's own
/// checkpoint log says.
pub fn verify_dir_against(
    dir: &Path,
    key: Option<&NoteVerifier>,
    held: &[(PathBuf, Vec<u8>)],
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::default());
    let storage = &storage;
    let config = LogConfig::load(storage.as_ref(), dir)?;
    let alg = config.hash;
    let bases = list_segment_bases(storage.as_ref(), dir)?;
    let mut notes = Vec::new();
    let checkpoints = check_signatures(storage, dir, &config.origin, key, held, &mut notes)?;
    let mut pending = checkpoints.iter().peekable();

    let mut stored = StoredTree {
        storage: storage.as_ref(),
        dir,
        alg,
        levels: Vec::new(),
        nodes_checked: 0,
        missing: false,
        leaf_fault: None,
    };
    let mut compact = CompactRange::new(alg);
    let mut heads = TenantHeads::new(alg);
    // Tenants as the workers number them, and each one's number in `heads` once its
    // first event is reached.
    let interner = Interner::default();
    let mut head_ids: Vec<Option<u32>> = Vec::new();
    let mut report = VerifyReport {
        checkpoints: 0,
        held_checkpoints: 0,
        segments: bases.len(),
        records: 0,
        bytes: 0,
        nodes_checked: 0,
        root: alg.empty_root(),
        alg,
        indexes_checked: 0,
        notes: Vec::new(),
    };
    // The first fault of an index file, reported once the log itself has passed.
    let mut index_faults: Option<Error> = None;
    // Reused from segment to segment, so its pages are touched once.
    let mut frames: Vec<FramePlace> = Vec::new();
    // The map of the segment before, unmapped while the next one is checked.
    let mut retired = None;
    for (i, &base) in bases.iter().enumerate() {
        let path = segment_path(dir, base);
        let is_last = i + 1 == bases.len();
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        // The last segment may still be written to: read it, never map it.
        let data = if is_last {
            MappedBytes::from_vec(read_all(storage.as_ref(), &path).map_err(io)?)
        } else {
            storage.map(&path).map_err(io)?
        };
        let bytes = data.as_slice();
        let header = SegmentHeader::decode_from(bytes).map_err(|(offset, kind)| {
            if is_last && bytes.len() <= SegmentHeader::encoded_len_for(base) {
                // No record in it: nothing acknowledged is lost, but the log is not whole.
                return corrupt(
                    &path,
                    offset,
                    CorruptionKind::BadField(format!(
                        "{kind} (a segment whose creation a crash interrupted; the next \
                         writer, e.g. `auditlog ingest`, removes it)"
                    )),
                );
            }
            corrupt(&path, offset, kind)
        })?;
        if header.alg != alg {
            return Err(corrupt(
                &path,
                10,
                CorruptionKind::BadField(format!(
                    "segment hashes with {}, the log with {alg}",
                    header.alg
                )),
            ));
        }
        if header.base_seq != base || base != compact.size() {
            return Err(corrupt(
                &path,
                16,
                CorruptionKind::BrokenChain(format!(
                    "segment starts at {} (file name {base}), the records before it end at {}",
                    header.base_seq,
                    compact.size()
                )),
            ));
        }
        if header.frontier.as_slice() != compact.hashes() {
            return Err(corrupt(
                &path,
                32,
                CorruptionKind::BrokenChain(
                    "the header's frontier differs from the tree of the records before it".into(),
                ),
            ));
        }
        let header_len = header.encoded_len();
        let (records_end, footer) = locate_footer(&path, bytes, header_len, is_last)?;
        let walk_error = place_frames(bytes, header_len, records_end, footer.as_ref(), &mut frames);
        // Passes 2 and 3 together. Worker threads check each frame's CRC, read its
        // record's timestamp and hash its leaf, a chunk of frames at a time; this thread
        // grows the tree from each chunk in file order as soon as it is done, comparing
        // the new nodes with the stored level files. A bad CRC comes before a walk error:
        // a damaged length sends the walk astray.
        let name_record = |leaf: u64| match leaf.checked_sub(base) {
            Some(i) => frames.get(i as usize).map_or(String::new(), |place| {
                format!(
                    " (records from {leaf}, at byte {} of {})",
                    place.start,
                    path.display()
                )
            }),
            None => format!(" (records from {leaf})"),
        };
        let record_fault = |leaf: u64| {
            let place = frames.get(usize::try_from(leaf.checked_sub(base)?).ok()?)?;
            Some(corrupt(
                &path,
                place.start as u64,
                CorruptionKind::HashMismatch(format!(
                    "record {leaf} hashes differently from when it was written: its stored leaf \
                     hash and a root signed or sealed after it disagree with it (edited, swapped \
                     or forged with a valid CRC)"
                )),
            ))
        };
        let link_fault = |seq: u64, what: String| {
            let place = seq
                .checked_sub(base)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| frames.get(i));
            let offset = place.map_or(0, |p| p.start as u64);
            corrupt(&path, offset, CorruptionKind::BadField(what))
        };
        // The tree and the tenant heads grow up to each checkpoint's size, where its root
        // and tenant heads are compared.
        let grow = |mut leaves: &[Hash], tenants: &ChunkTenants<'_>| {
            let mut records = tenants.records.as_slice();
            loop {
                let size = compact.size();
                while let Some(at) = pending.next_if(|at| at.signed.checkpoint.tree_size <= size) {
                    check_checkpoint(at, &compact, &mut heads).map_err(|e| stored.blame(e))?;
                    if let Some(fault) = stored.leaf_fault.take() {
                        // The records make the signed root: the stored leaf is what changed.
                        return Err(fault.stored);
                    }
                }
                if leaves.is_empty() {
                    return Ok(());
                }
                let next_stop = pending
                    .peek()
                    .map_or(u64::MAX, |at| at.signed.checkpoint.tree_size);
                let take =
                    usize::try_from(next_stop - size).map_or(leaves.len(), |n| n.min(leaves.len()));
                let (now, later) = leaves.split_at(take);
                if records.len() < take {
                    return Err(link_fault(
                        size,
                        "a verify thread lost records' tenants".into(),
                    ));
                }
                let (linked, rest) = records.split_at(take);
                let mut result = Ok(());
                compact.extend(now, |level, first, row| {
                    if result.is_ok() {
                        result = stored.check_row(level, first, row, &name_record, &record_fault);
                    }
                });
                result?;
                if let Err((seq, what)) =
                    check_links(&mut heads, size, tenants, linked, &mut head_ids)
                {
                    let fault = link_fault(seq, what);
                    return Err(stored.first_fault(fault));
                }
                leaves = later;
                records = rest;
            }
        };
        // A sealed segment's index is checked with its records: each record's entries
        // by the workers, its postings on a thread of their own meanwhile.
        let index = match &footer {
            Some((_, f)) => match load_index(storage.as_ref(), &path, base, f, &mut notes) {
                Ok(index) => index,
                Err(e) => {
                    index_faults.get_or_insert(e);
                    None
                }
            },
            None => None,
        };
        let checker = match index.as_ref().map(SealedIndex::checker) {
            Some(Ok(checker)) => Some(checker),
            Some(Err(fault)) => {
                let path = crate::index::index_path(&path);
                index_faults.get_or_insert(index_fault(&path, fault));
                None
            }
            None => None,
        };
        let checks = RecordChecks {
            path: &path,
            alg,
            interner: &interner,
            index: checker.as_ref(),
        };
        let (checked, postings) = std::thread::scope(|scope| {
            let postings = checker.as_ref().map(|c| scope.spawn(|| c.check_postings()));
            let checked = check_records(bytes, &frames, base, &checks, retired.take(), grow);
            (checked, postings.map(|p| p.join()))
        });
        let (min_ts, max_ts) = match (checked, walk_error) {
            (Ok(bounds), None) => {
                if let Some(e) = bounds.index_fault {
                    index_faults.get_or_insert(e);
                }
                (bounds.min, bounds.max)
            }
            (Err(Stop::Tree(e)), _) => return Err(e),
            (Err(Stop::Frame(offset, fault)), _) | (Ok(_), Some((offset, fault))) => {
                let what = describe(fault, is_last && footer.is_none());
                return Err(stored.first_fault(corrupt(
                    &path,
                    offset,
                    CorruptionKind::BadField(what),
                )));
            }
        };
        report.records += frames.len() as u64;
        report.bytes += bytes.len() as u64;
        if let Some((_, f)) = &footer
            && let Some(fault) = stored.leaf_fault.take()
        {
            // The footer's root was computed from the records when they were sealed.
            return Err(if f.root == compact.root() {
                fault.stored
            } else {
                fault.record
            });
        }
        if let Some((footer_at, f)) = footer {
            check_footer(
                &path,
                bytes,
                footer_at,
                &f,
                &header,
                &frames,
                records_end,
                &compact,
                min_ts,
                max_ts,
            )?;
        }
        if let Some(checker) = &checker {
            match postings {
                Some(Ok(Ok(()))) => report.indexes_checked += 1,
                Some(Ok(Err(fault))) => {
                    index_faults.get_or_insert(index_fault(checker.path(), fault));
                }
                // A panic is a bug; the index is derived data, so it is said, not raised.
                _ => {
                    let why = CorruptionKind::BadField("its check failed".into());
                    index_faults.get_or_insert(corrupt(checker.path(), 0, why));
                }
            }
        }
        progress(report.bytes);
        retired = Some(data);
    }
    report.root = compact.root();
    report.nodes_checked = stored.nodes_checked;
    if stored.missing {
        report.notes.push("the stored tree lacks the nodes of the newest records (the log was not closed cleanly); the next open recomputes them".into());
    }
    // Checkpoints of the whole tree, and any beyond the records.
    for at in pending {
        check_checkpoint(at, &compact, &mut heads).map_err(|e| stored.blame(e))?;
        if let Some(fault) = stored.leaf_fault.take() {
            return Err(fault.stored);
        }
    }
    if let Some(fault) = stored.leaf_fault.take() {
        // Nothing the records contradict: the stored leaf hash is what changed.
        return Err(fault.stored);
    }
    // The log itself is sound: now what is wrong with an index, derived data, if anything.
    if let Some(e) = index_faults {
        return Err(e);
    }
    report.checkpoints = checkpoints.len() - held.len();
    report.held_checkpoints = held.len();
    report.notes.extend(notes);
    let durable = crate::tree::read_durable_size(storage.as_ref(), dir)?;
    if durable > compact.size() {
        return Err(corrupt(
            &dir.join(TREE_DIR).join("state"),
            16,
            CorruptionKind::LostEvents(format!(
                "{durable} leaves were made durable but the records end at {}",
                compact.size()
            )),
        ));
    }
    Ok(report)
}

/// A signed checkpoint and where it came from.
struct CheckpointAt {
    file: PathBuf,
    offset: u64,
    signed: SignedCheckpoint,
}

/// Reads the checkpoint log, adds the checkpoints the auditor holds, and checks every
/// signature with `key` (or the directory's own key); returns them by tree size.
fn check_signatures(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    origin: &str,
    key: Option<&NoteVerifier>,
    held: &[(PathBuf, Vec<u8>)],
    notes: &mut Vec<String>,
) -> Result<Vec<CheckpointAt>> {
    let log = CheckpointLog::open(Arc::clone(storage), dir, origin, true)?;
    if let Some(bytes) = log.torn_tail() {
        notes.push(format!(
            "the checkpoint log ends in {bytes} bytes of an interrupted append (never handed out); the next read-write open cuts them"
        ));
    }
    let mut checkpoints: Vec<CheckpointAt> = log
        .read_entries()?
        .into_iter()
        .map(|(offset, signed)| CheckpointAt {
            file: log.path().to_path_buf(),
            offset,
            signed,
        })
        .collect();
    for (file, bytes) in held {
        let signed = SignedCheckpoint::parse(bytes).map_err(|e| {
            Error::InvalidArgument(format!("{}: not a signed checkpoint: {e}", file.display()))
        })?;
        if signed.checkpoint.origin != origin {
            return Err(Error::InvalidArgument(format!(
                "{}: a checkpoint of `{}`, not of this log (`{origin}`)",
                file.display(),
                signed.checkpoint.origin
            )));
        }
        checkpoints.push(CheckpointAt {
            file: file.clone(),
            offset: 0,
            signed,
        });
    }
    if checkpoints.is_empty() {
        if key.is_some() {
            notes.push(
                "the log has no signed checkpoint: nothing ties its records to the key given"
                    .into(),
            );
        }
        return Ok(checkpoints);
    }
    let own;
    let key = match key {
        Some(key) => key,
        None => {
            own = load_verifier(storage.as_ref(), dir)?.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} has checkpoints but no public key to check them: give one",
                    dir.display()
                ))
            })?;
            notes.push(
                "checkpoint signatures were checked with the data directory's own public key; \
                 give the key you were handed to rule out a replaced one"
                    .into(),
            );
            &own
        }
    };
    for at in &checkpoints {
        key.verify(&at.signed.note).map_err(|e| {
            corrupt(
                &at.file,
                at.offset,
                CorruptionKind::BadSignature(e.to_string()),
            )
        })?;
    }
    // The log's own come first among equal sizes.
    checkpoints.sort_by_key(|at| at.signed.checkpoint.tree_size);
    Ok(checkpoints)
}

/// Checks that the tree in `compact` (of at least the checkpoint's size, else events are
/// missing) has the checkpoint's root at its size, and the tenant heads it signs.
fn check_checkpoint(
    at: &CheckpointAt,
    compact: &CompactRange,
    heads: &mut TenantHeads,
) -> Result<()> {
    let checkpoint = &at.signed.checkpoint;
    if checkpoint.tree_size != compact.size() {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::LostEvents(format!(
                "a checkpoint was signed at tree size {}, the records end at {}",
                checkpoint.tree_size,
                compact.size()
            )),
        ));
    }
    if compact.root() != checkpoint.root {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::HashMismatch(format!(
                "the records' tree at size {} contradicts the signed checkpoint of that size",
                checkpoint.tree_size
            )),
        ));
    }
    if let Some(signed) = checkpoint.tenant_heads
        && heads.commitment() != signed
    {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::HashMismatch(format!(
                "the tenant heads of the records at size {} contradict those the checkpoint \
                 of that size signs",
                checkpoint.tree_size
            )),
        ));
    }
    Ok(())
}

/// The tenant ids the verify workers met, numbered in the order they met them (not the
/// log's): each worker looks its chunk's tenants up once, so the thread that follows the
/// tenant heads handles a number per record, never a tenant id.
#[derive(Default)]
struct Interner {
    numbers: parking_lot::RwLock<HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>>,
}

impl Interner {
    /// The number of each of `names`, numbering the new ones.
    fn numbers(&self, names: &[&[u8]]) -> Vec<u32> {
        const NEW: u32 = u32::MAX;
        let mut out = Vec::with_capacity(names.len());
        {
            let known = self.numbers.read();
            out.extend(names.iter().map(|n| known.get(*n).copied().unwrap_or(NEW)));
        }
        if out.contains(&NEW) {
            let mut known = self.numbers.write();
            for (name, number) in names.iter().zip(&mut out) {
                if *number == NEW {
                    let next = known.len() as u32;
                    *number = *known.entry((*name).into()).or_insert(next);
                }
            }
        }
        out
    }
}

/// The tenants of one chunk of records, in the order of their first record in it, their
/// [`Interner`] numbers, and each record's tenant (an index into `names`) and link.
#[derive(Default)]
struct ChunkTenants<'a> {
    names: Vec<&'a [u8]>,
    numbers: Vec<u32>,
    records: Vec<(u32, TenantLink)>,
}

/// Advances `heads` over `records` (of `tenants`), the first at seq `first`, checking that
/// each linked record names its tenant's previous event. `head_ids` maps interner numbers
/// to numbers in `heads`, given as each tenant's first record is reached, so tenants are
/// numbered in the order of their first events.
fn check_links(
    heads: &mut TenantHeads,
    first: u64,
    tenants: &ChunkTenants<'_>,
    records: &[(u32, TenantLink)],
    head_ids: &mut Vec<Option<u32>>,
) -> std::result::Result<(), (u64, String)> {
    for (seq, &(local, link)) in (first..).zip(records) {
        let (Some(&number), Some(name)) = (
            tenants.numbers.get(local as usize),
            tenants.names.get(local as usize),
        ) else {
            return Err((seq, "a verify thread lost a record's tenant".into()));
        };
        let number = number as usize;
        if head_ids.len() <= number {
            head_ids.resize(number + 1, None);
        }
        let id = *head_ids[number].get_or_insert_with(|| heads.id(name));
        let expected = heads.advance_id(id, seq);
        if link != TenantLink::Unlinked && link != expected {
            let says = |l: TenantLink| match l {
                TenantLink::Previous(p) => format!("event {p}"),
                _ => "none".to_owned(),
            };
            let name = String::from_utf8_lossy(name);
            return Err((
                seq,
                format!(
                    "record {seq}'s tenant link names {} as the previous event of `{name}`, \
                     but the records say {}",
                    says(link),
                    says(expected)
                ),
            ));
        }
    }
    Ok(())
}

/// Finds a segment's footer after its header: the end of its records and the footer
/// with its offset. A segment that may be the active one (`may_be_active`) may have none;
/// its records then run to the end of the file.
fn locate_footer(
    path: &Path,
    bytes: &[u8],
    header_len: usize,
    may_be_active: bool,
) -> Result<(usize, Option<(usize, SegmentFooter)>)> {
    let footer = bytes
        .len()
        .checked_sub(FOOTER_BYTES)
        .filter(|&at| at >= header_len)
        .map(|at| {
            (
                at,
                SegmentFooter::decode_from(bytes.get(at..).unwrap_or_default()),
            )
        });
    match footer {
        Some((at, Ok(f))) => Ok((
            usize::try_from(f.records_end).unwrap_or(usize::MAX).min(at),
            Some((at, f)),
        )),
        Some((at, Err((o, k)))) if !may_be_active => Err(corrupt(path, at as u64 + o, k)),
        None if !may_be_active => Err(corrupt(
            path,
            bytes.len() as u64,
            CorruptionKind::Truncated("sealed segment: no footer"),
        )),
        _ => Ok((bytes.len(), None)),
    }
}

/// Pass 1: every frame's place, into `frames`, from a sealed segment's offset table
/// (checked by its CRC), else by walking the lengths in order (which may stop at a bad
/// length: its offset and fault).
fn place_frames(
    bytes: &[u8],
    header_len: usize,
    records_end: usize,
    footer: Option<&(usize, SegmentFooter)>,
    frames: &mut Vec<FramePlace>,
) -> Option<(u64, Fault)> {
    let from_table = footer
        .is_some_and(|(at, f)| frames_from_table(bytes, header_len, records_end, *at, f, frames));
    if from_table {
        None
    } else {
        walk_frames(bytes, header_len, records_end, frames)
    }
}

/// A frame fault in words; `torn_hint` adds that it may be a crash's torn tail.
fn describe(fault: Fault, torn_hint: bool) -> String {
    match fault {
        Fault::Frame(e) if torn_hint => format!(
            "{e} (a torn tail if the log crashed; the next writer, e.g. `auditlog ingest`, cuts it)"
        ),
        Fault::Frame(e) => e.to_string(),
        Fault::Misplaced { frame, table } => {
            format!("record frame is {frame} bytes, the offset table leaves it {table}")
        }
        Fault::Record(e) => e.to_string(),
        Fault::Panicked => "a verify thread panicked; records unchecked".into(),
    }
}

/// What checking one segment file alone covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// The sequence number of its first record.
    pub base_seq: u64,
    /// Records checked.
    pub records: u64,
    /// The tree size after its last record.
    pub tree_size: u64,
    /// The tree head at `tree_size`, recomputed from the header's frontier and the records.
    pub root: Hash,
    /// The hash algorithm.
    pub alg: HashAlg,
    /// Whether it has a footer (an archived copy should).
    pub sealed: bool,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Checks one segment file alone, against the chain data it carries (for archived
/// copies): its header, every frame's CRC and timestamp, and the tree grown from the
/// header's frontier (the tree of every record before it) over its records, which must
/// give the footer's counts and tree head; then the footer's offset table, time bounds
/// and CRCs. Nothing else is read: the report's tree head can then be compared with a
/// signed checkpoint of that size, or with the next segment's frontier. A segment without
/// a footer is checked up to its end and reported unsealed.
pub fn verify_segment(path: &Path) -> Result<SegmentReport> {
    let storage = FsStorage::default();
    let bytes = read_all(&storage, path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let header = SegmentHeader::decode_from(&bytes).map_err(|(o, k)| corrupt(path, o, k))?;
    let mut compact = header
        .compact_range()
        .ok_or_else(|| corrupt(path, 11, CorruptionKind::BadField("bad frontier".into())))?;
    let header_len = header.encoded_len();
    let (records_end, footer) = locate_footer(path, &bytes, header_len, true)?;
    let mut frames = Vec::new();
    let walk_error = place_frames(
        &bytes,
        header_len,
        records_end,
        footer.as_ref(),
        &mut frames,
    );
    // A segment alone: its records' links name events before it too, so they are
    // checked with the whole log (`verify_dir`), not here.
    let grow = |leaves: &[Hash], _: &ChunkTenants<'_>| {
        compact.extend(leaves, |_, _, _| {});
        Ok(())
    };
    let (min_ts, max_ts) = match (
        check_records(
            &bytes,
            &frames,
            header.base_seq,
            &RecordChecks {
                path,
                alg: header.alg,
                interner: &Interner::default(),
                index: None,
            },
            None,
            grow,
        ),
        walk_error,
    ) {
        (Ok(bounds), None) => (bounds.min, bounds.max),
        (Err(Stop::Tree(e)), _) => return Err(e),
        (Err(Stop::Frame(offset, fault)), _) | (Ok(_), Some((offset, fault))) => {
            let what = describe(fault, footer.is_none());
            return Err(corrupt(path, offset, CorruptionKind::BadField(what)));
        }
    };
    if let Some((footer_at, f)) = &footer {
        check_footer(
            path,
            &bytes,
            *footer_at,
            f,
            &header,
            &frames,
            records_end,
            &compact,
            min_ts,
            max_ts,
        )?;
    }
    Ok(SegmentReport {
        base_seq: header.base_seq,
        records: frames.len() as u64,
        tree_size: compact.size(),
        root: compact.root(),
        alg: header.alg,
        sealed: footer.is_some(),
        bytes: bytes.len() as u64,
    })
}

/// Where a frame should lie in a segment's bytes: exactly `start..end`.
struct FramePlace {
    start: usize,
    end: usize,
}

/// Why a frame or record is bad.
enum Fault {
    Frame(FrameError),
    /// The frame's length disagrees with the offset table.
    Misplaced {
        frame: usize,
        table: usize,
    },
    Record(RecordError),
    /// A worker thread panicked (a bug): its records went unchecked.
    Panicked,
}

/// The frames of a sealed segment as its offset table places them, into `frames`, if the
/// table's CRC holds and its offsets rise from the first record to the end of the
/// records. Each frame's own length is compared with its place in pass 2.
fn frames_from_table(
    bytes: &[u8],
    header_len: usize,
    records_end: usize,
    footer_at: usize,
    footer: &SegmentFooter,
    frames: &mut Vec<FramePlace>,
) -> bool {
    frames.clear();
    let Some(table) = bytes.get(records_end..footer_at) else {
        return false;
    };
    if table.len() % 4 != 0 || crc32fast::hash(table) != footer.offsets_crc {
        return false;
    }
    let mut starts = table
        .chunks_exact(4)
        .map(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize)
        .chain([records_end]);
    let Some(mut start) = starts.next().filter(|&first| first == header_len) else {
        return false;
    };
    frames.reserve(table.len() / 4);
    for end in starts {
        if end <= start {
            return false;
        }
        frames.push(FramePlace { start, end });
        start = end;
    }
    true
}

/// The frames between `start` and `end` of `bytes` by their lengths alone, into
/// `frames`, up to the first whose length is bad: that one's offset and error.
fn walk_frames(
    bytes: &[u8],
    start: usize,
    end: usize,
    frames: &mut Vec<FramePlace>,
) -> Option<(u64, Fault)> {
    frames.clear();
    let records = bytes.get(..end).unwrap_or_default();
    let mut at = start;
    while at < records.len() {
        match split_frame(records.get(at..).unwrap_or_default()) {
            Ok(frame) => {
                frames.push(FramePlace {
                    start: at,
                    end: at + frame.total,
                });
                at += frame.total;
            }
            Err(e) => return Some((at as u64, Fault::Frame(e))),
        }
    }
    None
}

/// Why [`check_records`] stopped.
enum Stop {
    /// A frame or record is bad, at this byte offset.
    Frame(u64, Fault),
    /// Growing the tree found a fault.
    Tree(Error),
}

/// Checks every frame's CRC, reads its record's timestamp and hashes its leaf, on worker
/// threads (one per core) a chunk of frames at a time, and hands each chunk's leaf hashes
/// to `grow` in file order as soon as it is done, on this thread, so the tree grows while
/// the workers hash. Records are not decoded further: their leaf hashes prove them
/// unchanged, and `auditlog export` decodes every field. `retired` (the previous
/// segment's map) is dropped here while the workers start, off the critical path.
/// Returns the records' time bounds, or the first fault in file order.
fn check_records(
    bytes: &[u8],
    frames: &[FramePlace],
    first_seq: u64,
    checks: &RecordChecks<'_>,
    retired: Option<MappedBytes>,
    mut grow: impl FnMut(&[Hash], &ChunkTenants<'_>) -> Result<()>,
) -> std::result::Result<Bounds, Stop> {
    /// Frames per job: a megabyte or so of records.
    const CHUNK: usize = 4096;
    type Done<'a> = (usize, Vec<Hash>, Checked<'a>);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = crossbeam_channel::unbounded();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    // Hash buffers go back to the workers once grown into the tree, so a few are reused.
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<Hash>>();
    let chunks = frames.len().div_ceil(CHUNK);
    for job in frames.chunks(CHUNK).enumerate() {
        let _ = job_tx.send(job);
    }
    drop(job_tx);
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (jobs, done, free, stop) =
                (job_rx.clone(), done_tx.clone(), free_rx.clone(), &stop);
            workers.push(scope.spawn(move || {
                for (index, frames) in jobs.iter() {
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let mut hashes = free.try_recv().unwrap_or_default();
                    hashes.resize(frames.len(), [0; 32]);
                    let first_seq = first_seq + (index * CHUNK) as u64;
                    let mut checked = check_chunk(bytes, frames, first_seq, checks, &mut hashes);
                    checked.tenants.numbers = checks.interner.numbers(&checked.tenants.names);
                    if done.send((index, hashes, checked)).is_err() {
                        return;
                    }
                }
            }));
        }
        // Once every worker is gone (done, or panicked: a bug), `recv` fails.
        drop(done_tx);
        drop(retired);
        let mut ready = BTreeMap::new();
        let (mut min, mut max) = (Timestamp::MAX, Timestamp::MIN);
        let mut index_fault = None;
        let mut result = Ok(());
        for next in 0..chunks {
            let (hashes, checked) = loop {
                if let Some(chunk) = ready.remove(&next) {
                    break chunk;
                }
                match done_rx.recv() {
                    Ok((index, hashes, checked)) => ready.insert(index, (hashes, checked)),
                    Err(_) => {
                        let lost = Checked {
                            hashed: 0,
                            min: Timestamp::MAX,
                            max: Timestamp::MIN,
                            tenants: ChunkTenants::default(),
                            fault: Some((0, Fault::Panicked)),
                            index_fault: None,
                        };
                        break (Vec::new(), lost);
                    }
                };
            };
            (min, max) = (min.min(checked.min), max.max(checked.max));
            if index_fault.is_none() {
                index_fault = checked.index_fault;
            }
            let good = hashes.get(..checked.hashed).unwrap_or_default();
            let fault = checked
                .fault
                .map_or(Ok(()), |(offset, fault)| Err(Stop::Frame(offset, fault)));
            result = grow(good, &checked.tenants).map_err(Stop::Tree).and(fault);
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            let _ = free_tx.send(hashes);
        }
        stop.store(true, Ordering::Relaxed);
        // Joined here, so a worker's panic (a bug) is reported rather than re-raised.
        for worker in workers {
            if worker.join().is_err() && result.is_ok() {
                result = Err(Stop::Frame(0, Fault::Panicked));
            }
        }
        result.map(|()| Bounds {
            min,
            max,
            index_fault,
        })
    })
}

/// What [`check_records`] checks each record against besides its frame and leaf.
struct RecordChecks<'a> {
    /// The segment file, for naming a record in an error.
    path: &'a Path,
    alg: HashAlg,
    interner: &'a Interner,
    /// The segment's index file, whose entries must hold each record's values.
    index: Option<&'a IndexChecker<'a>>,
}

/// What [`check_records`] found of good records: their time bounds, and the first record
/// its index file contradicts (reported once the log itself has passed: an index is
/// derived data).
struct Bounds {
    min: Timestamp,
    max: Timestamp,
    index_fault: Option<Error>,
}

/// What [`check_chunk`] found: the frames before the first fault are checked and their
/// leaves hashed.
struct Checked<'a> {
    /// Frames checked and hashed, from the chunk's first.
    hashed: usize,
    min: Timestamp,
    max: Timestamp,
    /// The tenant and link of each frame checked.
    tenants: ChunkTenants<'a>,
    /// The first bad frame: its offset and fault.
    fault: Option<(u64, Fault)>,
    /// The first record its index contradicts, or whose indexed fields do not decode.
    index_fault: Option<Error>,
}

/// [`check_records`]' work on one chunk of frames, a few hundred at a time so each
/// record is still in cache when it is hashed. Stops at the first bad frame, with the
/// leaves before it hashed (so a changed record before it is still found first).
fn check_chunk<'a>(
    bytes: &'a [u8],
    frames: &[FramePlace],
    first_seq: u64,
    checks: &RecordChecks<'_>,
    hashes: &mut [Hash],
) -> Checked<'a> {
    const BATCH: usize = 256;
    let mut out = Checked {
        hashed: 0,
        min: Timestamp::MAX,
        max: Timestamp::MIN,
        tenants: ChunkTenants::default(),
        fault: None,
        index_fault: None,
    };
    out.tenants.records.reserve(frames.len());
    // Sized for the tenants a chunk usually holds, so it seldom grows.
    let mut local: HashMap<&'a [u8], u32, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(frames.len().min(2048), Default::default());
    let mut payloads = Vec::with_capacity(BATCH);
    for (frames, hashes) in frames.chunks(BATCH).zip(hashes.chunks_mut(BATCH)) {
        payloads.clear();
        for place in frames {
            match check_frame(bytes, place) {
                Ok((payload, head)) => {
                    out.min = out.min.min(head.timestamp);
                    out.max = out.max.max(head.timestamp);
                    let ChunkTenants { names, records, .. } = &mut out.tenants;
                    // A record whose link names an earlier record of the chunk with the
                    // same tenant id has that record's tenant: no lookup. (Whether the
                    // link is right is for `check_links` to say.)
                    let seq = first_seq + records.len() as u64;
                    let linked = match head.tenant_link {
                        TenantLink::Previous(p) if p >= first_seq && p < seq => {
                            records.get((p - first_seq) as usize).and_then(|&(id, _)| {
                                (names.get(id as usize) == Some(&head.tenant_id)).then_some(id)
                            })
                        }
                        _ => None,
                    };
                    let id = linked.unwrap_or_else(|| {
                        *local.entry(head.tenant_id).or_insert_with(|| {
                            names.push(head.tenant_id);
                            names.len() as u32 - 1
                        })
                    });
                    records.push((id, head.tenant_link));
                    if let Some(index) = checks.index
                        && out.index_fault.is_none()
                    {
                        out.index_fault = check_indexed(checks.path, index, seq, place, payload);
                    }
                    payloads.push(payload);
                }
                Err(fault) => {
                    out.fault = Some(fault);
                    break;
                }
            }
        }
        let done = payloads.len();
        checks.alg.hash_leaves(&payloads, &mut hashes[..done]);
        out.hashed += done;
        if out.fault.is_some() {
            break;
        }
    }
    out
}

/// Whether the index entries of record `seq` (its frame at `place`) hold its values.
fn check_indexed(
    segment_path: &Path,
    index: &IndexChecker<'_>,
    seq: u64,
    place: &FramePlace,
    payload: &[u8],
) -> Option<Error> {
    match decode_index_fields(payload) {
        Ok(fields) => index
            .check_record(seq, &fields)
            .err()
            .map(|fault| index_fault(index.path(), fault)),
        Err(e) => {
            let why = format!("record {seq}: {e}");
            Some(corrupt(
                segment_path,
                place.start as u64,
                CorruptionKind::BadField(why),
            ))
        }
    }
}

/// One frame: its length against its place, its CRC, its record's timestamp, tenant and
/// link.
fn check_frame<'a>(
    bytes: &'a [u8],
    place: &FramePlace,
) -> std::result::Result<(&'a [u8], RecordHead<'a>), (u64, Fault)> {
    let offset = place.start as u64;
    let span = bytes.get(place.start..place.end).unwrap_or_default();
    let frame = split_frame(span).map_err(|e| (offset, Fault::Frame(e)))?;
    if frame.total != span.len() {
        let (frame, table) = (frame.total, span.len());
        return Err((offset, Fault::Misplaced { frame, table }));
    }
    frame.check().map_err(|e| (offset, Fault::Frame(e)))?;
    let head = decode_record_head(frame.payload).map_err(|e| (offset, Fault::Record(e)))?;
    Ok((frame.payload, head))
}

#[allow(clippy::too_many_arguments)]
fn check_footer(
    path: &Path,
    bytes: &[u8],
    footer_at: usize,
    f: &SegmentFooter,
    header: &SegmentHeader,
    frames: &[FramePlace],
    records_end: usize,
    compact: &CompactRange,
    min_ts: Timestamp,
    max_ts: Timestamp,
) -> Result<()> {
    let field = |what: String| corrupt(path, footer_at as u64, CorruptionKind::BadField(what));
    if frames.is_empty() {
        return Err(field("a sealed segment holds no records".into()));
    }
    if footer_at.checked_sub(records_end) != Some(frames.len() * 4) {
        return Err(field(format!(
            "the offset table is {} bytes, not 4 per record",
            footer_at.saturating_sub(records_end)
        )));
    }
    if f.records_end != records_end as u64 {
        return Err(field(format!(
            "footer says records end at {}, they end at {records_end}",
            f.records_end
        )));
    }
    if f.record_count != frames.len() as u64 || f.tree_size != header.base_seq + frames.len() as u64
    {
        return Err(field(format!(
            "footer counts {} records, the segment holds {}",
            f.record_count,
            frames.len()
        )));
    }
    if f.root != compact.root() {
        return Err(corrupt(
            path,
            footer_at as u64 + 32,
            CorruptionKind::HashMismatch(
                "the footer's tree head differs from the tree of the records".into(),
            ),
        ));
    }
    if f.min_timestamp != min_ts || f.max_timestamp != max_ts {
        return Err(field(
            "footer time bounds differ from the records' timestamps".into(),
        ));
    }
    let table = bytes.get(records_end..footer_at).unwrap_or_default();
    for (i, (entry, place)) in table.chunks_exact(4).zip(frames).enumerate() {
        let stored = crate::le::u32_at(entry, 0).map(u64::from);
        let actual = place.start as u64;
        if stored != Some(actual) {
            return Err(corrupt(
                path,
                (records_end + i * 4) as u64,
                CorruptionKind::BadField(format!(
                    "offset table entry {i} says {stored:?}, the record is at {actual}"
                )),
            ));
        }
    }
    let crc = crc32fast::hash(table);
    if crc != f.offsets_crc {
        return Err(corrupt(
            path,
            records_end as u64,
            CorruptionKind::ChecksumMismatch {
                expected: f.offsets_crc,
                found: crc,
            },
        ));
    }
    Ok(())
}

/// The index file of a sealed segment, to check beside its records: `None` when there is
/// none (a note: it is derived data, rebuilt at the next open); an error when it is
/// unreadable or damaged.
fn load_index(
    storage: &dyn Storage,
    segment_path: &Path,
    base: u64,
    footer: &SegmentFooter,
    notes: &mut Vec<String>,
) -> Result<Option<SealedIndex>> {
    let path = crate::index::index_path(segment_path);
    if !storage.exists(&path) {
        notes.push(format!(
            "{} is missing (derived data: the next open rebuilds it)",
            path.display()
        ));
        return Ok(None);
    }
    let bytes = storage
        .map(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    SealedIndex::parse(&path, bytes, crate::index::identity_from(base, footer))
        .map(Some)
        .map_err(|fault| index_fault(&path, fault))
}

/// An index file's fault, with what to do about it.
fn index_fault(path: &Path, (offset, kind): crate::index::IndexFault) -> Error {
    let derived = "(an index is derived data: delete the file and the next open rebuilds it)";
    let kind = match kind {
        CorruptionKind::HashMismatch(why) => {
            CorruptionKind::HashMismatch(format!("{why} {derived}"))
        }
        other => CorruptionKind::BadField(format!("{other} {derived}")),
    };
    corrupt(path, offset, kind)
}
