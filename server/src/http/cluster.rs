//! The shard map as clients read it: `GET /v1/cluster/writer?tenant=T`, the node that
//! writes a tenant (for a key that may ingest or read it), and `GET /v1/cluster`, every
//! live node and every tenant's node (admin keys); and `POST /v1/cluster/move`, which
//! hands a tenant written by this node over to another (admin keys).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as Params, State as Shared};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tonic::Status;

use auditlog_engine::system::{SYSTEM_TENANT, SystemActor, SystemEvent};

use super::{HttpError, caller, json_body};
use crate::State;
use crate::cluster::{Membership, unreachable};
use crate::status::task_failed;

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

/// The body of `POST /v1/cluster/move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveBody {
    tenant: String,
    to: String,
}

/// `POST /v1/cluster/move {"tenant":…,"to":<node>}`: hands the tenant over to node `to`
/// (docs/SCALING.md, "Moving a tenant"), recorded as the caller's `_system` event
/// `auditlog.cluster.move`; answers `{"tenant","from","to","handed_over_seq","checkpoint"}`.
pub(crate) async fn move_tenant(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    request: axum::body::Body,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_admin()?;
    let given: MoveBody = json_body(&headers, request, 4 << 10).await?;
    if given.tenant == SYSTEM_TENANT || given.tenant.is_empty() {
        return Err(Status::invalid_argument(format!(
            "tenant `{}` cannot move: the log's own tenant stays with its log",
            given.tenant
        ))
        .into());
    }
    membership(&state)?;
    let moved = tokio::task::spawn_blocking(move || {
        let cluster = state.cluster.as_ref().expect("a member");
        let moved = cluster.move_tenant(&state.log, &given.tenant, &given.to)?;
        // The move is done whatever happens to its `_system` event: answered as done.
        let recorded = crate::audit::record(
            &state.log,
            SystemEvent {
                actor: SystemActor::Key(&caller.key.id),
                action: "auditlog.cluster.move",
                resource: Some(("tenant", moved.tenant.clone())),
                details: json!({"to": moved.to, "handed_over_seq": moved.handed_over_seq}),
            },
        );
        if let Err(e) = recorded {
            eprintln!(
                "auditlogd: tenant {} moved to {}, but its _system event was not recorded: {}",
                moved.tenant,
                moved.to,
                e.message()
            );
        }
        Ok::<_, Status>(moved)
    })
    .await
    .map_err(task_failed)??;
    Ok(axum::Json(moved).into_response())
}
