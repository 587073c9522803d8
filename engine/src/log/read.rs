//! Reading events back in log order, by sequence range and optionally by time range, in
//! constant memory: sealed segments are read from their maps, the active one from its map
//! where it may be (see `ActiveView::map_limit`), else in chunks, up to its committed
//! length.
//!
//! Timestamps come from clients and may be out of order. A time range `[from, to)` yields
//! exactly the events whose own timestamp falls in it, in sequence order; segments whose
//! timestamp bounds miss the range are skipped without being read (docs/EVENTS.md,
//! "Reading by time").

use std::ops::Range;
use std::sync::Arc;

use super::Log;
use crate::checkpoint::Checkpoint;
use crate::codec::{
    FRAME_HEADER_BYTES, MAX_RECORD_LEN_BYTES, Record, TenantLink, decode_frame, decode_record,
};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::{Event, Timestamp};
use crate::heads::TenantHeads;
use crate::index::{Field, IndexRead};
use crate::segment::{ReadableMap, SealedSegment};

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
    map: Option<ReadableMap>,
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

    /// The stored payload of record `seq` (what its leaf hash covers: docs/PROOFS.md),
    /// CRC-checked; `None` past the log. For a reader that checks the leaf itself.
    pub fn record_payload(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        let mut found = None;
        self.scan_payloads(
            seq..seq.saturating_add(1),
            TimeRange::default(),
            |_, payload, _| {
                found = Some(payload.to_vec());
                Ok(false)
            },
        )?;
        Ok(found)
    }

    /// Like [`Log::scan`], with each event's tenant link.
    pub fn scan_records(
        &self,
        range: Range<u64>,
        time: TimeRange,
        mut visit: impl FnMut(u64, Record<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.scan_payloads(range, time, |seq, payload, place| {
            let record = decode_record(payload)
                .map_err(|e| place.corrupt(CorruptionKind::BadField(e.to_string())))?;
            if !time.contains(record.event.timestamp) {
                return Ok(true);
            }
            visit(seq, record)
        })
    }

    /// Calls `visit(seq, payload, place)` for each record with `seq` in `range` (clipped
    /// to the log), its payload CRC-checked, in sequence order, until `visit` returns
    /// `Ok(false)`. Segments whose time bounds miss `time` are skipped; the records of the
    /// others are not filtered by time.
    pub(crate) fn scan_payloads(
        &self,
        range: Range<u64>,
        time: TimeRange,
        mut visit: impl FnMut(u64, &[u8], &RecordPlace<'_>) -> Result<bool>,
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
            let records = segment.records(self.shared.storage.as_ref())?;
            for seq in from..range.end.min(segment.end()) {
                let place = RecordPlace {
                    path: &segment.path,
                    offset: records.frame_offset(seq).unwrap_or(0),
                };
                if !visit(seq, records.payload(seq)?, &place)? {
                    return Ok(());
                }
            }
        }
        if let Some(active) = active
            && time.overlaps(active.min_timestamp, active.max_timestamp)
        {
            scan_active(&active, range, &mut visit)?;
        }
        Ok(())
    }

    /// The tenant heads at `checkpoint`'s size, carried forward in `kept` from where they
    /// were last read (so that proving batch after batch against newer checkpoints reads
    /// each record once), and checked against the heads the checkpoint signs. Read anew
    /// when `kept` is past the checkpoint or was overtaken by retention.
    pub(crate) fn heads_forward(
        &self,
        kept: &mut Option<(TenantHeads, u64)>,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let size = checkpoint.tree_size;
        let deleted_end = self.shared.deleted.read().end();
        // Taken out while advanced: a read that fails part way leaves nothing half
        // advanced behind (the next call reads anew).
        let advanced = match kept.take() {
            Some((mut heads, at)) if at <= size && at >= deleted_end => {
                self.advance_heads(&mut heads, at..size)?;
                let signed = checkpoint.tenant_heads;
                signed
                    .is_none_or(|s| heads.commitment() == s)
                    .then_some(heads)
            }
            _ => None,
        };
        // Read anew when the kept heads could not be carried (or, carried, differ from
        // what the checkpoint signs: a fresh read names any damage).
        let heads = match advanced {
            Some(heads) => heads,
            None => self.heads_at(Some(checkpoint))?,
        };
        *kept = Some((heads, size));
        Ok(())
    }

    /// Every tenant's newest event below the size of `checkpoint` (none for `None`), read
    /// from the records (after those deleted past retention, from the heads kept with the
    /// newest receipt) as [`Log::advance_heads`] reads them, and checked against the tenant
    /// heads the checkpoint signs.
    pub(crate) fn heads_at(&self, checkpoint: Option<&Checkpoint>) -> Result<TenantHeads> {
        let Some(checkpoint) = checkpoint else {
            return Ok(TenantHeads::new(self.alg()));
        };
        let size = checkpoint.tree_size;
        let (mut heads, from) = {
            let deleted = self.shared.deleted.read();
            (deleted.heads().clone(), deleted.end())
        };
        if size < from {
            return Err(Error::InvalidArgument(format!(
                "the records below {from} were deleted past retention: the tenant heads at \
                 {size} are not kept"
            )));
        }
        self.advance_heads(&mut heads, from..size)?;
        if let Some(signed) = checkpoint.tenant_heads
            && heads.commitment() != signed
        {
            return Err(Error::Corruption(Corruption::new(
                self.dir().join(crate::checkpoint::CHECKPOINTS_FILE),
                0,
                CorruptionKind::HashMismatch(format!(
                    "the tenant heads of the records at tree size {} differ from those the \
                     checkpoint of that size signs",
                    checkpoint.tree_size
                )),
            )));
        }
        Ok(heads)
    }

    /// Advances `heads` over the records of `range`, from the records (each linked
    /// record's link checked), or, for a segment released to the archive, from its index
    /// file (its records' tenants, in order; its links were checked before it was
    /// released, and `verify` checks them), so nothing is fetched.
    pub(crate) fn advance_heads(&self, heads: &mut TenantHeads, range: Range<u64>) -> Result<()> {
        let mut from = range.start;
        let (sealed, _) = self.snapshot(from);
        let released = sealed
            .iter()
            .filter(|s| !s.is_local() && s.base() >= range.start && s.end() <= range.end);
        for segment in released {
            self.follow_tenants(heads, from..segment.base(), |_, _, _| Ok(()))?;
            let (index, _) = self.sealed_index(segment)?;
            for i in 0..index.records() {
                let ordinal = index.ordinal(Field::Tenant, i);
                let tenant = index.key(Field::Tenant, ordinal).ok_or_else(|| {
                    Error::Corruption(Corruption::new(
                        crate::index::index_path(&segment.path),
                        0,
                        CorruptionKind::BadField(format!("record {i} has no tenant key")),
                    ))
                })?;
                heads.advance(tenant, segment.base() + u64::from(i));
            }
            from = segment.end();
        }
        self.follow_tenants(heads, from..range.end, |_, _, _| Ok(()))
    }

    /// Advances `heads` over the events of `range`, in order (each becomes its tenant's
    /// newest), checking each linked record's link: it must name the event `heads` had as
    /// its tenant's newest. For each record also calls `check(seq, payload, place)`.
    pub(crate) fn follow_tenants(
        &self,
        heads: &mut TenantHeads,
        range: Range<u64>,
        mut check: impl FnMut(u64, &[u8], &RecordPlace<'_>) -> Result<()>,
    ) -> Result<()> {
        self.scan_payloads(range, TimeRange::default(), |seq, payload, place| {
            check(seq, payload, place)?;
            let record = decode_record(payload)
                .map_err(|e| place.corrupt(CorruptionKind::BadField(e.to_string())))?;
            let expected = heads.advance(&record.event.tenant_id, seq);
            if record.tenant_link != TenantLink::Unlinked && record.tenant_link != expected {
                return Err(place.corrupt(CorruptionKind::BadField(format!(
                    "record {seq}'s tenant link is {:?}; its tenant's previous event is {:?}",
                    record.tenant_link, expected
                ))));
            }
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
                map: a.readable_map(),
            }
        });
        (view.sealed.clone(), active)
    }
}

