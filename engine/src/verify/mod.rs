//! The offline check behind `auditlog verify`: recompute every CRC, every record's leaf
//! hash, every stored tree node, every segment's chain link (header frontier, footer tree
//! head, offset table, time bounds), every record's tenant link, and every signed
//! checkpoint (signature, root and tenant heads at its size), reading each byte once; and
//! [`verify_segment`], one segment file alone. It needs only the data directory (and the
//! public key), reads it through the [`Storage`] it is given and writes nothing. The first
//! fault is returned as [`Corruption`] with its file and byte offset.
//!
//! A [`Verifier`] carries the state from segment to segment; each segment goes through
//! the same steps, one module each: where its frames lie ([`frames`]), every frame and
//! leaf ([`records`]), the tree and tenant heads grown from them ([`chain`]: the stored
//! levels in [`tree`], the signed checkpoints in [`checkpoints`], the tenant links in
//! [`links`]), its footer ([`footer`]) and its index file ([`index`]).

mod chain;
mod checkpoints;
mod footer;
mod frames;
mod index;
mod links;
mod records;
mod segment;
mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use segment::{SealedClaims, SegmentReport, sealed_claims};

use crate::checkpoint::{NoteVerifier, WitnessPolicy, load_verifier};
use crate::config::LogConfig;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::index::{IndexChecker, SealedIndex};
use crate::merkle::{Hash, HashAlg};
use crate::retention::DeletedPrefix;
use crate::segment::{SegmentFooter, SegmentHeader, list_segment_bases, segment_path};
use crate::storage::{FsStorage, MappedBytes, Storage, read_file};
use crate::tree::TREE_DIR;
use chain::Chain;
pub use checkpoints::WitnessedCheckpoint;
use checkpoints::{CheckpointAt, check_cosigned, check_signatures};
use frames::{FramePlace, Places, locate_footer, place_frames};
use index::{index_fault, load_index};
use links::Interner;
use records::{Failed, RecordChecks, check_records, settle};

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
    /// Entries of the cosigned checkpoint log, each found to be the log's own checkpoint
    /// of its size.
    pub cosigned_checkpoints: usize,
    /// With a witness policy ([`VerifyOptions::witnesses`]): the newest checkpoint it
    /// accepts, if any does. Its root is checked like every checkpoint's.
    pub witnessed: Option<WitnessedCheckpoint>,
    /// The tree head of all records.
    pub root: Hash,
    /// The number of leaves of that tree (deleted records included).
    pub tree_size: u64,
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

/// What a report says of the records `deleted` past retention, `passed` checkpoints below
/// them passed over.
fn deletion_notes(deleted: &DeletedPrefix, passed: usize) -> Vec<String> {
    let end = deleted.end();
    let mut notes = vec![format!(
        "records 0..{end} were deleted past retention ({} signed receipts checked)",
        deleted.receipts().len()
    )];
    if passed > 0 {
        notes.push(format!(
            "{passed} checkpoints sign tree sizes below {end}: their signatures were checked; \
             their roots cannot be, the records under them being deleted"
        ));
    }
    notes
}

fn corruption_offset(error: &Error) -> Option<u64> {
    match error {
        Error::Corruption(c) => Some(c.offset),
        _ => None,
    }
}

/// How to verify: the storage to read, the key that checks checkpoint signatures, and the
/// checkpoints the auditor holds.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    storage: Arc<dyn Storage>,
    key: Option<&'a NoteVerifier>,
    held: &'a [(PathBuf, Vec<u8>)],
    prefix: bool,
    witnesses: Option<&'a WitnessPolicy>,
}

impl Default for VerifyOptions<'_> {
    fn default() -> Self {
        VerifyOptions {
            storage: Arc::new(FsStorage::default()),
            key: None,
            held: &[],
            prefix: false,
            witnesses: None,
        }
    }
}

