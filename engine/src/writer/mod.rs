//! The single writer thread. Producers send prepared batches over a bounded crossbeam
//! channel; the writer gathers whatever is queued into one group, writes it with one
//! `write`, stores the new tree nodes, and hands it to the sync stage (syncer.rs), which
//! makes it durable with one `fdatasync` (policy permitting), publishes it to readers and
//! only then acknowledges each batch.
//!
//! After any failed write or sync the writer refuses everything until the log is
//! reopened: it cannot know which bytes reached the disk, so it does not retry and pretend.

mod batch;
mod syncer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

pub use batch::{MAX_BATCH_BYTES, PreparedBatch};

use crate::config::Durability;
use crate::error::{Error, Result};
use crate::event::Timestamp;
use crate::index::{self, SharedIndex};
use crate::merkle::{CompactRange, Hash};
use crate::segment::{ActiveSegment, FORMAT_VERSION, SealedSegment, SegmentHeader, segment_path};
use crate::shared::Shared;
use crate::storage::write_atomically;
use crate::tree::PendingNodes;

/// What an append returns once its events are durable under the log's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Sequence number of the batch's first event; the rest follow densely.
    pub first_seq: u64,
    /// Events appended.
    pub count: u64,
    /// A tree size that includes the batch (the size after the group it was written in).
    pub tree_size: u64,
    /// The tree head at `tree_size`.
    pub root: Hash,
    /// A retry: the batch's leading events were stored before (their client ids were
    /// seen), at these runs of numbers, in batch order; `first_seq` and `count` are the
    /// rest, appended now (none when the whole batch was stored before). Empty for a
    /// batch that is not a retry.
    pub earlier: Vec<Earlier>,
}

/// Events of a retried batch stored before, one after the other: `count` events from
/// `first_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earlier {
    /// The first event's sequence number.
    pub first_seq: u64,
    /// Events in the run.
    pub count: u64,
}

impl Ack {
    /// The sequence number of each event of the batch, in batch order.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        let earlier = self
            .earlier
            .iter()
            .flat_map(|e| e.first_seq..e.first_seq + e.count);
        earlier.chain(self.first_seq..self.first_seq + self.count)
    }

    /// Whether the batch was a retry of one stored (in part or whole) before.
    pub fn replayed(&self) -> bool {
        !self.earlier.is_empty()
    }
}

/// Where an append's answer goes.
pub(crate) enum AckReply {
    /// An [`AckReceiver`] waits on the other end.
    Channel(Sender<Result<Ack>>),
    /// Called once, on the writer's or the sync stage's thread (see
    /// [`crate::Log::try_submit_then`]).
    Call(Box<dyn FnOnce(Result<Ack>) + Send>),
}

impl AckReply {
    /// Hands over the answer (a receiver that went away does not want it).
    pub(crate) fn send(self, ack: Result<Ack>) {
        match self {
            AckReply::Channel(sender) => drop(sender.send(ack)),
            AckReply::Call(call) => call(ack),
        }
    }
}

/// A batch written and waiting for its ack.
pub(crate) struct Waiting {
    pub(crate) reply: AckReply,
    pub(crate) first_seq: u64,
    pub(crate) count: u64,
    pub(crate) earlier: Vec<Earlier>,
}

/// The handle on which an append's [`Ack`] arrives.
pub type AckReceiver = crossbeam_channel::Receiver<Result<Ack>>;

pub(crate) enum Request {
    Append(Box<PreparedBatch>, AckReply),
    /// A retried batch stored before in full: answered with its ack once every record
    /// queued before is durable.
    Replay(Vec<Earlier>, AckReply),
    /// Seal the active segment now (if it has records).
    Seal(Sender<Result<()>>),
    /// Make every record written so far durable, whatever the policy, and answer with the
    /// tree size and root they make (what a checkpoint may sign).
    Sync(Sender<Result<(u64, Hash)>>),
}

/// Upper bound on the bytes gathered into one group commit (plus at most one batch).
const MAX_GROUP_BYTES: usize = 16 << 20;

