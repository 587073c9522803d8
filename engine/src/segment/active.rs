//! The active segment: created with its header fsynced, appended to by the writer thread
//! only, recovered on open (a torn last record is cut off and reported), sealed in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::footer::SegmentFooter;
use super::header::SegmentHeader;
use crate::codec::{check_link, decode_record};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::{Event, Timestamp};
use crate::storage::{AppendMap, OpenMode, Storage, StorageFile, read_all};

/// How far past its roll size the active segment is mapped for readers: room for the batch
/// that crosses it (records beyond the map are read with `pread`).
const MAP_HEADROOM_BYTES: u64 = 64 << 20;

/// The writer's handle on the segment it appends to.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    pub(crate) header: SegmentHeader,
    /// Bytes successfully written (header and whole frames).
    pub(crate) len: u64,
    pub(crate) record_count: u64,
    pub(crate) min_timestamp: Timestamp,
    pub(crate) max_timestamp: Timestamp,
}

/// What readers may see of the active segment: only records whose write was committed.
#[derive(Debug, Clone)]
pub(crate) struct ActiveView {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    pub(crate) base_seq: u64,
    /// Frame offsets of committed records.
    pub(crate) offsets: Vec<u32>,
    /// End of the last committed frame.
    pub(crate) committed_len: u64,
    pub(crate) min_timestamp: Timestamp,
    pub(crate) max_timestamp: Timestamp,
    /// The file mapped for readers; `None`: read with `pread`.
    pub(crate) map: Option<Arc<AppendMap>>,
    /// Bytes of the file below which the map may be read (with `committed_len`). A
    /// read-only process stops at the records that were durable when it opened: a
    /// recovering writer never cuts those, but may cut records only the page cache held,
    /// and a map read past a cut is a `SIGBUS`, not an error.
    pub(crate) map_limit: u64,
}

impl ActiveView {
    /// The committed bytes readers may take straight from the map.
    pub(crate) fn readable_map(&self) -> Option<ReadableMap> {
        self.map.as_ref().map(|map| ReadableMap {
            map: Arc::clone(map),
            end: self.committed_len.min(self.map_limit),
        })
    }
}

/// A map of the active segment with the end of what may be read from it, taken from the
/// view under its lock and kept by a reader after releasing it.
#[derive(Debug, Clone)]
pub(crate) struct ReadableMap {
    map: Arc<AppendMap>,
    end: u64,
}

impl ReadableMap {
    /// The bytes `start..end`, or `None` if they lie past what may be read from the map
    /// (read them with `pread`).
    #[expect(unsafe_code, reason = "the map's contract, kept by `end`")]
    pub(crate) fn get(&self, start: u64, end: u64) -> Option<&[u8]> {
        if end > self.end {
            return None;
        }
        // SAFETY: `end` is at most the committed length and the `map_limit` of the view
        // it was taken from: bytes written, and never rewritten or cut while mapped.
        unsafe { self.map.committed(start..end) }
    }

    /// The committed bytes `start..end`: from the map where they may be read from it
    /// (`map`), else read from `file` into `buf`.
    pub(crate) fn read<'b>(
        map: Option<&'b ReadableMap>,
        file: &dyn StorageFile,
        path: &Path,
        (start, end): (u64, u64),
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8]> {
        if let Some(mapped) = map.and_then(|m| m.get(start, end)) {
            return Ok(mapped);
        }
        buf.resize((end - start) as usize, 0);
        file.read_exact_at(buf, start)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(buf)
    }
}

/// A torn tail found, and cut off, at recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where the first bad frame starts (the new file length).
    pub offset: u64,
    /// Bytes cut off.
    pub bytes_dropped: u64,
    /// Why the frame was bad.
    pub reason: String,
}

/// What recovery found in the active segment.
pub(crate) struct Recovered {
    pub(crate) segment: ActiveSegment,
    pub(crate) offsets: Vec<u32>,
    pub(crate) contents: Vec<u8>,
    pub(crate) torn: Option<RecoveredTail>,
}

impl ActiveSegment {
    /// Creates a segment file whose header is durable before any record is written.
    pub(crate) fn create(
        storage: &dyn Storage,
        path: &Path,
        header: SegmentHeader,
    ) -> Result<ActiveSegment> {
        let mut bytes = Vec::with_capacity(header.encoded_len());
        header.encode_into(&mut bytes);
        let io = |e| Error::io(format!("creating {}", path.display()), e);
        let file = storage.open(path, OpenMode::CreateNew).map_err(io)?;
        file.write_all_at(&bytes, 0).map_err(io)?;
        file.sync_data().map_err(io)?;
        if let Some(dir) = path.parent() {
            storage.sync_dir(dir).map_err(io)?;
        }
        Ok(ActiveSegment {
            path: path.to_path_buf(),
            file,
            len: bytes.len() as u64,
            header,
            record_count: 0,
            min_timestamp: Timestamp::MAX,
            max_timestamp: Timestamp::MIN,
        })
    }

