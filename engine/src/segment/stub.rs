//! What stays on the local disk of a sealed segment that was archived and released
//! (docs/FORMAT.md, "Archived segment stub"): its header and footer, which say what the
//! query planner, recovery and the tree need without the records, and the length and
//! BLAKE3 hash of the file, which the copy fetched back from the archive must match.

use std::path::{Path, PathBuf};

use super::footer::{FOOTER_BYTES, SegmentFooter};
use super::header::SegmentHeader;
use super::{SEGMENTS_DIR, parse_base};
use crate::envelope::{Envelope, seal_crc};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::le::{hash_at, u32_at, u64_at};
use crate::storage::{Storage, read_all};

/// The stub's magic number.
pub const STUB_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'A', b'\r', b'\n', 0x1a, b'\n'];
/// Stubs are new in format 5.
const FIRST_VERSION: u16 = 5;
const ENVELOPE: Envelope = Envelope {
    what: "archived segment stub",
    magic: STUB_MAGIC,
    versions: FIRST_VERSION..=crate::envelope::FORMAT_VERSION,
    reserved: 10..12,
};
const STUB_EXTENSION: &str = "archived";

const HEADER_LEN_AT: usize = 12;
const FILE_LEN_AT: usize = 16;
const BLAKE3_AT: usize = 24;
const HEADER_AT: usize = 56;

/// `segments/<base seq, 20 digits>.archived`.
pub(crate) fn stub_path(dir: &Path, base_seq: u64) -> PathBuf {
    dir.join(SEGMENTS_DIR)
        .join(format!("{base_seq:020}.{STUB_EXTENSION}"))
}

/// The stub that stands for the segment file at `segment` once it is released: the same
/// name with `.archived` for `.seg`; `None` for a path that is not a segment file's.
pub fn stub_for(segment: &Path) -> Option<PathBuf> {
    let name = segment.file_name()?.to_str()?;
    let base = super::parse_segment_name(name)?;
    Some(segment.with_file_name(format!("{base:020}.{STUB_EXTENSION}")))
}

/// The base sequence number a stub's file name carries.
pub(crate) fn parse_stub_name(name: &str) -> Option<u64> {
    parse_base(name.strip_suffix(".archived")?)
}

/// An archived segment's stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStub {
    /// The segment's header.
    pub header: SegmentHeader,
    /// The segment's footer.
    pub footer: SegmentFooter,
    /// The segment file's length in bytes.
    pub file_len: u64,
    /// The BLAKE3 hash of the segment file.
    pub blake3: [u8; 32],
}

impl SegmentStub {
    /// The stub of the sealed segment `file` (its whole bytes, already checked).
    pub(crate) fn of(header: &SegmentHeader, footer: &SegmentFooter, file: &[u8]) -> SegmentStub {
        SegmentStub {
            header: header.clone(),
            footer: footer.clone(),
            file_len: file.len() as u64,
            blake3: *blake3::hash(file).as_bytes(),
        }
    }

