//! Opening a log: check every segment's header and footer and the chain between them,
//! recover the active segment (cut a torn tail, never an acknowledged record), bring the
//! stored tree up to the records, and start the writer.
//!
//! The rules (docs/FORMAT.md, "Recovery"): only the last segment may lack a footer; a bad
//! frame in it is a torn tail only if it lies within the reach of the unsynced writes (at
//! most [`MAX_TORN_TAIL_BYTES`], plus one interrupted seal, from the end) and the records
//! before it still cover every tree size ever made durable; anything else is corruption
//! and the log refuses to open. Nothing on disk changes until every check has passed.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::checkpoints::{self, Cadence, Checkpoints};
use super::dedup::{RECENT_IDS, RecentIds};
use super::read::TimeRange;
use super::{Log, LogConfig, OpenOptions, Sequencer, start_writer};
use crate::checkpoint::KEYS_DIR;
use crate::codec::{IndexFields, content_of, decode_record, id_key};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::heads::TenantHeads;
use crate::index::{self, MemoryIndex};
use crate::merkle::{CompactRange, HashAlg, NodeSource};
use crate::privacy::{Sealer, SubjectKeys};
use crate::segment::{
    ActiveSegment, FOOTER_BYTES, FORMAT_VERSION, RecoveredTail, SEGMENTS_DIR, SealedSegment,
    SegmentHeader, list_segment_bases, segment_path,
};
use crate::shared::{LogView, Metrics, Shared};
use crate::storage::{OpenMode, Storage};
use crate::tree::{PendingNodes, TreeStore, nodes_at, read_durable_size};
use crate::writer::Writer;

use crate::writer::MAX_TORN_TAIL_BYTES;

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn last record that was cut off (or, read-only, ignored).
    pub torn_tail: Option<RecoveredTail>,
    /// Leaves whose tree nodes were recomputed from records.
    pub replayed_leaves: u64,
    /// Whether the stored tree was unusable and rebuilt from the first leaf.
    pub rebuilt_tree: bool,
    /// A last segment whose creation a crash interrupted (no durable header, so no
    /// acknowledged record), removed and created again.
    pub discarded_segment: Option<std::path::PathBuf>,
    /// Bytes of an interrupted append cut from the end of the checkpoint log (or,
    /// read-only, ignored). The checkpoint was never handed out.
    pub torn_checkpoint_bytes: Option<u64>,
    /// Sealed segments whose index file was missing or damaged and was rebuilt.
    pub rebuilt_indexes: u64,
}

/// Whether the last segment, whose header does not decode, is one whose creation a crash
/// interrupted: the file is no longer than the header its base needs, so it holds no
/// record, and nothing in it can have been acknowledged.
fn is_torn_creation(storage: &dyn Storage, path: &Path, base: u64) -> bool {
    let header_len = SegmentHeader::encoded_len_for(base) as u64;
    storage
        .open(path, OpenMode::Read)
        .and_then(|f| f.len())
        .is_ok_and(|len| len <= header_len)
}

/// A bad frame at the end of the last segment is a torn write only if what follows it is
/// no longer than one group commit, or one interrupted seal (offset table and footer).
/// A damaged seal of the last segment is cut like a torn one: the table and footer hold
/// nothing that cannot be rebuilt from the CRC-checked records (`auditlog verify` still
/// reports the damage before that).
fn check_torn_tail(path: &Path, torn: &RecoveredTail, records: u64) -> Result<()> {
    let seal_bytes = records * 4 + FOOTER_BYTES as u64;
    if torn.bytes_dropped > MAX_TORN_TAIL_BYTES + seal_bytes {
        return Err(corrupt(
            path,
            torn.offset,
            CorruptionKind::BadField(format!(
                "{} (followed by {} more bytes: too many for a torn write)",
                torn.reason, torn.bytes_dropped
            )),
        ));
    }
    Ok(())
}

fn corrupt(path: &Path, offset: u64, kind: CorruptionKind) -> Error {
    Error::Corruption(Corruption::new(path, offset, kind))
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        File::options().create(true).truncate(false).write(true),
        crate::storage::PRIVATE_FILE_MODE,
    )
    .open(&path)
    .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => Error::AlreadyOpen {
            dir: dir.to_path_buf(),
        },
        std::fs::TryLockError::Error(e) => Error::io(format!("locking {}", path.display()), e),
    })?;
    Ok(file)
}