impl<'a> VerifyOptions<'a> {
    /// The real file system, the directory's own public key, no checkpoint held.
    pub fn new() -> VerifyOptions<'a> {
        VerifyOptions::default()
    }

    /// Reads through another storage (fault injection in tests; another backend).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> VerifyOptions<'a> {
        self.storage = storage;
        self
    }

    /// Checks the checkpoints' signatures with `key` (the one an auditor was given) or,
    /// when `None`, with the directory's own `keys/checkpoint.pub`.
    pub fn key(mut self, key: Option<&'a NoteVerifier>) -> VerifyOptions<'a> {
        self.key = key;
        self
    }

    /// Also checks signed checkpoints the auditor holds (each file's name and bytes, e.g.
    /// notes received earlier): each must be signed by the key and have its root in the
    /// records' tree, whatever the data directory's own checkpoint log says.
    pub fn held(mut self, held: &'a [(PathBuf, Vec<u8>)]) -> VerifyOptions<'a> {
        self.held = held;
        self
    }

    /// Also finds the newest checkpoint that `policy` accepts among those kept with
    /// cosignatures and those held ([`VerifyReport::witnessed`]); a cosignature of one of
    /// its witnesses that does not verify fails the check.
    pub fn witnesses(mut self, policy: Option<&'a WitnessPolicy>) -> VerifyOptions<'a> {
        self.witnesses = policy;
        self
    }

    /// Checks the log as a prefix of one that went on (an archive, whose newest segments
    /// are not archived yet): signed checkpoints past its records are counted in a note
    /// instead of failing the check as lost events.
    pub fn prefix(mut self, prefix: bool) -> VerifyOptions<'a> {
        self.prefix = prefix;
        self
    }

    /// Verifies every byte of the log in `dir`. `progress` is called with the bytes of
    /// segment data done so far.
    pub fn verify_dir(&self, dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
        let storage = self.storage.as_ref();
        let config = LogConfig::load(storage, dir)?;
        let own_key;
        let key = match self.key {
            Some(key) => Some(key),
            None => {
                own_key = load_verifier(storage, dir)?;
                own_key.as_ref()
            }
        };
        let deleted = DeletedPrefix::read(storage, dir, config.hash, key)?;
        let (left, bases): (Vec<u64>, Vec<u64>) = list_segment_bases(storage, dir)?
            .into_iter()
            .partition(|&base| base < deleted.end());
        let mut notes = Vec::new();
        if !left.is_empty() {
            notes.push(format!(
                "{} segments below record {}, deleted past retention, are still on disk (a \
                 deletion was cut short); the next open removes them",
                left.len(),
                deleted.end()
            ));
        }
        let (checkpoints, checked_by) = check_signatures(
            &self.storage,
            dir,
            &config.origin,
            self.key,
            self.held,
            &mut notes,
        )?;
        let (cosigned, witnessed) = check_cosigned(
            &self.storage,
            dir,
            &config.origin,
            checked_by.as_ref(),
            &checkpoints,
            self.witnesses,
            &mut notes,
        )?;
        let mut verifier = Verifier::new(storage, dir, config.hash, &checkpoints, notes);
        verifier.deleted = Some(deleted).filter(|d| d.end() > 0);
        verifier.report.segments = bases.len();
        for (i, &base) in bases.iter().enumerate() {
            verifier.check_segment(base, i + 1 == bases.len())?;
            progress(verifier.report.bytes);
        }
        let mut report = verifier.finish(self.prefix)?;
        report.checkpoints = checkpoints.len() - self.held.len();
        report.held_checkpoints = self.held.len();
        report.cosigned_checkpoints = cosigned;
        report.witnessed = witnessed;
        Ok(report)
    }

    /// Checks one segment file alone (see [`verify_segment`]).
    pub fn verify_segment(&self, path: &Path) -> Result<SegmentReport> {
        segment::check_segment_alone(self.storage.as_ref(), path)
    }
}

/// Verifies every byte of the log in `dir`, checking its checkpoints with the directory's
/// own public key. `progress` is called with the bytes of segment data done so far.
pub fn verify_dir(dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
    VerifyOptions::new().verify_dir(dir, progress)
}

/// [`verify_dir`], checking the checkpoints' signatures with `key` (the one an auditor was
/// given) or, when `None`, with the directory's own `keys/checkpoint.pub`.
pub fn verify_dir_with_key(
    dir: &Path,
    key: Option<&NoteVerifier>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    VerifyOptions::new().key(key).verify_dir(dir, progress)
}

/// [`verify_dir_with_key`], also checking signed checkpoints the auditor holds
/// ([`VerifyOptions::held`]).
pub fn verify_dir_against(
    dir: &Path,
    key: Option<&NoteVerifier>,
    held: &[(PathBuf, Vec<u8>)],
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    VerifyOptions::new()
        .key(key)
        .held(held)
        .verify_dir(dir, progress)
}

/// Checks one segment file alone, against the chain data it carries (for archived
/// copies): its header, every frame's CRC and timestamp, and the tree grown from the
/// header's frontier (the tree of every record before it) over its records, which must
/// give the footer's counts and tree head; then the footer's offset table, time bounds
/// and CRCs. Nothing else is read: the report's tree head can then be compared with a
/// signed checkpoint of that size, or with the next segment's frontier. A segment without
/// a footer is checked up to its end and reported unsealed.
pub fn verify_segment(path: &Path) -> Result<SegmentReport> {
    VerifyOptions::new().verify_segment(path)
}

/// One pass over a log, segment by segment: what is carried from one to the next.
struct Verifier<'a> {
    storage: &'a dyn Storage,
    dir: &'a Path,
    alg: HashAlg,
    chain: Chain<'a>,
    /// Tenant ids as the record workers number them.
    interner: Interner,
    report: VerifyReport,
    /// Notes of the checkpoints and index files, said after the log's own.
    notes: Vec<String>,
    /// The first fault of an index file, reported once the log itself has passed.
    index_faults: Option<Error>,
    /// Reused from segment to segment, so its pages are touched once.
    frames: Vec<FramePlace>,
    /// The map of the segment before, unmapped while the next one is checked.
    retired: Option<MappedBytes>,
    /// Records deleted past retention, until the first segment kept is reached.
    deleted: Option<DeletedPrefix>,
}