    /// The stub's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ENVELOPE.begin(&mut out, crate::envelope::FORMAT_VERSION);
        out.extend_from_slice(&[0; 2]);
        let mut header = Vec::new();
        self.header.encode_into(&mut header);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.file_len.to_le_bytes());
        out.extend_from_slice(&self.blake3);
        out.extend_from_slice(&header);
        self.footer.encode_into(&mut out);
        seal_crc(&mut out, 0);
        out
    }

    /// Decodes a stub; the error carries the offset of the first fault.
    pub fn decode(bytes: &[u8]) -> std::result::Result<SegmentStub, (u64, CorruptionKind)> {
        let truncated = |at: usize| (at as u64, CorruptionKind::Truncated(ENVELOPE.what));
        let header_len = u32_at(bytes, HEADER_LEN_AT).ok_or(truncated(HEADER_LEN_AT))? as usize;
        let footer_at = HEADER_AT.saturating_add(header_len);
        let crc_at = footer_at.saturating_add(FOOTER_BYTES);
        if bytes.len() != crc_at + 4 {
            return Err(truncated(bytes.len().min(crc_at)));
        }
        ENVELOPE.check(bytes, Some(crc_at))?;
        let shifted = |at: usize| move |(o, k): (u64, CorruptionKind)| (o + at as u64, k);
        let header = SegmentHeader::decode_from(bytes.get(HEADER_AT..footer_at).unwrap_or_default())
            .map_err(shifted(HEADER_AT))?;
        if header.encoded_len() != header_len {
            let why = format!("header length {header_len} is not the header's");
            return Err((HEADER_LEN_AT as u64, CorruptionKind::BadField(why)));
        }
        let footer = SegmentFooter::decode_from(bytes.get(footer_at..crc_at).unwrap_or_default())
            .map_err(shifted(footer_at))?;
        let file_len = u64_at(bytes, FILE_LEN_AT).ok_or(truncated(FILE_LEN_AT))?;
        // The rule of a sealed segment's parts (SegmentFooter::offset_table), on sizes.
        let parts_end = footer
            .record_count
            .checked_mul(4)
            .and_then(|table| footer.records_end.checked_add(table))
            .and_then(|end| end.checked_add(FOOTER_BYTES as u64));
        let agree = parts_end == Some(file_len)
            && footer.records_end >= header_len as u64
            && footer.record_count > 0
            && footer.tree_size.checked_sub(footer.record_count) == Some(header.base_seq);
        if !agree {
            let why = "the file length, header and footer disagree".to_owned();
            return Err((FILE_LEN_AT as u64, CorruptionKind::BadField(why)));
        }
        Ok(SegmentStub {
            header,
            footer,
            file_len,
            blake3: hash_at(bytes, BLAKE3_AT).ok_or(truncated(BLAKE3_AT))?,
        })
    }

    /// Reads the stub at `path`.
    pub fn read(storage: &dyn Storage, path: &Path) -> Result<SegmentStub> {
        let bytes =
            read_all(storage, path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        SegmentStub::decode(&bytes)
            .map_err(|(offset, kind)| Error::Corruption(Corruption::new(path, offset, kind)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;
    use crate::merkle::HashAlg;

    fn sample() -> SegmentStub {
        SegmentStub {
            header: SegmentHeader {
                version: crate::envelope::FORMAT_VERSION,
                alg: HashAlg::Blake3,
                base_seq: 3,
                created_at: Timestamp(1_700_000_000_000_000),
                frontier: vec![[1; 32], [2; 32]],
            },
            footer: SegmentFooter {
                version: crate::envelope::FORMAT_VERSION,
                record_count: 2,
                tree_size: 5,
                root: [7; 32],
                min_timestamp: Timestamp(1),
                max_timestamp: Timestamp(2),
                records_end: 300,
                offsets_crc: 9,
            },
            file_len: 404,
            blake3: [5; 32],
        }
    }

    #[test]
    fn round_trips_and_detects_every_flipped_bit() {
        let bytes = sample().to_bytes();
        assert_eq!(&bytes[..8], &STUB_MAGIC);
        assert_eq!(SegmentStub::decode(&bytes), Ok(sample()));
        for i in 0..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(SegmentStub::decode(&bad).is_err(), "bit {i}");
        }
        for cut in 0..bytes.len() {
            assert!(SegmentStub::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn sizes_that_do_not_add_up_are_refused_without_overflow() {
        let mut huge = sample();
        huge.footer.record_count = u64::MAX / 2;
        huge.footer.tree_size = huge.header.base_seq.wrapping_add(huge.footer.record_count);
        assert!(SegmentStub::decode(&huge.to_bytes()).is_err());
        let mut short = sample();
        short.file_len -= 1;
        assert!(SegmentStub::decode(&short.to_bytes()).is_err());
    }

    #[test]
    fn names_round_trip() {
        let path = stub_path(Path::new("/d"), 42);
        assert_eq!(path, Path::new("/d/segments/00000000000000000042.archived"));
        assert_eq!(parse_stub_name("00000000000000000042.archived"), Some(42));
        assert_eq!(parse_stub_name("00000000000000000042.seg"), None);
    }
}
