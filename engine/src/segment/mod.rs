//! Segment files: a header, CRC-framed records, and on seal a record offset table and a
//! footer (docs/FORMAT.md, "Segment file"). Sealed segments are immutable and mapped;
//! the one active segment is appended to by the writer and read up to its committed length.

mod active;
mod footer;
mod header;
mod sealed;

pub use crate::envelope::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use active::RecoveredTail;
pub(crate) use active::{ActiveSegment, ActiveView, ReadableMap};
pub use footer::{FOOTER_BYTES, FOOTER_MAGIC, SegmentFooter};
pub use header::{SEGMENT_MAGIC, SegmentHeader};
pub(crate) use sealed::SealedSegment;

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
    let stem = name.strip_suffix(".seg")?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// The base sequence numbers of the segment files in `dir`, in log order.
pub(crate) fn list_segment_bases(
    storage: &dyn crate::storage::Storage,
    dir: &Path,
) -> crate::error::Result<Vec<u64>> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let names = storage
        .list(&seg_dir)
        .map_err(|e| crate::error::Error::io(format!("listing {}", seg_dir.display()), e))?;
    let mut bases: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    bases.sort_unstable();
    Ok(bases)
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
