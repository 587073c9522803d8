//! What a node serves its read replicas (admin keys; docs/SCALING.md, "Read replicas"),
//! and what a replica says of itself:
//!
//! - `GET /v1/replica/checkpoint`: the checkpoint the log publishes (with witnesses, the
//!   newest they cosigned), never one signed for the request.
//! - `GET /v1/replica/records?from_seq=S&to_seq=T[&checkpoint=N]`: every record of `S..T`
//!   as a bundle proven against the checkpoint at `N` (default `T`; `T <= N`: a replica
//!   takes a long stretch in pages). Recorded (`auditlog.replica.follow`) unless it goes
//!   on from where one of the key's reads ended: a replica's steady following is
//!   recorded once, since each record of it would be shipped by the next call and a
//!   replica would never catch up; any other read of records is recorded.
//! - `GET /v1/replica/keys`: the API keys' records (hashes of their tokens, never tokens).
//! - `POST /v1/replica/record`: a bulk read served by a replica, recorded here.
//!
//! On a replica, these (but `GET /v1/replica`) are refused like writes: it has no
//! replicas of its own.
//! - `GET /v1/replica` (on a replica): how far behind it is.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use auditlog_engine::bundle::Selection;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Query as Params, State as Shared};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::task::spawn_blocking;
use tonic::Status;

use super::bundle::stream_bundle;
use super::{HttpError, caller};
use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::conn::GuardedInfo;
use crate::replica::PrimaryKeys;
use crate::status::{from_engine, invalid_field, task_failed};

/// The bulk reads a replica records on its primary (those a node records of its own).
const RECORDED_READS: [&str; 3] = [
    "auditlog.export.run",
    "auditlog.query.run",
    "auditlog.report.run",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordsParams {
    from_seq: u64,
    to_seq: u64,
    checkpoint: Option<u64>,
}

/// `GET /v1/replica/checkpoint`.
pub(crate) async fn checkpoint(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    caller(&state, &headers)?.require_admin()?;
    let signed = crate::access::published_checkpoint(&state)?;
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    Ok((headers, signed.to_text()).into_response())
}

/// `GET /v1/replica/records?from_seq=S&to_seq=T[&checkpoint=N]`.
pub(crate) async fn records(
    Shared(state): Shared<Arc<State>>,
    connection: Option<Extension<GuardedInfo>>,
    headers: HeaderMap,
    given: Result<Params<RecordsParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_admin()?;
    let Params(p) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    if p.to_seq < p.from_seq {
        return Err(invalid_field("to_seq", "below from_seq").into());
    }
    let against = p.checkpoint.unwrap_or(p.to_seq);
    if against < p.to_seq {
        return Err(invalid_field("checkpoint", "below to_seq").into());
    }
    let checked = Arc::clone(&state);
    spawn_blocking(move || checked.log.checkpoint_at(against))
        .await
        .map_err(task_failed)?
        .map_err(from_engine)?
        .ok_or_else(|| Status::not_found(format!("no checkpoint was issued at size {against}")))?;
    let slot = state.limits.open_stream(&caller.key)?;
    if !state.followers.goes_on(&caller.key.id, p.from_seq) {
        let (recording, key) = (Arc::clone(&state), caller.key.id.clone());
        spawn_blocking(move || {
            let event = SystemEvent {
                actor: Actor::Key(&key),
                action: "auditlog.replica.follow",
                resource: None,
                details: serde_json::json!({
                    "from_seq": p.from_seq, "to_seq": p.to_seq, "checkpoint": against,
                }),
            };
            audit::record(&recording.log, event)
        })
        .await
        .map_err(task_failed)??;
    }
    state.followers.read_to(&caller.key.id, p.to_seq);
    let selection = Selection {
        from_seq: p.from_seq,
        to_seq: Some(p.to_seq),
        ..Selection::default()
    };
    stream_bundle(state, caller, (selection, Some(against)), slot, connection).await
}

/// `GET /v1/replica/keys`.
pub(crate) async fn keys(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Json<PrimaryKeys>, HttpError> {
    caller(&state, &headers)?.require_admin()?;
    Ok(Json(PrimaryKeys {
        keys: state.keys.list(),
    }))
}

/// A bulk read a replica served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadRecord {
    /// One of [`RECORDED_READS`].
    action: String,
    /// The id of the key that read.
    key: String,
    resource: ReadResource,
    details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadResource {
    r#type: String,
    id: String,
}

/// `POST /v1/replica/record`: recorded as the reading key's, with the replica's key in
/// `details.replica_key`, before it is answered.
pub(crate) async fn record(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Json<ReadRecord>, JsonRejection>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_admin()?;
    let Json(read) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    let Some(&action) = RECORDED_READS.iter().find(|a| **a == read.action) else {
        return Err(invalid_field("action", "not a bulk read a replica records").into());
    };
    let resource_type = match read.resource.r#type.as_str() {
        "export" => "export",
        "query" => "query",
        "report" => "report",
        _ => return Err(invalid_field("resource.type", "export, query or report").into()),
    };
    // The read was a live key's, of what it may read.
    let Ok(reader) = state.keys.active(&read.key) else {
        return Err(invalid_field("key", "not an active key of this server").into());
    };
    if let Some(tenant) = read.details.get("tenant") {
        let readable = tenant
            .as_str()
            .is_some_and(|t| reader.scope.admin || reader.scope.read.allows(t));
        if !readable {
            return Err(invalid_field("details.tenant", "not a tenant the key reads").into());
        }
    }
    let mut details = read.details;
    details.insert("replica_key".to_owned(), caller.key.id.clone().into());
    let seq = spawn_blocking(move || {
        let event = SystemEvent {
            actor: Actor::Key(&read.key),
            action,
            resource: Some((resource_type, read.resource.id)),
            details: details.into(),
        };
        audit::record_at(&state.log, event)
    })
    .await
    .map_err(task_failed)??;
    Ok(Json(serde_json::json!({"seq": seq})))
}

/// `GET /v1/replica` on a replica (any key that reads): its primary, the checkpoints'
/// sizes, and its lag.
pub(crate) async fn status(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, HttpError> {
    caller(&state, &headers)?.require_any_read()?;
    let Some(replica) = &state.replica else {
        return Err(Status::not_found("this server is no read replica").into());
    };
    let s = &replica.status;
    Ok(Json(serde_json::json!({
        "primary": replica.primary,
        "kept_tree_size": s.kept_size.load(Ordering::Relaxed),
        "primary_tree_size": s.primary_size.load(Ordering::Relaxed),
        "lag_events": s.lag_events(),
        "lag_seconds": s.lag_seconds(),
        "events_taken": s.events.load(Ordering::Relaxed),
        "refused": s.refused.load(Ordering::Relaxed),
        "failures": s.failures.load(Ordering::Relaxed),
        "problem": s.problem(),
    })))
}
