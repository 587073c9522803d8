//! The events recorded and not yet sent (checked already, kept as the engine's events:
//! they become protocol messages on the sender's side, off the caller's path): a
//! bounded queue with an overflow policy, and the counters that say what became of
//! every event. The memory a client holds while
//! the server is away is bounded by the queue's capacity plus the one batch in flight.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use auditlog_engine::Event;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

use crate::event::RecordError;

/// What `record` does when the buffer is full (the server is slow or away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room: the application slows down with the log, and loses nothing.
    /// (`try_record`, and the tower layer, which never waits, count the event as dropped.)
    Block,
    /// Drop the oldest buffered event to make room, and count it (`Stats::dropped`):
    /// the application never waits, and the newest events survive an outage.
    DropOldest,
}

/// What became of the events recorded so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accepted by `record`/`try_record`.
    pub recorded: u64,
    /// Acknowledged by the server (durable in the log).
    pub sent: u64,
    /// Dropped for want of room (the oldest under `DropOldest`; the new one when the
    /// layer or `try_record` met a full buffer under `Block`).
    pub dropped: u64,
    /// Refused by the server for good (a tenant outside the key's scope, a revoked key):
    /// see `Client::last_error`.
    pub rejected: u64,
    /// Batches sent again (the server busy or unreachable).
    pub retries: u64,
    /// Batches sent on to another node of a cluster of tenant shards, the one the shard
    /// map names for their tenant (each tenant once, then sent there directly).
    pub redirects: u64,
    /// Events refused by `record` as invalid (not counted as recorded).
    pub invalid: u64,
    /// Requests the layer saw with no `AuditActor` (not recorded).
    pub unattributed: u64,
    /// In the buffer now.
    pub buffered: u64,
}

#[derive(Debug)]
pub(crate) struct Buffer {
    queue: Mutex<Queue>,
    capacity: usize,
    overflow: Overflow,
    /// An event arrived (for the sender).
    pub(crate) arrived: Notify,
    /// Room was made (for `record` under `Block`).
    room: Notify,
    recorded: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    redirects: AtomicU64,
    invalid: AtomicU64,
    unattributed: AtomicU64,
    /// Bumped whenever an event's fate becomes known (sent, dropped or rejected), for
    /// `flush` to look again.
    settled: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Each event with its number, in recording order.
    events: VecDeque<(u64, Event<'static>)>,
    /// The next event's number.
    next: u64,
    /// The lowest number of the batch the sender holds, if it holds one.
    in_flight: Option<u64>,
    closed: bool,
    /// `close` gave up waiting: the sender stops retrying.
    abandoned: bool,
}

impl Buffer {
    pub(crate) fn new(capacity: usize, overflow: Overflow) -> Buffer {
        Buffer {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            overflow,
            arrived: Notify::new(),
            room: Notify::new(),
            recorded: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redirects: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            unattributed: AtomicU64::new(0),
            settled: watch::channel(0).0,
        }
    }

    /// Queues `event` without waiting: under `DropOldest` the oldest makes room, under
    /// `Block` a full buffer refuses it (and hands it back, boxed: the rare path).
    pub(crate) fn try_push(
        &self,
        event: Event<'static>,
    ) -> Result<(), (RecordError, Box<Event<'static>>)> {
        let mut queue = self.queue.lock();
        if queue.closed {
            return Err((RecordError::Closed, Box::new(event)));
        }
        if queue.events.len() >= self.capacity {
            match self.overflow {
                Overflow::Block => return Err((RecordError::Full, Box::new(event))),
                Overflow::DropOldest => {
                    queue.events.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    self.settle(1);
                }
            }
        }
        let n = queue.next;
        queue.next += 1;
        queue.events.push_back((n, event));
        self.recorded.fetch_add(1, Ordering::Relaxed);
        drop(queue);
        self.arrived.notify_one();
        Ok(())
    }

    /// Queues `event`, waiting for room under `Block`.
    pub(crate) async fn push(&self, mut event: Event<'static>) -> Result<(), RecordError> {
        loop {
            let room = self.room.notified();
            match self.try_push(event) {
                Err((RecordError::Full, back)) => event = *back,
                Err((error, _)) => return Err(error),
                Ok(()) => return Ok(()),
            }
            room.await;
        }
    }

    /// Counts an event that found no room and was not queued.
    pub(crate) fn count_dropped(&self) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.settle(1);
    }