struct Active {
    segment: ActiveSegment,
    offsets: Vec<u32>,
    contents: Vec<u8>,
    index: MemoryIndex,
}

pub(super) fn open(options: OpenOptions, dir: &Path) -> Result<Log> {
    let storage = Arc::clone(&options.storage);
    let read_only = options.read_only;
    let mut config = LogConfig::load(storage.as_ref(), dir)?;
    if let Some(d) = options.durability {
        config.durability = d;
    }
    let lock = if read_only {
        None
    } else {
        Some(lock_dir(dir)?)
    };
    let alg = config.hash;
    // The tree state first: it only advances after the records it names are durable, so
    // segments read after it hold at least that many, even with a writer running.
    let durable = read_durable_size(storage.as_ref(), dir)?;
    // The newest signed checkpoint is a floor too: the records must hold it before
    // anything on disk is changed (a torn tail cut, a segment removed).
    let newest = checkpoints::newest_checkpoint(&storage, dir, &config.origin)?;
    let tree = TreeStore::open(Arc::clone(&storage), dir, alg, read_only)?;
    let seg_dir = dir.join(SEGMENTS_DIR);
    let bases = list_segment_bases(storage.as_ref(), dir)?;

    let mut report = RecoveryReport::default();
    let mut sealed: Vec<Arc<SealedSegment>> = Vec::new();
    let mut active: Option<Active> = None;
    for (i, &base) in bases.iter().enumerate() {
        let path = segment_path(dir, base);
        let expected = sealed.last().map_or(0, |s| s.end());
        if base != expected {
            return Err(corrupt(
                &path,
                0,
                CorruptionKind::BrokenChain(format!(
                    "segment starts at {base}, the previous one ends at {expected}"
                )),
            ));
        }
        let is_last = i + 1 == bases.len();
        let segment = match SealedSegment::open(storage.as_ref(), &path) {
            Ok(s) => s,
            Err(Error::Corruption(_)) if is_last => {
                let mut index = MemoryIndex::default();
                let recovered =
                    match ActiveSegment::recover(storage.as_ref(), &path, read_only, |event| {
                        index.push(&IndexFields::of(event))
                    }) {
                        Ok(recovered) => recovered,
                        Err(Error::Corruption(_))
                            if is_torn_creation(storage.as_ref(), &path, base) =>
                        {
                            // A crash while the segment was being created (or, for a reader,
                            // a writer creating it now): no record in it, nothing acknowledged.
                            if !read_only {
                                // Removed below, once every other check has passed.
                                report.discarded_segment = Some(path.clone());
                            }
                            break;
                        }
                        Err(e) => return Err(e),
                    };
                check_header(&path, &recovered.segment.header, alg, base)?;
                if let Some(torn) = &recovered.torn {
                    // A reader ignores the tail (a writer may be appending or sealing).
                    if !read_only {
                        check_torn_tail(&path, torn, recovered.offsets.len() as u64)?;
                    }
                    report.torn_tail = Some(torn.clone());
                }
                active = Some(Active {
                    segment: recovered.segment,
                    offsets: recovered.offsets,
                    contents: recovered.contents,
                    index,
                });
                break;
            }
            Err(e) => return Err(e),
        };
        check_header(&path, &segment.header, alg, base)?;
        sealed.push(Arc::new(segment));
    }

    let tree_size = match &active {
        Some(a) => a.segment.base_seq() + a.segment.record_count,
        None => sealed.last().map_or(0, |s| s.end()),
    };
    if tree_size < durable {
        let last = bases
            .last()
            .map_or_else(|| seg_dir.clone(), |&b| segment_path(dir, b));
        return Err(corrupt(
            &last,
            active.as_ref().map_or(0, |a| a.segment.len),
            CorruptionKind::LostEvents(format!(
                "the records end at {tree_size} but {durable} were made durable"
            )),
        ));
    }
    checkpoints::check_size(newest.as_ref(), tree_size, dir)?;
    let compact = rebuild_tree(
        &tree,
        alg,
        durable,
        &sealed,
        active.as_ref(),
        read_only,
        &mut report,
    )?;
    checkpoints::check_root(newest.as_ref(), &tree, dir)?;
    if !read_only {
        // Every check has passed: only now change what is on disk.
        if let Some(a) = &active
            && report.torn_tail.is_some()
        {
            a.segment.cut_torn_tail()?;
        }
        if let Some(path) = &report.discarded_segment {
            let io = |e| Error::io(format!("removing {}", path.display()), e);
            storage.remove(path).map_err(io)?;
        }
        // What a crash left may sit in the page cache only (a seal or groups not yet
        // synced): make every segment past the durable tree size, and the last one,
        // durable before the tree state says so and before anything is appended after it.
        let last_end = sealed.last().map_or(0, |s| s.end());
        for segment in sealed
            .iter()
            .filter(|s| s.end() > durable || s.end() == last_end)
        {
            let io = |e| Error::io(format!("syncing {}", segment.path.display()), e);
            storage
                .open(&segment.path, OpenMode::Read)
                .and_then(|f| f.sync_data())
                .map_err(io)?;
        }
        if let Some(a) = &active {
            let path = a.segment.path.display();
            a.segment
                .file
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {path}"), e))?;
        }
        if report.replayed_leaves > 0 {
            tree.sync(tree_size)
                .map_err(|e| Error::io("syncing the tree", e))?;
        }
    }

    // Index files checked here are kept (mapped) for the first queries.
    let mut checked_indexes = std::collections::HashMap::new();
    if !read_only {
        // Derived data, checked (and a missing or damaged one rebuilt) before use.
        for segment in &sealed {
            let (checked, rebuilt) = index::load_or_build(storage.as_ref(), segment, true)?;
            if rebuilt {
                // Written to its file: later queries map that rather than keep this copy.
                report.rebuilt_indexes += 1;
            } else {
                let entry = (Arc::new(checked), index::IndexSource::File);
                checked_indexes.insert(segment.base(), entry);
            }
        }
    }
    let mut active_index = MemoryIndex::default();
    let active_segment = match active {
        Some(a) => {
            active_index = a.index;
            Some((a.segment, a.offsets))
        }
        None if read_only => None,
        None => {
            let header = SegmentHeader {
                version: FORMAT_VERSION,
                alg,
                base_seq: tree_size,
                created_at: Timestamp::now(),
                frontier: compact.hashes().to_vec(),
            };
            let segment =
                ActiveSegment::create(storage.as_ref(), &segment_path(dir, tree_size), header)?;
            Some((segment, Vec::new()))
        }
    };
    let view = LogView {
        sealed,
        active: active_segment.as_ref().map(|(s, offsets)| {
            // A read-only process maps only what was durable when it opened (see
            // `ActiveView::map_limit`); a writer owns the file and maps all of it.
            let map_limit = if read_only {
                let durable_records = durable.saturating_sub(s.base_seq());
                usize::try_from(durable_records)
                    .ok()
                    .and_then(|i| offsets.get(i))
                    .map_or(s.len, |&o| u64::from(o))
            } else {
                u64::MAX
            };
            s.view(
                storage.as_ref(),
                offsets.clone(),
                config.segment_bytes,
                map_limit,
            )
        }),
        active_index: Arc::new(RwLock::new(active_index)),
        tree_size,
        root: compact.root(),
    };
    let sealer = match (&config.sealing, &options.kek) {
        (Some(sealing), Some(kek)) => {
            let keys =
                SubjectKeys::open(Arc::clone(&storage), &dir.join(KEYS_DIR), kek, read_only)?;
            Some(Arc::new(Sealer::new(
                keys,
                sealing.personal_metadata.clone(),
            )))
        }
        (Some(_), None) if !read_only => {
            return Err(Error::InvalidArgument(format!(
                "{} seals personal data: opening it to write needs its key-encryption key",
                dir.display()
            )));
        }
        _ => None,
    };
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        storage,
        config,
        tree,
        view: RwLock::new(view),
        metrics: Metrics::default(),
        indexes: RwLock::new(checked_indexes),
        indexing: Mutex::default(),
        writable: !read_only,
        sealer,
    });
    // Checked against the records above; now the key, and a torn append cut.
    let checkpoints = Arc::new(Checkpoints::open(
        &shared.storage,
        dir,
        &shared.config.origin,
        read_only,
    )?);
    report.torn_checkpoint_bytes = checkpoints.torn_tail();
    let (sender, writer) = match active_segment {
        Some((segment, _)) if !read_only => {
            let (sender, handle) = start_writer(Writer::new(
                Arc::clone(&shared),
                segment,
                compact,
                Arc::clone(&shared.view.read().active_index),
            ))?;
            (Some(sender), Some(handle))
        }
        _ => (None, None),
    };
    let mut log = Log {
        shared,
        // The writer's channel goes in once the tenant heads are known: until then
        // nothing may be appended or signed (a failed open must not sign at close).
        sequencer: Arc::new(Mutex::new(Sequencer {
            sender: None,
            next_seq: tree_size,
            heads: TenantHeads::new(alg),
            recent: RecentIds::new(RECENT_IDS),
        })),
        writer: Mutex::new(writer),
        checkpoints,
        cadence: Mutex::new(None),
        report,
        _lock: lock,
    };
    let Some(sender) = sender else {
        return Ok(log);
    };
    let heads = read_tenant_heads(&log, tree_size)?;
    let recent = read_recent_ids(&log, tree_size)?;
    *log.sequencer.lock() = Sequencer {
        sender: Some(sender),
        next_seq: tree_size,
        heads,
        recent,
    };
    let every = log.shared.config.checkpoint_interval;
    if !every.is_zero() {
        let view = Arc::clone(&log.shared);
        *log.cadence.get_mut() = Some(Cadence::start(
            every,
            Arc::clone(&log.sequencer),
            Arc::clone(&log.checkpoints),
            move || view.view.read().tree_size,
        )?);
    }
    Ok(log)
}

