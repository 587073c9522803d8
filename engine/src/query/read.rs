//! Reading the records a query returns: sealed segments from their maps; the active one
//! from its map too, where it may be read (see `ActiveView::map_limit`), else with `pread`,
//! one per run of nearby frames (a page of a busy tenant is one read, a sparse actor's
//! events one small read each, never a large window per event); a segment released to
//! an archive and not cached, as byte ranges of its archived copy where the storage
//! offers them (`Storage::read_ranges`).

use super::{ActiveSource, PersonalFields, Source};
use crate::codec::{decode_frame, decode_raw_parts};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::RawEvent;
use crate::log::Log;
use crate::merkle::NodeSource;
use crate::privacy::with_personal;
use crate::segment::ReadableMap;

/// Frames further apart than this are read separately.
const GAP_BYTES: u64 = 4 << 10;
/// Longest run of frames read at once.
const SPAN_BYTES: u64 = 256 << 10;

/// Buffers reused from segment to segment.
#[derive(Default)]
pub(super) struct RecordReader {
    /// Whether a sealing log's personal fields are put back.
    personal: PersonalFields,
    buf: Vec<u8>,
    frames: Vec<(u64, u64)>,
    /// The active segment's map, as of the last `place`.
    map: Option<ReadableMap>,
}

fn undecodable(source: &Source, offset: u64, seq: u64, why: impl std::fmt::Display) -> Error {
    Error::Corruption(Corruption::new(
        source.path(),
        offset,
        CorruptionKind::BadField(format!("record {seq}: {why}")),
    ))
}

/// Decodes record `seq` (`payload`, its frame at `offset()`) and hands it to `visit`, its
/// personal fields put back if the log seals them (opened, or shown erased or sealed; as
/// sealed whatever the log holds for [`PersonalFields::Sealed`]).
fn visit_record(
    log: &Log,
    personal: PersonalFields,
    source: &Source,
    offset: impl Fn() -> u64,
    seq: u64,
    payload: &[u8],
    visit: &mut impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
) -> Result<bool> {
    let (event, _, sealed) =
        decode_raw_parts(payload).map_err(|e| undecodable(source, offset(), seq, e))?;
    if log.shared.config.sealing.is_none() {
        return visit(seq, event);
    }
    let sealer = match personal {
        PersonalFields::Opened => log.shared.sealer.as_deref(),
        PersonalFields::Sealed => None,
    };
    with_personal(sealer, sealed, event, |event| visit(seq, event))
        .map_err(|e| undecodable(source, offset(), seq, e))?
}

impl RecordReader {
    /// A reader showing a sealing log's personal fields as `personal` says.
    pub(super) fn showing(personal: PersonalFields) -> RecordReader {
        RecordReader {
            personal,
            ..RecordReader::default()
        }
    }

    /// Calls `visit(seq, event)` for each of `seqs` (records of `source`), in the order
    /// given, until it returns `Ok(false)`; returns whether it never did. The events'
    /// strings are not yet checked to be UTF-8: the visitor does that as it uses them.
    pub(super) fn each(
        &mut self,
        log: &Log,
        source: &Source,
        seqs: &[u64],
        mut visit: impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
    ) -> Result<bool> {
        if seqs.is_empty() {
            // Nothing to read: a released segment is not fetched for nothing.
            return Ok(true);
        }
        let sealed = match source {
            Source::Sealed(segment) => Some(std::sync::Arc::clone(segment)),
            Source::Active(active) => {
                if self.place(log, active, seqs) {
                    return self.each_active(log, source, active, seqs, visit);
                }
                // Sealed since the query began: read it as such.
                let view = log.shared.view.read();
                let found = view.sealed.iter().find(|s| s.base() == active.base_seq);
                Some(std::sync::Arc::clone(found.ok_or_else(|| {
                    let name = active
                        .path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy();
                    Error::InvalidArgument(format!("segment {name} is gone"))
                })?))
            }
        };
        let Some(segment) = sealed else {
            return Ok(true);
        };
        let storage = log.shared.storage.as_ref();
        if let Some(frames) = segment.ranged_frames(storage, seqs)? {
            // Read as ranges of the archived copy: each record checked against its CRC
            // and the leaf hash the log keeps.
            for (&seq, (offset, frame)) in seqs.iter().zip(&frames) {
                let (payload, _) =
                    decode_frame(frame).map_err(|e| undecodable(source, *offset, seq, e))?;
                if log.alg().hash_leaf(payload) != log.shared.tree.node(0, seq)? {
                    return Err(Error::Corruption(Corruption::new(
                        source.path(),
                        *offset,
                        CorruptionKind::HashMismatch(format!(
                            "record {seq} read from the archive differs from its leaf hash"
                        )),
                    )));
                }
                if !visit_record(
                    log,
                    self.personal,
                    source,
                    || *offset,
                    seq,
                    payload,
                    &mut visit,
                )? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let records = segment.records(storage)?;
        for &seq in seqs {
            let payload = records.payload(seq)?;
            let offset = || records.frame_offset(seq).unwrap_or(0);
            if !visit_record(log, self.personal, source, offset, seq, payload, &mut visit)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Looks up where each of `seqs` lies in the active segment; `false` if it is no
    /// longer the active one.
    fn place(&mut self, log: &Log, active: &ActiveSource, seqs: &[u64]) -> bool {
        let view = log.shared.view.read();
        let Some(a) = view
            .active
            .as_ref()
            .filter(|a| a.base_seq == active.base_seq)
        else {
            return false;
        };
        self.map = a.readable_map();
        self.frames.clear();
        for &seq in seqs {
            let i = (seq - active.base_seq) as usize;
            let start = a.offsets.get(i).map_or(a.committed_len, |&o| u64::from(o));
            let end = a
                .offsets
                .get(i + 1)
                .map_or(a.committed_len, |&o| u64::from(o));
            self.frames.push((start, end));
        }
        true
    }

    fn each_active(
        &mut self,
        log: &Log,
        source: &Source,
        active: &ActiveSource,
        seqs: &[u64],
        mut visit: impl FnMut(u64, RawEvent<'_>) -> Result<bool>,
    ) -> Result<bool> {
        let mut k = 0;
        while k < seqs.len() {
            let Some(&(first_start, first_end)) = self.frames.get(k) else {
                break;
            };
            // Grow the run while the next frame is near and the run short.
            let (mut lo, mut hi) = (first_start, first_end);
            let mut j = k + 1;
            while let Some(&(start, end)) = self.frames.get(j) {
                let (new_lo, new_hi) = (lo.min(start), hi.max(end));
                let near = start <= hi + GAP_BYTES && end + GAP_BYTES >= lo;
                if !near || new_hi - new_lo > SPAN_BYTES {
                    break;
                }
                (lo, hi) = (new_lo, new_hi);
                j += 1;
            }
            let map = self.map.as_ref();
            let run = ReadableMap::read(map, &*active.file, &active.path, (lo, hi), &mut self.buf)?;
            for m in k..j {
                let (Some(&seq), Some(&(start, end))) = (seqs.get(m), self.frames.get(m)) else {
                    break;
                };
                let bytes = run
                    .get((start - lo) as usize..(end - lo) as usize)
                    .unwrap_or_default();
                let (payload, _) =
                    decode_frame(bytes).map_err(|e| undecodable(source, start, seq, e))?;
                if !visit_record(
                    log,
                    self.personal,
                    source,
                    || start,
                    seq,
                    payload,
                    &mut visit,
                )? {
                    return Ok(false);
                }
            }
            k = j;
        }
        Ok(true)
    }
}
