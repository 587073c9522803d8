//! `POST /v1/events`: events in over HTTP, with what gRPC ingest has (keys, tenant
//! scoping, the in-flight budget and key rates answered 429 with `Retry-After`,
//! `event_id` idempotency) and one difference: events are refused one by one. The
//! events that pass are stored as one batch; the answer holds, per event in request
//! order, its `seq` or its refusal in the API's error shape.
//!
//! The status says how the request went as a whole: 200 every event stored, 207 some
//! refused, and when every event was refused the status of the first refusal (400,
//! 403) with a top-level `error` beside the per-event results. A body that cannot be
//! read whole (too large: 413; a content type or encoding not accepted: 415; bad gzip
//! or JSON at the top: 400) stores nothing.

use std::sync::Arc;

use auditlog_proto::ingest_body::{self, BodyEncoding, BodyFormat};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as Params, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, body_refused, caller, error_body, read_body};
use crate::State;
use crate::intake::{Fates, Sorting};
use crate::status::{invalid_field, task_failed};

/// The query parameters of `POST /v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestParams {
    /// `all` (a result per event) or `refused` (only refused events, with their index).
    results: Option<String>,
}

pub(crate) async fn events(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<IngestParams>, QueryRejection>,
    body: Body,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Params(params) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    let only_refused = match params.results.as_deref() {
        None | Some("all") => false,
        Some("refused") => true,
        Some(other) => {
            let why = format!("`{other}` is neither `all` nor `refused`");
            return Err(invalid_field("results", &why).into());
        }
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let format =
        BodyFormat::from_content_type(header(header::CONTENT_TYPE)).map_err(body_refused)?;
    let encoding = BodyEncoding::from_content_encoding(header(header::CONTENT_ENCODING))
        .map_err(body_refused)?;
    let body = read_body(&headers, body, state.max_request_bytes).await?;
    let sorted = spawn_blocking({
        let state = Arc::clone(&state);
        move || {
            let body = ingest_body::inflate(&body, encoding, state.max_request_bytes)
                .map_err(body_refused)?;
            let admitted = state.limits.admit(body.len())?;
            let events = ingest_body::split_events(&body, format).map_err(body_refused)?;
            state.limits.events(&caller.key, events.len() as u64)?;
            let mut sorting = Sorting::new(&state, caller, events.len());
            for (i, event) in events.into_iter().enumerate() {
                let field = || format!("events[{i}]");
                let event = event.map_err(|bad| {
                    let field = match bad.field() {
                        Some(name) => format!("{}.{name}", field()),
                        None => field(),
                    };
                    invalid_field(&field, &bad.to_string())
                });
                sorting.offer(field, event);
            }
            Ok::<_, HttpError>(sorting.submit(admitted)?)
        }
    })
    .await
    .map_err(task_failed)??;
    Ok(answer(sorted.fates().await?, only_refused))
}

/// `{"accepted":N,"refused":M,"tree_size":T,"results":[{"seq":…}|{"error":…},…]}`; with
/// `only_refused`, the results of refused events only, each with its `index`.
fn answer((fates, tree_size): Fates, only_refused: bool) -> Response {
    let accepted = fates.iter().filter(|f| f.is_ok()).count();
    let results: Vec<Value> = fates
        .iter()
        .enumerate()
        .filter_map(|(index, fate)| match fate {
            Ok(_) if only_refused => None,
            Ok(stored) => {
                let mut result = json!({"seq": stored.seq});
                if stored.replayed {
                    result["replayed"] = true.into();
                }
                if let Some(flag) = &stored.flagged {
                    result["flagged"] = json!({
                        "field": flag.field,
                        "message": flag.violation.message,
                        "schema_version": flag.violation.version,
                    });
                }
                Some(result)
            }
            Err(status) if only_refused => {
                let mut refused = error_body(status);
                refused["index"] = index.into();
                Some(refused)
            }
            Err(status) => Some(error_body(status)),
        })
        .collect();
    let mut body = json!({
        "accepted": accepted,
        "refused": fates.len() - accepted,
        "tree_size": tree_size,
        "results": results,
    });
    let first_refusal = fates.iter().find_map(|f| f.as_ref().err());
    let status = match first_refusal {
        None => StatusCode::OK,
        Some(_) if accepted > 0 => StatusCode::MULTI_STATUS,
        Some(first) => {
            let whole = Status::new(
                first.code(),
                format!(
                    "every event was refused ({} in all); the first: {}",
                    fates.len(),
                    first.message()
                ),
            );
            body["error"] = error_body(&whole)["error"].take();
            HttpError::http_status(first.code())
        }
    };
    (status, axum::Json(body)).into_response()
}
