//! The offline check behind `auditlog verify`: recompute every CRC, every record's leaf
//! hash, every stored tree node, every segment's chain link (header frontier, footer tree
//! head, offset table, time bounds), reading each byte once. It needs only the data
//! directory and writes nothing. The first fault is returned as [`Corruption`] with its
//! file and byte offset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{FrameError, RecordError, decode_timestamp, split_frame};
use crate::config::LogConfig;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::merkle::{CompactRange, Hash, HashAlg};
use crate::segment::{
    FOOTER_BYTES, SegmentFooter, SegmentHeader, list_segment_bases, segment_path,
};
use crate::storage::{FsStorage, MappedBytes, OpenMode, Storage, StorageFile, read_all};
use crate::tree::{LEVEL_HEADER_BYTES, TREE_DIR, check_level_header, level_path};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Records (events) checked.
    pub records: u64,
    /// Bytes of segment data read.
    pub bytes: u64,
    /// Tree nodes compared with the stored level files.
    pub nodes_checked: u64,
    /// The tree head of all records.
    pub root: Hash,
    /// The hash algorithm.
    pub alg: HashAlg,
    /// Things that are not faults but worth saying (a log not cleanly closed).
    pub notes: Vec<String>,
}

fn corrupt(path: &Path, offset: u64, kind: CorruptionKind) -> Error {
    Error::Corruption(Corruption::new(path, offset, kind))
}

/// Reads one level file front to back as the check asks for its nodes in index order.
struct LevelCursor {
    path: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    stored: u64,
    buf: Vec<u8>,
    buf_first: u64,
}

impl LevelCursor {
    const CHUNK_NODES: u64 = 4096;

    fn open(storage: &dyn Storage, dir: &Path, alg: HashAlg, level: u32) -> Result<LevelCursor> {
        let path = level_path(&dir.join(TREE_DIR), level);
        let mut cursor = LevelCursor {
            path: path.clone(),
            file: None,
            stored: 0,
            buf: Vec::new(),
            buf_first: 0,
        };
        if storage.exists(&path) {
            let file = storage
                .open(&path, OpenMode::Read)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            let len = file
                .len()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut header = [0u8; LEVEL_HEADER_BYTES as usize];
            if len >= LEVEL_HEADER_BYTES {
                file.read_exact_at(&mut header, 0)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            }
            check_level_header(&path, &header, alg, level)?;
            cursor.stored = len.saturating_sub(LEVEL_HEADER_BYTES) / 32;
            cursor.file = Some(file);
        }
        Ok(cursor)
    }

    /// The stored node `index`, or `None` past the stored nodes.
    fn node(&mut self, index: u64) -> Result<Option<Hash>> {
        if index >= self.stored {
            return Ok(None);
        }
        let in_buf =
            index >= self.buf_first && (index - self.buf_first) * 32 < self.buf.len() as u64;
        if !in_buf {
            let Some(file) = &self.file else {
                return Ok(None);
            };
            let n = Self::CHUNK_NODES.min(self.stored - index);
            self.buf.resize(n as usize * 32, 0);
            file.read_exact_at(&mut self.buf, LEVEL_HEADER_BYTES + index * 32)
                .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
            self.buf_first = index;
        }
        let at = ((index - self.buf_first) * 32) as usize;
        Ok(crate::le::hash_at(&self.buf, at))
    }
}

