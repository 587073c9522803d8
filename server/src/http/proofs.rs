//! `/v1/proofs/inclusion`, `/v1/proofs/consistency` (the proof JSON of docs/PROOFS.md,
//! as `auditlog prove` prints it) and `/v1/checkpoint` (the signed note, as
//! `auditlog checkpoint` prints it).

use std::sync::Arc;

use auditlog_engine::merkle::Proof;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as Shared};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, caller};
use crate::State;
use crate::access::{checkpoint_at, latest_checkpoint, prove_inclusion, proven_record};
use crate::status::{from_engine, task_failed};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionParams {
    leaf_index: u64,
    tree_size: Option<u64>,
    /// Also answer the record's stored payload (`"record"`, base64), so that the caller
    /// can hash the leaf itself and read the event from the very bytes proven.
    #[serde(default)]
    record: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyParams {
    size1: u64,
    size2: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointParams {
    tree_size: Option<u64>,
}

fn bad_query(e: QueryRejection) -> HttpError {
    Status::invalid_argument(e.body_text()).into()
}

fn json(proof: &Proof) -> Response {
    let body = format!("{}\n", proof.to_json());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /v1/proofs/inclusion?leaf_index=I[&tree_size=N][&record=true]`: of an event
/// the key reads.
pub(crate) async fn inclusion(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Query<InclusionParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Query(p) = given.map_err(bad_query)?;
    let (proof, record) = spawn_blocking(move || -> Result<_, Status> {
        let proof = prove_inclusion(&state, &caller, p.leaf_index, p.tree_size)?;
        let record = match p.record {
            true => Some(proven_record(&state, p.leaf_index)?),
            false => None,
        };
        Ok((proof, record))
    })
    .await
    .map_err(task_failed)??;
    let proof = Proof::Inclusion(proof);
    let Some(record) = record else {
        return Ok(json(&proof));
    };
    let mut answer = serde_json::to_value(&proof).map_err(|e| Status::internal(e.to_string()))?;
    answer["record"] = BASE64.encode(record).into();
    let body = format!("{answer}\n");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /v1/proofs/consistency?size1=N1&size2=N2`: for any key (it reveals no event).
pub(crate) async fn consistency(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Query<ConsistencyParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_any_read()?;
    let Query(p) = given.map_err(bad_query)?;
    let proof = spawn_blocking(move || state.log.prove_consistency(p.size1, p.size2))
        .await
        .map_err(task_failed)?
        .map_err(from_engine)?;
    Ok(json(&Proof::Consistency(proof)))
}

/// `GET /v1/checkpoint[?tree_size=N]`: the newest signed checkpoint (see
/// docs/SERVER.md for when one is signed), or the one issued at a size.
pub(crate) async fn checkpoint(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Query<CheckpointParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Query(p) = given.map_err(bad_query)?;
    let signed = spawn_blocking(move || match p.tree_size {
        Some(size) => checkpoint_at(&state, &caller, size),
        None => latest_checkpoint(&state, &caller),
    })
    .await
    .map_err(task_failed)??;
    let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    Ok((headers, signed.to_text()).into_response())
}
