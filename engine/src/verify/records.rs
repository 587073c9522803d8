//! Passes 2 and 3 over a segment: every frame's CRC, its record's timestamp, tenant and
//! link, and its leaf hash, on worker threads a chunk at a time, handed back in file order
//! so the tree grows while the workers hash.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::corrupt;
use super::frames::{Fault, FramePlace, describe};
use super::index::check_indexed;
use super::links::{ChunkTenants, Interner};
use crate::codec::{RecordHead, TenantLink, decode_record_head, split_frame};
use crate::error::{CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::index::IndexChecker;
use crate::merkle::{Hash, HashAlg};
use crate::storage::MappedBytes;

/// Why [`check_records`] stopped.
pub(super) enum Stop {
    /// A frame or record is bad, at this byte offset.
    Frame(u64, Fault),
    /// Growing the tree found a fault.
    Tree(Error),
}

/// How checking a segment's records failed, once both passes are in.
pub(super) enum Failed {
    /// Growing the tree found a fault.
    Tree(Error),
    /// A frame or record is bad: a corruption of the segment at its offset.
    Frame(Error),
}

/// What a segment's records came to, from [`check_records`] and the walk of pass 1: their
/// bounds, or the first fault. A bad CRC comes before a walk error (a damaged length
/// sends the walk astray). `torn_hint`: a frame fault may be a crash's torn tail.
pub(super) fn settle(
    checked: std::result::Result<Bounds, Stop>,
    walk_error: Option<(u64, Fault)>,
    path: &Path,
    torn_hint: bool,
) -> std::result::Result<Bounds, Failed> {
    match (checked, walk_error) {
        (Ok(bounds), None) => Ok(bounds),
        (Err(Stop::Tree(e)), _) => Err(Failed::Tree(e)),
        (Err(Stop::Frame(offset, fault)), _) | (Ok(_), Some((offset, fault))) => {
            let what = CorruptionKind::BadField(describe(fault, torn_hint));
            Err(Failed::Frame(corrupt(path, offset, what)))
        }
    }
}

/// Checks every frame's CRC, reads its record's timestamp and hashes its leaf, on worker
/// threads (one per core) a chunk of frames at a time, and hands each chunk's leaf hashes
/// to `grow` in file order as soon as it is done, on this thread, so the tree grows while
/// the workers hash. Records are not decoded further: their leaf hashes prove them
/// unchanged, and `auditlog export` decodes every field. `retired` (the previous
/// segment's map) is dropped here while the workers start, off the critical path.
/// Returns the records' time bounds, or the first fault in file order.
pub(super) fn check_records(
    bytes: &[u8],
    frames: &[FramePlace],
    first_seq: u64,
    checks: &RecordChecks<'_>,
    retired: Option<MappedBytes>,
    mut grow: impl FnMut(&[Hash], &ChunkTenants<'_>) -> Result<()>,
) -> std::result::Result<Bounds, Stop> {
    /// Frames per job: a megabyte or so of records.
    const CHUNK: usize = 4096;
    type Done<'a> = (usize, Vec<Hash>, Checked<'a>);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = crossbeam_channel::unbounded();
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
    // Hash buffers go back to the workers once grown into the tree, so a few are reused.
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<Hash>>();
    let chunks = frames.len().div_ceil(CHUNK);
    for job in frames.chunks(CHUNK).enumerate() {
        let _ = job_tx.send(job);
    }
    drop(job_tx);
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (jobs, done, free, stop) =
                (job_rx.clone(), done_tx.clone(), free_rx.clone(), &stop);
            workers.push(scope.spawn(move || {
                for (index, frames) in jobs.iter() {
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let mut hashes = free.try_recv().unwrap_or_default();
                    hashes.resize(frames.len(), [0; 32]);
                    let first_seq = first_seq + (index * CHUNK) as u64;
                    let mut checked = check_chunk(bytes, frames, first_seq, checks, &mut hashes);
                    checked.tenants.numbers = checks.interner.numbers(&checked.tenants.names);
                    if done.send((index, hashes, checked)).is_err() {
                        return;
                    }
                }
            }));
        }
        // Once every worker is gone (done, or panicked: a bug), `recv` fails.
        drop(done_tx);
        drop(retired);
        let mut ready = BTreeMap::new();
        let (mut min, mut max) = (Timestamp::MAX, Timestamp::MIN);
        let mut index_fault = None;
        let mut result = Ok(());
        for next in 0..chunks {
            let (hashes, checked) = loop {
                if let Some(chunk) = ready.remove(&next) {
                    break chunk;
                }
                match done_rx.recv() {
                    Ok((index, hashes, checked)) => ready.insert(index, (hashes, checked)),
                    Err(_) => {
                        let lost = Checked {
                            hashed: 0,
                            min: Timestamp::MAX,
                            max: Timestamp::MIN,
                            tenants: ChunkTenants::default(),
                            fault: Some((0, Fault::Panicked)),
                            index_fault: None,
                        };
                        break (Vec::new(), lost);
                    }
                };
            };
            (min, max) = (min.min(checked.min), max.max(checked.max));
            if index_fault.is_none() {
                index_fault = checked.index_fault;
            }
            let good = hashes.get(..checked.hashed).unwrap_or_default();
            let fault = checked
                .fault
                .map_or(Ok(()), |(offset, fault)| Err(Stop::Frame(offset, fault)));
            result = grow(good, &checked.tenants).map_err(Stop::Tree).and(fault);
            if result.is_err() {
                stop.store(true, Ordering::Relaxed);
                break;
            }
            let _ = free_tx.send(hashes);
        }
        stop.store(true, Ordering::Relaxed);
        // Joined here, so a worker's panic (a bug) is reported rather than re-raised.
        for worker in workers {
            if worker.join().is_err() && result.is_ok() {
                result = Err(Stop::Frame(0, Fault::Panicked));
            }
        }
        result.map(|()| Bounds {
            min,
            max,
            index_fault,
        })
    })
}

