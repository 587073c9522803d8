//! `POST /add-checkpoint`: the tlog-witness submission API, when this server is a
//! witness. Unauthenticated, as the protocol says: the log's signature on the checkpoint
//! is what is checked.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::spawn_blocking;

use crate::State;
use auditlog_engine::witness::Refusal;

/// Answers a log's add-checkpoint request (404 when this server witnesses no log).
pub(crate) async fn add_checkpoint(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let answer = spawn_blocking(move || {
        let witness = state.witness.as_ref()?;
        Some(witness.add_checkpoint(&body, now))
    })
    .await
    .unwrap_or_else(|e| Some(Err(Refusal::Failed(e.to_string()))));
    let Some(answer) = answer else {
        let why = "this server is not a witness\n";
        return (StatusCode::NOT_FOUND, plain, why).into_response();
    };
    match answer {
        Ok(cosignature) => (plain, cosignature).into_response(),
        Err(Refusal::Conflict(size)) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response(),
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, plain, format!("{refusal}\n")).into_response()
        }
    }
}
