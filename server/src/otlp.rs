//! OTLP logs in (docs/OTLP.md), the same for both transports: `grpc/otlp.rs` (the
//! `LogsService` on the gRPC port) and `http/otlp.rs` (`POST /v1/logs`). Each log
//! record is mapped to an event (`auditlog_proto::otlp`) and sorted like an HTTP ingest
//! event: those that map and that the key may write are stored as one batch; the rest
//! are counted in `partial_success` with their reasons, never dropped unsaid.

use std::sync::Arc;

use auditlog_proto::ingest_body::MAX_EVENTS;
use auditlog_proto::opentelemetry::proto::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use auditlog_proto::otlp::{Encoding, ReadError, events_of, read_logs};
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::auth::Caller;
use crate::intake::Sorting;
use crate::status::task_failed;

/// Refusals named in `error_message`; the rest are counted.
const REASONS_SHOWN: usize = 5;

/// Stores what maps of the request `body` holds (inflated already) and answers as OTLP
/// does: no `partial_success` when every record was stored.
pub(crate) async fn export(
    state: Arc<State>,
    caller: Caller,
    body: bytes::Bytes,
    encoding: Encoding,
) -> Result<ExportLogsServiceResponse, Status> {
    let read = spawn_blocking(move || {
        read_logs(&body, encoding, MAX_EVENTS, |logs| {
            let records = logs.records().len();
            if records == 0 {
                return Ok(None);
            }
            // Admitted once read: a request that can never be stored is refused as such
            // (not as busy, which a client would retry).
            let admitted = state.limits.admit(body.len())?;
            state.limits.events(&caller.key, records as u64)?;
            let mut sorting = Sorting::new(&state, caller, records);
            let mut places = Vec::with_capacity(records);
            for (place, event) in events_of(logs) {
                let name = || place.to_string();
                sorting.offer(name, event.map_err(Status::invalid_argument));
                places.push(place);
            }
            Ok::<_, Status>(Some((places, sorting.submit(admitted)?)))
        })
    })
    .await
    .map_err(task_failed)?;
    let read = read.map_err(|e| match e {
        ReadError::TooManyRecords { .. } => Status::out_of_range(e.to_string()),
        ReadError::Protobuf(_) | ReadError::Json(_) => Status::invalid_argument(e.to_string()),
    })??;
    let Some((places, sorted)) = read else {
        return Ok(ExportLogsServiceResponse::default());
    };
    let records = places.len();
    let (fates, _) = sorted.fates().await?;
    let refused: Vec<String> = fates
        .iter()
        .zip(&places)
        .filter_map(|(fate, place)| {
            let status = fate.as_ref().err()?;
            let name = place.to_string();
            // Refusals raised on a record already name it (a bad member); the others
            // (a tenant outside the key's scope) get its name here.
            Some(if status.message().starts_with(name.as_str()) {
                status.message().to_owned()
            } else {
                format!("{name}: {}", status.message())
            })
        })
        .collect();
    // Stored, but flagged: said too (with none refused, a partial success refusing none
    // is OTLP's way to warn).
    let flagged: Vec<String> = fates
        .iter()
        .filter_map(|f| f.as_ref().ok()?.flagged.as_ref())
        .map(|f| format!("{}: {}", f.field, f.violation.message))
        .collect();
    let mut parts = Vec::new();
    if !refused.is_empty() {
        parts.push(format!(
            "{} of {records} log records refused (docs/OTLP.md has the mapping): {}",
            refused.len(),
            shown(&refused)
        ));
    }
    if !flagged.is_empty() {
        parts.push(format!(
            "{} of {records} log records stored but flagged: they fail their action's \
             catalogued schema (docs/CATALOG.md): {}",
            flagged.len(),
            shown(&flagged)
        ));
    }
    if parts.is_empty() {
        return Ok(ExportLogsServiceResponse::default());
    }
    Ok(ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: refused.len() as i64,
            error_message: parts.join(". "),
        }),
    })
}

/// The first reasons, and how many more.
fn shown(reasons: &[String]) -> String {
    let mut text = reasons[..reasons.len().min(REASONS_SHOWN)].join("; ");
    if reasons.len() > REASONS_SHOWN {
        text.push_str(&format!("; and {} more", reasons.len() - REASONS_SHOWN));
    }
    text
}
