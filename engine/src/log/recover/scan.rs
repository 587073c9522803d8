//! Recovery's first phases: every segment's header and footer and the chain of bases
//! between them; the active segment read up to its first bad frame; then the floors the
//! records must reach (the durable tree size, the newest signed checkpoint). Reads only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checkpoint::Checkpoint;
use crate::codec::IndexFields;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::index::MemoryIndex;
use crate::index::index_path;
use crate::log::checkpoints;
use crate::merkle::{Hash, HashAlg};
use crate::retention::DeletedPrefix;
use crate::segment::{
    ActiveSegment, FOOTER_BYTES, RecoveredTail, SEGMENTS_DIR, SealedSegment, SegmentHeader,
    list_segments, segment_path, stub_path,
};
use crate::storage::{OpenMode, Storage};
use crate::writer::MAX_TORN_TAIL_BYTES;

pub(super) fn corrupt(path: &Path, offset: u64, kind: CorruptionKind) -> Error {
    Error::Corruption(Corruption::new(path, offset, kind))
}

/// The last segment, recovered: its records up to the first bad frame.
pub(super) struct Active {
    pub(super) segment: ActiveSegment,
    pub(super) offsets: Vec<u32>,
    pub(super) contents: Vec<u8>,
    pub(super) index: MemoryIndex,
}

/// What the segment files hold, as found.
pub(super) struct Scanned {
    pub(super) sealed: Vec<Arc<SealedSegment>>,
    pub(super) active: Option<Active>,
    /// A torn last record of the active segment (cut at apply; a reader ignores it).
    pub(super) torn_tail: Option<RecoveredTail>,
    /// A last segment whose creation a crash interrupted (removed at apply).
    pub(super) discarded: Option<PathBuf>,
    /// The first record kept: those before it were deleted past retention.
    pub(super) floor: u64,
    /// The tree head at `floor`, which the first segment's frontier must give (signed
    /// by the newest retention receipt).
    pub(super) floor_root: Option<Hash>,
    /// Files of segments below `floor` that a deletion cut short left (removed at apply).
    pub(super) below_floor: Vec<PathBuf>,
    /// The last segment file, or the segments folder: where lost events are reported.
    pub(super) last_path: PathBuf,
}

impl Scanned {
    /// One past the last record.
    pub(super) fn tree_size(&self) -> u64 {
        match &self.active {
            Some(a) => a.segment.base_seq() + a.segment.record_count,
            None => self.sealed.last().map_or(self.floor, |s| s.end()),
        }
    }

    /// The header of the first segment kept.
    pub(super) fn first_header(&self) -> Option<(&Path, &SegmentHeader)> {
        match self.sealed.first() {
            Some(s) => Some((&s.path, &s.header)),
            None => self
                .active
                .as_ref()
                .map(|a| (a.segment.path.as_path(), &a.segment.header)),
        }
    }

    /// Checks that the records reach every size ever made durable and the newest signed
    /// checkpoint's: nothing acknowledged or signed is missing. The tree size.
    pub(super) fn check_floors(
        &self,
        durable: u64,
        newest: Option<&Checkpoint>,
        dir: &Path,
    ) -> Result<u64> {
        let tree_size = self.tree_size();
        if tree_size < durable {
            return Err(corrupt(
                &self.last_path,
                self.active.as_ref().map_or(0, |a| a.segment.len),
                CorruptionKind::LostEvents(format!(
                    "the records end at {tree_size} but {durable} were made durable"
                )),
            ));
        }
        checkpoints::check_size(newest, tree_size, dir)?;
        Ok(tree_size)
    }
}