/// Verifies every byte of the log in `dir`. `progress` is called with the bytes of
/// segment data done so far.
pub fn verify_dir(dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
    let storage = FsStorage::default();
    let config = LogConfig::load(&storage, dir)?;
    let alg = config.hash;
    let bases = list_segment_bases(&storage, dir)?;

    let mut levels: Vec<LevelCursor> = Vec::new();
    let mut compact = CompactRange::new(alg);
    let mut report = VerifyReport {
        segments: bases.len(),
        records: 0,
        bytes: 0,
        nodes_checked: 0,
        root: alg.empty_root(),
        alg,
        notes: Vec::new(),
    };
    let mut missing_nodes = false;
    for (i, &base) in bases.iter().enumerate() {
        let path = segment_path(dir, base);
        let is_last = i + 1 == bases.len();
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        // The last segment may still be written to: read it, never map it.
        let data = if is_last {
            MappedBytes::from_vec(read_all(&storage, &path).map_err(io)?)
        } else {
            storage.map(&path).map_err(io)?
        };
        let bytes = data.as_slice();
        let header = SegmentHeader::decode_from(bytes).map_err(|(o, k)| corrupt(&path, o, k))?;
        if header.alg != alg {
            return Err(corrupt(
                &path,
                10,
                CorruptionKind::BadField(format!(
                    "segment hashes with {}, the log with {alg}",
                    header.alg
                )),
            ));
        }
        if header.base_seq != base || base != compact.size() {
            return Err(corrupt(
                &path,
                16,
                CorruptionKind::BrokenChain(format!(
                    "segment starts at {} (file name {base}), the records before it end at {}",
                    header.base_seq,
                    compact.size()
                )),
            ));
        }
        if header.frontier.as_slice() != compact.hashes() {
            return Err(corrupt(
                &path,
                32,
                CorruptionKind::BrokenChain(
                    "the header's frontier differs from the tree of the records before it".into(),
                ),
            ));
        }
        let header_len = header.encoded_len();
        let footer = bytes
            .len()
            .checked_sub(FOOTER_BYTES)
            .filter(|&at| at >= header_len)
            .map(|at| {
                (
                    at,
                    SegmentFooter::decode_from(bytes.get(at..).unwrap_or_default()),
                )
            });
        let (records_end, footer) = match footer {
            Some((at, Ok(f))) => (
                usize::try_from(f.records_end).unwrap_or(usize::MAX).min(at),
                Some((at, f)),
            ),
            Some((at, Err((o, k)))) if !is_last => return Err(corrupt(&path, at as u64 + o, k)),
            None if !is_last => {
                return Err(corrupt(
                    &path,
                    bytes.len() as u64,
                    CorruptionKind::Truncated("sealed segment: no footer"),
                ));
            }
            _ => (bytes.len(), None),
        };
        // Pass 1: every frame's place, from a sealed segment's offset table (checked by
        // its CRC), else by walking the lengths in order.
        let (frames, walk_error) = match footer
            .as_ref()
            .and_then(|(at, f)| frames_from_table(bytes, header_len, records_end, *at, f))
        {
            Some(frames) => (frames, None),
            None => walk_frames(bytes, header_len, records_end),
        };
        // Pass 2, on every core: each frame's CRC, record timestamp and leaf hash. A bad
        // CRC comes before a walk error: a damaged length sends the walk astray.
        let leaves = match (check_frames(bytes, &frames, alg), walk_error) {
            (Ok(leaves), None) => leaves,
            (Err((offset, fault)), _) | (Ok(_), Some((offset, fault))) => {
                let what = match fault {
                    Fault::Frame(e) if is_last && footer.is_none() => format!(
                        "{e} (a torn tail if the log crashed; the next writer, e.g. `auditlog ingest`, cuts it)"
                    ),
                    Fault::Frame(e) => e.to_string(),
                    Fault::Misplaced { frame, table } => {
                        format!("record frame is {frame} bytes, the offset table leaves it {table}")
                    }
                    Fault::Record(e) => e.to_string(),
                    Fault::Panicked => "a verify thread panicked; records unchecked".into(),
                };
                return Err(corrupt(&path, offset, CorruptionKind::BadField(what)));
            }
        };
        let offsets: Vec<u64> = frames.iter().map(|place| place.start as u64).collect();
        let (min_ts, max_ts) = (leaves.min_timestamp, leaves.max_timestamp);
        // Pass 3: the tree, level by level against the stored level files.
        let mut fault = None;
        compact.extend_with(
            &leaves.hashes,
            hash_pairs_in_parallel(alg),
            |level, index, hash| {
                if fault.is_some() {
                    return;
                }
                while levels.len() <= level as usize {
                    match LevelCursor::open(&storage, dir, alg, levels.len() as u32) {
                        Ok(c) => levels.push(c),
                        Err(e) => {
                            fault = Some(e);
                            return;
                        }
                    }
                }
                let Some(cursor) = levels.get_mut(level as usize) else {
                    return;
                };
                match cursor.node(index) {
                    Ok(Some(stored)) if stored == *hash => report.nodes_checked += 1,
                    Ok(Some(_)) => {
                        // The node's first leaf, to name a record; a node may start in an
                        // earlier segment.
                        let leaf = index << level;
                        let record = match leaf.checked_sub(base) {
                            Some(i) => frames.get(i as usize).map_or(String::new(), |place| {
                                format!(
                                    " (records from {leaf}, at byte {} of {})",
                                    place.start,
                                    path.display()
                                )
                            }),
                            None => format!(" (records from {leaf})"),
                        };
                        fault = Some(corrupt(
                            &cursor.path,
                            LEVEL_HEADER_BYTES + index * 32,
                            CorruptionKind::HashMismatch(format!(
                                "stored tree node ({level}, {index}) differs from the one computed \
                             from the records{record}"
                            )),
                        ))
                    }
                    Ok(None) => missing_nodes = true,
                    Err(e) => fault = Some(e),
                }
            },
        );
        if let Some(e) = fault {
            return Err(e);
        }
        report.records += offsets.len() as u64;
        report.bytes += bytes.len() as u64;
        if let Some((footer_at, f)) = footer {
            check_footer(
                &path,
                bytes,
                footer_at,
                &f,
                &header,
                &offsets,
                records_end,
                &compact,
                min_ts,
                max_ts,
            )?;
        }
        progress(report.bytes);
    }
    report.root = compact.root();
    if missing_nodes {
        report.notes.push("the stored tree lacks the nodes of the newest records (the log was not closed cleanly); the next open recomputes them".into());
    }
    let durable = crate::tree::read_durable_size(&storage, dir)?;
    if durable > compact.size() {
        return Err(corrupt(
            &dir.join(TREE_DIR).join("state"),
            16,
            CorruptionKind::LostEvents(format!(
                "{durable} leaves were made durable but the records end at {}",
                compact.size()
            )),
        ));
    }
    Ok(report)
}