/// The most bytes a crash can leave unsynced at the end of the active segment: the writer
/// never runs further ahead of the sync stage (one group of up to 16 MiB gathered plus
/// one batch of up to 16 MiB fits). Recovery cuts a torn tail only within this bound.
pub const MAX_TORN_TAIL_BYTES: u64 = 32 << 20;
const _: () = assert!((MAX_GROUP_BYTES + MAX_BATCH_BYTES) as u64 <= MAX_TORN_TAIL_BYTES);

pub(crate) struct Writer {
    shared: Arc<Shared>,
    active: ActiveSegment,
    compact: CompactRange,
    failed: Option<String>,
    /// Reused write buffer.
    buf: Vec<u8>,
    /// New tree nodes of the current group.
    nodes: PendingNodes,
    offsets: Vec<u32>,
    pending: Vec<Waiting>,
    group_min: Timestamp,
    group_max: Timestamp,
    /// The sync stage, and why it stopped if it did.
    syncer: Option<Sender<syncer::Job>>,
    sync_failure: syncer::Failure,
    synced_len: syncer::SyncedLen,
    /// The active segment's index, fed by the sync stage.
    index: SharedIndex,
    /// Frame buffers the sync stage is done with.
    spare_buffers: Receiver<Vec<u8>>,
    recycle: syncer::Recycle,
    /// The tree sync and index write of the last seal (see `start_sealed_work`).
    sealed_work: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        active: ActiveSegment,
        compact: CompactRange,
        index: SharedIndex,
    ) -> Writer {
        let (recycle, spare_buffers) = crossbeam_channel::bounded(8);
        Writer {
            shared,
            active,
            compact,
            failed: None,
            buf: Vec::with_capacity(1 << 20),
            nodes: PendingNodes::default(),
            offsets: Vec::new(),
            pending: Vec::new(),
            group_min: Timestamp::MAX,
            group_max: Timestamp::MIN,
            syncer: None,
            sync_failure: syncer::Failure::default(),
            synced_len: syncer::SyncedLen::default(),
            index,
            spare_buffers,
            recycle,
            sealed_work: None,
        }
    }

    /// Runs until every sender is dropped, then records the durable tree size.
    pub(crate) fn run(mut self, requests: Receiver<Request>) {
        let (jobs, job_queue) = crossbeam_channel::bounded(4);
        let stage = {
            let (shared, failure) = (Arc::clone(&self.shared), Arc::clone(&self.sync_failure));
            let synced = Arc::clone(&self.synced_len);
            synced.store(self.active.len, Ordering::Release);
            let recycle = self.recycle.clone();
            std::thread::Builder::new()
                .name("auditlog-sync".into())
                .spawn(move || syncer::run(shared, failure, synced, job_queue, recycle))
        };
        match stage {
            Ok(handle) => {
                self.syncer = Some(jobs);
                self.write_loop(&requests);
                let _ = self.barrier();
                self.syncer = None;
                let _ = handle.join();
            }
            Err(e) => {
                self.failed = Some(format!("starting the sync thread failed: {e}"));
                self.write_loop(&requests);
            }
        }
        self.finish_sealed_work();
        if self.failed.is_none() && self.sync_failure.lock().is_none() {
            // A clean close: records and nodes become durable (whatever the policy) so the
            // next open replays nothing. The tree never claims more than the segment holds.
            if self.sync_keys().is_ok() && self.active.file.sync_data().is_ok() {
                let _ = self.shared.tree.sync(self.compact.size());
            }
        }
    }

    fn write_loop(&mut self, requests: &Receiver<Request>) {
        let linger = match self.shared.config.durability {
            Durability::Interval(d) => Some(d),
            _ => None,
        };
        while let Ok(first) = requests.recv() {
            let started = Instant::now();
            let mut group_bytes = 0usize;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append(batch, reply) => {
                        group_bytes += batch.byte_len();
                        self.add(*batch, reply);
                    }
                    Request::Seal(reply) => {
                        // Asked for, a seal answers once all of it is done.
                        let result = self.flush().and_then(|()| self.seal_and_roll());
                        self.finish_sealed_work();
                        let _ = reply.send(result.and_then(|()| self.check_sync()));
                    }
                    Request::Replay(earlier, reply) => {
                        let synced = self.flush().and_then(|()| self.sync_all());
                        reply.send(synced.map(|(tree_size, root)| Ack {
                            first_seq: tree_size,
                            count: 0,
                            tree_size,
                            root,
                            earlier,
                        }));
                    }
                    Request::Sync(reply) => {
                        let _ = reply.send(self.flush().and_then(|()| self.sync_all()));
                    }
                }
                if group_bytes >= MAX_GROUP_BYTES {
                    break;
                }
                next = match linger {
                    Some(d) => requests
                        .recv_timeout(d.saturating_sub(started.elapsed()))
                        .ok(),
                    None => requests.try_recv().ok(),
                };
            }
            let _ = self.flush();
        }
    }

    /// Waits until the sync stage has finished every group handed to it; fails if it
    /// stopped.
    fn barrier(&mut self) -> Result<()> {
        if let Some(jobs) = &self.syncer {
            let (reply, done) = crossbeam_channel::bounded(1);
            if jobs.send(syncer::Job::Barrier(reply)).is_ok() {
                let _ = done.recv();
            }
        }
        self.check_sync()
    }

    /// Waits for the sync stage, then fdatasyncs the active segment if the policy did not
    /// (`none`): every record written is durable. A failed fdatasync stops the writer.
    fn sync_all(&mut self) -> Result<(u64, Hash)> {
        self.barrier()?;
        self.sync_keys()?;
        if self.shared.config.durability == Durability::None
            && let Err(e) = self.active.file.sync_data()
        {
            let path = self.active.path.display();
            return Err(self.fail(format!("fdatasync of {path} failed: {e}")));
        }
        Ok((self.compact.size(), self.compact.root()))
    }

    /// Adopts a failure of the sync stage: nothing more is written, and the bytes past the
    /// last successful sync are cut. They were never acknowledged, and after a failed
    /// fdatasync the page cache may hold them as clean while the disk does not: a later
    /// open must not mistake them for durable records.
    fn check_sync(&mut self) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(Error::WriterFailed(why.clone()));
        }
        let failure = self.sync_failure.lock().clone();
        match failure {
            Some(why) => {
                let _ = self
                    .active
                    .file
                    .set_len(self.synced_len.load(Ordering::Acquire));
                Err(self.fail(why))
            }
            None => Ok(()),
        }
    }

    /// Makes the subject keys written so far durable, before records sealed with them are
    /// (the sync stage does so for the groups it syncs; a seal, a close and `Log::sync`
    /// sync the segment themselves, under every policy). A failure stops the writer.
    fn sync_keys(&mut self) -> Result<()> {
        match &self.shared.sealer {
            Some(sealer) => match sealer.sync() {
                Ok(()) => Ok(()),
                Err(e) => Err(self.fail(format!("syncing the subject key store failed: {e}"))),
            },
            None => Ok(()),
        }
    }

    fn fail(&mut self, what: String) -> Error {
        let error = Error::WriterFailed(what.clone());
        self.failed = Some(what);
        for Waiting { reply, .. } in self.pending.drain(..) {
            reply.send(Err(Error::WriterFailed(
                self.failed.clone().unwrap_or_default(),
            )));
        }
        self.buf.clear();
        self.nodes.clear();
        self.offsets.clear();
        error
    }

    fn add(&mut self, mut batch: PreparedBatch, reply: AckReply) {
        if let Some(why) = &self.failed {
            reply.send(Err(Error::WriterFailed(why.clone())));
            return;
        }
        if batch.alg != self.compact.alg()
            || batch.leaf_hashes.len() != batch.len()
            || batch.first_seq != Some(self.compact.size())
        {
            // The log gives batches their numbers and links in the order they arrive
            // here; anything else would write links that lie. Stop rather than guess.
            let why = format!(
                "batch numbered from {:?} reached the writer at {} (or unhashed, or for \
                 another hash algorithm)",
                batch.first_seq,
                self.compact.size()
            );
            let failed = self.fail(why);
            reply.send(Err(failed));
            return;
        }
        let pending_records = self.active.record_count + self.offsets.len() as u64;
        let would_be = self.active.len + (self.buf.len() + batch.byte_len()) as u64;
        if pending_records > 0
            && would_be > self.shared.config.segment_bytes
            && let Err(e) = self.flush().and_then(|()| self.seal_and_roll())
        {
            reply.send(Err(e));
            return;
        }
        let first_seq = self.compact.size();
        let mut at = self.active.len + self.buf.len() as u64;
        for len in &batch.frame_lens {
            self.offsets.push(at as u32);
            at += u64::from(*len);
        }
        self.buf.extend_from_slice(&batch.frames);
        let nodes = &mut self.nodes;
        self.compact
            .extend(&batch.leaf_hashes, |level, first, row| {
                nodes.push_run(level, first, row)
            });
        self.group_min = self.group_min.min(batch.min_timestamp);
        self.group_max = self.group_max.max(batch.max_timestamp);
        self.pending.push(Waiting {
            reply,
            first_seq,
            count: batch.len() as u64,
            earlier: std::mem::take(&mut batch.earlier),
        });
    }

    /// Writes the pending group and its tree nodes and hands it to the sync stage.
    fn flush(&mut self) -> Result<()> {
        self.check_sync()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        // Recovery cuts at most MAX_TORN_TAIL_BYTES of unsynced tail: never run further
        // ahead of the sync stage than that.
        let written_end = self.active.len + self.buf.len() as u64;
        if written_end > self.synced_len.load(Ordering::Acquire) + MAX_TORN_TAIL_BYTES {
            self.barrier()?;
        }
        // The subject keys of the records about to be written are written first (the
        // sync stage makes them durable before the records): a record a process leaves
        // behind when it dies always has its key.
        if let Some(sealer) = &self.shared.sealer
            && let Err(e) = sealer.write()
        {
            return Err(self.fail(format!("writing the subject key store failed: {e}")));
        }
        if !self.buf.is_empty() {
            if let Err(e) = self.active.file.write_all_at(&self.buf, self.active.len) {
                // Whatever part of the group landed was never acknowledged: cut it.
                let _ = self.active.file.set_len(self.active.len);
                let path = self.active.path.display();
                return Err(self.fail(format!("write to {path} failed: {e}")));
            }
            if let Err(e) = self.nodes.write_to(&self.shared.tree) {
                let _ = self.active.file.set_len(self.active.len);
                return Err(self.fail(format!("writing tree nodes failed: {e}")));
            }
        }
        self.active.len += self.buf.len() as u64;
        self.active.record_count += self.offsets.len() as u64;
        self.active.min_timestamp = self.active.min_timestamp.min(self.group_min);
        self.active.max_timestamp = self.active.max_timestamp.max(self.group_max);
        let commit = syncer::Commit {
            file: Arc::clone(&self.active.file),
            path: self.active.path.clone(),
            base_seq: self.active.base_seq(),
            sync: self.shared.config.durability != Durability::None,
            offsets: std::mem::take(&mut self.offsets),
            committed_len: self.active.len,
            min_timestamp: self.active.min_timestamp,
            max_timestamp: self.active.max_timestamp,
            tree_size: self.compact.size(),
            root: self.compact.root(),
            acks: std::mem::take(&mut self.pending),
            frames: std::mem::replace(
                &mut self.buf,
                self.spare_buffers.try_recv().unwrap_or_default(),
            ),
            index: Arc::clone(&self.index),
        };
        self.nodes.clear();
        self.group_min = Timestamp::MAX;
        self.group_max = Timestamp::MIN;
        let sent = match &self.syncer {
            Some(jobs) => jobs
                .send(syncer::Job::Commit(commit))
                .map_err(|e| e.into_inner()),
            None => Err(syncer::Job::Commit(commit)),
        };
        if let Err(syncer::Job::Commit(commit)) = sent {
            self.pending = commit.acks;
            return Err(self.fail("the sync thread stopped".into()));
        }
        Ok(())
    }

    /// Seals the active segment (footer, fsync) and starts the next segment with the
    /// current compact range in its header. Making the tree durable up to the seal and
    /// writing the segment's index file (tens of milliseconds together, and recovery
    /// redoes either) happen on a thread of their own, so appends wait only for the seal.
    fn seal_and_roll(&mut self) -> Result<()> {
        if self.active.record_count == 0 {
            return Ok(());
        }
        // Every written group must be synced and published first: the offset table comes
        // from the readers' view.
        self.barrier()?;
        let offsets = self
            .shared
            .view
            .read()
            .active
            .as_ref()
            .map(|a| a.offsets.clone())
            .unwrap_or_default();
        if offsets.len() as u64 != self.active.record_count {
            let why = format!(
                "the published offsets ({}) disagree with the records written ({})",
                offsets.len(),
                self.active.record_count
            );
            return Err(self.fail(why));
        }
        let root = self.compact.root();
        self.sync_keys()?;
        if let Err(e) = self.active.seal(&offsets, root) {
            return Err(self.fail(format!(
                "sealing {} failed: {e}",
                self.active.path.display()
            )));
        }
        let storage = self.shared.storage.as_ref();
        let sealed = match SealedSegment::open(storage, &self.active.path) {
            Ok(sealed) => Arc::new(sealed),
            // The file is sealed on disk: appending to it again would overwrite the footer.
            Err(e) => {
                let path = self.active.path.display();
                return Err(self.fail(format!("reopening sealed {path} failed: {e}")));
            }
        };
        self.start_sealed_work(Arc::clone(&sealed));
        let storage = self.shared.storage.as_ref();
        let header = SegmentHeader {
            version: FORMAT_VERSION,
            alg: self.compact.alg(),
            base_seq: self.compact.size(),
            created_at: Timestamp::now(),
            frontier: self.compact.hashes().to_vec(),
        };
        let path = segment_path(&self.shared.dir, header.base_seq);
        let next = match ActiveSegment::create(storage, &path, header) {
            Ok(next) => next,
            Err(e) => return Err(self.fail(format!("starting a new segment failed: {e}"))),
        };
        self.synced_len.store(next.len, Ordering::Release);
        self.index = SharedIndex::default();
        let mut view = self.shared.view.write();
        view.sealed.push(sealed);
        // Nothing but this writer changes the file, and it only appends: map all of it.
        let segment_bytes = self.shared.config.segment_bytes;
        view.active = Some(next.view(storage, Vec::new(), segment_bytes, u64::MAX));
        view.active_index = Arc::clone(&self.index);
        drop(view);
        self.active = next;
        Ok(())
    }

    /// Starts, on its own thread, what a seal leaves to do: sync the tree up to the
    /// sealed segment and write its index. Waits first for the previous seal's (one at a
    /// time keeps the tree state rising and the memory bounded). A reader of the segment
    /// meanwhile waits for its index rather than rebuild it; a failed tree sync stops the
    /// writer as a failed fdatasync does.
    fn start_sealed_work(&mut self, sealed: Arc<SealedSegment>) {
        self.finish_sealed_work();
        let (shared, failure) = (Arc::clone(&self.shared), Arc::clone(&self.sync_failure));
        let (index, size) = (Arc::clone(&self.index), self.compact.size());
        let (done, indexed) = crossbeam_channel::bounded::<()>(0);
        let base = sealed.base();
        shared.indexing.lock().insert(base, indexed);
        let work = move || {
            if let Err(e) = shared.tree.sync(size) {
                let mut failure = failure.lock();
                failure.get_or_insert(format!("syncing the tree failed: {e}"));
            }
            // Derived data: if it cannot be written now, the next reader rebuilds it.
            let storage = shared.storage.as_ref();
            let mut bytes = Vec::new();
            index::encode_index_into(&index.read(), index::identity_of(&sealed), &mut bytes);
            let _ = write_atomically(storage, &index::index_path(&sealed.path), &bytes);
            shared.indexing.lock().remove(&base);
            drop(done);
        };
        match std::thread::Builder::new()
            .name("auditlog-seal".into())
            .spawn(work)
        {
            Ok(handle) => self.sealed_work = Some(handle),
            // The closure (and `done`) is dropped: no reader waits; the index is rebuilt
            // on first use and the tree state catches up at the next seal or close.
            Err(_) => {
                self.shared.indexing.lock().remove(&base);
            }
        }
    }

    /// Waits for the last seal's background work, if any.
    fn finish_sealed_work(&mut self) {
        if let Some(handle) = self.sealed_work.take() {
            let _ = handle.join();
        }
    }
}
