//! [`Log`]: the public facade. Open (and recover), append, prove, read. It owns the writer
//! thread and shares the read side (segments, tree) with it.

mod checkpoints;
mod dedup;
mod expire;
mod follow;
mod handover;
mod read;
mod recover;
mod segments;
mod sequencer;
mod system_events;
mod tiles;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::Mutex;

pub use crate::config::{
    BLAKE3_ORIGIN_MARK, CONFIG_FILE, DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_ORIGIN_HOST,
    DEFAULT_SEGMENT_BYTES, Durability, LogConfig, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, Sealing,
};
use crate::shared::Shared;
pub use crate::shared::{Metrics, SYNC_SECONDS_BUCKETS};
use checkpoints::{Cadence, Checkpoints};
pub use dedup::RECENT_IDS;
pub use expire::{Expired, Expiry, RETENTION_DELETE};
pub use follow::Followed;
pub use handover::HandedOverAt;
pub use read::TimeRange;
pub use recover::RecoveryReport;
pub use segments::{Release, SealedSegmentInfo};
pub use tiles::{TILE_HEIGHT, TILE_WIDTH, TilePath};

use crate::checkpoint::{NoteSignature, SignedCheckpoint};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::merkle::{
    ConsistencyProof, Hash, HashAlg, InclusionProof, NodeSource, consistency_path, inclusion_path,
    multiproof, subtree_root,
};
use crate::privacy::Kek;
use crate::storage::{FsStorage, Storage};
pub use crate::writer::MAX_BATCH_BYTES;
use crate::writer::{Ack, AckReceiver, AckReply, PreparedBatch, Request, Writer};
use sequencer::Sequencer;

/// Appends queued for the writer before `submit` blocks (backpressure).
const QUEUE_DEPTH: usize = 64;

/// How to open a log.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    storage: Arc<dyn Storage>,
    read_only: bool,
    follower: bool,
    durability: Option<Durability>,
    kek: Option<Kek>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            storage: Arc::new(FsStorage::default()),
            read_only: false,
            follower: false,
            durability: None,
            kek: None,
        }
    }
}

