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
use auditlog_engine::bundle::KeptHeads;
use auditlog_engine::query::{Order, Query};
use crossbeam_channel::Receiver;
use parking_lot::Mutex;
use tokio::task::{JoinHandle, spawn_blocking};

use super::encode::{Encoder, Payload, Range};
use super::proofs;
use super::send::Sender;
use super::spec::SinkSpec;
use super::store::Place;
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
    let client = match crate::worker::http_client(Duration::from_secs(10), Duration::from_secs(30))
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

/// One batch read from the log: the events of `from..to` the sink takes, as its
/// destination takes them.
struct Batch {
    /// `place.since`: the range told starts where the last one acknowledged ended.
    from: u64,
    to: u64,
    events: usize,
    /// Records of the range deleted past retention before the sink delivered them.
    expired: Option<(u64, u64)>,
    payload: Payload,
    /// Whether the batch reached the end of what the sink may read yet.
    caught_up: bool,
}

/// Delivers sink `id` until it is deleted.
async fn deliver(state: Arc<State>, id: String, status: Arc<SinkStatus>, client: reqwest::Client) {
    let mut destination: Option<Sender> = None;
    // A batch that failed is sent again over the same range (the same `webhook-id`)
    // until it is acknowledged, unless the sink was replayed meanwhile; read again each
    // time, so that what was erased since is sent erased.
    let mut pending: Option<(Place, u64)> = None;
    // The batch after the one in flight, read while it is sent, for the place the sink
    // will stand at once it is acknowledged (used only if it does).
    let mut next: Option<(Place, JoinHandle<anyhow::Result<Batch>>)> = None;
    // A sink with proofs keeps the tenant heads from batch to batch.
    let heads = Arc::new(Mutex::new(KeptHeads::default()));
    // Whether the receiver refused some events of the last batch: a refusal is recorded
    // when refusals start, not for each batch (a sink of all tenants delivers its own
    // `_system` events, which a receiver may refuse too: one event per batch would feed
    // itself).
    let mut refusing = false;
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
        let sender = match &mut destination {
            Some(sender) => sender,
            None => match open_destination(&state, &sink, client.clone()) {
                Ok(sender) => destination.insert(sender),
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
            (Some((_, to)), _) => read_next(&state, &id, &sink.spec, place, Some(to), &heads).await,
            (None, Some((at, read))) if at == place => read.await,
            _ => read_next(&state, &id, &sink.spec, place, None, &heads).await,
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
                next = Some((then, read_next(&state, &id, &sink.spec, then, None, &heads)));
            }
            let message = format!("{id}_{}_{}_{}", place.replays, batch.from, batch.to);
            let failure = match sender.send(&message, &batch.payload).await {
                Ok(None) => {
                    refusing = false;
                    None
                }
                Ok(Some(refused)) => {
                    // Taken, but some events refused: not sent again (as OTLP asks);
                    // said in `last_error`, recorded when refusals start.
                    if !refusing {
                        let details = serde_json::json!({
                            "from_seq": batch.from, "to_seq": batch.to, "refused": refused,
                        });
                        record(&state, &id, "auditlog.sink.refused", details).await;
                    }
                    *status.last_error.lock() = Some(refused);
                    refusing = true;
                    None
                }
                Err(failure) => Some(failure),
            };
            if let Some(failure) = failure {
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
        let (events, to, expired, caught_up) =
            (batch.events, batch.to, batch.expired, batch.caught_up);
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
        if events == 0 && caught_up {
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
    heads: &Arc<Mutex<KeptHeads>>,
) -> JoinHandle<anyhow::Result<Batch>> {
    let (state, spec, id, heads) = (
        Arc::clone(state),
        spec.clone(),
        id.to_owned(),
        Arc::clone(heads),
    );
    spawn_blocking(move || read_batch(&state.log, &id, &spec, place, until, &heads))
}

/// The destination of `sink`, with its secret opened.
fn open_destination(
    state: &State,
    sink: &super::SinkRecord,
    client: reqwest::Client,
) -> anyhow::Result<Sender> {
    // A destination the server no longer delivers to (`--sink-hosts` changed) fails.
    (state.sinks.check_destination(&sink.spec.destination))
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let secret = state.sinks.store.secret(sink)?;
    Sender::new(client, &sink.id, &sink.spec.destination, &secret)
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
    heads: &Mutex<KeptHeads>,
) -> anyhow::Result<Batch> {
    let cursor = place.cursor;
    let proofs = spec.destination.proofs();
    let readable = if proofs {
        proofs::readable_end(log).min(log.tree_size())
    } else {
        log.tree_size()
    };
    let end = until.map_or(readable, |to| to.min(readable));
    let start = cursor.max(log.first_kept()).min(end.max(cursor));
    let expired = (start > cursor).then_some((cursor, start));
    let mut encoder = Encoder::new(id, &spec.destination);
    let mut to = start;
    if start < end {
        let mut filter = spec.engine_filter();
        filter.seqs = Some(start..end);
        let query = Query {
            filter,
            order: Order::OldestFirst,
            limit: Some(u64::from(spec.batch_size)),
            cursor: None,
        };
        let (mut last, mut left_out) = (start, None);
        let page = log.query_raw(&query, |seq, raw| {
            last = seq;
            if !spec.takes_tenant(raw.tenant_id) {
                return Ok(true);
            }
            let added = encoder
                .push(seq, &raw)
                .map_err(|e| log.damaged_record(seq, e))?;
            if !added {
                left_out = Some(seq);
            }
            Ok(added)
        })?;
        // A batch cut at its destination's limit ends before the event left out; a full
        // page ends after its last event; a short one examined the log to its end.
        to = match (left_out, page.next_cursor) {
            (Some(seq), _) => seq,
            (None, Some(_)) => last + 1,
            (None, None) => end,
        };
    }
    let events = encoder.events();
    // The range told: from where the last batch acknowledged ended.
    let range = Range {
        from: place.since,
        to,
        expired,
    };
    // A batch with proofs is written whole by the bundle writer (the pass above only
    // counted its events and found its range).
    let payload = if proofs && (events > 0 || expired.is_some()) {
        proofs::proven_batch(log, id, spec, range, heads)?
    } else {
        encoder.finish(range)?
    };
    Ok(Batch {
        from: place.since,
        to,
        events,
        expired,
        payload,
        caught_up: to >= readable,
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
