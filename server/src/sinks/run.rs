//! The sinks' thread: a runtime of its own (apart from the request runtime: a slow or
//! dead receiver holds none of ingest's workers), one task per sink. A task reads the
//! next batch after its cursor on the blocking pool (while the batch before it is in
//! flight, for where the cursor will stand), sends it, and on the receiver's
//! acknowledgement writes the cursor past it, durably: delivery is at least once, and a
//! restart resends at most the batch in flight. A failed attempt is retried after an
//! exponential backoff with jitter (1 s doubling to 5 min), or after the receiver's
//! `Retry-After` (at least a second); the batch is the same, under the same `webhook-id`,
//! unless the sink was replayed meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use auditlog_engine::Log;
use auditlog_engine::query::{Order, Query};
use crossbeam_channel::Receiver;
use tokio::task::{JoinHandle, spawn_blocking};

use super::spec::{Destination, SinkSpec};
use super::store::Place;
use super::webhook::Webhook;
use super::{FAILING_AFTER, SinkStatus, State as SinkState};
use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::worker::{Worker, own_runtime};

/// How often a caught-up sink looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The shortest wait after a failed attempt, whatever the receiver asks.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Starts the sinks' thread.
pub(crate) fn start(state: Arc<State>) -> std::io::Result<Worker> {
    Worker::start("auditlogd-sinks", move |stopped| {
        let Some(runtime) = own_runtime("the sinks") else {
            return;
        };
        runtime.block_on(supervise(state, stopped.clone()));
    })
}

/// Starts a task for every sink that has none, until asked to stop.
async fn supervise(state: Arc<State>, stopped: Receiver<()>) {
    // reqwest takes TLS from rustls's process-wide provider: ring, built for the
    // servers' TLS already (an error means one is installed).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("auditlogd: sinks: cannot make an HTTP client: {e}");
            return;
        }
    };
    let mut running: std::collections::HashMap<String, tokio::task::JoinHandle<()>> =
        std::collections::HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        for (sink, status) in state.sinks.list() {
            if let std::collections::hash_map::Entry::Vacant(entry) = running.entry(sink.id) {
                let task = deliver(
                    Arc::clone(&state),
                    entry.key().clone(),
                    status,
                    client.clone(),
                );
                entry.insert(tokio::spawn(task));
            }
        }
        if stopped.try_recv() != Err(crossbeam_channel::TryRecvError::Empty) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One batch read from the log: the events of `from..to` the sink takes, as the JSON
/// body of its webhook.
struct Batch {
    /// `place.since`: the range told starts where the last one acknowledged ended.
    from: u64,
    to: u64,
    events: usize,
    /// Records of the range deleted past retention before the sink delivered them.
    expired: Option<(u64, u64)>,
    body: bytes::Bytes,
}

