//! Index files on disk: `segments/<base>.idx` beside the segment `<base>.seg`, written
//! once at seal (temporary file, fsync, rename, directory fsync) and never changed. A
//! missing, damaged or foreign index is rebuilt from the segment's records.

use std::path::{Path, PathBuf};

use super::encode::{Identity, encode_index_into};
use super::memory::MemoryIndex;
use super::sealed::SealedIndex;
use crate::codec::decode_index_fields;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::segment::{SealedSegment, SegmentFooter};
use crate::storage::{MappedBytes, Storage, write_atomically};

/// The index file of the segment at `segment_path`.
pub(crate) fn index_path(segment_path: &Path) -> PathBuf {
    segment_path.with_extension("idx")
}

/// The identity an index of `segment` must carry.
pub(crate) fn identity_of(segment: &SealedSegment) -> Identity {
    identity_from(segment.base(), &segment.footer)
}

/// The identity an index of the segment from `base` with `footer` must carry.
pub(crate) fn identity_from(base: u64, footer: &SegmentFooter) -> Identity {
    Identity {
        base_seq: base,
        records: u32::try_from(footer.record_count).unwrap_or(u32::MAX),
        root: footer.root,
    }
}

/// The index file of `segment`, mapped and checked; `None` if it is missing, unreadable,
/// damaged or another segment's.
fn load(storage: &dyn Storage, segment: &SealedSegment) -> Option<SealedIndex> {
    let path = index_path(&segment.path);
    if !storage.exists(&path) {
        return None;
    }
    let bytes = storage.map(&path).ok()?;
    SealedIndex::decode_from(&path, bytes, identity_of(segment)).ok()
}

/// Indexes every record of `segment`.
fn build_for(storage: &dyn Storage, segment: &SealedSegment) -> Result<MemoryIndex> {
    let mut index = MemoryIndex::default();
    let records = segment.records(storage)?;
    for seq in segment.base()..segment.end() {
        let payload = records.payload(seq)?;
        let fields = decode_index_fields(payload).map_err(|e| {
            Error::Corruption(Corruption::new(
                &segment.path,
                records.frame_offset(seq).unwrap_or(0),
                CorruptionKind::BadField(e.to_string()),
            ))
        })?;
        index.push(&fields);
    }
    Ok(index)
}

/// The index of `segment`: its file if usable, else rebuilt from the records (and, when
/// `write`, stored). Also says whether it was rebuilt.
pub(crate) fn load_or_build(
    storage: &dyn Storage,
    segment: &SealedSegment,
    write: bool,
) -> Result<(SealedIndex, bool)> {
    if let Some(index) = load(storage, segment) {
        return Ok((index, false));
    }
    let path = index_path(&segment.path);
    let mut bytes = Vec::new();
    encode_index_into(&build_for(storage, segment)?, identity_of(segment), &mut bytes);
    if write {
        // Derived data: if it cannot be stored now (a full disk, another thread storing
        // the same index), the rebuilt copy still serves and a later open retries.
        let _ = write_atomically(storage, &path, &bytes);
    }
    let index = SealedIndex::decode_from(&path, MappedBytes::from_vec(bytes), identity_of(segment))
        .map_err(|(offset, kind)| Error::Corruption(Corruption::new(&path, offset, kind)))?;
    Ok((index, true))
}
