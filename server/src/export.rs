//! An export run, for both APIs: recorded in the system tenant before the first byte
//! leaves, then produced a chunk at a time as the client takes them, one chunk ahead.
//! Each chunk is one short task on the blocking pool (`ExportRun::fill`); between chunks
//! the export is a value in the response body, so a client that stops reading holds no
//! thread, only the chunks it has not taken, until the connection's timeouts close it. A failure
//! after the first chunk ends the stream with an error, never as if it were complete.

use std::pin::Pin;
use std::sync::Arc;

use auditlog_engine::export::{ExportFormat, ExportRun};
use auditlog_engine::query::{Order, Query};
use futures_util::Stream;
use tokio::task::{JoinHandle, spawn_blocking};
use tonic::Status;

use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::auth::Caller;
use crate::limits::StreamSlot;
use crate::status::{from_engine, task_failed};

/// The longest description of an export kept in its record, in bytes of JSON.
const MAX_DESCRIPTION: usize = 8 << 10;

/// The bytes an export chunk holds, about (one event more may pass it). Each chunk is a
/// hand-off to the blocking pool and back: at 64 KiB the hand-offs cost a whole export
/// over HTTP 1.7 times the time of the old one-thread pipe, at 256 KiB (with one chunk
/// made ahead) 1.07 times (docs/BENCHMARKS.md).
pub(crate) const CHUNK_BYTES: usize = 256 << 10;

/// The bytes of an export, in order; an error ends it.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, Status>> + Send>>;

/// Records the export (who, in which format, with the filter after the key's scoping,
/// and `details` of the API's own), then starts it. `query` must already be scoped to
/// `caller`. Refused when the key or the server has too many streams open.
pub(crate) async fn start(
    state: Arc<State>,
    caller: &Caller,
    query: Query,
    format: ExportFormat,
    details: serde_json::Map<String, serde_json::Value>,
) -> Result<Chunks, Status> {
    let slot = state.limits.open_stream(&caller.key)?;
    let format_name = match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
    };
    let mut described = record_details(&query, details);
    described.insert("format".to_owned(), format_name.into());
    let (logged, key_id) = (Arc::clone(&state), caller.key.id.clone());
    let run = spawn_blocking(move || {
        let run = SystemEvent {
            actor: Actor::Key(&key_id),
            action: "auditlog.export.run",
            resource: Some(("export", format_name.to_owned())),
            details: described.into(),
        };
        audit::record(&logged.log, run)?;
        // The export reads the log as it is once its record is durable.
        Ok::<_, Status>(ExportRun::new(&logged.log, query, format))
    })
    .await
    .map_err(task_failed)??;
    Ok(Box::pin(chunks(state, run, slot)))
}

/// What is left of an export between two chunks.
struct Remaining {
    state: Arc<State>,
    run: ExportRun,
    /// Counts the stream against the caps until the body is dropped, and while a chunk
    /// is still being made for it.
    _slot: StreamSlot,
}

/// A chunk being made on the blocking pool, with what is left after it.
type Filling = JoinHandle<(Remaining, Result<Vec<u8>, auditlog_engine::Error>)>;

/// Starts making the next chunk of `remaining`.
fn fill_next(mut remaining: Remaining) -> Filling {
    spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + (16 << 10));
        let log = &remaining.state.log;
        let filled = remaining.run.fill(log, &mut chunk, CHUNK_BYTES);
        (remaining, filled.map(|_| chunk))
    })
}

/// The chunks of `run`. One chunk is made ahead while the client takes the one before
/// (so reading and sending overlap, as a pipe's would); no more, so a client that stops
/// reading holds at most two chunks and no thread.
fn chunks(
    state: Arc<State>,
    run: ExportRun,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Vec<u8>, Status>> + Send {
    let first = fill_next(Remaining {
        state,
        run,
        _slot: slot,
    });
    futures_util::stream::unfold(Some(first), |filling: Option<Filling>| async move {
        match filling?.await {
            // Empty only at the end (the previous chunk ended at the last event): an
            // empty chunk is no chunk.
            Ok((remaining, Ok(chunk))) if chunk.is_empty() && remaining.run.is_done() => None,
            Ok((remaining, Ok(chunk))) => {
                let next = (!remaining.run.is_done()).then(|| fill_next(remaining));
                Some((Ok(chunk), next))
            }
            Ok((_, Err(e))) => Some((Err(from_engine(e)), None)),
            Err(e) => Some((Err(task_failed(e)), None)),
        }
    })
}

/// The details of a bulk read's record: the filter and order (absent fields left out)
/// and `details` of the API's own. The record must stay a valid event (metadata up to
/// 16 KiB): a description too long to keep is cut to the API, order, page figures and
/// tenant, marked `filter_too_long_to_record`.
pub(crate) fn record_details(
    query: &Query,
    details: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut described = describe(query);
    described.extend(details);
    if serde_json::Value::from(described.clone()).to_string().len() > MAX_DESCRIPTION {
        const KEPT: [&str; 6] = [
            "api",
            "order",
            "tenant",
            "page_size",
            "max_pages",
            "by_email",
        ];
        described.retain(|name, _| KEPT.contains(&name.as_str()));
        if let Some(serde_json::Value::String(tenant)) = described.get_mut("tenant") {
            let mut end = tenant.len().min(256);
            while !tenant.is_char_boundary(end) {
                end -= 1;
            }
            tenant.truncate(end);
        }
        described.insert("filter_too_long_to_record".to_owned(), true.into());
    }
    described
}

/// The filter and order of a read (absent fields left out).
fn describe(query: &Query) -> serde_json::Map<String, serde_json::Value> {
    let f = &query.filter;
    let text = |t: Option<auditlog_engine::Timestamp>| t.map(|t| t.to_rfc3339());
    let order = match query.order {
        Order::NewestFirst => "newest",
        Order::OldestFirst => "oldest",
    };
    let mut fields = serde_json::Map::new();
    let mut put = |name: &str, value: serde_json::Value| {
        if !(value.is_null() || value.as_array().is_some_and(Vec::is_empty)) {
            fields.insert(name.to_owned(), value);
        }
    };
    put("order", order.into());
    put("tenant", f.tenant.clone().into());
    put("actor", f.actor.clone().into());
    let actions: Vec<String> = f.actions.iter().map(ToString::to_string).collect();
    put("actions", actions.into());
    let outcomes: Vec<&str> = f.outcomes.iter().map(|o| o.as_str()).collect();
    put("outcomes", outcomes.into());
    put("resource_type", f.resource_type.clone().into());
    put("resource_id", f.resource_id.clone().into());
    put("from", text(f.time.from).into());
    put("to", text(f.time.to).into());
    put("from_seq", f.seqs.as_ref().map(|r| r.start).into());
    put("to_seq", f.seqs.as_ref().map(|r| r.end).into());
    fields
}