/// Where a record's frame is, for naming it in an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordPlace<'a> {
    pub(crate) path: &'a std::path::Path,
    pub(crate) offset: u64,
}

impl RecordPlace<'_> {
    pub(crate) fn corrupt(&self, kind: CorruptionKind) -> Error {
        Error::Corruption(Corruption::new(self.path, self.offset, kind))
    }
}

fn scan_active(
    active: &ActiveSnapshot,
    range: Range<u64>,
    visit: &mut impl FnMut(u64, &[u8], &RecordPlace<'_>) -> Result<bool>,
) -> Result<()> {
    let mut seq = active.base_seq;
    let end_seq = range.end.min(active.base_seq + active.count);
    let mut offset = active.start_offset;
    let mut buf = Vec::new();
    while seq < end_seq && offset < active.committed_len {
        let want = (active.committed_len - offset)
            .min((CHUNK_BYTES + MAX_RECORD_LEN_BYTES + FRAME_HEADER_BYTES) as u64);
        let span = (offset, offset + want);
        let map = active.map.as_ref();
        let chunk = ReadableMap::read(map, &*active.file, &active.path, span, &mut buf)?;
        let mut at = 0usize;
        while seq < end_seq && at < chunk.len() {
            let place = RecordPlace {
                path: &active.path,
                offset: offset + at as u64,
            };
            let rest = chunk.get(at..).unwrap_or_default();
            let (payload, used) = match decode_frame(rest) {
                Ok(frame) => frame,
                // The chunk ends inside a frame: read on from its start.
                Err(crate::codec::FrameError::Truncated { .. }) if at > 0 => break,
                Err(e) => return Err(place.corrupt(CorruptionKind::BadField(e.to_string()))),
            };
            if seq >= range.start && !visit(seq, payload, &place)? {
                return Ok(());
            }
            seq += 1;
            at += used;
        }
        offset += at as u64;
    }
    Ok(())
}
