//! Reading events back in log order, by sequence range and optionally by time range, in
//! constant memory: sealed segments are read from their maps, the active one in chunks
//! up to its committed length.
//!
//! Timestamps come from clients and may be out of order. A time range `[from, to)` yields
//! exactly the events whose own timestamp falls in it, in sequence order; segments whose
//! timestamp bounds miss the range are skipped without being read (docs/EVENTS.md,
//! "Reading by time").

use std::ops::Range;
use std::sync::Arc;

use super::Log;
use crate::codec::{FRAME_HEADER_BYTES, MAX_RECORD_LEN_BYTES, Record, decode_frame, decode_record};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::{Event, Timestamp};
use crate::heads::TenantHeads;
use crate::segment::SealedSegment;

/// A half-open time interval `[from, to)`; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<Timestamp>,
    /// Exclusive end.
    pub to: Option<Timestamp>,
}

impl TimeRange {
    /// Whether `t` is inside.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// Whether any instant of `[min, max]` is inside.
    pub fn overlaps(&self, min: Timestamp, max: Timestamp) -> bool {
        min <= max && self.from.is_none_or(|f| max >= f) && self.to.is_none_or(|e| min < e)
    }
}

const CHUNK_BYTES: usize = 1 << 20;

struct ActiveSnapshot {
    path: std::path::PathBuf,
    file: Arc<dyn crate::storage::StorageFile>,
    base_seq: u64,
    count: u64,
    /// Offset of the first frame wanted.
    start_offset: u64,
    committed_len: u64,
    min_timestamp: Timestamp,
    max_timestamp: Timestamp,
}

impl Log {
    /// Calls `visit(seq, event)` for each event with `seq` in `range` (clipped to the log)
    /// and a timestamp in `time`, in sequence order, until `visit` returns `Ok(false)`.
    pub fn scan(
        &self,
        range: Range<u64>,
        time: TimeRange,
        mut visit: impl FnMut(u64, Event<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.scan_records(range, time, |seq, record| visit(seq, record.event))
    }

    /// Like [`Log::scan`], with each event's tenant link.
    pub fn scan_records(
        &self,
        range: Range<u64>,
        time: TimeRange,
        mut visit: impl FnMut(u64, Record<'_>) -> Result<bool>,
    ) -> Result<()> {
        let (sealed, active) = self.snapshot(range.start);
        for segment in &sealed {
            if segment.end() <= range.start || segment.base() >= range.end {
                continue;
            }
            if !time.overlaps(segment.footer.min_timestamp, segment.footer.max_timestamp) {
                continue;
            }
            let from = range.start.max(segment.base());
            for seq in from..range.end.min(segment.end()) {
                let record = decode_record(segment.payload(seq)?).map_err(|e| {
                    let offset = segment.frame_offset(seq).unwrap_or(0);
                    Error::Corruption(Corruption::new(
                        &segment.path,
                        offset,
                        CorruptionKind::BadField(e.to_string()),
                    ))
                })?;
                if time.contains(record.event.timestamp) && !visit(seq, record)? {
                    return Ok(());
                }
            }
        }
        if let Some(active) = active
            && time.overlaps(active.min_timestamp, active.max_timestamp)
        {
            scan_active(&active, range, time, &mut visit)?;
        }
        Ok(())
    }

    /// Advances `heads` over the events of `range`, in order: each becomes its tenant's
    /// newest.
    pub(crate) fn advance_heads(&self, heads: &mut TenantHeads, range: Range<u64>) -> Result<()> {
        self.scan_records(range, TimeRange::default(), |seq, record| {
            heads.advance(&record.event.tenant_id, seq);
            Ok(true)
        })
    }

    fn snapshot(&self, start: u64) -> (Vec<Arc<SealedSegment>>, Option<ActiveSnapshot>) {
        let view = self.shared.view.read();
        let active = view.active.as_ref().map(|a| {
            let count = a.offsets.len() as u64;
            let first = start.saturating_sub(a.base_seq).min(count);
            let start_offset = a
                .offsets
                .get(first as usize)
                .map_or(a.committed_len, |&o| u64::from(o));
            ActiveSnapshot {
                path: a.path.clone(),
                file: Arc::clone(&a.file),
                base_seq: a.base_seq + first,
                count: count - first,
                start_offset,
                committed_len: a.committed_len,
                min_timestamp: a.min_timestamp,
                max_timestamp: a.max_timestamp,
            }
        });
        (view.sealed.clone(), active)
    }
}

fn scan_active(
    active: &ActiveSnapshot,
    range: Range<u64>,
    time: TimeRange,
    visit: &mut impl FnMut(u64, Record<'_>) -> Result<bool>,
) -> Result<()> {
    let corrupt = |offset, kind| Error::Corruption(Corruption::new(&active.path, offset, kind));
    let mut seq = active.base_seq;
    let end_seq = range.end.min(active.base_seq + active.count);
    let mut offset = active.start_offset;
    let mut buf = Vec::new();
    while seq < end_seq && offset < active.committed_len {
        let want = (active.committed_len - offset)
            .min((CHUNK_BYTES + MAX_RECORD_LEN_BYTES + FRAME_HEADER_BYTES) as u64);
        buf.resize(want as usize, 0);
        active
            .file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io(format!("reading {}", active.path.display()), e))?;
        let mut at = 0usize;
        while seq < end_seq && at < buf.len() {
            let rest = buf.get(at..).unwrap_or_default();
            let (payload, used) = match decode_frame(rest) {
                Ok(frame) => frame,
                // The chunk ends inside a frame: read on from its start.
                Err(crate::codec::FrameError::Truncated { .. }) if at > 0 => break,
                Err(e) => {
                    return Err(corrupt(
                        offset + at as u64,
                        CorruptionKind::BadField(e.to_string()),
                    ));
                }
            };
            let record = decode_record(payload).map_err(|e| {
                corrupt(offset + at as u64, CorruptionKind::BadField(e.to_string()))
            })?;
            if seq >= range.start && time.contains(record.event.timestamp) && !visit(seq, record)? {
                return Ok(());
            }
            seq += 1;
            at += used;
        }
        offset += at as u64;
    }
    Ok(())
}