impl OpenOptions {
    /// Default options: the real file system, read-write, the log's own durability.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Uses another storage (fault injection in tests).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> OpenOptions {
        self.storage = storage;
        self
    }

    /// Opens without recovering or writing anything: a torn tail is ignored, not cut, and
    /// appends fail.
    pub fn read_only(mut self, read_only: bool) -> OpenOptions {
        self.read_only = read_only;
        self
    }

    /// Opens a copy of another log that follows it (a read replica): read-write without
    /// the signing key, which it never has. It takes the other log's events in the same
    /// order (appended as any), signs nothing, and keeps the other log's checkpoints once
    /// its own records make them ([`Log::adopt_checkpoint`]), checked with the public key
    /// in `keys/`.
    pub fn follower(mut self, follower: bool) -> OpenOptions {
        self.follower = follower;
        self
    }

    /// Overrides the durability policy for this process (e.g. `none` for a benchmark).
    pub fn durability(mut self, durability: Durability) -> OpenOptions {
        self.durability = Some(durability);
        self
    }

    /// The key-encryption key of a log that seals personal data (docs/PRIVACY.md):
    /// required to open one read-write.
    pub fn kek(mut self, kek: Kek) -> OpenOptions {
        self.kek = Some(kek);
        self
    }

    /// Creates a new log in `dir` (which must not hold one) and opens it.
    pub fn create(self, dir: &Path, config: &LogConfig) -> Result<Log> {
        let config = &config.for_new_log()?;
        let storage = Arc::clone(&self.storage);
        if storage.exists(&dir.join(CONFIG_FILE)) {
            return Err(Error::InvalidArgument(format!(
                "{} already holds a log",
                dir.display()
            )));
        }
        for sub in ["", crate::segment::SEGMENTS_DIR, crate::tree::TREE_DIR] {
            let d = dir.join(sub);
            storage
                .create_dir_all(&d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        config.store(storage.as_ref(), dir)?;
        self.open(dir)
    }

    /// Opens the log in `dir`, recovering it after a crash.
    pub fn open(self, dir: &Path) -> Result<Log> {
        recover::open(self, dir)
    }
}

/// What [`Log::erase`] did: the receipt, signed.
#[derive(Debug, Clone)]
pub struct Erased {
    /// What the receipt states.
    pub receipt: crate::privacy::ErasureReceipt,
    /// The receipt signed with the log's key: the text to hand to the controller.
    pub note: crate::checkpoint::Note,
    /// The subject had been erased before (and not seen since): this is the receipt of
    /// that erasure, and nothing was destroyed now.
    pub earlier: bool,
}

/// An open audit log.
#[derive(Debug)]
pub struct Log {
    pub(crate) shared: Arc<Shared>,
    sequencer: Arc<Mutex<Sequencer>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checkpoints: Arc<Checkpoints>,
    cadence: Mutex<Option<Cadence>>,
    report: RecoveryReport,
    _lock: Option<File>,
}

impl Log {
    /// Creates a log with `config` in `dir` on the real file system.
    pub fn create(dir: &Path, config: &LogConfig) -> Result<Log> {
        OpenOptions::new().create(dir, config)
    }

    /// Opens and recovers the log in `dir` on the real file system.
    pub fn open(dir: &Path) -> Result<Log> {
        OpenOptions::new().open(dir)
    }

    /// The log's settings.
    pub fn config(&self) -> &LogConfig {
        &self.shared.config
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The hash algorithm.
    pub fn alg(&self) -> HashAlg {
        self.shared.config.hash
    }

    /// What recovery found and did when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Operator counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The committed tree size (= number of events).
    pub fn tree_size(&self) -> u64 {
        self.shared.view.read().tree_size
    }

    /// The committed tree head.
    pub fn root(&self) -> Hash {
        self.shared.view.read().root
    }

    /// The committed tree size and head, read together (on a log being written, two
    /// separate reads may belong to different trees).
    pub fn head(&self) -> (u64, Hash) {
        let view = self.shared.view.read();
        (view.tree_size, view.root)
    }

    /// Erases `subject`'s personal data (docs/PRIVACY.md, "Erasure"): its key is
    /// destroyed durably and atomically, every event sealed under it reads as erased from
    /// then on, and the erasure is recorded in the key store. Returns the signed erasure
    /// receipt. A subject already erased (and not seen since) gets the receipt of its
    /// last erasure again; `None` if the subject never had a key.
    pub fn erase(&self, subject: &str) -> Result<Option<Erased>> {
        let sealer = self.sealer()?;
        if !self.shared.writable {
            return Err(Error::InvalidArgument("the log is open read-only".into()));
        }
        let (tree_size, root) = self.head();
        let (erasure, root, earlier) =
            match sealer.erase(subject, crate::event::Timestamp::now(), tree_size)? {
                Some(erasure) => (erasure, root, false),
                None => {
                    let last = sealer.keys.read().last_erasure(subject).cloned();
                    let Some(erasure) = last else {
                        return Ok(None);
                    };
                    let root = self.root_at(erasure.tree_size)?;
                    (erasure, root, true)
                }
            };
        let receipt = crate::privacy::ErasureReceipt {
            origin: self.config().origin.clone(),
            erasure,
            root,
        };
        let note = receipt
            .sign(self.checkpoints.signer()?)
            .map_err(|e| Error::InvalidArgument(format!("signing an erasure receipt: {e}")))?;
        Ok(Some(Erased {
            receipt,
            note,
            earlier,
        }))
    }

    /// The subjects (`actor.user_id`s) an e-mail address was seen with, through the
    /// blind index (docs/PRIVACY.md, "The blind index"): none once they are erased.
    /// Needs the log opened with its key-encryption key.
    pub fn subjects_with_email(&self, email: &str) -> Result<Vec<String>> {
        let keys = self.sealer()?.keys.read();
        Ok(keys
            .subjects_with_email(email)
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// The log's sealer: it seals personal data and was opened with its key-encryption
    /// key.
    fn sealer(&self) -> Result<&crate::privacy::Sealer> {
        self.shared.sealer.as_deref().ok_or_else(|| {
            Error::InvalidArgument(
                "the log does not seal personal data, or was opened without its key-encryption \
                 key"
                .to_owned(),
            )
        })
    }

    /// Number of segment files (sealed and active).
    pub fn segment_count(&self) -> usize {
        let view = self.shared.view.read();
        view.sealed.len() + usize::from(view.active.is_some())
    }

    /// An empty batch for this log.
    pub fn batch(&self) -> PreparedBatch {
        self.batch_with_capacity(0, 0)
    }

    /// [`Log::batch`] with room for `events` records of `bytes` frame bytes in all.
    pub fn batch_with_capacity(&self, events: usize, bytes: usize) -> PreparedBatch {
        let mut batch = PreparedBatch::with_capacity(self.alg(), events, bytes);
        batch.sealer = self.shared.sealer.clone();
        batch
    }

    /// Gives the batch its sequence numbers, links each record to the previous event of
    /// its tenant and hashes the leaves (on the caller's thread, in turn with other
    /// callers), hands the batch to the writer and returns at once with the handle its
    /// [`Ack`] (or error) arrives on. Blocks only when the writer's queue is full.
    pub fn submit(&self, mut batch: PreparedBatch) -> Result<AckReceiver> {
        self.finish_batch(&mut batch)?;
        let (reply, ack) = crossbeam_channel::bounded(1);
        sequencer::with_room(&self.sequencer).submit(batch, AckReply::Channel(reply))?;
        Ok(ack)
    }

    /// [`Log::submit`] without blocking: when the writer's queue is full it returns
    /// [`Error::Busy`] and the batch is not appended (a server answers "retry later"
    /// rather than hold the request and its memory).
    pub fn try_submit(&self, mut batch: PreparedBatch) -> Result<AckReceiver> {
        self.finish_batch(&mut batch)?;
        let (reply, ack) = crossbeam_channel::bounded(1);
        self.sequencer
            .lock()
            .try_submit(batch, AckReply::Channel(reply))?;
        Ok(ack)
    }

    /// [`Log::try_submit`], with the answer handed to `then` instead of a channel, so
    /// that nobody blocks a thread waiting for it (a server completes a future from it).
    /// `then` is called at most once, on one of the log's own threads, so it must be quick
    /// and must not block; it is dropped uncalled only if the log stops first (as an
    /// [`AckReceiver`] would then see its sender gone), and never called if this returns
    /// `Err`.
    pub fn try_submit_then(
        &self,
        mut batch: PreparedBatch,
        then: impl FnOnce(Result<Ack>) + Send + 'static,
    ) -> Result<()> {
        self.finish_batch(&mut batch)?;
        self.sequencer
            .lock()
            .try_submit(batch, AckReply::Call(Box::new(then)))
    }

    /// Refuses a batch too large for the writer or prepared for another hash; seals
    /// what it left unsealed (on the caller's thread, outside the sequencer's lock).
    fn finish_batch(&self, batch: &mut PreparedBatch) -> Result<()> {
        if self.checkpoints.followed().is_some() && batch.copy_at.is_none() {
            return Err(Error::InvalidArgument(
                "a follower takes only the records of the log it follows \
                 (Log::append_copied): an event of its own would fork it"
                    .into(),
            ));
        }
        if batch.byte_len() > MAX_BATCH_BYTES {
            return Err(Error::InvalidArgument(format!(
                "batch of {} bytes exceeds the limit of {MAX_BATCH_BYTES}",
                batch.byte_len()
            )));
        }
        if batch.alg != self.alg() {
            return Err(Error::InvalidArgument(format!(
                "batch prepared for {}, the log hashes with {}",
                batch.alg,
                self.alg()
            )));
        }
        let same_sealer = match (&batch.sealer, &self.shared.sealer) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same_sealer && !batch.is_empty() {
            return Err(Error::InvalidArgument(
                "batch not prepared by this log (Log::batch): it seals personal data only if \
                 the log does"
                    .into(),
            ));
        }
        batch.seal()
    }

    /// Requests (batches, seals, syncs) waiting for the writer: how far it is behind.
    pub fn queue_depth(&self) -> usize {
        self.sequencer.lock().sender.as_ref().map_or(0, |s| s.len())
    }

    /// The sequence number of the newest event of `tenant` submitted so far (`None` if it
    /// has none, or the log is open read-only).
    pub fn tenant_head(&self, tenant: &str) -> Option<u64> {
        self.sequencer.lock().heads.get(tenant)
    }

    /// Appends a prepared batch and waits until it is durable.
    pub fn append_batch(&self, batch: PreparedBatch) -> Result<Ack> {
        self.submit(batch)?.recv().map_err(|_| Error::Closed)?
    }

    /// Validates, encodes and appends events, waiting until they are durable.
    pub fn append(&self, events: &[Event<'_>]) -> Result<Ack> {
        let mut batch = self.batch();
        for event in events {
            event.validate()?;
            batch.push(event)?;
        }
        self.append_batch(batch)
    }

    /// Seals the active segment now, if it holds any record, and returns once the tree is
    /// durable up to it and its index is written (a seal on rolling over does those on a
    /// thread of its own).
    pub fn seal(&self) -> Result<()> {
        let done = sequencer::with_room(&self.sequencer).seal()?;
        done.recv().map_err(|_| Error::Closed)?
    }

    /// Makes every event appended so far durable and signs a checkpoint of the tree they
    /// make (or returns the newest one, if the tree has not grown since). The checkpoint
    /// is kept in the checkpoint log before it is returned.
    pub fn checkpoint(&self) -> Result<SignedCheckpoint> {
        if !self.checkpoints.can_sign() {
            return Err(Error::InvalidArgument(
                "a log open read-only cannot sign checkpoints".into(),
            ));
        }
        checkpoints::issue_now(&self.sequencer, &self.checkpoints)
    }

    /// Keeps `note`, a checkpoint of the log this one follows ([`OpenOptions::follower`]),
    /// once every event appended so far is durable: refused unless it is signed by the
    /// log's public key, of this log's origin, of exactly this log's tree size, with this
    /// log's root and tenant heads there. A follower's tree only grows, so a checkpoint it
    /// keeps is consistent with every one it kept before; one of a log that forked or
    /// went back is refused, and nothing changes.
    pub fn adopt_checkpoint(&self, note: &str) -> Result<SignedCheckpoint> {
        checkpoints::adopt_now(&self.sequencer, &self.checkpoints, note)
    }

    /// The newest checkpoint issued, if any, with the witnesses' cosignatures kept for it
    /// ([`Log::keep_cosignatures`]).
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.checkpoints.latest()
    }

    /// The checkpoint issued at tree size `tree_size`, if one was, with the cosignatures
    /// kept for it: read alone, not by reading every checkpoint.
    pub fn checkpoint_at(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>> {
        self.checkpoints.at_size(tree_size)
    }

    /// The newest checkpoint kept with witnesses' cosignatures, if any.
    pub fn latest_cosigned_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.checkpoints.latest_cosigned()
    }

    /// Keeps the witnesses' cosignature lines `lines` for the checkpoint issued at
    /// `tree_size` (docs/FORMAT.md, "Cosigned checkpoint log"), beside any kept for it
    /// before, and returns the checkpoint with all of them. The caller checks each line
    /// with its witness's key; a size below the newest one kept is refused.
    pub fn keep_cosignatures(
        &self,
        tree_size: u64,
        lines: &[NoteSignature],
    ) -> Result<SignedCheckpoint> {
        self.checkpoints.keep_cosignatures(tree_size, lines)
    }

    /// Every checkpoint issued, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>> {
        self.checkpoints.all()
    }

    /// Stops the writer after it has finished what was queued, signs a last checkpoint if
    /// the tree grew since the newest one, and makes the tree durable.
    pub fn close(&self) {
        if let Some(cadence) = self.cadence.lock().take() {
            cadence.stop();
        }
        // Batches still queued count: the checkpoint syncs them first.
        let submitted = self.sequencer.lock().next_seq;
        let grown = self
            .checkpoints
            .latest()
            .map_or(submitted > 0, |c| c.checkpoint.tree_size < submitted);
        if grown && self.sequencer.lock().sender.is_some() {
            // A failure here (the writer stopped) leaves the newest checkpoint as it was.
            let _ = self.checkpoint();
        }
        self.sequencer.lock().sender.take();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let current = self.tree_size();
        if size > current {
            return Err(Error::InvalidArgument(format!(
                "tree size {size} is beyond the log's size {current}"
            )));
        }
        Ok(())
    }

    /// Refuses a tree size between the empty tree and the first record kept after a
    /// deletion past retention: the deleted records' tree nodes are not all kept (a tree
    /// rebuilt after the deletion holds only the ones the kept records' proofs need), so
    /// nothing is proved from them.
    fn check_kept_size(&self, size: u64) -> Result<()> {
        let first = self.first_kept();
        if size != 0 && size < first {
            return Err(deleted_below(first, format!("tree size {size}")));
        }
        Ok(())
    }

    /// Refuses a record deleted past retention (see [`Log::check_kept_size`]).
    fn check_kept_leaf(&self, seq: u64) -> Result<()> {
        let first = self.first_kept();
        if seq < first {
            return Err(deleted_below(first, format!("record {seq}")));
        }
        Ok(())
    }

    /// The first record kept: those before it were deleted past retention (0 if none
    /// was).
    pub fn first_kept(&self) -> u64 {
        self.shared.deleted.read().end()
    }

    /// The tree head at `tree_size` (at most the current size, and none between the
    /// empty tree and the first record kept).
    pub fn root_at(&self, tree_size: u64) -> Result<Hash> {
        self.check_size(tree_size)?;
        self.check_kept_size(tree_size)?;
        subtree_root(&self.shared.tree, 0, tree_size)
    }

    /// The leaf hash of event `seq`.
    pub fn leaf_hash(&self, seq: u64) -> Result<Hash> {
        self.check_size(seq.saturating_add(1))?;
        self.check_kept_leaf(seq)?;
        self.shared.tree.node(0, seq)
    }

    /// The leaf hashes of events `first..first + count`, in one read of the level file.
    pub fn leaf_hashes(&self, first: u64, count: u64) -> Result<Vec<Hash>> {
        self.check_size(first.saturating_add(count))?;
        self.check_kept_leaf(first)?;
        let bytes = self.shared.tree.read_nodes(0, first, count)?;
        Ok(bytes
            .chunks_exact(32)
            .map(|h| Hash::try_from(h).unwrap_or_default())
            .collect())
    }

    /// An inclusion proof of leaf `leaf_index` in the tree of `tree_size` leaves (the
    /// current size when `None`).
    pub fn prove_inclusion(
        &self,
        leaf_index: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof> {
        let tree_size = tree_size.unwrap_or_else(|| self.tree_size());
        self.check_size(tree_size)?;
        self.check_kept_leaf(leaf_index)?;
        let tree = &self.shared.tree;
        let path = inclusion_path(tree, leaf_index, tree_size)?;
        let leaf_hash = tree.node(0, leaf_index)?;
        let root = subtree_root(tree, 0, tree_size)?;
        Ok(InclusionProof::new(
            self.alg(),
            tree_size,
            leaf_index,
            leaf_hash,
            &path,
            root,
        ))
    }

    /// One proof of the inclusion of the leaves `seqs` (rising) in the tree of `tree_size`
    /// leaves, sharing the nodes they have in common (see [`crate::merkle::multiproof`]).
    pub fn multiproof(&self, seqs: &[u64], tree_size: u64) -> Result<Vec<Hash>> {
        self.check_size(tree_size)?;
        if let Some(&first) = seqs.first() {
            self.check_kept_leaf(first)?;
        }
        if !seqs.windows(2).all(|pair| pair[0] < pair[1])
            || seqs.last().is_some_and(|&s| s >= tree_size)
        {
            return Err(Error::InvalidArgument(format!(
                "leaves must rise and stay below the tree size {tree_size}"
            )));
        }
        multiproof(&self.shared.tree, seqs, tree_size)
    }

    /// A consistency proof between tree sizes `size1` and `size2`.
    pub fn prove_consistency(&self, size1: u64, size2: u64) -> Result<ConsistencyProof> {
        self.check_size(size2)?;
        self.check_kept_size(size1)?;
        let tree = &self.shared.tree;
        let path = consistency_path(tree, size1, size2)?;
        let root1 = subtree_root(tree, 0, size1)?;
        let root2 = subtree_root(tree, 0, size2)?;
        Ok(ConsistencyProof::new(
            self.alg(),
            size1,
            size2,
            root1,
            root2,
            &path,
        ))
    }
}

/// The refusal of `what`, below the first record kept, `first`.
fn deleted_below(first: u64, what: String) -> Error {
    Error::InvalidArgument(format!(
        "{what} is below record {first}: the records before it were deleted past retention"
    ))
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

fn start_writer(writer: Writer) -> Result<(Sender<Request>, JoinHandle<()>)> {
    let (sender, receiver) = crossbeam_channel::bounded(QUEUE_DEPTH);
    let handle = std::thread::Builder::new()
        .name("auditlog-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|e| Error::io("starting the writer thread", e))?;
    Ok((sender, handle))
}

impl Log {
    /// Signs the attestation of a report of `tenant` over `[from, to)` whose JSON bytes
    /// are `json`, computed against the checkpoint of size `tree_size`; the note's text.
    pub fn attest_report(
        &self,
        tenant: &str,
        from: Option<crate::event::Timestamp>,
        to: Option<crate::event::Timestamp>,
        tree_size: u64,
        json: &[u8],
    ) -> Result<String> {
        let attestation = crate::report::ReportAttestation {
            origin: self.config().origin.clone(),
            tenant: tenant.to_owned(),
            from,
            to,
            tree_size,
            root: self.root_at(tree_size)?,
            digest: crate::report::report_digest(json),
        };
        let note = self
            .checkpoints
            .signer()?
            .sign(&attestation.to_text())
            .map_err(|e| Error::InvalidArgument(format!("signing a report: {e}")))?;
        Ok(note.to_text())
    }
}
