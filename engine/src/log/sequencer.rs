//! The sequencer: numbers batches, links each record to the previous event of its tenant,
//! finishes and hashes the records, and hands them to the writer, all under one lock, so
//! batches reach the writer in the order of their numbers and every link is true. A
//! checkpoint asks the writer to sync under the same lock, so the tenant heads it commits
//! to are those of exactly the tree size it signs.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, MutexGuard};

use super::dedup::{RecentIds, Seen};
use crate::error::{Error, Result};
use crate::heads::{HeadsCommitment, TenantHeads};
use crate::merkle::Hash;
use crate::writer::{AckReply, PreparedBatch, Request};

/// The writer's channel, the next sequence number and each tenant's newest event.
#[derive(Debug)]
pub(crate) struct Sequencer {
    /// `None` once closed, or on a read-only log.
    pub(crate) sender: Option<Sender<Request>>,
    pub(crate) next_seq: u64,
    pub(crate) heads: TenantHeads,
    /// The newest client event ids and where they were stored (retries are answered
    /// from here).
    pub(crate) recent: RecentIds,
}

/// The sequencer, locked once the writer's queue has room for one more request. Every
/// send happens under this lock and the writer only takes, so the send that follows does
/// not block; and the lock is never held while waiting for room, which would stall every
/// other caller, `try_submit`'s included.
pub(crate) fn with_room(sequencer: &Mutex<Sequencer>) -> MutexGuard<'_, Sequencer> {
    loop {
        let guard = sequencer.lock();
        if guard.sender.as_ref().is_none_or(|s| !s.is_full()) {
            return guard;
        }
        drop(guard);
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The answer to a sync: the tree size and root the writer made durable.
pub(crate) type SyncReceiver = Receiver<Result<(u64, Hash)>>;

impl Sequencer {
    fn sender(&self) -> Result<&Sender<Request>> {
        self.sender.as_ref().ok_or(Error::Closed)
    }

    /// [`Sequencer::submit`], unless the writer's queue is full: then [`Error::Busy`] and
    /// nothing changes. (Every send happens under the sequencer's lock and the writer only
    /// takes, so a queue with room now still has room for this send.)
    pub(crate) fn try_submit(&mut self, batch: PreparedBatch, reply: AckReply) -> Result<()> {
        if self.sender()?.is_full() {
            return Err(Error::Busy);
        }
        self.submit(batch, reply)
    }

    /// Numbers, links and hashes `batch` and queues it for the writer. A retry of a batch
    /// stored before is queued as a replay of its original numbers instead, or, when a
    /// crash stored only its first events, as the rest with those numbers attached.
    pub(crate) fn submit(&mut self, mut batch: PreparedBatch, reply: AckReply) -> Result<()> {
        let sender = self.sender.as_ref().ok_or(Error::Closed)?;
        let seen = match batch.copy_at {
            Some(at) if at != self.next_seq => {
                return Err(Error::InvalidArgument(format!(
                    "records copied from seq {at} would be stored from seq {}",
                    self.next_seq
                )));
            }
            Some(_) => Seen::New,
            None => self.recent.classify(batch.len(), &batch.ids)?,
        };
        if let Seen::Retry { earlier, count } = seen {
            if count == batch.len() {
                sender
                    .send(Request::Replay(earlier, reply))
                    .map_err(|_| Error::Closed)?;
                return Ok(());
            }
            // A crash stored its first events only: append the rest.
            batch.drop_front(count);
            batch.earlier = earlier;
        }
        let count = batch.len() as u64;
        let ids = std::mem::take(&mut batch.ids);
        batch.link(self.next_seq, &mut self.heads);
        if sender
            .send(Request::Append(Box::new(batch), reply))
            .is_err()
        {
            // The writer is gone, and the heads name events it never took: take nothing
            // more.
            self.sender = None;
            return Err(Error::Closed);
        }
        for (i, key, content) in ids {
            self.recent
                .insert(key, self.next_seq + u64::from(i), content);
        }
        self.next_seq += count;
        Ok(())
    }

    /// Asks the writer to make every record queued durable; returns where its answer
    /// arrives, the tree size it will answer with, and the tenant heads at that size.
    pub(crate) fn sync(&mut self) -> Result<(SyncReceiver, u64, HeadsCommitment)> {
        let (reply, done) = crossbeam_channel::bounded(1);
        self.sender()?
            .send(Request::Sync(reply))
            .map_err(|_| Error::Closed)?;
        Ok((done, self.next_seq, self.heads.commitment()))
    }

    /// Asks the writer to seal the active segment; returns where its answer arrives.
    pub(crate) fn seal(&self) -> Result<Receiver<Result<()>>> {
        let (reply, done) = crossbeam_channel::bounded(1);
        self.sender()?
            .send(Request::Seal(reply))
            .map_err(|_| Error::Closed)?;
        Ok(done)
    }
}
