//! The sync stage of group commit. The writer thread writes a group and hands it here;
//! this thread makes it durable with one `fdatasync` (covering every group queued since
//! the last one), publishes it to readers, and only then acknowledges it. Meanwhile the
//! writer already copies and hashes the next group: disk waits overlap CPU work.
//!
//! A failed sync is final: the group and every later one are refused, and the writer
//! sees the failure before it writes again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::{Ack, Waiting};
use crate::codec::{decode_index_fields, split_frame};
use crate::error::Error;
use crate::event::Timestamp;
use crate::index::SharedIndex;
use crate::merkle::Hash;
use crate::shared::Shared;
use crate::storage::StorageFile;

/// A written group waiting to be made durable and acknowledged.
pub(crate) struct Commit {
    pub(crate) file: Arc<dyn StorageFile>,
    pub(crate) path: PathBuf,
    pub(crate) base_seq: u64,
    pub(crate) sync: bool,
    pub(crate) offsets: Vec<u32>,
    pub(crate) committed_len: u64,
    pub(crate) min_timestamp: Timestamp,
    pub(crate) max_timestamp: Timestamp,
    pub(crate) tree_size: u64,
    pub(crate) root: Hash,
    pub(crate) acks: Vec<Waiting>,
    /// The group's frames, indexed here before readers see them, then handed back.
    pub(crate) frames: Vec<u8>,
    pub(crate) index: SharedIndex,
}

pub(crate) enum Job {
    Commit(Commit),
    /// Answered once every earlier commit is done.
    Barrier(Sender<()>),
}

/// Why the sync stage stopped, shared with the writer.
pub(crate) type Failure = Arc<Mutex<Option<String>>>;

/// The end of the active segment's bytes the sync stage has finished with (synced, or
/// under durability `none` just passed on), shared with the writer, which keeps what is
/// written beyond it within the torn-tail bound recovery relies on.
pub(crate) type SyncedLen = Arc<AtomicU64>;

/// Frame buffers going back to the writer for reuse.
pub(crate) type Recycle = Sender<Vec<u8>>;

pub(crate) fn run(
    shared: Arc<Shared>,
    failure: Failure,
    synced: SyncedLen,
    jobs: Receiver<Job>,
    recycle: Recycle,
) {
    let mut next = jobs.recv().ok();
    while let Some(job) = next.take() {
        let mut commits = Vec::new();
        let mut barrier = None;
        match job {
            Job::Commit(c) => commits.push(c),
            Job::Barrier(reply) => barrier = Some(reply),
        }
        // Gather every commit already queued: one fdatasync covers them all.
        while barrier.is_none() {
            match jobs.try_recv() {
                Ok(Job::Commit(c)) => commits.push(c),
                Ok(Job::Barrier(reply)) => barrier = Some(reply),
                Err(_) => break,
            }
        }
        if let Some(end) = finish(&shared, &failure, &synced, commits, &recycle) {
            synced.store(end, Ordering::Release);
        }
        if let Some(reply) = barrier {
            let _ = reply.send(());
        }
        next = jobs.recv().ok();
    }
}

/// Syncs, publishes and acknowledges `commits`; returns the new end of the durable bytes.
fn finish(
    shared: &Shared,
    failure: &Failure,
    synced: &SyncedLen,
    commits: Vec<Commit>,
    recycle: &Recycle,
) -> Option<u64> {
    let mut why = failure.lock().clone();
    // The subject keys of these records are durable before the records are: an
    // acknowledged record always has its key on disk.
    if why.is_none()
        && commits.iter().any(|c| c.sync)
        && let Some(sealer) = &shared.sealer
        && let Err(e) = sealer.sync()
    {
        why = Some(format!("syncing the subject key store failed: {e}"));
    }
    if why.is_none() {
        // The newest file to sync holds the newest group; an older file in the same batch
        // was sealed (and synced) by the writer before it moved on.
        if let Some(last) = commits.iter().rev().find(|c| c.sync) {
            let started = Instant::now();
            match last.file.sync_data() {
                Ok(()) => shared.metrics.record_sync(started.elapsed()),
                Err(e) => {
                    // Cut at once what was never acknowledged: after a failed fdatasync the
                    // page cache may hold those bytes as clean while the disk does not.
                    let _ = last.file.set_len(synced.load(Ordering::Acquire));
                    why = Some(format!("fdatasync of {} failed: {e}", last.path.display()));
                }
            }
        }
    }
    if let Some(why) = why {
        *failure.lock() = Some(why.clone());
        for commit in commits {
            for Waiting { reply, .. } in commit.acks {
                reply.send(Err(Error::WriterFailed(why.clone())));
            }
        }
        return None;
    }
    let end = commits.last().map(|c| c.committed_len);
    for mut commit in commits {
        index_frames(&commit);
        commit.frames.clear();
        let _ = recycle.try_send(std::mem::take(&mut commit.frames));
        {
            let mut view = shared.view.write();
            if let Some(active) = view
                .active
                .as_mut()
                .filter(|a| a.base_seq == commit.base_seq)
            {
                active.offsets.extend_from_slice(&commit.offsets);
                active.committed_len = commit.committed_len;
                active.min_timestamp = commit.min_timestamp;
                active.max_timestamp = commit.max_timestamp;
            }
            view.tree_size = commit.tree_size;
            view.root = commit.root;
        }
        for waiting in commit.acks {
            let ack = Ack {
                first_seq: waiting.first_seq,
                count: waiting.count,
                tree_size: commit.tree_size,
                root: commit.root,
                earlier: waiting.earlier,
            };
            waiting.reply.send(Ok(ack));
        }
    }
    end
}

/// Adds the group's records to the active segment's index. They were framed and encoded
/// by this process moments ago; one that did not decode (a bug) would still get its
/// entry, blank, so that entries and records stay aligned (`auditlog verify` would
/// report the difference).
fn index_frames(commit: &Commit) {
    let mut index = commit.index.write();
    let mut rest = commit.frames.as_slice();
    let mut indexed = 0;
    while !rest.is_empty() && indexed < commit.offsets.len() {
        let Ok(frame) = split_frame(rest) else {
            break;
        };
        match decode_index_fields(frame.payload) {
            Ok(fields) => index.push(&fields),
            Err(_) => index.push_blank(),
        }
        rest = rest.get(frame.total..).unwrap_or_default();
        indexed += 1;
    }
    // One entry per record, whatever happened above.
    for _ in indexed..commit.offsets.len() {
        index.push_blank();
    }
}