/// Every tenant's newest event, read from the records (what each tenant's next event
/// links to), checked against the tenant heads of the newest checkpoint on the way. The
/// records between that checkpoint and the replay start were hashed by nothing at this
/// open, and the heads (so every future link and signed head) rest on them: each must
/// give its stored leaf.
fn read_tenant_heads(log: &Log, tree_size: u64) -> Result<TenantHeads> {
    let newest = log.checkpoints.latest().map(|c| c.checkpoint);
    let mut heads = log.heads_at(newest.as_ref())?;
    let signed_size = newest.map_or(0, |c| c.tree_size);
    let replay_start = tree_size - log.report.replayed_leaves;
    let alg = log.alg();
    log.follow_tenants(&mut heads, signed_size..tree_size, |seq, payload, place| {
        if seq < replay_start && log.shared.tree.node(0, seq)? != alg.hash_leaf(payload) {
            return Err(place.corrupt(CorruptionKind::HashMismatch(format!(
                "record {seq} hashes differently from its stored leaf (edited after it was \
                 written? `auditlog verify` checks every record)"
            ))));
        }
        Ok(())
    })?;
    Ok(heads)
}

/// The client event ids of the active segment and the segment sealed before it (the
/// newest [`RECENT_IDS`] of them), so a batch retried across a restart is recognized.
fn read_recent_ids(log: &Log, tree_size: u64) -> Result<RecentIds> {
    let start = log.shared.view.read().sealed.last().map_or(0, |s| s.base());
    let mut recent = RecentIds::new(RECENT_IDS);
    log.scan_payloads(
        start..tree_size,
        TimeRange::default(),
        |seq, payload, place| {
            let record = decode_record(payload)
                .map_err(|e| place.corrupt(CorruptionKind::BadField(e.to_string())))?;
            if let Some(id) = &record.event.event_id {
                let key = id_key(&record.event.tenant_id, id);
                recent.insert(key, seq, content_of(payload));
            }
            Ok(true)
        },
    )?;
    Ok(recent)
}

