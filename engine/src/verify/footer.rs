//! A sealed segment's footer against what its records show: counts, where the records
//! end, the tree head, the time bounds and every offset table entry.

use std::path::Path;

use super::corrupt;
use super::frames::FramePlace;
use crate::error::{CorruptionKind, Result};
use crate::event::Timestamp;
use crate::merkle::CompactRange;
use crate::segment::{SegmentFooter, SegmentHeader};

/// Checks a sealed segment's footer (at `footer_at`) against the records found before it
/// (`frames`, ending at `records_end`), the tree grown over them and their time bounds,
/// and every offset table entry against where its record lies.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_footer(
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