/// Reads every segment of the log in `dir` from the first record kept after `deleted`:
/// sealed ones checked whole (header, footer, offset table), the chain of bases between
/// them, the last one recovered if it has no footer. A reader (`read_only`) takes a bad
/// tail for a writer's work in progress.
pub(super) fn scan_segments(
    storage: &dyn Storage,
    dir: &Path,
    alg: HashAlg,
    read_only: bool,
    deleted: &DeletedPrefix,
) -> Result<Scanned> {
    let floor = deleted.end();
    let (below, listed): (Vec<_>, Vec<_>) = list_segments(storage, dir)?
        .into_iter()
        .partition(|s| s.base < floor);
    let below_floor = below
        .iter()
        .flat_map(|s| {
            let path = segment_path(dir, s.base);
            [index_path(&path), stub_path(dir, s.base), path]
        })
        .filter(|path| storage.exists(path))
        .collect();
    let mut scanned = Scanned {
        sealed: Vec::new(),
        active: None,
        torn_tail: None,
        discarded: None,
        floor,
        floor_root: deleted.end_root(),
        below_floor,
        last_path: listed
            .last()
            .map_or_else(|| dir.join(SEGMENTS_DIR), |s| segment_path(dir, s.base)),
    };
    for (i, listed_segment) in listed.iter().enumerate() {
        let base = listed_segment.base;
        let path = segment_path(dir, base);
        let expected = scanned.sealed.last().map_or(floor, |s| s.end());
        if base != expected {
            return Err(corrupt(
                &path,
                0,
                CorruptionKind::BrokenChain(format!(
                    "segment starts at {base}, the previous one ends at {expected}"
                )),
            ));
        }
        let is_last = i + 1 == listed.len();
        if !listed_segment.local {
            // Archived and released: its stub stands for it (never the last segment).
            let segment = SealedSegment::open_archived(storage, dir, &path, base)?;
            check_header(&path, &segment.header, alg, base)?;
            scanned.sealed.push(Arc::new(segment));
            continue;
        }
        let segment = match SealedSegment::open(storage, &path) {
            Ok(s) => s,
            Err(Error::Corruption(_)) if is_last => {
                recover_last(storage, &path, base, alg, read_only, &mut scanned)?;
                break;
            }
            Err(e) => return Err(e),
        };
        check_header(&path, &segment.header, alg, base)?;
        scanned.sealed.push(Arc::new(segment));
    }
    Ok(scanned)
}

/// The last segment, which has no (sound) footer: its records up to the first bad frame,
/// which must be a torn write; or, if it is no longer than its header, a creation a
/// crash interrupted.
fn recover_last(
    storage: &dyn Storage,
    path: &Path,
    base: u64,
    alg: HashAlg,
    read_only: bool,
    scanned: &mut Scanned,
) -> Result<()> {
    let mut index = MemoryIndex::default();
    let recovered = match ActiveSegment::recover(storage, path, read_only, |event| {
        index.push(&IndexFields::of(event))
    }) {
        Ok(recovered) => recovered,
        Err(Error::Corruption(_)) if is_torn_creation(storage, path, base) => {
            // A crash while the segment was being created (or, for a reader, a writer
            // creating it now): no record in it, nothing acknowledged.
            if !read_only {
                scanned.discarded = Some(path.to_path_buf());
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    check_header(path, &recovered.segment.header, alg, base)?;
    if let Some(torn) = &recovered.torn {
        // A reader ignores the tail (a writer may be appending or sealing).
        if !read_only {
            check_torn_tail(path, torn, recovered.offsets.len() as u64)?;
        }
        scanned.torn_tail = Some(torn.clone());
    }
    scanned.active = Some(Active {
        segment: recovered.segment,
        offsets: recovered.offsets,
        contents: recovered.contents,
        index,
    });
    Ok(())
}

/// Whether the last segment, whose header does not decode, is one whose creation a crash
/// interrupted: the file is no longer than the header its base needs, so it holds no
/// record, and nothing in it can have been acknowledged.
fn is_torn_creation(storage: &dyn Storage, path: &Path, base: u64) -> bool {
    let header_len = SegmentHeader::encoded_len_for(base) as u64;
    storage
        .open(path, OpenMode::Read)
        .and_then(|f| f.len())
        .is_ok_and(|len| len <= header_len)
}

/// A bad frame at the end of the last segment is a torn write only if what follows it is
/// no longer than one group commit, or one interrupted seal (offset table and footer).
/// A damaged seal of the last segment is cut like a torn one: the table and footer hold
/// nothing that cannot be rebuilt from the CRC-checked records (`auditlog verify` still
/// reports the damage before that).
fn check_torn_tail(path: &Path, torn: &RecoveredTail, records: u64) -> Result<()> {
    let seal_bytes = records * 4 + FOOTER_BYTES as u64;
    if torn.bytes_dropped > MAX_TORN_TAIL_BYTES + seal_bytes {
        return Err(corrupt(
            path,
            torn.offset,
            CorruptionKind::BadField(format!(
                "{} (followed by {} more bytes: too many for a torn write)",
                torn.reason, torn.bytes_dropped
            )),
        ));
    }
    Ok(())
}

fn check_header(path: &Path, header: &SegmentHeader, alg: HashAlg, base: u64) -> Result<()> {
    if header.alg != alg {
        return Err(corrupt(
            path,
            10,
            CorruptionKind::BadField(format!(
                "segment hashes with {}, the log with {alg}",
                header.alg
            )),
        ));
    }
    if header.base_seq != base {
        return Err(corrupt(
            path,
            16,
            CorruptionKind::BadField(format!(
                "header base {} differs from the file name's {base}",
                header.base_seq
            )),
        ));
    }
    Ok(())
}
