//! Segment files: a header, CRC-framed records, and on seal a record offset table and a
//! footer (docs/FORMAT.md, "Segment file"). Sealed segments are immutable and mapped;
//! the one active segment is appended to by the writer and read up to its committed length.

mod active;
mod footer;
mod header;
mod sealed;
mod stub;

pub use crate::envelope::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use active::RecoveredTail;
pub(crate) use active::{ActiveSegment, ActiveView, ReadableMap};
pub use footer::{FOOTER_BYTES, FOOTER_MAGIC, SegmentFooter};
pub use header::{SEGMENT_MAGIC, SegmentHeader};
pub(crate) use sealed::SealedSegment;
pub use stub::{STUB_MAGIC, SegmentStub, stub_for};
pub(crate) use stub::stub_path;

use std::path::{Path, PathBuf};

/// The folder of segment files inside a data directory.
pub(crate) const SEGMENTS_DIR: &str = "segments";
const SEGMENT_EXTENSION: &str = "seg";

/// `segments/<base seq, 20 digits>.seg`: names sort in log order.
pub(crate) fn segment_path(dir: &Path, base_seq: u64) -> PathBuf {
    dir.join(SEGMENTS_DIR)
        .join(format!("{base_seq:020}.{SEGMENT_EXTENSION}"))
}

/// The base sequence number a segment file name carries.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    parse_base(name.strip_suffix(".seg")?)
}

/// A base sequence number written as 20 digits.
fn parse_base(stem: &str) -> Option<u64> {
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// A segment as the `segments` folder holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListedSegment {
    pub(crate) base: u64,
    /// Its file is here; else only its stub is (it was archived and released). Where
    /// both are, a release was cut short: the file is what counts.
    pub(crate) local: bool,
}

/// The segments in `dir`, files and stubs, in log order.
pub(crate) fn list_segments(
    storage: &dyn crate::storage::Storage,
    dir: &Path,
) -> crate::error::Result<Vec<ListedSegment>> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let names = storage
        .list(&seg_dir)
        .map_err(|e| crate::error::Error::io(format!("listing {}", seg_dir.display()), e))?;
    let mut found = std::collections::BTreeMap::new();
    for name in &names {
        if let Some(base) = parse_segment_name(name) {
            found.insert(base, true);
        } else if let Some(base) = stub::parse_stub_name(name) {
            found.entry(base).or_insert(false);
        }
    }
    Ok(found
        .into_iter()
        .map(|(base, local)| ListedSegment { base, local })
        .collect())
}

/// The base sequence numbers of the segments in `dir` (files and stubs), in log order.
pub(crate) fn list_segment_bases(
    storage: &dyn crate::storage::Storage,
    dir: &Path,
) -> crate::error::Result<Vec<u64>> {
    Ok(list_segments(storage, dir)?.iter().map(|s| s.base).collect())
}

/// One step of a scan over framed records: the frame's offset and its payload.
pub(crate) type Frame<'a> = (u64, &'a [u8]);

/// Walks the frames in `bytes` (which start at file offset `base_offset`), stopping at the
/// first that does not decode; returns the frames and, if any, the offset and error of
/// the bad one.
pub(crate) fn scan_frames(
    bytes: &[u8],
    base_offset: u64,
    mut each: impl FnMut(Frame<'_>),
) -> Option<(u64, crate::codec::FrameError)> {
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        match crate::codec::decode_frame(rest) {
            Ok((payload, used)) => {
                each((base_offset + at as u64, payload));
                at += used;
            }
            Err(e) => return Some((base_offset + at as u64, e)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let p = segment_path(Path::new("/d"), 42);
        assert_eq!(p, Path::new("/d/segments/00000000000000000042.seg"));
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
    }
}
