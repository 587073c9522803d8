//! A sealed segment's index file, checked beside its records. An index is derived data:
//! its faults are reported once the log itself has passed, with what to do about them.

use std::path::Path;

use super::corrupt;
use super::frames::FramePlace;
use crate::codec::decode_index_fields;
use crate::error::{CorruptionKind, Error, Result};
use crate::index::{IndexChecker, SealedIndex};
use crate::segment::SegmentFooter;
use crate::storage::Storage;

/// The index file of a sealed segment, to check beside its records: `None` when there is
/// none (a note: it is derived data, rebuilt at the next open); an error when it is
/// unreadable or damaged.
pub(super) fn load_index(
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
    SealedIndex::decode_from(&path, bytes, crate::index::identity_from(base, footer))
        .map(Some)
        .map_err(|fault| index_fault(&path, fault))
}

/// An index file's fault, with what to do about it.
pub(super) fn index_fault(path: &Path, (offset, kind): crate::index::IndexFault) -> Error {
    let derived = "(an index is derived data: delete the file and the next open rebuilds it)";
    let kind = match kind {
        CorruptionKind::HashMismatch(why) => {
            CorruptionKind::HashMismatch(format!("{why} {derived}"))
        }
        other => CorruptionKind::BadField(format!("{other} {derived}")),
    };
    corrupt(path, offset, kind)
}

/// Whether the index entries of record `seq` (its frame at `place`) hold its values.
pub(super) fn check_indexed(
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