/// What [`check_records`] checks each record against besides its frame and leaf.
pub(super) struct RecordChecks<'a> {
    /// The segment file, for naming a record in an error.
    pub(super) path: &'a Path,
    pub(super) alg: HashAlg,
    pub(super) interner: &'a Interner,
    /// The segment's index file, whose entries must hold each record's values.
    pub(super) index: Option<&'a IndexChecker<'a>>,
}

/// What [`check_records`] found of good records: their time bounds, and the first record
/// its index file contradicts (reported once the log itself has passed: an index is
/// derived data).
pub(super) struct Bounds {
    pub(super) min: Timestamp,
    pub(super) max: Timestamp,
    pub(super) index_fault: Option<Error>,
}

/// What [`check_chunk`] found: the frames before the first fault are checked and their
/// leaves hashed.
struct Checked<'a> {
    /// Frames checked and hashed, from the chunk's first.
    hashed: usize,
    min: Timestamp,
    max: Timestamp,
    /// The tenant and link of each frame checked.
    tenants: ChunkTenants<'a>,
    /// The first bad frame: its offset and fault.
    fault: Option<(u64, Fault)>,
    /// The first record its index contradicts, or whose indexed fields do not decode.
    index_fault: Option<Error>,
}

/// [`check_records`]' work on one chunk of frames, a few hundred at a time so each
/// record is still in cache when it is hashed. Stops at the first bad frame, with the
/// leaves before it hashed (so a changed record before it is still found first).
fn check_chunk<'a>(
    bytes: &'a [u8],
    frames: &[FramePlace],
    first_seq: u64,
    checks: &RecordChecks<'_>,
    hashes: &mut [Hash],
) -> Checked<'a> {
    const BATCH: usize = 256;
    let mut out = Checked {
        hashed: 0,
        min: Timestamp::MAX,
        max: Timestamp::MIN,
        tenants: ChunkTenants::default(),
        fault: None,
        index_fault: None,
    };
    out.tenants.records.reserve(frames.len());
    // Sized for the tenants a chunk usually holds, so it seldom grows.
    let mut local: HashMap<&'a [u8], u32, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(frames.len().min(2048), Default::default());
    let mut payloads = Vec::with_capacity(BATCH);
    for (frames, hashes) in frames.chunks(BATCH).zip(hashes.chunks_mut(BATCH)) {
        payloads.clear();
        for place in frames {
            match check_frame(bytes, place) {
                Ok((payload, head)) => {
                    out.min = out.min.min(head.timestamp);
                    out.max = out.max.max(head.timestamp);
                    let ChunkTenants { names, records, .. } = &mut out.tenants;
                    // A record whose link names an earlier record of the chunk with the
                    // same tenant id has that record's tenant: no lookup. (Whether the
                    // link is right is for `check_links` to say.)
                    let seq = first_seq + records.len() as u64;
                    let linked = match head.tenant_link {
                        TenantLink::Previous(p) if p >= first_seq && p < seq => {
                            records.get((p - first_seq) as usize).and_then(|&(id, _)| {
                                (names.get(id as usize) == Some(&head.tenant_id)).then_some(id)
                            })
                        }
                        _ => None,
                    };
                    let id = linked.unwrap_or_else(|| {
                        *local.entry(head.tenant_id).or_insert_with(|| {
                            names.push(head.tenant_id);
                            names.len() as u32 - 1
                        })
                    });
                    records.push((id, head.tenant_link));
                    if let Some(index) = checks.index
                        && out.index_fault.is_none()
                    {
                        out.index_fault = check_indexed(checks.path, index, seq, place, payload);
                    }
                    payloads.push(payload);
                }
                Err(fault) => {
                    out.fault = Some(fault);
                    break;
                }
            }
        }
        let done = payloads.len();
        checks.alg.hash_leaves(&payloads, &mut hashes[..done]);
        out.hashed += done;
        if out.fault.is_some() {
            break;
        }
    }
    out
}

/// One frame: its length against its place, its CRC, its record's timestamp, tenant and
/// link.
fn check_frame<'a>(
    bytes: &'a [u8],
    place: &FramePlace,
) -> std::result::Result<(&'a [u8], RecordHead<'a>), (u64, Fault)> {
    let offset = place.start as u64;
    let span = bytes.get(place.start..place.end).unwrap_or_default();
    let frame = split_frame(span).map_err(|e| (offset, Fault::Frame(e)))?;
    if frame.total != span.len() {
        let (frame, table) = (frame.total, span.len());
        return Err((offset, Fault::Misplaced { frame, table }));
    }
    frame.check().map_err(|e| (offset, Fault::Frame(e)))?;
    let head = decode_record_head(frame.payload).map_err(|e| (offset, Fault::Record(e)))?;
    Ok((frame.payload, head))
}
