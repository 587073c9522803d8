//! The background task that sends the buffer's events: batches of up to `batch_size`,
//! waiting at most `linger` for a batch to fill; each batch sent until the server
//! answers for good. A busy server (RESOURCE_EXHAUSTED) is asked again after the wait
//! its retry hint names; an unreachable one after an exponential backoff with jitter.
//! A batch sent again carries the same `event_id`s, so the server stores it once; a
//! batch refused for good is halved until the refused events are alone. In a cluster of
//! tenant shards (docs/SCALING.md) a node refuses a tenant another node writes, naming
//! that node: the tenant's events are sent there from then on ([`Routes`]).

use std::collections::{HashMap, HashSet};
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

/// Where each tenant's events go: to the configured server, or to the node of a cluster
/// that a refusal named for the tenant.
pub(crate) struct Routes {
    /// The configured server.
    server: Channel,
    /// Makes a channel to another node's gRPC URL, set up as the server's.
    connect: fn(&str) -> Option<Channel>,
    /// Whether the server is reached over TLS: a refusal naming a plaintext node is then
    /// not followed (the key would go in the clear).
    tls: bool,
    /// Channels to other nodes, by URL.
    nodes: HashMap<String, Channel>,
    /// URLs a refusal named that are no endpoint: not followed again.
    unusable: HashSet<String>,
    /// The node of each tenant a refusal named (by URL).
    tenants: HashMap<String, String>,
}

impl Routes {
    pub(crate) fn new(server: Channel, tls: bool, connect: fn(&str) -> Option<Channel>) -> Routes {
        Routes {
            server,
            connect,
            tls,
            nodes: HashMap::new(),
            unusable: HashSet::new(),
            tenants: HashMap::new(),
        }
    }

    /// Whether a refusal naming the node at `url` is to be followed.
    fn follows(&self, url: &str) -> bool {
        !self.unusable.contains(url) && (url.starts_with("https://") || !self.tls)
    }

    /// Sends the tenants routed to `url` to the server again (it names their node anew);
    /// `unusable`: the URL is no endpoint, never to be followed again.
    fn forget(&mut self, url: &str, unusable: bool) {
        self.tenants.retain(|_, node| node != url);
        self.nodes.remove(url);
        if unusable {
            self.unusable.insert(url.to_owned());
        }
    }

    /// The node `tenant`'s events go to (`None`: the configured server).
    fn node_of(&self, tenant: &str) -> Option<&String> {
        self.tenants.get(tenant)
    }