/// Leaf hashes of a segment's records, in order, and the records' time bounds.
struct Leaves {
    hashes: Vec<Hash>,
    min_timestamp: Timestamp,
    max_timestamp: Timestamp,
}

/// [`HashAlg::hash_pairs`] with long rows split over the machine's cores.
fn hash_pairs_in_parallel(alg: HashAlg) -> impl Fn(&[Hash], &mut [Hash]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    move |children, parents| {
        const MIN_PER_THREAD: usize = 4096;
        let per_thread = parents.len().div_ceil(threads).max(MIN_PER_THREAD);
        if per_thread >= parents.len() {
            return alg.hash_pairs(children, parents);
        }
        std::thread::scope(|scope| {
            for (children, parents) in children
                .chunks(2 * per_thread)
                .zip(parents.chunks_mut(per_thread))
            {
                scope.spawn(move || alg.hash_pairs(children, parents));
            }
        });
    }
}

/// Where a frame should lie in a segment's bytes: exactly `start..end`.
struct FramePlace {
    start: usize,
    end: usize,
}

/// Why a frame or record is bad.
enum Fault {
    Frame(FrameError),
    /// The frame's length disagrees with the offset table.
    Misplaced {
        frame: usize,
        table: usize,
    },
    Record(RecordError),
    /// A worker thread panicked (a bug): its records went unchecked.
    Panicked,
}

/// The frames of a sealed segment as its offset table places them, if the table's CRC
/// holds and its offsets rise from the first record to the end of the records. Each
/// frame's own length is compared with its place in pass 2.
fn frames_from_table(
    bytes: &[u8],
    header_len: usize,
    records_end: usize,
    footer_at: usize,
    footer: &SegmentFooter,
) -> Option<Vec<FramePlace>> {
    let table = bytes.get(records_end..footer_at)?;
    if table.len() % 4 != 0 || crc32fast::hash(table) != footer.offsets_crc {
        return None;
    }
    let starts: Vec<usize> = table
        .chunks_exact(4)
        .map(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize)
        .chain([records_end])
        .collect();
    if starts.first() != Some(&header_len) {
        return None;
    }
    starts
        .windows(2)
        .map(|pair| {
            (pair[0] < pair[1]).then_some(FramePlace {
                start: pair[0],
                end: pair[1],
            })
        })
        .collect()
}

