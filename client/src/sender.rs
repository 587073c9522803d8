//! The background task that sends the buffer's events: batches of up to `batch_size`,
//! waiting at most `linger` for a batch to fill; each batch sent until the server
//! answers for good. A busy server (RESOURCE_EXHAUSTED) is asked again after the wait
//! its retry hint names; an unreachable one after an exponential backoff with jitter.
//! A batch sent again carries the same `event_id`s, so the server stores it once; a
//! batch refused for good is halved until the refused events are alone.

use std::sync::Arc;
use std::time::Duration;

use auditlog_engine::Event;
use auditlog_proto::convert::event_to_proto;
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use parking_lot::Mutex;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::buffer::Buffer;

/// What the sender needs.
pub(crate) struct Sender {
    pub(crate) buffer: Arc<Buffer>,
    pub(crate) channel: Channel,
    pub(crate) token: MetadataValue<Ascii>,
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) max_backoff: Duration,
    /// The newest refusal for good, for `Client::last_error`.
    pub(crate) last_error: Arc<Mutex<Option<tonic::Status>>>,
}

/// Codes worth asking again: the server or the path to it may recover.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
    )
}

impl Sender {
    /// Sends until the buffer is closed and empty.
    pub(crate) async fn run(self) {
        let mut client = IngestServiceClient::new(self.channel.clone());
        loop {
            let batch = self.next_batch().await;
            if batch.is_empty() || self.buffer.is_abandoned() {
                return;
            }
            self.send(&mut client, batch).await;
        }
    }

    /// The next batch: waits for a first event, then up to `linger` for a full batch.
    async fn next_batch(&self) -> Vec<Event<'static>> {
        loop {
            let arrived = self.buffer.arrived.notified();
            if self.buffer.len() > 0 {
                break;
            }
            if self.buffer.is_closed() {
                return Vec::new();
            }
            arrived.await;
        }
        if self.buffer.len() < self.batch_size && !self.buffer.is_closed() {
            tokio::time::sleep(self.linger).await;
        }
        self.buffer.take(self.batch_size)
    }

    /// Sends `events` until each is stored or refused for good. A batch refused for good
    /// is split in halves and each sent again (the same ids: nothing of a refused batch
    /// was stored), so one bad event (a tenant outside the key's scope, an event too
    /// large for the server) costs only itself.
    async fn send(&self, client: &mut IngestServiceClient<Channel>, events: Vec<Event<'static>>) {
        let mut pending = vec![events];
        while let Some(mut batch) = pending.pop() {
            let n = batch.len() as u64;
            match self.attempt(client, &batch).await {
                Ok(()) => self.buffer.sent(n),
                Err(status) if batch.len() > 1 && per_event(status.code()) => {
                    let second = batch.split_off(batch.len() / 2);
                    pending.push(second);
                    pending.push(batch);
                }
                Err(status) => {
                    *self.last_error.lock() = Some(status);
                    self.buffer.rejected(n);
                }
            }
            if self.buffer.is_abandoned() {
                break;
            }
        }
        self.buffer.done();
    }

    /// Sends one batch until the server answers for good: retried after a busy
    /// server's hint, or a backoff while it is unreachable (for as long as that lasts:
    /// the buffer bounds what waits meanwhile); an error of unknown cause counts as for
    /// good after a few tries (a proxy's refusal looks like one).
    async fn attempt(
        &self,
        client: &mut IngestServiceClient<Channel>,
        events: &[Event<'static>],
    ) -> Result<(), tonic::Status> {
        let request = pb::IngestRequest {
            events: events.iter().map(event_to_proto).collect(),
        };
        let mut backoff = Duration::from_millis(50);
        let mut unknown = 0;
        loop {
            let mut call = tonic::Request::new(request.clone());
            call.metadata_mut()
                .insert("authorization", self.token.clone());
            let status = match client.ingest(call).await {
                Ok(_) => return Ok(()),
                Err(status) => status,
            };
            let wait = match status.code() {
                Code::ResourceExhausted => {
                    let details = status.get_error_details();
                    let hint = details.retry_info().and_then(|r| r.retry_delay);
                    hint.unwrap_or(Duration::from_millis(50))
                }
                Code::Unknown | Code::Internal if unknown >= UNKNOWN_TRIES => return Err(status),
                code if transient(code) => {
                    if matches!(code, Code::Unknown | Code::Internal) {
                        unknown += 1;
                    }
                    let wait = jitter(backoff);
                    backoff = (backoff * 2).min(self.max_backoff);
                    wait
                }
                _ => return Err(status),
            };
            if self.buffer.is_abandoned() {
                return Err(status);
            }
            self.buffer.retried();
            tokio::time::sleep(wait).await;
        }
    }
}

/// Tries of an error of unknown cause before it counts as for good.
const UNKNOWN_TRIES: u32 = 5;

/// Refusals that may be one event's doing, found by halving the batch.
fn per_event(code: Code) -> bool {
    matches!(
        code,
        Code::PermissionDenied
            | Code::InvalidArgument
            | Code::OutOfRange
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::Unknown
            | Code::Internal
    )
}

/// `wait` less up to a quarter, at random: clients cut off together do not come back
/// together.
fn jitter(wait: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    wait - wait / 4 * u32::from(byte[0]) / 255
}
