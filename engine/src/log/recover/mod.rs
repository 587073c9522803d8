//! Opening a log: a chain of phases, each in a module of its own. Read the floors (the
//! durable tree size, the newest signed checkpoint); [`scan`] every segment (headers,
//! footers, the chain of bases, the active segment up to its first bad frame) and check
//! that the records reach the floors; [`replay`] the tree past what the level files hold,
//! checking frontiers, footer tree heads and the checkpoint's root; [`plan`] what to
//! change, and apply it; then load the indexes and start the writer.
//!
//! The rules (docs/FORMAT.md, "Recovery"): only the last segment may lack a footer; a bad
//! frame in it is a torn tail only if it lies within the reach of the unsynced writes (at
//! most [`MAX_TORN_TAIL_BYTES`](crate::MAX_TORN_TAIL_BYTES), plus one interrupted seal,
//! from the end) and the records before it still cover every tree size ever made
//! durable; anything else is corruption and the log refuses to open.
//!
//! Nothing on disk changes until the segments, the tree, the newest checkpoint's root and
//! the keys (the checkpoint signing key; a sealing log's key store, read whole under the
//! KEK given) have passed their checks: the changes, cuts of the checkpoint log's and
//! the key store's interrupted appends among them, are a [`RecoveryPlan`], made by its
//! `apply` alone. After it a writer builds missing indexes, creates the active segment
//! and reads the tenant heads; a refusal there (a record damaged since it was written,
//! tenant heads that contradict the newest checkpoint) comes after the plan was applied,
//! whose changes are the repairs any writer makes first.

mod plan;
mod replay;
mod scan;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::checkpoints::{self, Cadence, Checkpoints, Signing};
use super::dedup::{RECENT_IDS, RecentIds};
use super::read::TimeRange;
use super::{Log, LogConfig, OpenOptions, Sequencer, start_writer};
use crate::checkpoint::{Checkpoint, CheckpointLog, KEYS_DIR, NoteSigner, load_verifier};
use crate::codec::{content_of, decode_record, id_key};
use crate::error::{CorruptionKind, Error, Result};
use crate::event::Timestamp;
use crate::heads::TenantHeads;
use crate::index::{self, MemoryIndex};
use crate::merkle::{CompactRange, HashAlg, NodeSource, subtree_root};
use crate::privacy::{Sealer, SubjectKeys};
use crate::retention::DeletedPrefix;
use crate::segment::{
    ActiveSegment, FORMAT_VERSION, RecoveredTail, SealedSegment, SegmentHeader, segment_path,
};
use crate::shared::{LogView, Metrics, Shared};
use crate::storage::Storage;
use crate::tree::{PendingNodes, TreeStore, read_durable_size};
use crate::writer::Writer;
use plan::{RecoveryPlan, Stores};
use replay::{Nodes, replay, replay_start};
use scan::{Scanned, scan_segments};

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
    /// Bytes of an interrupted last entry cut from the end of the key store (or,
    /// read-only, ignored).
    pub torn_key_store_bytes: Option<u64>,
    /// Sealed segments whose index file was missing or damaged and was rebuilt.
    pub rebuilt_indexes: u64,
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

/// The most leaves whose nodes a writer's check keeps for the plan to write (about 64 MiB
/// of nodes); past it, the plan replays the records again (a lost or damaged level file
/// on a large log: 0.66 s more per million events, docs/BENCHMARKS.md).
const KEEP_REPLAYED_LEAVES: u64 = 1 << 20;

/// The floors the records must reach, read before the segments: the tree size made
/// durable and the checkpoint log (its newest signed checkpoint).
struct Floors {
    durable: u64,
    checkpoints: CheckpointLog,
}

impl Floors {
    /// The tree state first: it only advances after the records it names are durable, so
    /// segments read after it hold at least that many, even with a writer running.
    fn read(storage: &Arc<dyn Storage>, dir: &Path, origin: &str) -> Result<Floors> {
        let durable = read_durable_size(storage.as_ref(), dir)?;
        let checkpoints = CheckpointLog::open(Arc::clone(storage), dir, origin, true)?;
        Ok(Floors {
            durable,
            checkpoints,
        })
    }

    fn newest(&self) -> Option<Checkpoint> {
        self.checkpoints.latest().map(|c| c.checkpoint.clone())
    }
}

/// The keys an open uses, read and checked before anything is changed: a writer's
/// checkpoint signing key (none yet for a new log), and a sealing log's key store under
/// the KEK given (read-only until the plan takes it for appends).
struct Keys {
    signer: Option<NoteSigner>,
    subject_keys: Option<SubjectKeys>,
}

