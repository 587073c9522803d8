//! The segment header (docs/FORMAT.md, "Segment header"): magic, format version, hash
//! algorithm, base sequence number, creation time, and the compact range of the tree just
//! before the segment's first leaf, closed by a CRC32.

use crate::envelope::{Envelope, VERSION_AT, seal_crc};
use crate::error::CorruptionKind;
use crate::event::Timestamp;
use crate::le::{hash_at as read_hash, i64_at, u64_at as read_u64};
use crate::merkle::{CompactRange, Hash, HashAlg};

/// PNG-style magic: a non-ASCII byte, a name, then CR LF, SUB, LF to expose text-mode damage.
pub const SEGMENT_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'S', b'\r', b'\n', 0x1a, b'\n'];
const HASH_ALG_AT: usize = VERSION_AT + 2;
const FRONTIER_LEN_AT: usize = HASH_ALG_AT + 1;
const RESERVED_AT: usize = FRONTIER_LEN_AT + 1;
const BASE_SEQ_AT: usize = RESERVED_AT + 4;
const CREATED_AT_AT: usize = BASE_SEQ_AT + 8;
const FRONTIER_AT: usize = CREATED_AT_AT + 8;
const HASH_BYTES: usize = 32;
const CRC_BYTES: usize = 4;

/// Magic, version, the reserved bytes; the CRC follows the frontier.
const ENVELOPE: Envelope =
    Envelope::of_format("segment header", SEGMENT_MAGIC, RESERVED_AT..BASE_SEQ_AT);

/// The decoded header of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The file's format version.
    pub version: u16,
    /// The log's hash algorithm.
    pub alg: HashAlg,
    /// Sequence number of the first record (= leaf index).
    pub base_seq: u64,
    /// When the segment was created.
    pub created_at: Timestamp,
    /// The tree's compact range at size `base_seq`.
    pub frontier: Vec<Hash>,
}

impl SegmentHeader {
    /// The header's length in bytes.
    pub fn encoded_len(&self) -> usize {
        FRONTIER_AT + self.frontier.len() * HASH_BYTES + CRC_BYTES
    }

    /// The length of the header of a segment starting at `base_seq`: one frontier hash per
    /// set bit of the base.
    pub fn encoded_len_for(base_seq: u64) -> usize {
        FRONTIER_AT + base_seq.count_ones() as usize * HASH_BYTES + CRC_BYTES
    }

    /// Appends the header bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        ENVELOPE.begin(out, self.version);
        out.push(self.alg.code());
        // At most 64 hashes: one per bit of a u64 size.
        out.push(u8::try_from(self.frontier.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.base_seq.to_le_bytes());
        out.extend_from_slice(&self.created_at.0.to_le_bytes());
        for hash in &self.frontier {
            out.extend_from_slice(hash);
        }
        seal_crc(out, start);
    }

    /// Decodes a header from the start of `bytes`; the error carries the byte offset.
    pub fn decode_from(bytes: &[u8]) -> Result<SegmentHeader, (u64, CorruptionKind)> {
        let truncated = |at: usize| (at as u64, CorruptionKind::Truncated("segment header"));
        // The CRC follows the frontier, whose length byte the CRC covers.
        let frontier_len = usize::from(bytes.get(FRONTIER_LEN_AT).copied().unwrap_or(0));
        let crc_at = FRONTIER_AT + frontier_len * HASH_BYTES;
        let version = ENVELOPE.check(bytes, Some(crc_at))?;
        let code = *bytes.get(HASH_ALG_AT).ok_or(truncated(HASH_ALG_AT))?;
        let alg = HashAlg::from_code(code).ok_or((
            HASH_ALG_AT as u64,
            CorruptionKind::BadField(format!("unknown hash algorithm code {code}")),
        ))?;
        let base_seq = read_u64(bytes, BASE_SEQ_AT).ok_or(truncated(BASE_SEQ_AT))?;
        if base_seq.count_ones() as usize != frontier_len {
            return Err((
                FRONTIER_LEN_AT as u64,
                CorruptionKind::BadField(format!(
                    "{frontier_len} frontier hashes cannot describe a tree of {base_seq} leaves"
                )),
            ));
        }
        let created_at = Timestamp(i64_at(bytes, CREATED_AT_AT).ok_or(truncated(CREATED_AT_AT))?);
        let frontier = (0..frontier_len)
            .map(|i| read_hash(bytes, FRONTIER_AT + i * HASH_BYTES).ok_or(truncated(FRONTIER_AT)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SegmentHeader {
            version,
            alg,
            base_seq,
            created_at,
            frontier,
        })
    }

    /// The compact range the header carries.
    pub fn compact_range(&self) -> Option<CompactRange> {
        CompactRange::from_parts(self.alg, self.base_seq, self.frontier.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentHeader {
        SegmentHeader {
            version: crate::envelope::FORMAT_VERSION,
            alg: HashAlg::Sha256,
            base_seq: 5,
            created_at: Timestamp(1_700_000_000_000_000),
            frontier: vec![[1; 32], [2; 32]],
        }
    }

    #[test]
    fn round_trip_and_known_layout() {
        let mut buf = Vec::new();
        sample().encode_into(&mut buf);
        assert_eq!(buf.len(), sample().encoded_len());
        assert_eq!(buf.len(), 32 + 64 + 4);
        assert_eq!(&buf[..8], &SEGMENT_MAGIC);
        assert_eq!(&buf[8..10], &crate::envelope::FORMAT_VERSION.to_le_bytes());
        assert_eq!(buf[10], 2);
        assert_eq!(buf[11], 2);
        assert_eq!(&buf[16..24], &5u64.to_le_bytes());
        assert_eq!(SegmentHeader::decode_from(&buf), Ok(sample()));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        sample().encode_into(&mut buf);
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(SegmentHeader::decode_from(&bad).is_err(), "bit {i}");
        }
        for cut in 0..buf.len() {
            assert!(SegmentHeader::decode_from(&buf[..cut]).is_err());
        }
    }
}
