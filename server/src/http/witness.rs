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

pub(crate) async fn add_checkpoint(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if state.witness.is_none() {
        return (
            StatusCode::NOT_FOUND,
            plain,
            "this server is not a witness\n",
        )
            .into_response();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let answer = spawn_blocking(move || match &state.witness {
        Some(witness) => witness.add_checkpoint(&body, now),
        None => Err(Refusal::Failed("this server is not a witness".into())),
    })
    .await
    .unwrap_or_else(|e| Err(Refusal::Failed(e.to_string())));
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