impl Keys {
    fn read(
        options: &OpenOptions,
        config: &LogConfig,
        dir: &Path,
        checkpoints: &CheckpointLog,
    ) -> Result<Keys> {
        let storage = &options.storage;
        let signer = match (options.read_only, options.follower) {
            (true, _) | (false, true) => None,
            (false, false) => {
                Checkpoints::signer_for(storage.as_ref(), dir, &config.origin, checkpoints)?
            }
        };
        // A writer was refused without the KEK; a reader without it shows sealed fields
        // as sealed.
        let subject_keys = match (&config.sealing, &options.kek) {
            (Some(_), Some(kek)) => Some(SubjectKeys::open(
                Arc::clone(storage),
                &dir.join(KEYS_DIR),
                kek,
                true,
            )?),
            _ => None,
        };
        Ok(Keys {
            signer,
            subject_keys,
        })
    }
}

/// The tree of every record, checked, and the store that serves its nodes.
struct Recovered {
    tree: TreeStore,
    compact: CompactRange,
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
    if config.sealing.is_some() && options.kek.is_none() && !read_only {
        return Err(Error::InvalidArgument(format!(
            "{} seals personal data: opening it to write needs its key-encryption key",
            dir.display()
        )));
    }
    // Read and check; nothing is changed until the plan.
    let mut floors = Floors::read(&storage, dir, &config.origin)?;
    let newest = floors.newest();
    let mut keys = Keys::read(&options, &config, dir, &floors.checkpoints)?;
    let verifier = load_verifier(storage.as_ref(), dir)?;
    let deleted = DeletedPrefix::read(storage.as_ref(), dir, alg, verifier.as_ref())?;
    let scanned = scan_segments(storage.as_ref(), dir, alg, read_only, &deleted)?;
    let tree_size = scanned.check_floors(floors.durable, newest.as_ref(), dir)?;
    let mut report = RecoveryReport {
        torn_tail: scanned.torn_tail.clone(),
        discarded_segment: scanned.discarded.clone(),
        torn_checkpoint_bytes: floors.checkpoints.torn_tail(),
        torn_key_store_bytes: keys.subject_keys.as_ref().and_then(|k| k.torn_tail()),
        ..RecoveryReport::default()
    };
    let stores = Stores {
        checkpoints: &mut floors.checkpoints,
        keys: keys.subject_keys.as_mut(),
    };
    let Recovered { tree, compact } = recover_tree(
        &storage,
        dir,
        alg,
        floors.durable,
        &scanned,
        newest.as_ref(),
        (!read_only).then_some(stores),
        KEEP_REPLAYED_LEAVES,
        &mut report,
    )?;
    // Start: indexes, the active segment, the log assembled.
    let checked_indexes = match read_only {
        true => HashMap::new(),
        false => load_indexes(storage.as_ref(), &scanned.sealed, &mut report)?,
    };
    let mut active_index = MemoryIndex::default();
    let active_segment = match scanned.active {
        Some(a) => {
            active_index = a.index;
            Some((a.segment, a.offsets))
        }
        None if read_only => None,
        None => Some((
            create_active(storage.as_ref(), dir, alg, &compact)?,
            Vec::new(),
        )),
    };
    let view = LogView {
        sealed: scanned.sealed,
        active: active_segment.as_ref().map(|(s, offsets)| {
            // A read-only process maps only what was durable when it opened (see
            // `ActiveView::map_limit`); a writer owns the file and maps all of it.
            let map_limit = match read_only {
                true => durable_end(s, offsets, floors.durable),
                false => u64::MAX,
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
    let sealer = match (&config.sealing, keys.subject_keys) {
        (Some(sealing), Some(subject_keys)) => Some(Arc::new(Sealer::new(
            subject_keys,
            sealing.personal_metadata.clone(),
        ))),
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
        releasing: Mutex::default(),
        cataloguing: Mutex::default(),
        writable: !read_only,
        sealer,
        deleted: RwLock::new(deleted),
    });
    let checkpoints = Arc::new(Checkpoints::open(
        &shared.storage,
        dir,
        &shared.config.origin,
        floors.checkpoints,
        keys.signer,
        match (read_only, options.follower) {
            (true, _) => Signing::None,
            (false, true) => Signing::Follows,
            (false, false) => Signing::Own,
        },
    )?);
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
    if let Some(sender) = sender {
        start_appending(&mut log, sender, tree_size)?;
    }
    Ok(log)
}

/// A new active segment, empty, for the records past the tree `compact`.
fn create_active(
    storage: &dyn Storage,
    dir: &Path,
    alg: HashAlg,
    compact: &CompactRange,
) -> Result<ActiveSegment> {
    let header = SegmentHeader {
        version: FORMAT_VERSION,
        alg,
        base_seq: compact.size(),
        created_at: Timestamp::now(),
        frontier: compact.hashes().to_vec(),
    };
    ActiveSegment::create(storage, &segment_path(dir, compact.size()), header)
}

/// The end of the records of active segment `segment` (at `offsets`) within the `durable`
/// tree size: as far as a read-only process maps it.
fn durable_end(segment: &ActiveSegment, offsets: &[u32], durable: u64) -> u64 {
    let durable_records = durable.saturating_sub(segment.base_seq());
    usize::try_from(durable_records)
        .ok()
        .and_then(|i| offsets.get(i))
        .map_or(segment.len, |&o| u64::from(o))
}

/// Every sealed segment's index file, checked, or rebuilt when missing or damaged
/// (derived data), by segment base: the ones checked are kept, mapped, for the first
/// queries.
fn load_indexes(
    storage: &dyn Storage,
    sealed: &[Arc<SealedSegment>],
    report: &mut RecoveryReport,
) -> Result<HashMap<u64, (Arc<index::SealedIndex>, index::IndexSource)>> {
    let mut checked_indexes = HashMap::new();
    for segment in sealed {
        let (checked, rebuilt) = index::load_or_build(storage, segment, true)?;
        if rebuilt {
            // Written to its file: later queries map that rather than keep this copy.
            report.rebuilt_indexes += 1;
        } else {
            let entry = (Arc::new(checked), index::IndexSource::File);
            checked_indexes.insert(segment.base(), entry);
        }
    }
    Ok(checked_indexes)
}

/// Lets `log` take appends: the tenant heads and recent event ids read from the records,
/// the writer's channel handed to the sequencer, the checkpoint cadence started.
fn start_appending(
    log: &mut Log,
    sender: crossbeam_channel::Sender<crate::writer::Request>,
    tree_size: u64,
) -> Result<()> {
    let heads = read_tenant_heads(log, tree_size)?;
    let recent = read_recent_ids(log, tree_size)?;
    *log.sequencer.lock() = Sequencer {
        sender: Some(sender),
        next_seq: tree_size,
        heads,
        recent,
    };
    let every = log.shared.config.checkpoint_interval;
    if !every.is_zero() && log.checkpoints.can_sign() {
        let view = Arc::clone(&log.shared);
        *log.cadence.get_mut() = Some(Cadence::start(
            every,
            Arc::clone(&log.sequencer),
            Arc::clone(&log.checkpoints),
            move || view.view.read().tree_size,
        )?);
    }
    Ok(())
}

/// Checks the records against the stored tree and the newest checkpoint, replaying the
/// leaves the level files lack, then, for a writer (which gives the `stores` it appends
/// to), makes and applies the plan: the store serving the tree of every record.
#[allow(clippy::too_many_arguments)]
fn recover_tree(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    alg: HashAlg,
    durable: u64,
    scanned: &Scanned,
    newest: Option<&Checkpoint>,
    stores: Option<Stores<'_>>,
    keep_up_to: u64,
    report: &mut RecoveryReport,
) -> Result<Recovered> {
    let stored = TreeStore::open(Arc::clone(storage), dir, alg, true)?;
    let (start, rebuilt) = replay_start(&stored, durable, scanned.floor)?;
    // A writer keeps the nodes it computes while checking, to write them once every
    // check has passed, unless they are too many to hold: then it computes them again.
    let keep = stores.is_none() || scanned.tree_size() - start <= keep_up_to;
    let mut kept = PendingNodes::default();
    let nodes = match keep {
        true => Nodes::Kept(&mut kept),
        false => Nodes::Dropped,
    };
    let signed_size = newest.map(|c| c.tree_size);
    let (compact, root_at) = replay(
        storage.as_ref(),
        &stored,
        alg,
        start,
        scanned,
        signed_size,
        nodes,
    )?;
    report.rebuilt_tree = rebuilt;
    report.replayed_leaves = compact.size() - start;
    // A checkpoint older than a deletion past retention is checked by signature only:
    // the deleted records' nodes are not all kept (docs/FORMAT.md, "Retention receipt").
    if let Some(signed) = newest.filter(|c| c.tree_size == 0 || c.tree_size >= scanned.floor) {
        let root = match root_at {
            Some(root) => root,
            None => subtree_root(&stored, 0, signed.tree_size)?,
        };
        checkpoints::check_root(signed, &root, dir)?;
    }
    let Some(stores) = stores else {
        // Read-only: nodes past the durable size may be stale on disk after a crash:
        // serve the recomputed ones.
        stored.set_overlay(kept);
        return Ok(Recovered {
            tree: stored,
            compact,
        });
    };
    drop(stored);
    // Every check has passed: only now change what is on disk.
    let plan = RecoveryPlan::new(scanned, start, durable, &stores);
    let computed = keep.then_some(kept);
    let (tree, compact) = plan.apply(stores, storage, dir, alg, scanned, &compact, computed)?;
    Ok(Recovered { tree, compact })
}

/// Every tenant's newest event, read from the records (what each tenant's next event
/// links to), checked against the tenant heads of the newest checkpoint on the way (one
/// older than a deletion past retention is passed over). The
/// records between that checkpoint and the replay start were hashed by nothing at this
/// open, and the heads (so every future link and signed head) rest on them: each must
/// give its stored leaf.
fn read_tenant_heads(log: &Log, tree_size: u64) -> Result<TenantHeads> {
    // The heads of a checkpoint older than a deletion past retention are not kept: then
    // those kept with the newest receipt, at the first record kept.
    let first_kept = log.first_kept();
    let newest = log
        .checkpoints
        .latest()
        .map(|c| c.checkpoint)
        .filter(|c| c.tree_size >= first_kept);
    let mut heads = match (&newest, first_kept) {
        (None, 1..) => log.shared.deleted.read().heads().clone(),
        _ => log.heads_at(newest.as_ref())?,
    };
    let signed_size = newest.map_or(first_kept, |c| c.tree_size);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FsStorage;

    /// A closed log of 300 events in small segments whose level files and tree state
    /// were lost, its settings and its newest checkpoint.
    fn lost_tree() -> (tempfile::TempDir, LogConfig, Option<Checkpoint>) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: crate::config::MIN_SEGMENT_BYTES,
            ..LogConfig::default()
        };
        let log = Log::create(dir.path(), &config).unwrap();
        for group in 0..30 {
            let mut batch = log.batch();
            for i in group * 10..group * 10 + 10 {
                let line = format!(
                    r#"{{"timestamp":"2026-01-01T00:00:00Z","actor":{{"user_id":"u{i}"}},"organization":{{"id":"o{}"}},"action":"a.b","outcome":"success"}}"#,
                    i % 7
                );
                let event = crate::event::parse_json(line.as_bytes()).unwrap();
                batch.push(&event).unwrap();
            }
            log.append_batch(batch).unwrap();
        }
        let newest = log.checkpoint().unwrap().checkpoint;
        let config = log.config().clone();
        drop(log);
        for entry in std::fs::read_dir(dir.path().join("tree")).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        (dir, config, Some(newest))
    }

    /// The level files of `dir` after recovering its tree with `keep_up_to`.
    fn rebuilt(keep_up_to: u64) -> Vec<(String, Vec<u8>)> {
        let (dir, config, newest) = lost_tree();
        let storage: Arc<dyn Storage> = Arc::new(FsStorage::default());
        let none = DeletedPrefix::none(config.hash);
        let scanned =
            scan_segments(storage.as_ref(), dir.path(), config.hash, false, &none).unwrap();
        assert!(
            scanned.sealed.len() > 1,
            "several segments: {}",
            scanned.sealed.len()
        );
        let mut report = RecoveryReport::default();
        let mut checkpoints =
            CheckpointLog::open(Arc::clone(&storage), dir.path(), &config.origin, true).unwrap();
        let stores = Stores {
            checkpoints: &mut checkpoints,
            keys: None,
        };
        let recovered = recover_tree(
            &storage,
            dir.path(),
            config.hash,
            0,
            &scanned,
            newest.as_ref(),
            Some(stores),
            keep_up_to,
            &mut report,
        )
        .unwrap();
        assert_eq!(report.replayed_leaves, 300);
        assert_eq!(recovered.compact.root(), newest.unwrap().root);
        drop(recovered);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path().join("tree"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn nodes_kept_from_the_checks_and_nodes_computed_again_are_the_same_files() {
        // Within the bound the plan writes the nodes the checks computed; past it, it
        // replays the records again. Both leave the same level files and tree state.
        let kept = rebuilt(u64::MAX);
        let again = rebuilt(0);
        assert!(kept.iter().any(|(name, _)| name == "level-00.hashes"));
        assert!(kept.iter().any(|(name, _)| name == "state"));
        assert_eq!(kept, again);
    }
}
