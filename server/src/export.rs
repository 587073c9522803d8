//! An export run, for both APIs: recorded in the system tenant before the first byte
//! leaves, then produced a chunk at a time as the client takes them. Each chunk is one
//! short task on the blocking pool (`ExportRun::fill`); between chunks the export is a
//! value in the response body, so a client that stops reading holds no thread, only the
//! chunk it has not taken, until the connection's write timeout closes it. A failure
//! after the first chunk ends the stream with an error, never as if it were complete.

use std::pin::Pin;
use std::sync::Arc;

use auditlog_engine::export::{ExportFormat, ExportRun};
use auditlog_engine::query::{Order, Query};
use futures_util::Stream;
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::auth::Caller;
use crate::limits::StreamSlot;
use crate::status::{from_engine, task_failed};

/// The longest description of an export kept in its record, in bytes of JSON.
const MAX_DESCRIPTION: usize = 8 << 10;

/// The bytes an export chunk holds, about (one event more may pass it).
pub(crate) const CHUNK_BYTES: usize = 64 << 10;

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
    let mut described = describe(&query);
    described.extend(details);
    if serde_json::Value::from(described.clone()).to_string().len() > MAX_DESCRIPTION {
        // The record must stay a valid event (metadata up to 16 KiB): a filter too long
        // to keep is noted as such, with its tenant.
        described.retain(|name, _| ["api", "order", "tenant"].contains(&name.as_str()));
        if let Some(serde_json::Value::String(tenant)) = described.get_mut("tenant") {
            let mut end = tenant.len().min(256);
            while !tenant.is_char_boundary(end) {
                end -= 1;
            }
            tenant.truncate(end);
        }
        described.insert("filter_too_long_to_record".to_owned(), true.into());
    }
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
    /// Counts the stream against the caps until the body is dropped.
    _slot: StreamSlot,
}

/// The chunks of `run`, each produced when the client asks for it.
fn chunks(
    state: Arc<State>,
    run: ExportRun,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Vec<u8>, Status>> + Send {
    let first = Remaining {
        state,
        run,
        _slot: slot,
    };
    futures_util::stream::unfold(Some(first), |remaining| async move {
        let Remaining {
            state,
            mut run,
            _slot,
        } = remaining?;
        if run.is_done() {
            return None;
        }
        let filled = spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(CHUNK_BYTES + (16 << 10));
            let filled = run.fill(&state.log, &mut chunk, CHUNK_BYTES);
            (state, run, filled.map(|_| chunk))
        })
        .await;
        match filled {
            // Empty only at the end (the previous chunk ended at the last event): an
            // empty chunk is no chunk.
            Ok((_, _, Ok(chunk))) if chunk.is_empty() => None,
            Ok((state, run, Ok(chunk))) => Some((Ok(chunk), Some(Remaining { state, run, _slot }))),
            Ok((_, _, Err(e))) => Some((Err(from_engine(e)), None)),
            Err(e) => Some((Err(task_failed(e)), None)),
        }
    })
}

/// The filter and order of an export, as the details of its record (absent fields
/// left out).
pub(crate) fn describe(query: &Query) -> serde_json::Map<String, serde_json::Value> {
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
