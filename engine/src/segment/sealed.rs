//! A sealed segment: checked at open (header, footer, offset table, sizes), then read by
//! sequence number without further I/O. Its file is mapped; or, once archived and
//! released, only its stub is local and the file is read through the storage (which
//! fetches it from the archive) when a reader asks for records.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::footer::{FOOTER_BYTES, SegmentFooter};
use super::header::SegmentHeader;
use super::stub::{SegmentStub, stub_path};
use crate::codec::decode_frame;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::le::u32_at as read_u32;
use crate::storage::{MappedBytes, Storage, WeakBytes};

/// An immutable segment.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
    pub(crate) header_len: u64,
    pub(crate) footer: SegmentFooter,
    /// The file's length in bytes.
    pub(crate) file_len: u64,
    body: Body,
}

/// Where a sealed segment's records are.
#[derive(Debug)]
enum Body {
    /// In the local file, mapped.
    Local(MappedBytes),
    /// In the archive: read through the storage at each ask (so a cache in it sees every
    /// use), checked against the stub the first time the storage hands over those bytes.
    /// The weak handle names the bytes last checked (it keeps their allocation, so a
    /// match is never another file's).
    Archived(Mutex<WeakBytes>),
}

impl SealedSegment {
    /// Maps and checks a sealed segment.
    pub(crate) fn open(storage: &dyn Storage, path: &Path) -> Result<SealedSegment> {
        let bytes = storage
            .map(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let (header, footer) = check_file(path, bytes.as_slice())?;
        Ok(SealedSegment {
            path: path.to_path_buf(),
            header_len: header.encoded_len() as u64,
            header,
            footer,
            file_len: bytes.as_slice().len() as u64,
            body: Body::Local(bytes),
        })
    }

    /// The segment at `path` whose file was released to the archive, from its stub.
    pub(crate) fn open_archived(
        storage: &dyn Storage,
        dir: &Path,
        path: &Path,
        base: u64,
    ) -> Result<SealedSegment> {
        let stub = SegmentStub::read(storage, &stub_path(dir, base))?;
        Ok(SealedSegment::from_stub(path, stub))
    }

    fn from_stub(path: &Path, stub: SegmentStub) -> SealedSegment {
        SealedSegment {
            path: path.to_path_buf(),
            header_len: stub.header.encoded_len() as u64,
            header: stub.header,
            footer: stub.footer,
            file_len: stub.file_len,
            body: Body::Archived(Mutex::new(WeakBytes::default())),
        }
    }

    /// This segment as it is once its file is released: read from the archive.
    pub(crate) fn released(&self, stub: SegmentStub) -> SealedSegment {
        SealedSegment::from_stub(&self.path, stub)
    }

    /// Whether its file is on the local disk.
    pub(crate) fn is_local(&self) -> bool {
        matches!(self.body, Body::Local(_))
    }

    /// The stub that stands for the local file once it is released (hashes the file).
    pub(crate) fn stub(&self) -> Option<SegmentStub> {
        match &self.body {
            Body::Local(bytes) => Some(SegmentStub::of(
                &self.header,
                &self.footer,
                bytes.as_slice(),
            )),
            Body::Archived(_) => None,
        }
    }

    pub(crate) fn base(&self) -> u64 {
        self.header.base_seq
    }

    /// One past the last sequence number.
    pub(crate) fn end(&self) -> u64 {
        self.footer.tree_size
    }

    /// The segment's bytes, for reading its records: the map of the local file, or the
    /// archived file read through `storage` and checked against the stub.
    pub(crate) fn records(&self, storage: &dyn Storage) -> Result<SegmentRecords<'_>> {
        let bytes = match &self.body {
            Body::Local(bytes) => bytes.clone(),
            Body::Archived(checked) => {
                let bytes = self.fetch(storage)?;
                let mut checked = checked.lock();
                if !checked.is(&bytes) {
                    self.check_fetched(&bytes)?;
                    *checked = bytes.downgrade();
                }
                bytes
            }
        };
        Ok(SegmentRecords {
            segment: self,
            bytes,
        })
    }

    /// The archived file, through `storage`.
    fn fetch(&self, storage: &dyn Storage) -> Result<MappedBytes> {
        storage.map(&self.path).map_err(|e| {
            let what = format!(
                "reading {}, which was released to the archive (is the log opened with it?)",
                self.path.display()
            );
            Error::io(what, e)
        })
    }

    /// Checks that `bytes` are the file the stub describes.
    fn check_fetched(&self, bytes: &MappedBytes) -> Result<()> {
        let (header, footer) = check_file(&self.path, bytes.as_slice())?;
        if header != self.header || footer != self.footer || bytes.as_slice().len() as u64 != self.file_len
        {
            return Err(Error::Corruption(Corruption::new(
                &self.path,
                0,
                CorruptionKind::HashMismatch(
                    "the archived file is not the one its stub describes".into(),
                ),
            )));
        }
        Ok(())
    }

