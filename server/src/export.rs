//! An export run, for both APIs: recorded in the system tenant before the first byte
//! leaves, then streamed in chunks as the engine writes them, in constant memory (a slow
//! client slows the reading). A failure after the first chunk ends the stream with an
//! error, never as if it were complete.

use std::io::{self, Write};
use std::sync::Arc;

use auditlog_engine::export::{ExportError, ExportFormat, export};
use auditlog_engine::query::{Order, Query};
use tokio::sync::mpsc;
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::auth::Caller;
use crate::status::{from_engine, task_failed};

/// The longest description of an export kept in its record, in bytes of JSON.
const MAX_DESCRIPTION: usize = 8 << 10;

/// The bytes of an export, in order; an error ends it.
pub(crate) type Chunks = mpsc::Receiver<Result<Vec<u8>, Status>>;

/// Records the export (who, in which format, with the filter after the key's scoping,
/// and `details` of the API's own), then starts writing it. `query` must already be
/// scoped to `caller`.
pub(crate) async fn start(
    state: Arc<State>,
    caller: &Caller,
    query: Query,
    format: ExportFormat,
    details: serde_json::Map<String, serde_json::Value>,
) -> Result<Chunks, Status> {
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
    spawn_blocking(move || {
        let run = SystemEvent {
            actor: Actor::Key(&key_id),
            action: "auditlog.export.run",
            resource: Some(("export", format_name.to_owned())),
            details: described.into(),
        };
        audit::record(&logged.log, run)
    })
    .await
    .map_err(task_failed)??;
    let (chunks, body) = mpsc::channel(4);
    let on_failure = chunks.clone();
    let writing = spawn_blocking(move || {
        let out = io::BufWriter::with_capacity(64 << 10, ChunkWriter(chunks.clone()));
        let failed = match export(&state.log, &query, format, out) {
            Ok(_) => return,
            Err(ExportError::Log(e)) => from_engine(e),
            // The client went away: nobody to tell.
            Err(ExportError::Output(_)) if chunks.is_closed() => return,
            Err(ExportError::Output(e)) => Status::internal(format!("writing the export: {e}")),
        };
        let _ = chunks.blocking_send(Err(failed));
    });
    // An export that failed (a panic) must not end like a complete one.
    tokio::spawn(async move {
        if let Err(e) = writing.await {
            let _ = on_failure.send(Err(task_failed(e))).await;
        }
    });
    Ok(body)
}

/// The filter and order of an export, as the details of its record (absent fields
/// left out).
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

/// Hands what it is given to the response, waiting while the client is slower.
struct ChunkWriter(mpsc::Sender<Result<Vec<u8>, Status>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