/// The frames between `start` and `end` of `bytes` by their lengths alone, up to the
/// first whose length is bad, with that one's offset and error.
fn walk_frames(bytes: &[u8], start: usize, end: usize) -> (Vec<FramePlace>, Option<(u64, Fault)>) {
    let records = bytes.get(..end).unwrap_or_default();
    let mut frames = Vec::new();
    let mut at = start;
    while at < records.len() {
        match split_frame(records.get(at..).unwrap_or_default()) {
            Ok(frame) => {
                frames.push(FramePlace {
                    start: at,
                    end: at + frame.total,
                });
                at += frame.total;
            }
            Err(e) => return (frames, Some((at as u64, Fault::Frame(e)))),
        }
    }
    (frames, None)
}

/// Checks every frame's CRC, reads its record's timestamp and hashes its leaf, splitting
/// the frames over the machine's cores, a few hundred at a time so each record is still
/// in cache when it is hashed. Records are not decoded further: their leaf hashes prove
/// them unchanged, and `auditlog export` decodes every field. Returns the first fault in
/// file order.
fn check_frames(
    bytes: &[u8],
    frames: &[FramePlace],
    alg: HashAlg,
) -> std::result::Result<Leaves, (u64, Fault)> {
    const CHUNK: usize = 256;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = frames.len().div_ceil(threads).max(1);
    let work = |part: &[FramePlace]| -> std::result::Result<Leaves, (u64, Fault)> {
        let mut out = Leaves {
            hashes: vec![[0; 32]; part.len()],
            min_timestamp: Timestamp::MAX,
            max_timestamp: Timestamp::MIN,
        };
        let mut payloads = Vec::with_capacity(CHUNK);
        for (frames, hashes) in part.chunks(CHUNK).zip(out.hashes.chunks_mut(CHUNK)) {
            payloads.clear();
            for place in frames {
                let offset = place.start as u64;
                let span = bytes.get(place.start..place.end).unwrap_or_default();
                let frame = split_frame(span).map_err(|e| (offset, Fault::Frame(e)))?;
                if frame.total != span.len() {
                    let (frame, table) = (frame.total, span.len());
                    return Err((offset, Fault::Misplaced { frame, table }));
                }
                frame.check().map_err(|e| (offset, Fault::Frame(e)))?;
                let payload = frame.payload;
                let timestamp =
                    decode_timestamp(payload).map_err(|e| (offset, Fault::Record(e)))?;
                out.min_timestamp = out.min_timestamp.min(timestamp);
                out.max_timestamp = out.max_timestamp.max(timestamp);
                payloads.push(payload);
            }
            alg.hash_leaves(&payloads, hashes);
        }
        Ok(out)
    };
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = frames
            .chunks(chunk)
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut all = Leaves {
        hashes: Vec::with_capacity(frames.len()),
        min_timestamp: Timestamp::MAX,
        max_timestamp: Timestamp::MIN,
    };
    for part in parts {
        // A worker only panics on a bug; say so rather than pass over its records.
        let part = part.unwrap_or(Err((0, Fault::Panicked)))?;
        all.hashes.extend(part.hashes);
        all.min_timestamp = all.min_timestamp.min(part.min_timestamp);
        all.max_timestamp = all.max_timestamp.max(part.max_timestamp);
    }
    Ok(all)
}

#[allow(clippy::too_many_arguments)]
fn check_footer(
    path: &Path,
    bytes: &[u8],
    footer_at: usize,
    f: &SegmentFooter,
    header: &SegmentHeader,
    offsets: &[u64],
    records_end: usize,
    compact: &CompactRange,
    min_ts: Timestamp,
    max_ts: Timestamp,
) -> Result<()> {
    let field = |what: String| corrupt(path, footer_at as u64, CorruptionKind::BadField(what));
    if offsets.is_empty() {
        return Err(field("a sealed segment holds no records".into()));
    }
    if footer_at.checked_sub(records_end) != Some(offsets.len() * 4) {
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
    if f.record_count != offsets.len() as u64
        || f.tree_size != header.base_seq + offsets.len() as u64
    {
        return Err(field(format!(
            "footer counts {} records, the segment holds {}",
            f.record_count,
            offsets.len()
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
    for (i, (entry, actual)) in table.chunks_exact(4).zip(offsets).enumerate() {
        let stored = crate::le::u32_at(entry, 0).map(u64::from);
        if stored != Some(*actual) {
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
