//! The shard map as clients read it: `GET /v1/cluster/writer?tenant=T`, the node that
//! writes a tenant (for a key that may ingest or read it), and `GET /v1/cluster`, every
//! live node and every tenant's node (admin keys).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as Params, State as Shared};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tonic::Status;

use super::{HttpError, caller};
use crate::State;
use crate::cluster::{Membership, unreachable};

/// The query of `GET /v1/cluster/writer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriterParams {
    tenant: String,
}

fn membership(state: &State) -> Result<&Arc<Membership>, Status> {
    state.cluster.as_ref().ok_or_else(|| {
        Status::not_found("this server is not a node of a cluster (no --cluster-etcd)")
    })
}

/// `{"tenant":…,"node":…|null,"grpc":…,"http":…,"live":bool}`: `node` null for a tenant
/// no node writes yet (its first write claims it for the node it is sent to); `live`
/// whether that node is a live member now.
pub(crate) async fn writer(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<WriterParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Params(params) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    let scope = &caller.key.scope;
    let tenant = &params.tenant;
    if !(scope.admin || scope.ingest.allows(tenant) || scope.read.allows(tenant)) {
        return Err(Status::permission_denied(format!(
            "this API key neither ingests nor reads tenant `{tenant}`"
        ))
        .into());
    }
    let cluster = membership(&state)?;
    let Some(node) = cluster.assigned(tenant).await.map_err(unreachable)? else {
        return Ok(axum::Json(json!({"tenant": tenant, "node": null})).into_response());
    };
    let record = cluster.node(&node).await.map_err(unreachable)?;
    let mut answer = json!({"tenant": tenant, "node": node, "live": record.is_some()});
    if let Some(record) = record {
        answer["grpc"] = record.grpc.into();
        answer["http"] = record.http.into();
    }
    Ok(axum::Json(answer).into_response())
}

/// `{"node":<this node>,"nodes":[<record>…],"tenants":{"<tenant>":"<node>",…}}`.
pub(crate) async fn map(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    caller(&state, &headers)?.require_admin()?;
    let cluster = membership(&state)?;
    let nodes = cluster.members().await.map_err(unreachable)?;
    let tenants: serde_json::Map<String, serde_json::Value> = cluster
        .assignments()
        .await
        .map_err(unreachable)?
        .into_iter()
        .map(|(tenant, node)| (tenant, node.into()))
        .collect();
    Ok(
        axum::Json(json!({"node": cluster.name(), "nodes": nodes, "tenants": tenants}))
            .into_response(),
    )
}