impl<'a> Verifier<'a> {
    fn new(
        storage: &'a dyn Storage,
        dir: &'a Path,
        alg: HashAlg,
        checkpoints: &'a [CheckpointAt],
        notes: Vec<String>,
    ) -> Verifier<'a> {
        Verifier {
            storage,
            dir,
            alg,
            chain: Chain::new(storage, dir, alg, checkpoints),
            interner: Interner::default(),
            report: VerifyReport {
                checkpoints: 0,
                held_checkpoints: 0,
                cosigned_checkpoints: 0,
                witnessed: None,
                segments: 0,
                records: 0,
                bytes: 0,
                nodes_checked: 0,
                root: alg.empty_root(),
                tree_size: 0,
                alg,
                indexes_checked: 0,
                notes: Vec::new(),
            },
            notes,
            index_faults: None,
            frames: Vec::new(),
            retired: None,
            deleted: None,
        }
    }

    /// Checks the segment that begins at `base` (`is_last`: the newest, which may still
    /// be written to) and grows the chain over its records.
    fn check_segment(&mut self, base: u64, is_last: bool) -> Result<()> {
        let path = segment_path(self.dir, base);
        // The last segment may still be written to: read it, never map it.
        let data = if is_last {
            MappedBytes::from_vec(read_file(self.storage, &path)?)
        } else {
            let io = |e| Error::io(format!("mapping {}", path.display()), e);
            self.storage.map(&path).map_err(io)?
        };
        let bytes = data.as_slice();
        let header = self.check_header(&path, bytes, base, is_last)?;
        let header_len = header.encoded_len();
        let (records_end, footer) = locate_footer(&path, bytes, header_len, is_last)?;
        let walk_error = place_frames(
            bytes,
            &header,
            records_end,
            footer.as_ref(),
            &mut self.frames,
        );
        // A sealed segment's index is checked with its records: each record's entries
        // by the workers, its postings on a thread of their own meanwhile.
        let index = footer
            .as_ref()
            .and_then(|(_, f)| self.sealed_index(&path, base, f));
        let checker = self.index_checker(&path, index.as_ref());
        let places = Places {
            path: &path,
            base,
            frames: &self.frames,
        };
        let checks = RecordChecks {
            path: &path,
            alg: self.alg,
            interner: &self.interner,
            index: checker.as_ref(),
        };
        let retired = self.retired.take();
        let chain = &mut self.chain;
        let (checked, postings) = std::thread::scope(|scope| {
            let postings = checker.as_ref().map(|c| scope.spawn(|| c.check_postings()));
            let checked = check_records(bytes, places.frames, base, &checks, retired, |l, t| {
                chain.grow(l, t, &places)
            });
            (checked, postings.map(|p| p.join()))
        });
        let torn_hint = is_last && footer.is_none();
        let bounds = match settle(checked, walk_error, &path, torn_hint) {
            Ok(bounds) => bounds,
            Err(Failed::Tree(e)) => return Err(e),
            Err(Failed::Frame(e)) => return Err(self.chain.stored.first_fault(e)),
        };
        if let Some(e) = bounds.index_fault {
            self.index_faults.get_or_insert(e);
        }
        self.report.records += self.frames.len() as u64;
        self.report.bytes += bytes.len() as u64;
        if let Some((footer_at, f)) = &footer {
            self.chain.settle_at_seal(&f.root)?;
            footer::check_footer(
                &path,
                bytes,
                *footer_at,
                f,
                &header,
                &self.frames,
                records_end,
                &self.chain.compact,
                bounds.min,
                bounds.max,
            )?;
        }
        if let Some(checker) = &checker {
            match postings {
                Some(Ok(Ok(()))) => self.report.indexes_checked += 1,
                Some(Ok(Err(fault))) => {
                    self.index_faults
                        .get_or_insert(index_fault(checker.path(), fault));
                }
                // A panic is a bug; the index is derived data, so it is said, not raised.
                _ => {
                    let why = CorruptionKind::BadField("its check failed".into());
                    self.index_faults
                        .get_or_insert(corrupt(checker.path(), 0, why));
                }
            }
        }
        self.retired = Some(data);
        Ok(())
    }

    /// The segment's header, which must carry the log's hash, begin where the records
    /// before it end, and hold their tree's frontier.
    fn check_header(
        &mut self,
        path: &Path,
        bytes: &[u8],
        base: u64,
        is_last: bool,
    ) -> Result<SegmentHeader> {
        let header = SegmentHeader::decode_from(bytes).map_err(|(offset, kind)| {
            if is_last && bytes.len() <= SegmentHeader::encoded_len_for(base) {
                // No record in it: nothing acknowledged is lost, but the log is not whole.
                return corrupt(
                    path,
                    offset,
                    CorruptionKind::BadField(format!(
                        "{kind} (a segment whose creation a crash interrupted; the next \
                         writer, e.g. `auditlog ingest`, removes it)"
                    )),
                );
            }
            corrupt(path, offset, kind)
        })?;
        if let Some(deleted) = self.deleted.take() {
            self.start_after(&deleted, path, &header)?;
        }
        let compact = &self.chain.compact;
        if header.alg != self.alg {
            return Err(corrupt(
                path,
                10,
                CorruptionKind::BadField(format!(
                    "segment hashes with {}, the log with {}",
                    header.alg, self.alg
                )),
            ));
        }
        if header.base_seq != base || base != compact.size() {
            return Err(corrupt(
                path,
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
                path,
                32,
                CorruptionKind::BrokenChain(
                    "the header's frontier differs from the tree of the records before it".into(),
                ),
            ));
        }
        Ok(header)
    }

    /// Starts the chain at the first segment kept after the records `deleted` past
    /// retention: it must begin where the receipts end, and its frontier must hash to the
    /// tree head the newest one signs.
    fn start_after(
        &mut self,
        deleted: &DeletedPrefix,
        path: &Path,
        header: &SegmentHeader,
    ) -> Result<()> {
        let end = deleted.end();
        if header.base_seq != end {
            return Err(corrupt(
                path,
                16,
                CorruptionKind::BrokenChain(format!(
                    "segment starts at {}, the records deleted past retention end at {end}",
                    header.base_seq
                )),
            ));
        }
        let frontier = header
            .compact_range()
            .filter(|range| Some(range.root()) == deleted.end_root());
        let Some(frontier) = frontier else {
            return Err(corrupt(
                path,
                32,
                CorruptionKind::BrokenChain(
                    "the header's frontier does not hash to the tree head the newest \
                     retention receipt signs"
                        .into(),
                ),
            ));
        };
        let passed = self.chain.start_at(frontier, deleted.heads().clone());
        self.report.notes.extend(deletion_notes(deleted, passed));
        Ok(())
    }

    /// The index file of the sealed segment at `path`, if it is there and sound (a
    /// missing one is a note, a damaged one an index fault).
    fn sealed_index(
        &mut self,
        path: &Path,
        base: u64,
        footer: &SegmentFooter,
    ) -> Option<SealedIndex> {
        match load_index(self.storage, path, base, footer, &mut self.notes) {
            Ok(index) => index,
            Err(e) => {
                self.index_faults.get_or_insert(e);
                None
            }
        }
    }

    /// What checks the records against `index`, if its tables are sound.
    fn index_checker<'i>(
        &mut self,
        segment: &Path,
        index: Option<&'i SealedIndex>,
    ) -> Option<IndexChecker<'i>> {
        match index?.checker() {
            Ok(checker) => Some(checker),
            Err(fault) => {
                let path = crate::index::index_path(segment);
                self.index_faults.get_or_insert(index_fault(&path, fault));
                None
            }
        }
    }

    /// After the last segment: the checkpoints left, then index faults (the log itself
    /// is sound by then), then whether the records reach the durable tree size.
    fn finish(self, prefix: bool) -> Result<VerifyReport> {
        let Verifier {
            storage,
            dir,
            mut chain,
            mut report,
            notes,
            index_faults,
            deleted,
            ..
        } = self;
        report.root = chain.compact.root();
        report.tree_size = chain
            .compact
            .size()
            .max(deleted.as_ref().map_or(0, |d| d.end()));
        // No segment kept after a deletion (an archive whose kept segments are not
        // archived yet): the receipts alone, the tree head the newest signs.
        if let Some(deleted) = deleted {
            let passed = chain.pass_below(deleted.end());
            report.notes.extend(deletion_notes(&deleted, passed));
            report.root = deleted.end_root().unwrap_or(report.root);
        }
        report.nodes_checked = chain.stored.nodes_checked;
        // An archive (a prefix) keeps no tree: its nodes are all recomputed, not missing.
        if chain.stored.missing && !prefix {
            report.notes.push("the stored tree lacks the nodes of the newest records (the log was not closed cleanly); the next open recomputes them".into());
        }
        let size = chain.compact.size();
        let past_end = chain.finish(prefix)?;
        if past_end > 0 {
            report.notes.push(format!(
                "{past_end} checkpoints sign tree sizes past these records' end ({size}): the \
                 events they add are not here yet"
            ));
        }
        if let Some(e) = index_faults {
            return Err(e);
        }
        report.notes.extend(notes);
        let durable = crate::tree::read_durable_size(storage, dir)?;
        if durable > size {
            return Err(corrupt(
                &dir.join(TREE_DIR).join("state"),
                16,
                CorruptionKind::LostEvents(format!(
                    "{durable} leaves were made durable but the records end at {size}"
                )),
            ));
        }
        Ok(report)
    }
}