    /// A client of the node at `url`, or of the server; `None` for a URL that is no
    /// endpoint.
    fn client(&mut self, url: Option<&String>) -> Option<IngestServiceClient<Channel>> {
        let channel = match url {
            Some(url) => match self.nodes.get(url) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = (self.connect)(url)?;
                    self.nodes.insert(url.clone(), channel.clone());
                    channel
                }
            },
            None => self.server.clone(),
        };
        Some(IngestServiceClient::new(channel))
    }

    /// `events` in batches of one node each, in order within each tenant; the first to
    /// send last (the sender pops them).
    fn split(&self, events: Vec<Event<'static>>) -> Vec<Vec<Event<'static>>> {
        let mut by_node: Vec<(Option<String>, Vec<Event<'static>>)> = Vec::new();
        for event in events {
            let node = self.node_of(&event.tenant_id).cloned();
            match by_node.iter_mut().find(|(n, _)| *n == node) {
                Some((_, batch)) => batch.push(event),
                None => by_node.push((node, vec![event])),
            }
        }
        by_node.into_iter().rev().map(|(_, batch)| batch).collect()
    }
}

/// Redirects of one tenant within one batch after which the sender waits before the next
/// (nodes naming each other while a tenant moves settle well within this).
const MAX_REDIRECTS: u32 = 8;

/// Tries of a node a refusal named, while it is unreachable, before its tenants go back
/// to the server (which names their node anew: it may have moved, or be down).
const ROUTED_TRIES: u32 = 5;

/// The tenant a refusal of `batch` says another node writes, and that node's gRPC URL.
fn redirect(status: &tonic::Status, batch: &[Event<'static>]) -> Option<(String, String)> {
    if status.code() != Code::FailedPrecondition {
        return None;
    }
    let writer = auditlog_proto::writer::named_writer(status)?;
    // Named, or the batch's only tenant.
    let tenant = writer.tenant.or_else(|| {
        let first = &batch.first()?.tenant_id;
        batch
            .iter()
            .all(|e| e.tenant_id == *first)
            .then(|| first.to_string())
    })?;
    Some((tenant, writer.grpc))
}

/// What the sender needs.
pub(crate) struct Sender {
    pub(crate) buffer: Arc<Buffer>,
    pub(crate) routes: Routes,
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
    pub(crate) async fn run(mut self) {
        loop {
            let batch = self.next_batch().await;
            if batch.is_empty() || self.buffer.is_abandoned() {
                return;
            }
            self.send(batch).await;
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

    /// Sends `events` until each is stored or refused for good, each tenant's to its
    /// node. A batch refused because another node writes one of its tenants is sent again
    /// split anew, that tenant's events to that node (nothing of a refused batch was
    /// stored). A batch refused for good is split in halves and each sent again (the same
    /// ids), so one bad event (a tenant outside the key's scope, an event too large for
    /// the server) costs only itself.
    async fn send(&mut self, events: Vec<Event<'static>>) {
        let mut pending = self.routes.split(events);
        let mut redirects: HashMap<String, u32> = HashMap::new();
        // The wait before asking again when nodes keep naming each other, or a named
        // node stays away: as for an unreachable server.
        let mut pause = Duration::from_millis(50);
        while let Some(mut batch) = pending.pop() {
            if self.buffer.is_abandoned() {
                break;
            }
            let n = batch.len() as u64;
            let node = batch
                .first()
                .and_then(|e| self.routes.node_of(&e.tenant_id))
                .cloned();
            let Some(mut client) = self.routes.client(node.as_ref()) else {
                // Named by a refusal, but no endpoint: back to the server, not again.
                self.routes
                    .forget(node.as_deref().unwrap_or_default(), true);
                pending.extend(self.routes.split(batch));
                continue;
            };
            let tries = node.is_some().then_some(ROUTED_TRIES);
            let result = self.attempt(&mut client, &batch, tries).await;
            if let Err(status) = &result {
                if let Some((tenant, url)) =
                    redirect(status, &batch).filter(|(_, url)| self.routes.follows(url))
                {
                    let times = redirects.entry(tenant.clone()).or_default();
                    *times += 1;
                    if *times > MAX_REDIRECTS {
                        // Nodes naming each other (a move under way): wait, then again.
                        *times = 0;
                        self.wait(&mut pause).await;
                    }
                    self.routes.tenants.insert(tenant, url);
                    self.buffer.redirected();
                    pending.extend(self.routes.split(batch));
                    continue;
                }
                if let Some(url) = &node
                    && transient(status.code())
                {
                    // A node that stays away (killed, its lease not ended yet): its
                    // tenants go back through the server after a wait, which names
                    // their node anew; that is no loop of redirects.
                    self.routes.forget(url, false);
                    redirects.clear();
                    self.wait(&mut pause).await;
                    pending.extend(self.routes.split(batch));
                    continue;
                }
            }
            match result {
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

    /// Waits `pause` (less some jitter), doubled for next time up to `max_backoff`.
    async fn wait(&self, pause: &mut Duration) {
        self.buffer.retried();
        tokio::time::sleep(jitter(*pause)).await;
        *pause = (*pause * 2).min(self.max_backoff);
    }

    /// Sends one batch until the server answers for good: retried after a busy
    /// server's hint, or a backoff while it is unreachable (for as long as that lasts:
    /// the buffer bounds what waits meanwhile, or `tries` times, for a node a refusal
    /// named); an error of unknown cause counts as for good after a few tries (a proxy's
    /// refusal looks like one).
    async fn attempt(
        &self,
        client: &mut IngestServiceClient<Channel>,
        events: &[Event<'static>],
        tries: Option<u32>,
    ) -> Result<(), tonic::Status> {
        let mut tried = 0;
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
                    // A node a refusal named, away: its tenants go back to the server.
                    tried += 1;
                    if tries.is_some_and(|most| tried >= most) {
                        return Err(status);
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
