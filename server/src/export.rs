//! Bulk reads, for both APIs: an export, and what they share with a query of many pages:
//! each is recorded in the system tenant before its first byte leaves
//! ([`record_bulk_read`]), then made at its client's pace (`crate::paced`): an export a
//! chunk at a time (`ExportRun::fill`), so a client that stops reading holds no thread,
//! only the chunks it has not taken, until the connection's timeouts close it. A failure
//! after the first chunk ends the stream with an error, never as if it were complete.

use std::pin::Pin;
use std::sync::Arc;

use auditlog_engine::export::{ExportFormat, ExportRun};
use auditlog_engine::query::{Order, Query};
use futures_util::Stream;
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::audit::{self, SystemEvent};
use crate::auth::Caller;
use crate::limits::StreamSlot;
use crate::paced::paced;
use crate::status::{from_engine, task_failed};

/// The longest description of an export kept in its record, in bytes of JSON.
const MAX_DESCRIPTION: usize = 8 << 10;

/// The bytes an export chunk holds, about (one event more may pass it). Each chunk is a
/// hand-off to the blocking pool and back: at 64 KiB the hand-offs cost a whole export
/// over HTTP 1.7 times the time of the old one-thread pipe, at 256 KiB (with one chunk
/// made ahead) 1.07 times (docs/BENCHMARKS.md).
const CHUNK_BYTES: usize = 256 << 10;

/// The bytes of an export, in order; an error ends it. Each chunk is written once, by
/// the engine, and handed on as it is: HTTP turns the `Vec` into the body's bytes without
/// a copy and writes it vectored behind the headers (`conn::Guarded` keeps the socket's
/// vectored writes), gRPC into its message.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, Status>> + Send>>;

/// Records the export (who, in which format, with the filter after the key's scoping,
/// and `details` of the API's own), then starts it. `query` must already be scoped to
/// `caller`. Refused when the key or the server has too many streams open.
pub(crate) async fn start(
    state: Arc<State>,
    caller: &Caller,
    query: Query,
    format: ExportFormat,
    mut details: serde_json::Map<String, serde_json::Value>,
) -> Result<Chunks, Status> {
    let slot = state.limits.open_stream(&caller.key)?;
    let format_name = match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
    };
    details.insert("format".to_owned(), format_name.into());
    let resource = ("export", format_name.to_owned());
    let action = "auditlog.export.run";
    record_bulk_read(&state, caller, action, resource, &query, details).await?;
    // The export reads the log as it is once its record is durable.
    let run = ExportRun::new(&state.log, query, format);
    let exporting = Exporting {
        state,
        caller: caller.clone(),
        run,
        _slot: slot,
    };
    Ok(Box::pin(paced(exporting, next_chunk)))
}

/// Records a bulk read of `query` by `caller` as `action` on `resource`, with `details`
/// of the API's own, and waits until the record is durable (on the blocking pool).
pub(crate) async fn record_bulk_read(
    state: &Arc<State>,
    caller: &Caller,
    action: &'static str,
    resource: (&'static str, String),
    query: &Query,
    details: serde_json::Map<String, serde_json::Value>,
) -> Result<(), Status> {
    let details = record_details(query, details);
    if let Some(replica) = &state.replica {
        // A replica's copy takes no record of its own: the primary keeps it.
        return replica
            .record_on_primary(caller, action, resource, details)
            .await;
    }
    let (state, caller) = (Arc::clone(state), caller.clone());
    spawn_blocking(move || {
        let event = SystemEvent {
            actor: caller.actor(),
            action,
            resource: Some(resource),
            details: details.into(),
        };
        audit::record(&state.log, event)
    })
    .await
    .map_err(task_failed)?
}

/// An export between two chunks.
struct Exporting {
    state: Arc<State>,
    /// Checked before each chunk: a key revoked, a viewer token revoked or expired,
    /// ends the export.
    caller: Caller,
    run: ExportRun,
    /// Counts the stream against the caps until the body is dropped, and while a chunk
    /// is still being made for it.
    _slot: StreamSlot,
}

/// The next chunk of an export (`None` once every event is written).
fn next_chunk(exporting: &mut Exporting) -> Result<Option<Vec<u8>>, Status> {
    if exporting.run.is_done() {
        return Ok(None);
    }
    exporting.caller.still_valid(&exporting.state)?;
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + (16 << 10));
    let log = &exporting.state.log;
    exporting
        .run
        .fill(log, &mut chunk, CHUNK_BYTES)
        .map_err(from_engine)?;
    // Empty only when the previous chunk ended at the last event.
    Ok((!chunk.is_empty()).then_some(chunk))
}

/// The details of a bulk read's record: the filter and order (absent fields left out)
/// and `details` of the API's own. The record must stay a valid event (metadata up to
/// 16 KiB): a description too long to keep is cut to the API, format, order, page
/// figures and tenant, marked `filter_too_long_to_record`.
fn record_details(
    query: &Query,
    details: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut described = describe(query);
    described.extend(details);
    if serde_json::Value::from(described.clone()).to_string().len() > MAX_DESCRIPTION {
        const KEPT: [&str; 7] = [
            "api",
            "format",
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