/// Delivers sink `id` until it is deleted.
async fn deliver(state: Arc<State>, id: String, status: Arc<SinkStatus>, client: reqwest::Client) {
    let mut destination: Option<Webhook> = None;
    // A batch that failed is sent again over the same range (the same `webhook-id`)
    // until it is acknowledged, unless the sink was replayed meanwhile; read again each
    // time, so that what was erased since is sent erased.
    let mut pending: Option<(Place, u64)> = None;
    // The batch after the one in flight, read while it is sent, for the place the sink
    // will stand at once it is acknowledged (used only if it does).
    let mut next: Option<(Place, JoinHandle<anyhow::Result<Batch>>)> = None;
    loop {
        let Some((sink, _)) = state.sinks.get(&id) else {
            return;
        };
        if sink.paused {
            next = None;
            status.set_state(SinkState::Paused);
            wait(&status, Duration::from_secs(1)).await;
            continue;
        }
        let webhook = match &mut destination {
            Some(webhook) => webhook,
            None => match open_destination(&state, &sink, client.clone()) {
                Ok(webhook) => destination.insert(webhook),
                Err(e) => {
                    failed(&state, &id, &status, format!("{e:#}")).await;
                    wait(&status, backoff(status.failures())).await;
                    continue;
                }
            },
        };
        let place = status.place();
        let retry = pending.take().filter(|(at, _)| *at == place);
        let read = match (retry, next.take()) {
            (Some((_, to)), _) => read_next(&state, &id, &sink.spec, place, Some(to)).await,
            (None, Some((at, read))) if at == place => read.await,
            _ => read_next(&state, &id, &sink.spec, place, None).await,
        };
        let batch = match read.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(batch) => batch,
            Err(e) => {
                pending = retry;
                failed(&state, &id, &status, format!("reading the log: {e:#}")).await;
                wait(&status, backoff(status.failures())).await;
                continue;
            }
        };
        // A range with nothing to tell is examined without a delivery.
        let told = batch.events > 0 || batch.expired.is_some();
        if told {
            if status.failures() == 0 {
                status.set_state(SinkState::Delivering);
            }
            let then = Place::at(batch.to, place.replays);
            if next.as_ref().is_none_or(|(at, _)| *at != then) {
                next = Some((then, read_next(&state, &id, &sink.spec, then, None)));
            }
            let message = format!("{id}_{}_{}_{}", place.replays, batch.from, batch.to);
            if let Err(failure) = webhook.send(&message, batch.body.clone()).await {
                failed(&state, &id, &status, failure.why).await;
                // The receiver's wait, but never none: a `Retry-After: 0` does not make
                // a busy loop.
                let pause = failure
                    .retry_after
                    .map_or_else(|| backoff(status.failures()), |w| w.max(MIN_WAIT));
                pending = Some((place, batch.to));
                next = None;
                wait(&status, pause).await;
                continue;
            }
            status
                .delivered
                .fetch_add(batch.events as u64, Ordering::Relaxed);
        }
        let (events, to, expired) = (batch.events, batch.to, batch.expired);
        let advanced = {
            let (state, id, status) = (Arc::clone(&state), id.clone(), Arc::clone(&status));
            spawn_blocking(move || state.sinks.advance(&id, &status, place, to, told)).await
        };
        match advanced.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(moved) => {
                if let (true, Some((from, to))) = (moved, expired) {
                    let details = serde_json::json!({"from_seq": from, "to_seq": to});
                    record(&state, &id, "auditlog.sink.expired", details).await;
                }
                recovered(&state, &id, &status).await;
            }
            Err(e) => {
                // The batch was delivered; it is sent again from the old cursor.
                failed(&state, &id, &status, format!("writing the cursor: {e:#}")).await;
                wait(&status, backoff(status.failures())).await;
                continue;
            }
        }
        if events == 0 && to >= state.log.tree_size() {
            status.set_state(SinkState::CaughtUp);
            wait(&status, POLL).await;
        }
    }
}

/// Reads the batch at `place` (up to `until`, a range read before) on the blocking pool.
fn read_next(
    state: &Arc<State>,
    id: &str,
    spec: &SinkSpec,
    place: Place,
    until: Option<u64>,
) -> JoinHandle<anyhow::Result<Batch>> {
    let (state, spec, id) = (Arc::clone(state), spec.clone(), id.to_owned());
    spawn_blocking(move || read_batch(&state.log, &id, &spec, place, until))
}

/// The destination of `sink`, with its secret opened.
fn open_destination(
    state: &State,
    sink: &super::SinkRecord,
    client: reqwest::Client,
) -> anyhow::Result<Webhook> {
    // A destination the server no longer delivers to (`--sink-hosts` changed) fails.
    (state.sinks.check_destination(&sink.spec.destination))
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let secret = state.sinks.store.secret(sink)?;
    match &sink.spec.destination {
        Destination::Webhook { url } => Webhook::new(client, url, &secret),
    }
}