    /// Opens the last, unsealed segment: checks the header and walks the frames, calling
    /// `each` with every whole record's event. A torn tail is reported, not yet cut: see
    /// [`ActiveSegment::cut_torn_tail`].
    pub(crate) fn recover(
        storage: &dyn Storage,
        path: &Path,
        read_only: bool,
        mut each: impl FnMut(&Event<'_>),
    ) -> Result<Recovered> {
        let io = |e| Error::io(format!("recovering {}", path.display()), e);
        // Record offsets are 32-bit: a longer file cannot be one this engine wrote.
        let len = storage
            .open(path, OpenMode::Read)
            .and_then(|f| f.len())
            .map_err(io)?;
        if len > u64::from(u32::MAX) {
            let why = format!("{len} bytes is longer than any segment");
            return Err(Error::Corruption(Corruption::new(
                path,
                0,
                CorruptionKind::BadField(why),
            )));
        }
        let contents = read_all(storage, path).map_err(io)?;
        let header = SegmentHeader::decode_from(&contents)
            .map_err(|(o, k)| Error::Corruption(Corruption::new(path, o, k)))?;
        let header_len = header.encoded_len() as u64;
        let mut offsets = Vec::new();
        let (mut min_ts, mut max_ts) = (Timestamp::MAX, Timestamp::MIN);
        let mut bad_record = None;
        let records = contents.get(header_len as usize..).unwrap_or_default();
        let torn = super::scan_frames(records, header_len, |(offset, payload)| {
            if bad_record.is_some() {
                return;
            }
            let seq = header.base_seq + offsets.len() as u64;
            match decode_record(payload)
                .and_then(|record| check_link(record.tenant_link, seq).map(|()| record.event))
            {
                Ok(event) => {
                    offsets.push(u32::try_from(offset).unwrap_or(u32::MAX));
                    min_ts = min_ts.min(event.timestamp);
                    max_ts = max_ts.max(event.timestamp);
                    each(&event);
                }
                Err(e) => bad_record = Some((offset, e.to_string())),
            }
        });
        if let Some((offset, reason)) = bad_record {
            // A frame whose CRC holds but whose record does not decode was written so by
            // us: that is not a torn write but damage (or a bug) and must not be cut.
            return Err(Error::Corruption(Corruption::new(
                path,
                offset,
                CorruptionKind::BadField(reason),
            )));
        }
        let len = contents.len() as u64;
        let torn = torn.map(|(offset, e)| RecoveredTail {
            path: path.to_path_buf(),
            offset,
            bytes_dropped: len - offset,
            reason: e.to_string(),
        });
        let good_len = torn.as_ref().map_or(len, |t| t.offset);
        let mode = if read_only {
            OpenMode::Read
        } else {
            OpenMode::ReadWrite
        };
        let file = storage.open(path, mode).map_err(io)?;
        let segment = ActiveSegment {
            path: path.to_path_buf(),
            file,
            header,
            len: good_len,
            record_count: offsets.len() as u64,
            min_timestamp: min_ts,
            max_timestamp: max_ts,
        };
        Ok(Recovered {
            segment,
            offsets,
            contents,
            torn,
        })
    }

    /// Cuts the file back to its last whole record, durably.
    pub(crate) fn cut_torn_tail(&self) -> Result<()> {
        let io = |e| {
            Error::io(
                format!("cutting the torn tail of {}", self.path.display()),
                e,
            )
        };
        self.file.set_len(self.len).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    pub(crate) fn base_seq(&self) -> u64 {
        self.header.base_seq
    }

    /// A reader view of this segment with the committed records at `offsets`, mapped with
    /// room to grow to `segment_bytes` (without a map if that fails: reads then use
    /// `pread`); see [`ActiveView::map_limit`].
    pub(crate) fn view(
        &self,
        storage: &dyn Storage,
        offsets: Vec<u32>,
        segment_bytes: u64,
        map_limit: u64,
    ) -> ActiveView {
        let room = segment_bytes.max(self.len) + MAP_HEADROOM_BYTES;
        let map = storage
            .map_appending(&self.path, room)
            .ok()
            .flatten()
            .map(Arc::new);
        ActiveView {
            path: self.path.clone(),
            file: Arc::clone(&self.file),
            base_seq: self.header.base_seq,
            offsets,
            committed_len: self.len,
            min_timestamp: self.min_timestamp,
            max_timestamp: self.max_timestamp,
            map,
            map_limit,
        }
    }

    /// Writes the offset table and the footer after the records and makes them durable.
    pub(crate) fn seal(
        &mut self,
        offsets: &[u32],
        root: crate::merkle::Hash,
    ) -> std::io::Result<()> {
        let mut table = Vec::with_capacity(offsets.len() * 4 + super::FOOTER_BYTES);
        for offset in offsets {
            table.extend_from_slice(&offset.to_le_bytes());
        }
        let footer = SegmentFooter {
            version: crate::envelope::FORMAT_VERSION,
            record_count: self.record_count,
            tree_size: self.header.base_seq + self.record_count,
            root,
            min_timestamp: self.min_timestamp,
            max_timestamp: self.max_timestamp,
            records_end: self.len,
            offsets_crc: crc32fast::hash(&table),
        };
        footer.encode_into(&mut table);
        self.file.write_all_at(&table, self.len)?;
        self.file.sync_data()
    }
}