    /// The frames of records `seqs` (all in this segment, in any order) of a released segment
    /// whose file is not at hand, read as byte ranges through `storage` where it offers
    /// them: first the offset table's entries, then the frames (each with its offset).
    /// `None` where the file is at hand or the storage reads whole files (then
    /// [`SealedSegment::records`]). The frames are not checked here: the caller checks
    /// each one's CRC and leaf hash.
    pub(crate) fn ranged_frames(
        &self,
        storage: &dyn Storage,
        seqs: &[u64],
    ) -> Result<Option<Vec<RangedFrame>>> {
        let (Some(&first), Some(&last)) = (seqs.iter().min(), seqs.iter().max()) else {
            return Ok(Some(Vec::new()));
        };
        if self.is_local() || self.known_frame_offset(first).is_some() {
            return Ok(None);
        }
        let count = self.footer.record_count;
        let index = |seq: u64| {
            seq.checked_sub(self.base())
                .filter(|&i| i < count)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "sequence number {seq} is not in {}",
                        self.path.display()
                    ))
                })
        };
        let (lo, hi) = (index(first)?, index(last)?);
        // The entries of `lo..=hi`, and the next one (where the last frame ends).
        let entries = (hi + 2).min(count) - lo;
        let table_at = self.footer.records_end + lo * 4;
        let io = |e| Error::io(format!("reading {}", self.path.display()), e);
        let Some(table) = storage
            .read_ranges(&self.path, &[(table_at, entries * 4)])
            .map_err(io)?
        else {
            return Ok(None);
        };
        let table = table.into_iter().next().unwrap_or_default();
        let corrupt = |offset, kind| Error::Corruption(Corruption::new(&self.path, offset, kind));
        if table.len() as u64 != entries * 4 {
            return Err(corrupt(table_at, CorruptionKind::Truncated("offset table")));
        }
        let entry = |i: u64| read_u32(&table, ((i - lo) * 4) as usize).map(u64::from);
        let mut frames = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            let i = index(seq)?;
            let start = entry(i).unwrap_or(0);
            let end = match i + 1 < count {
                true => entry(i + 1).unwrap_or(0),
                false => self.footer.records_end,
            };
            if start < self.header_len || start >= end || end > self.footer.records_end {
                return Err(corrupt(
                    table_at + (i - lo) * 4,
                    CorruptionKind::BadField(format!(
                        "offset table entry {start} of record {seq} is outside the records"
                    )),
                ));
            }
            frames.push((start, end - start));
        }
        let Some(bytes) = storage.read_ranges(&self.path, &frames).map_err(io)? else {
            return Ok(None);
        };
        if bytes.len() != frames.len() {
            return Err(corrupt(0, CorruptionKind::Truncated("ranges read")));
        }
        let mut read = Vec::with_capacity(frames.len());
        for ((start, len), frame) in frames.into_iter().zip(bytes) {
            if frame.len() as u64 != len {
                return Err(corrupt(start, CorruptionKind::Truncated("record")));
            }
            read.push((start, frame));
        }
        Ok(Some(read))
    }

    /// Where record `seq`'s frame is, if the segment's bytes are at hand without a fetch
    /// (for naming the place of an error).
    pub(crate) fn known_frame_offset(&self, seq: u64) -> Option<u64> {
        let bytes = match &self.body {
            Body::Local(bytes) => bytes.clone(),
            Body::Archived(checked) => checked.lock().upgrade()?,
        };
        frame_offset(self, bytes.as_slice(), seq)
    }
}

/// The header and footer of the sealed segment file `data`, checked with its offset table.
fn check_file(path: &Path, data: &[u8]) -> Result<(SegmentHeader, SegmentFooter)> {
    let corrupt = |offset: u64, kind| Error::Corruption(Corruption::new(path, offset, kind));
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
    Ok((header, footer))
}

fn frame_offset(segment: &SealedSegment, bytes: &[u8], seq: u64) -> Option<u64> {
    let i = seq
        .checked_sub(segment.base())
        .filter(|&i| i < segment.footer.record_count)?;
    let at = segment.footer.records_end as usize + i as usize * 4;
    read_u32(bytes, at).map(u64::from)
}

/// A record's frame read as a byte range of an archived segment: its offset in the
/// segment and its bytes.
pub(crate) type RangedFrame = (u64, Vec<u8>);

/// A sealed segment's bytes at hand, for reading its records.
#[derive(Debug)]
pub(crate) struct SegmentRecords<'a> {
    segment: &'a SealedSegment,
    bytes: MappedBytes,
}

impl SegmentRecords<'_> {
    /// The file offset of record `seq`'s frame, from the offset table.
    pub(crate) fn frame_offset(&self, seq: u64) -> Option<u64> {
        frame_offset(self.segment, self.bytes.as_slice(), seq)
    }

    /// The payload of record `seq`, CRC-checked.
    pub(crate) fn payload(&self, seq: u64) -> Result<&[u8]> {
        let segment = self.segment;
        let offset = self.frame_offset(seq).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "sequence number {seq} is not in {}",
                segment.path.display()
            ))
        })?;
        let corrupt = |kind| Error::Corruption(Corruption::new(&segment.path, offset, kind));
        if offset < segment.header_len || offset >= segment.footer.records_end {
            return Err(corrupt(CorruptionKind::BadField(format!(
                "offset table entry {offset} is outside the records"
            ))));
        }
        let frame = self
            .bytes
            .as_slice()
            .get(offset as usize..segment.footer.records_end as usize)
            .unwrap_or_default();
        decode_frame(frame)
            .map(|(payload, _)| payload)
            .map_err(|e| corrupt(CorruptionKind::BadField(e.to_string())))
    }
}
