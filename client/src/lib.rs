//! A Rust client for `auditlogd` (docs/CLIENT.md): record audit events from an async
//! application without waiting on the network. Events are checked when recorded,
//! buffered in bounded memory, and sent in batches over gRPC by a background task that
//! retries with the same event ids (stored once) and honours the server's retry hints.
//! [`AuditLayer`] records every mutating request of an axum or tonic service.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use auditlog_client::{AuditEvent, Client, Config, Outcome};
//! let client = Client::new(Config::new("http://127.0.0.1:7070", "alk_…"))?;
//! client
//!     .record(AuditEvent::new("org_a", "usr_1", "invoice.approve", Outcome::Success)
//!         .resource("invoice", "inv_42"))
//!     .await?;
//! client.close(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod buffer;
mod event;
mod layer;
mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;

pub use auditlog_engine::Outcome;
pub use buffer::{Overflow, Stats};
pub use event::{AuditEvent, RecordError};
pub use layer::{AuditAction, AuditActor, AuditLayer, AuditService, action_of};

use crate::buffer::Buffer;
use crate::sender::{Routes, Sender};

/// The endpoint of a server (or of another node of its cluster) at `url`.
fn endpoint(url: &str) -> Result<Endpoint, ConfigError> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|e| ConfigError::Endpoint(url.to_owned(), e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        // A call that hangs is given up and tried again, like a lost connection.
        .timeout(Duration::from_secs(30))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10)))
}

/// How a client sends.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's gRPC URL, e.g. `http://127.0.0.1:7070`.
    pub endpoint: String,
    /// An API key that may ingest the tenants of the events.
    pub key: String,
    /// Events per batch (at most).
    pub batch_size: usize,
    /// How long the first event of a batch waits for others.
    pub linger: Duration,
    /// Events buffered at most (the memory held while the server is away: about
    /// `capacity` events, plus one batch in flight).
    pub capacity: usize,
    /// What a full buffer does.
    pub overflow: Overflow,
    /// The longest wait between attempts while the server is unreachable.
    pub max_backoff: Duration,
}

impl Config {
    /// Batches of up to 500 events after at most 20 ms, 100,000 events buffered, the
    /// oldest dropped (and counted) when full, retries every 5 s at most.
    pub fn new(endpoint: &str, key: &str) -> Config {
        Config {
            endpoint: endpoint.to_owned(),
            key: key.to_owned(),
            batch_size: 500,
            linger: Duration::from_millis(20),
            capacity: 100_000,
            overflow: Overflow::DropOldest,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("endpoint `{0}`: {1}")]
    Endpoint(String, String),
    #[error("the key is not a valid header value")]
    Key,
}

/// A handle on the buffer and its sender; clones share them. Made inside a tokio
/// runtime (the sender is a task of it).
#[derive(Debug, Clone)]
pub struct Client {
    buffer: Arc<Buffer>,
    last_error: Arc<Mutex<Option<tonic::Status>>>,
    /// Makes event ids unique to this client: a random prefix and a counter.
    ids: Arc<(String, AtomicU64)>,
}

impl Client {
    /// A client of `config`; it connects when it first sends (an unreachable server
    /// is not an error: events wait in the buffer).
    pub fn new(config: Config) -> Result<Client, ConfigError> {
        let server = endpoint(&config.endpoint)?;
        let token = MetadataValue::try_from(format!("Bearer {}", config.key))
            .map_err(|_| ConfigError::Key)?;
        let buffer = Arc::new(Buffer::new(config.capacity, config.overflow));
        let last_error = Arc::new(Mutex::new(None));
        let sender = Sender {
            buffer: Arc::clone(&buffer),
            routes: Routes::new(
                server.connect_lazy(),
                config.endpoint.starts_with("https://"),
                |url| endpoint(url).ok().map(|e| e.connect_lazy()),
            ),
            token,
            batch_size: config.batch_size.max(1),
            linger: config.linger,
            max_backoff: config.max_backoff.max(Duration::from_millis(50)),
            last_error: Arc::clone(&last_error),
        };
        tokio::spawn(sender.run());
        let mut prefix = [0u8; 8];
        if getrandom::fill(&mut prefix).is_err() {
            // No system randomness: the time and the process keep ids apart.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            prefix = (nanos ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
        }
        let prefix: String = prefix.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Client {
            buffer,
            last_error,
            ids: Arc::new((prefix, AtomicU64::new(0))),
        })
    }

    /// Records `event`: checked now, sent soon. Under [`Overflow::Block`] it waits for
    /// room while the buffer is full; under `DropOldest` it never waits.
    pub async fn record(&self, event: AuditEvent) -> Result<(), RecordError> {
        let event = self.prepare(event.checked())?;
        self.buffer.push(event).await
    }

    /// Records `event` without ever waiting: a full buffer under `Block` refuses it
    /// ([`RecordError::Full`], counted as dropped).
    pub fn try_record(&self, event: AuditEvent) -> Result<(), RecordError> {
        self.try_record_event(event.checked())
    }

    /// [`Client::try_record`] of an event made as the engine's, and the result of its
    /// validation (by the caller, which may have mended it).
    pub(crate) fn try_record_event(
        &self,
        checked: Result<auditlog_engine::Event<'static>, RecordError>,
    ) -> Result<(), RecordError> {
        let event = self.prepare(checked)?;
        self.buffer.try_push(event).map_err(|(error, _)| {
            if error == RecordError::Full {
                self.buffer.count_dropped();
            }
            error
        })
    }

    /// A checked event with its id (one of this client's when the caller gave none).
    fn prepare(
        &self,
        checked: Result<auditlog_engine::Event<'static>, RecordError>,
    ) -> Result<auditlog_engine::Event<'static>, RecordError> {
        let mut event = checked.inspect_err(|_| self.buffer.count_invalid())?;
        if event.event_id.is_none() {
            let n = self.ids.1.fetch_add(1, Ordering::Relaxed);
            event.event_id = Some(format!("{}-{n}", self.ids.0).into());
        }
        Ok(event)
    }

    /// Waits (up to `timeout`) until every event recorded before the call was sent,
    /// dropped or rejected; false if time ran out.
    pub async fn flush(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.buffer.settled())
            .await
            .is_ok()
    }

    /// Counts a request the layer could not attribute (no [`AuditActor`]).
    pub(crate) fn count_unattributed(&self) {
        self.buffer.count_unattributed();
    }

    /// What became of the events so far.
    pub fn stats(&self) -> Stats {
        self.buffer.stats()
    }

    /// The newest refusal for good by the server, if any.
    pub fn last_error(&self) -> Option<tonic::Status> {
        self.last_error.lock().clone()
    }

    /// Refuses new events, then waits (up to `timeout`) for the buffered ones to be
    /// sent; what was not is in the returned `Stats::buffered`.
    pub async fn close(self, timeout: Duration) -> Stats {
        self.buffer.close();
        if tokio::time::timeout(timeout, self.buffer.settled())
            .await
            .is_err()
        {
            // Given up: the sender stops retrying what it holds.
            self.buffer.abandon();
        }
        self.buffer.stats()
    }
}