fn check_header(path: &Path, header: &SegmentHeader, alg: HashAlg, base: u64) -> Result<()> {
    if header.alg != alg {
        return Err(corrupt(
            path,
            10,
            CorruptionKind::BadField(format!(
                "segment hashes with {}, the log with {alg}",
                header.alg
            )),
        ));
    }
    if header.base_seq != base {
        return Err(corrupt(
            path,
            16,
            CorruptionKind::BadField(format!(
                "header base {} differs from the file name's {base}",
                header.base_seq
            )),
        ));
    }
    Ok(())
}

/// Brings the stored tree level files up to the records and returns the compact range at
/// the log's size, checking every segment's frontier and footer root on the way.
fn rebuild_tree(
    tree: &TreeStore,
    alg: HashAlg,
    durable: u64,
    sealed: &[Arc<SealedSegment>],
    active: Option<&Active>,
    read_only: bool,
    report: &mut RecoveryReport,
) -> Result<CompactRange> {
    let mut start = durable;
    for level in 0..64 {
        if tree.stored_nodes(level)? < nodes_at(start, level) {
            start = 0;
            report.rebuilt_tree = true;
            break;
        }
    }
    if !read_only {
        tree.truncate_to(start)?;
    }
    let mut compact = if start == 0 {
        CompactRange::new(alg)
    } else {
        tree.compact_range(start)?
    };
    let mut pending = PendingNodes::default();
    let mut previous_root = None;
    let replay =
        |compact: &mut CompactRange, seq: u64, payload: &[u8], pending: &mut PendingNodes| {
            if seq >= start {
                compact.append(alg.hash_leaf(payload), |l, i, h| pending.push(l, i, h));
            }
        };
    for segment in sealed {
        check_frontier(
            &segment.path,
            &segment.header,
            previous_root,
            compact_if_at(&compact, segment.base()),
        )?;
        for seq in segment.base().max(start)..segment.end() {
            replay(&mut compact, seq, segment.payload(seq)?, &mut pending);
        }
        if segment.end() > start && compact.root() != segment.footer.root {
            return Err(corrupt(
                &segment.path,
                segment.bytes().len() as u64 - crate::segment::FOOTER_BYTES as u64 + 32,
                CorruptionKind::HashMismatch(
                    "the footer's tree head differs from the records' tree".into(),
                ),
            ));
        }
        previous_root = Some(segment.footer.root);
        if !read_only {
            pending
                .write_to(tree)
                .map_err(|e| Error::io("writing tree nodes", e))?;
        }
    }
    if let Some(a) = active {
        let header = &a.segment.header;
        check_frontier(
            &a.segment.path,
            header,
            previous_root,
            compact_if_at(&compact, header.base_seq),
        )?;
        for (i, &offset) in a.offsets.iter().enumerate() {
            let frame = a.contents.get(offset as usize..).unwrap_or_default();
            let (payload, _) = crate::codec::decode_frame(frame).map_err(|e| {
                corrupt(
                    &a.segment.path,
                    u64::from(offset),
                    CorruptionKind::BadField(e.to_string()),
                )
            })?;
            replay(
                &mut compact,
                header.base_seq + i as u64,
                payload,
                &mut pending,
            );
        }
        if !read_only {
            pending
                .write_to(tree)
                .map_err(|e| Error::io("writing tree nodes", e))?;
        }
    }
    if read_only {
        // Nodes past the durable size may be stale on disk after a crash: serve the
        // recomputed ones.
        tree.set_overlay(pending);
    }
    report.replayed_leaves = compact.size() - start;
    Ok(compact)
}

fn compact_if_at(compact: &CompactRange, size: u64) -> Option<&CompactRange> {
    (compact.size() == size).then_some(compact)
}

/// A segment's header frontier must be the tree at its base: equal to the running compact
/// range when we have it, and hash to the previous segment's footer root in any case.
fn check_frontier(
    path: &Path,
    header: &SegmentHeader,
    previous_root: Option<crate::merkle::Hash>,
    running: Option<&CompactRange>,
) -> Result<()> {
    let Some(range) = header.compact_range() else {
        return Err(corrupt(
            path,
            11,
            CorruptionKind::BadField("frontier length does not match the base".into()),
        ));
    };
    if let Some(previous_root) = previous_root
        && range.root() != previous_root
    {
        return Err(corrupt(
            path,
            32,
            CorruptionKind::BrokenChain(
                "the header's frontier does not hash to the previous segment's tree head".into(),
            ),
        ));
    }
    if let Some(running) = running
        && running.hashes() != header.frontier.as_slice()
    {
        return Err(corrupt(
            path,
            32,
            CorruptionKind::BrokenChain(
                "the header's frontier differs from the tree of the records before it".into(),
            ),
        ));
    }
    Ok(())
}
