//! A sealed segment: mapped, checked at open (header, footer, offset table, sizes), then
//! read by sequence number without further I/O.

use std::path::{Path, PathBuf};

use super::footer::{FOOTER_BYTES, SegmentFooter};
use super::header::SegmentHeader;
use crate::codec::decode_frame;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::le::u32_at as read_u32;
use crate::storage::{MappedBytes, Storage};

/// An immutable segment.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    pub(crate) path: PathBuf,
    bytes: MappedBytes,
    pub(crate) header: SegmentHeader,
    pub(crate) header_len: u64,
    pub(crate) footer: SegmentFooter,
}

impl SealedSegment {
    /// Maps and checks a sealed segment.
    pub(crate) fn open(storage: &dyn Storage, path: &Path) -> Result<SealedSegment> {
        let bytes = storage
            .map(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let corrupt = |offset: u64, kind| Error::Corruption(Corruption::new(path, offset, kind));
        let data = bytes.as_slice();
        let header = SegmentHeader::decode_from(data).map_err(|(o, k)| corrupt(o, k))?;
        let header_len = header.encoded_len() as u64;
        let len = data.len() as u64;
        if len < header_len + FOOTER_BYTES as u64 {
            return Err(corrupt(len, CorruptionKind::Truncated("sealed segment")));
        }
        let footer_at = len - FOOTER_BYTES as u64;
        let footer = SegmentFooter::decode_from(data.get(footer_at as usize..).unwrap_or_default())
            .map_err(|(o, k)| corrupt(footer_at + o, k))?;
        footer
            .offset_table(data, header.base_seq, header_len, footer_at)
            .map_err(|(o, k)| corrupt(o, k))?;
        Ok(SealedSegment {
            path: path.to_path_buf(),
            bytes,
            header,
            header_len,
            footer,
        })
    }

    pub(crate) fn base(&self) -> u64 {
        self.header.base_seq
    }

    /// One past the last sequence number.
    pub(crate) fn end(&self) -> u64 {
        self.footer.tree_size
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The file offset of record `seq`'s frame, from the offset table.
    pub(crate) fn frame_offset(&self, seq: u64) -> Option<u64> {
        let i = seq
            .checked_sub(self.base())
            .filter(|&i| i < self.footer.record_count)?;
        let at = self.footer.records_end as usize + i as usize * 4;
        read_u32(self.bytes(), at).map(u64::from)
    }

    /// The payload of record `seq`, CRC-checked.
    pub(crate) fn payload(&self, seq: u64) -> Result<&[u8]> {
        let offset = self.frame_offset(seq).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "sequence number {seq} is not in {}",
                self.path.display()
            ))
        })?;
        let corrupt = |kind| Error::Corruption(Corruption::new(&self.path, offset, kind));
        if offset < self.header_len || offset >= self.footer.records_end {
            return Err(corrupt(CorruptionKind::BadField(format!(
                "offset table entry {offset} is outside the records"
            ))));
        }
        let frame = self
            .bytes()
            .get(offset as usize..self.footer.records_end as usize)
            .unwrap_or_default();
        decode_frame(frame)
            .map(|(payload, _)| payload)
            .map_err(|e| corrupt(CorruptionKind::BadField(e.to_string())))
    }
}
