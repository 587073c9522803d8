//! Pass 1 over a segment: where its footer is, and where each frame lies, from a sealed
//! segment's offset table or by walking the frames' lengths.

use std::path::Path;

use super::corrupt;
use crate::codec::{FrameError, RecordError, split_frame};
use crate::error::{CorruptionKind, Error, Result};
use crate::segment::{FOOTER_BYTES, SegmentFooter, SegmentHeader};

/// Where a frame should lie in a segment's bytes: exactly `start..end`.
pub(super) struct FramePlace {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Where the records of the segment being checked lie, to name one in a fault.
pub(super) struct Places<'a> {
    pub(super) path: &'a Path,
    /// The sequence number of its first record.
    pub(super) base: u64,
    pub(super) frames: &'a [FramePlace],
}

impl Places<'_> {
    /// The records from `leaf` on, in words, with where the first lies if it is in this
    /// segment.
    pub(super) fn name_record(&self, leaf: u64) -> String {
        match leaf.checked_sub(self.base) {
            Some(i) => self.frames.get(i as usize).map_or(String::new(), |place| {
                format!(
                    " (records from {leaf}, at byte {} of {})",
                    place.start,
                    self.path.display()
                )
            }),
            None => format!(" (records from {leaf})"),
        }
    }

    /// The fault of record `leaf` if it changed since it was written (it is in this
    /// segment).
    pub(super) fn record_fault(&self, leaf: u64) -> Option<Error> {
        let place = self
            .frames
            .get(usize::try_from(leaf.checked_sub(self.base)?).ok()?)?;
        Some(corrupt(
            self.path,
            place.start as u64,
            CorruptionKind::HashMismatch(format!(
                "record {leaf} hashes differently from when it was written: its stored leaf \
                 hash and a root signed or sealed after it disagree with it (edited, swapped \
                 or forged with a valid CRC)"
            )),
        ))
    }

    /// A fault of record `seq`'s tenant link, at its frame.
    pub(super) fn link_fault(&self, seq: u64, what: String) -> Error {
        let place = seq
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.frames.get(i));
        let offset = place.map_or(0, |p| p.start as u64);
        corrupt(self.path, offset, CorruptionKind::BadField(what))
    }
}

/// Why a frame or record is bad.
pub(super) enum Fault {
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

/// The frames of a sealed segment as its offset table places them, into `frames`, if the
/// table's CRC holds and its offsets rise from the first record to the end of the
/// records. Each frame's own length is compared with its place in pass 2.
fn frames_from_table(
    bytes: &[u8],
    base_seq: u64,
    header_len: usize,
    records_end: usize,
    footer_at: usize,
    footer: &SegmentFooter,
    frames: &mut Vec<FramePlace>,
) -> bool {
    frames.clear();
    let Ok(table) = footer.offset_table(bytes, base_seq, header_len as u64, footer_at as u64)
    else {
        return false;
    };
    let mut starts = table
        .chunks_exact(4)
        .map(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize)
        .chain([records_end]);
    let Some(mut start) = starts.next().filter(|&first| first == header_len) else {
        return false;
    };
    frames.reserve(table.len() / 4);
    for end in starts {
        if end <= start {
            return false;
        }
        frames.push(FramePlace { start, end });
        start = end;
    }
    true
}

/// The frames between `start` and `end` of `bytes` by their lengths alone, into
/// `frames`, up to the first whose length is bad: that one's offset and error.
fn walk_frames(
    bytes: &[u8],
    start: usize,
    end: usize,
    frames: &mut Vec<FramePlace>,
) -> Option<(u64, Fault)> {
    frames.clear();
    let records = bytes.get(..end).unwrap_or_default();
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
            Err(e) => return Some((at as u64, Fault::Frame(e))),
        }
    }
    None
}

/// Finds a segment's footer after its header: the end of its records and the footer
/// with its offset. A segment that may be the active one (`may_be_active`) may have none;
/// its records then run to the end of the file.
pub(super) fn locate_footer(
    path: &Path,
    bytes: &[u8],
    header_len: usize,
    may_be_active: bool,
) -> Result<(usize, Option<(usize, SegmentFooter)>)> {
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
    match footer {
        Some((at, Ok(f))) => Ok((
            usize::try_from(f.records_end).unwrap_or(usize::MAX).min(at),
            Some((at, f)),
        )),
        Some((at, Err((o, k)))) if !may_be_active => Err(corrupt(path, at as u64 + o, k)),
        None if !may_be_active => Err(corrupt(
            path,
            bytes.len() as u64,
            CorruptionKind::Truncated("sealed segment: no footer"),
        )),
        _ => Ok((bytes.len(), None)),
    }
}

/// Pass 1: every frame's place, into `frames`, from a sealed segment's offset table
/// (where the footer places it, checked by its CRC), else by walking the lengths in order
/// (which may stop at a bad length: its offset and fault).
pub(super) fn place_frames(
    bytes: &[u8],
    header: &SegmentHeader,
    records_end: usize,
    footer: Option<&(usize, SegmentFooter)>,
    frames: &mut Vec<FramePlace>,
) -> Option<(u64, Fault)> {
    let (base, header_len) = (header.base_seq, header.encoded_len());
    let from_table = footer.is_some_and(|(at, f)| {
        frames_from_table(bytes, base, header_len, records_end, *at, f, frames)
    });
    if from_table {
        None
    } else {
        walk_frames(bytes, header_len, records_end, frames)
    }
}

/// A frame fault in words; `torn_hint` adds that it may be a crash's torn tail.
pub(super) fn describe(fault: Fault, torn_hint: bool) -> String {
    match fault {
        Fault::Frame(e) if torn_hint => format!(
            "{e} (a torn tail if the log crashed; the next writer, e.g. `auditlog ingest`, cuts it)"
        ),
        Fault::Frame(e) => e.to_string(),
        Fault::Misplaced { frame, table } => {
            format!("record frame is {frame} bytes, the offset table leaves it {table}")
        }
        Fault::Record(e) => e.to_string(),
        Fault::Panicked => "a verify thread panicked; records unchecked".into(),
    }
}