    /// Up to `max` of the oldest events, held by the sender until [`Buffer::done`];
    /// empty once closed and drained.
    pub(crate) fn take(&self, max: usize) -> Vec<Event<'static>> {
        let mut queue = self.queue.lock();
        let n = queue.events.len().min(max);
        queue.in_flight = queue.events.front().filter(|_| n > 0).map(|(seq, _)| *seq);
        let batch: Vec<_> = queue.events.drain(..n).map(|(_, event)| event).collect();
        drop(queue);
        if !batch.is_empty() {
            self.room.notify_waiters();
        }
        batch
    }

    /// The sender is done with the batch it took (every event of it settled).
    pub(crate) fn done(&self) {
        self.queue.lock().in_flight = None;
        self.settle(0);
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().events.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.queue.lock().closed
    }

    /// Refuses new events from now on; those queued are still sent.
    pub(crate) fn close(&self) {
        self.queue.lock().closed = true;
        self.arrived.notify_one();
        self.room.notify_waiters();
    }

    /// Stops the sender's retries (after `close` gave up waiting).
    pub(crate) fn abandon(&self) {
        self.queue.lock().abandoned = true;
    }

    pub(crate) fn is_abandoned(&self) -> bool {
        self.queue.lock().abandoned
    }

    pub(crate) fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.settle(n);
    }

    pub(crate) fn rejected(&self, n: u64) {
        self.rejected.fetch_add(n, Ordering::Relaxed);
        self.settle(n);
    }

    pub(crate) fn count_invalid(&self) {
        self.invalid.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_unattributed(&self) {
        self.unattributed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn redirected(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    fn settle(&self, n: u64) {
        self.settled.send_modify(|settled| *settled += n.max(1));
    }

    /// Waits until every event recorded before the call is sent, dropped or rejected:
    /// none numbered up to the newest then is still queued or in the sender's hands
    /// (counting would not do: events recorded later may be dropped meanwhile).
    pub(crate) async fn settled(&self) {
        let mut changed = self.settled.subscribe();
        let Some(target) = self.queue.lock().next.checked_sub(1) else {
            return;
        };
        let pending = || {
            let queue = self.queue.lock();
            let queued = queue.events.front().is_some_and(|(n, _)| *n <= target);
            let held = queue.in_flight.is_some_and(|n| n <= target);
            queued || held
        };
        while pending() {
            // The sender lives as long as the buffer: the wait ends or is cancelled.
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            recorded: self.recorded.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            redirects: self.redirects.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            unattributed: self.unattributed.load(Ordering::Relaxed),
            buffered: self.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u32) -> Event<'static> {
        let line = format!(
            r#"{{"timestamp":"2026-01-01T00:00:00Z","actor":{{"user_id":"u"}},"organization":{{"id":"t"}},"action":"a.n{i}","outcome":"success"}}"#
        );
        auditlog_engine::event::parse_json(line.as_bytes())
            .expect("an event")
            .into_owned()
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
        let buffer = Buffer::new(3, Overflow::DropOldest);
        for i in 0..5 {
            buffer.try_push(event(i)).expect("never refused");
        }
        let kept: Vec<_> = buffer
            .take(10)
            .into_iter()
            .map(|e| e.action.into_owned())
            .collect();
        assert_eq!(kept, ["a.n2", "a.n3", "a.n4"]);
        let stats = buffer.stats();
        assert_eq!((stats.recorded, stats.dropped), (5, 2));
    }

    #[tokio::test]
    async fn flush_waits_for_the_events_before_it_not_for_a_count() {
        let buffer = std::sync::Arc::new(Buffer::new(2, Overflow::DropOldest));
        buffer.try_push(event(1)).expect("room");
        assert_eq!(buffer.take(10).len(), 1, "in the sender's hands");
        let flush = tokio::spawn({
            let buffer = std::sync::Arc::clone(&buffer);
            async move { buffer.settled().await }
        });
        tokio::task::yield_now().await;
        // Events recorded after the flush, one of them dropped: as many settled as
        // were recorded before it, yet the first is still unsent.
        for i in 2..5 {
            buffer.try_push(event(i)).expect("never refused");
        }
        tokio::task::yield_now().await;
        assert!(!flush.is_finished());
        buffer.sent(1);
        buffer.done();
        flush.await.expect("flushed once the first was sent");
    }

    #[tokio::test]
    async fn block_waits_for_room_and_try_push_refuses() {
        let buffer = std::sync::Arc::new(Buffer::new(2, Overflow::Block));
        buffer.push(event(0)).await.expect("room");
        buffer.push(event(1)).await.expect("room");
        assert!(matches!(
            buffer.try_push(event(2)),
            Err((RecordError::Full, _))
        ));
        let waiting = tokio::spawn({
            let buffer = std::sync::Arc::clone(&buffer);
            async move { buffer.push(event(3)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(buffer.take(1).len(), 1);
        waiting.await.expect("task").expect("room was made");
        assert_eq!(buffer.len(), 2);
        buffer.close();
        assert!(matches!(
            buffer.try_push(event(4)),
            Err((RecordError::Closed, _))
        ));
    }
}