/// Reads the sink's next batch at `place`: up to its batch size of its events, how far
/// the log was examined for them, and the records past the cursor deleted past
/// retention before they were delivered, if any (the batch says so: a receiver must
/// not take that gap for a loss in transit).
fn read_batch(
    log: &Log,
    id: &str,
    spec: &SinkSpec,
    place: Place,
    until: Option<u64>,
) -> anyhow::Result<Batch> {
    let cursor = place.cursor;
    let end = until.map_or_else(|| log.tree_size(), |to| to.min(log.tree_size()));
    let start = cursor.max(log.first_kept()).min(end.max(cursor));
    let expired = (start > cursor).then_some((cursor, start));
    let (mut events, mut count, mut to) = (Vec::new(), 0, start);
    if start < end {
        let mut filter = spec.engine_filter();
        filter.seqs = Some(start..end);
        let query = Query {
            filter,
            order: Order::OldestFirst,
            limit: Some(u64::from(spec.batch_size)),
            cursor: None,
        };
        events.reserve(64 * 1024);
        let mut last = start;
        let page = log.query_raw(&query, |seq, raw| {
            last = seq;
            if spec.takes_tenant(raw.tenant_id) {
                if count > 0 {
                    events.push(b',');
                }
                raw.write_json(Some(seq), &mut events)
                    .map_err(|e| log.damaged_record(seq, e))?;
                count += 1;
            }
            Ok(true)
        })?;
        // A full page ends after its last event; a short one examined the log to its end.
        to = if page.next_cursor.is_some() {
            last + 1
        } else {
            end
        };
    }
    let mut body = Vec::with_capacity(events.len() + 256);
    body.extend_from_slice(br#"{"type":"auditlog.events","timestamp":"#);
    serde_json::to_writer(&mut body, &auditlog_engine::Timestamp::now().to_rfc3339())?;
    body.extend_from_slice(br#","data":{"sink":"#);
    serde_json::to_writer(&mut body, id)?;
    // The range told: from where the last batch acknowledged ended.
    let since = place.since;
    body.extend_from_slice(format!(r#","from_seq":{since},"to_seq":{to}"#).as_bytes());
    if let Some((from, to)) = expired {
        body.extend_from_slice(
            format!(r#","expired":{{"from_seq":{from},"to_seq":{to}}}"#).as_bytes(),
        );
    }
    body.extend_from_slice(br#","events":["#);
    body.extend_from_slice(&events);
    body.extend_from_slice(b"]}}");
    Ok(Batch {
        from: since,
        to,
        events: count,
        expired,
        body: body.into(),
    })
}

/// Sleeps `pause`, or less if the sink is paused, resumed, replayed or deleted.
async fn wait(status: &SinkStatus, pause: Duration) {
    let _ = tokio::time::timeout(pause, status.wake.notified()).await;
}

/// The wait before attempt `failures + 1`: 1 s doubling to 5 min, with full jitter over
/// its upper half (receivers that failed together do not retry together).
fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    let _ = getrandom::fill(&mut random);
    let spread = f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
    base.mul_f64(0.5 + 0.5 * spread)
}

/// Counts a failed attempt; the failure that makes the sink failing is recorded.
async fn failed(state: &Arc<State>, id: &str, status: &SinkStatus, why: String) {
    let failures = status.failures.fetch_add(1, Ordering::Relaxed) + 1;
    *status.last_error.lock() = Some(why.clone());
    if failures < FAILING_AFTER {
        status.set_state(SinkState::Retrying);
        return;
    }
    status.set_state(SinkState::Failing);
    if failures == FAILING_AFTER {
        let details = serde_json::json!({"failures": failures, "error": why});
        record(state, id, "auditlog.sink.failing", details).await;
    }
}

/// Clears the failures after a batch acknowledged (or none to send) and the cursor
/// written; a failing sink's recovery is recorded.
async fn recovered(state: &Arc<State>, id: &str, status: &SinkStatus) {
    if status.failures() == 0 {
        return;
    }
    let failures = status.failures.swap(0, Ordering::Relaxed);
    *status.last_error.lock() = None;
    if failures >= FAILING_AFTER {
        let details = serde_json::json!({"failures": failures});
        record(state, id, "auditlog.sink.recovered", details).await;
    }
}

/// Records a `_system` event about sink `id` (a failure to record is said on stderr: it
/// must not stop delivery).
async fn record(state: &Arc<State>, id: &str, action: &'static str, details: serde_json::Value) {
    let (state, id) = (Arc::clone(state), id.to_owned());
    let recorded = spawn_blocking(move || {
        let event = SystemEvent {
            actor: Actor::Server,
            action,
            resource: Some(("sink", id)),
            details,
        };
        audit::record(&state.log, event)
    })
    .await;
    if let Ok(Err(e)) = recorded {
        eprintln!("auditlogd: sinks: {}", e.message());
    }
}
