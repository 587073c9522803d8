//! The segment footer (docs/FORMAT.md, "Segment footer"), written once at seal: record
//! count, the tree head after the last leaf, time bounds, where the record offset table
//! starts and its CRC, closed by the footer's own CRC. Fixed size, at the end of the file.

use crate::envelope::{Envelope, seal_crc};
use crate::error::CorruptionKind;
use crate::event::Timestamp;
use crate::le::{hash_at as read_hash, i64_at, u32_at as read_u32, u64_at as read_u64};
use crate::merkle::Hash;

/// The footer's magic number.
pub const FOOTER_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'F', b'\r', b'\n', 0x1a, b'\n'];
/// The footer's length.
pub const FOOTER_BYTES: usize = 96;

/// Magic, version, the reserved bytes, the CRC at the end.
const ENVELOPE: Envelope =
    Envelope::of_format("segment footer", FOOTER_MAGIC, RESERVED_AT..RECORD_COUNT_AT);

const RESERVED_AT: usize = 10;
const RECORD_COUNT_AT: usize = 16;
const TREE_SIZE_AT: usize = 24;
const ROOT_AT: usize = 32;
const MIN_TS_AT: usize = 64;
const MAX_TS_AT: usize = 72;
const RECORDS_END_AT: usize = 80;
const OFFSETS_CRC_AT: usize = 88;
const CRC_AT: usize = 92;

/// The decoded footer of a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFooter {
    /// The format version it was written in.
    pub version: u16,
    /// Records in the segment.
    pub record_count: u64,
    /// Tree size after the last record (= base + count).
    pub tree_size: u64,
    /// The tree head at `tree_size`.
    pub root: Hash,
    /// The earliest event timestamp in the segment.
    pub min_timestamp: Timestamp,
    /// The latest event timestamp in the segment.
    pub max_timestamp: Timestamp,
    /// Offset of the record offset table (the end of the records).
    pub records_end: u64,
    /// CRC32 of the record offset table.
    pub offsets_crc: u32,
}

impl SegmentFooter {
    /// Appends the footer's bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        ENVELOPE.begin(out, self.version);
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&self.record_count.to_le_bytes());
        out.extend_from_slice(&self.tree_size.to_le_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.min_timestamp.0.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.0.to_le_bytes());
        out.extend_from_slice(&self.records_end.to_le_bytes());
        out.extend_from_slice(&self.offsets_crc.to_le_bytes());
        seal_crc(out, start);
    }

    /// Decodes the footer from exactly its [`FOOTER_BYTES`]; the error carries the offset
    /// within the footer.
    pub fn decode_from(bytes: &[u8]) -> Result<SegmentFooter, (u64, CorruptionKind)> {
        let truncated = (0, CorruptionKind::Truncated("segment footer"));
        if bytes.len() != FOOTER_BYTES {
            return Err(truncated);
        }
        let version = ENVELOPE.check(bytes, Some(CRC_AT))?;
        let get = |at| read_u64(bytes, at).ok_or(truncated.clone());
        Ok(SegmentFooter {
            version,
            record_count: get(RECORD_COUNT_AT)?,
            tree_size: get(TREE_SIZE_AT)?,
            root: read_hash(bytes, ROOT_AT).ok_or(truncated.clone())?,
            min_timestamp: Timestamp(i64_at(bytes, MIN_TS_AT).ok_or(truncated.clone())?),
            max_timestamp: Timestamp(i64_at(bytes, MAX_TS_AT).ok_or(truncated.clone())?),
            records_end: get(RECORDS_END_AT)?,
            offsets_crc: read_u32(bytes, OFFSETS_CRC_AT).ok_or(truncated)?,
        })
    }

    /// The record offset table of `segment`, whose header (of `header_len` bytes) says it
    /// begins at `base_seq` and whose footer, this one, lies at `footer_at`: the one rule of
    /// where a sealed segment's parts lie (docs/FORMAT.md, "Segment footer"). The records
    /// run from the header's end to `records_end`, then 4 bytes per record, then the
    /// footer; the counts add up, at least one record, and the table's CRC holds. Else the
    /// offset and kind of the first fault.
    pub(crate) fn offset_table<'a>(
        &self,
        segment: &'a [u8],
        base_seq: u64,
        header_len: u64,
        footer_at: u64,
    ) -> Result<&'a [u8], (u64, CorruptionKind)> {
        let table_len = self.record_count.checked_mul(4);
        let sizes_agree = self.tree_size.checked_sub(self.record_count) == Some(base_seq)
            && self.records_end >= header_len
            && table_len.and_then(|t| self.records_end.checked_add(t)) == Some(footer_at)
            && self.record_count > 0;
        let table = usize::try_from(self.records_end)
            .ok()
            .zip(usize::try_from(footer_at).ok())
            .and_then(|(start, end)| segment.get(start..end));
        let Some(table) = table.filter(|_| sizes_agree) else {
            return Err((
                footer_at,
                CorruptionKind::BadField(format!(
                    "footer sizes disagree (base {base_seq}, count {}, tree size {}, records end {})",
                    self.record_count, self.tree_size, self.records_end
                )),
            ));
        };
        let crc = crc32fast::hash(table);
        if crc != self.offsets_crc {
            return Err((
                self.records_end,
                CorruptionKind::ChecksumMismatch {
                    expected: self.offsets_crc,
                    found: crc,
                },
            ));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let footer = SegmentFooter {
            version: crate::envelope::FORMAT_VERSION,
            record_count: 3,
            tree_size: 10,
            root: [7; 32],
            min_timestamp: Timestamp(-5),
            max_timestamp: Timestamp(9),
            records_end: 4096,
            offsets_crc: 0xdead_beef,
        };
        let mut buf = Vec::new();
        footer.encode_into(&mut buf);
        assert_eq!(buf.len(), FOOTER_BYTES);
        assert_eq!(SegmentFooter::decode_from(&buf), Ok(footer));
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(SegmentFooter::decode_from(&bad).is_err(), "bit {i}");
        }
    }
}
