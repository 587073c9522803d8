//! `/v1/viewer-tokens`: viewer tokens issued, listed and revoked (docs/VIEWER.md) by an
//! admin key, or a key administering the token's tenant. Each issue and revocation is
//! a `_system` event of the key.

use std::sync::Arc;

use auditlog_engine::Timestamp;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, caller, json_body};
use crate::State;
use crate::audit::{self, SYSTEM_TENANT, SystemEvent};
use crate::auth::Caller;
use crate::keys::Tenants;
use crate::status::{invalid_field, task_failed};
use crate::viewer::token::unix_now;
use crate::viewer::{Narrowing, TokenRecord};

/// A token's life when none is asked for, and the longest one may ask for: a viewer
/// session, not a credential to keep.
const DEFAULT_TTL_SECONDS: i64 = 3600;
const MAX_TTL_SECONDS: i64 = 24 * 3600;
/// (One second: tests of expiry need no long wait; a token that short is useless but
/// harmless.)
const MIN_TTL_SECONDS: i64 = 1;

const MAX_BODY: usize = 16 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    tenant: String,
    ttl_seconds: Option<i64>,
    /// The query filters the token is narrowed to (none: the whole tenant).
    #[serde(default)]
    filter: Narrowing,
}

/// A token as answered (never the token itself, but at its creation).
fn record_json(record: &TokenRecord) -> Value {
    json!({
        "id": record.id,
        "tenant": record.tenant,
        "filter": record.narrowing,
        "created": record.created,
        "expires": Timestamp::from_unix_seconds(record.expires).to_rfc3339(),
        "created_by": record.created_by,
        "revoked": record.revoked,
    })
}

/// Whether `caller` administers `tenant` (a viewer token administers none: it has no
/// `admin_tenants`).
fn administers(caller: &Caller, tenant: &str) -> bool {
    caller.manages(&Tenants::Only([tenant.to_owned()].into()))
}

/// Refuses unless `caller` is a key (not a viewer token) administering `tenant`.
fn require_manages(caller: &Caller, tenant: &str) -> Result<(), Status> {
    caller.require_key()?;
    if administers(caller, tenant) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "this API key does not administer tenant `{tenant}`"
        )))
    }
}

/// `POST /v1/viewer-tokens`: `{"tenant":…, "ttl_seconds":…, "filter":{"actor":…,
/// "actions":[…], "outcomes":[…], "resource_type":…, "resource_id":…, "from":…,
/// "to":…}}` → 201 with the token (shown once) and the viewer's URL.
pub(crate) async fn create(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_key()?;
    caller.require_some_admin()?;
    let given: CreateBody = json_body(&headers, body, MAX_BODY).await?;
    if given.tenant.is_empty() {
        return Err(invalid_field("tenant", "a viewer token reads one tenant: name it").into());
    }
    if given.tenant == SYSTEM_TENANT {
        let why = format!("`{SYSTEM_TENANT}` holds the server's own events, not a customer's");
        return Err(invalid_field("tenant", &why).into());
    }
    require_manages(&caller, &given.tenant)?;
    given
        .filter
        .filter(&given.tenant)
        .map_err(|(field, why)| invalid_field(&format!("filter.{field}"), &why))?;
    let ttl = given.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        let why = format!("from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS} seconds");
        return Err(invalid_field("ttl_seconds", &why).into());
    }
    let (record, token) = spawn_blocking(move || -> Result<_, Status> {
        let (record, token) = state
            .viewers
            .issue(
                &given.tenant,
                given.filter,
                unix_now() + ttl,
                &caller.key.id,
            )
            .map_err(|e| Status::internal(format!("issuing a viewer token: {e:#}")))?;
        audit::record(
            &state.log,
            token_event(&caller, "auditlog.viewer_token.create", &record),
        )?;
        Ok((record, token))
    })
    .await
    .map_err(task_failed)??;
    let mut answer = record_json(&record);
    answer["url"] = format!("/ui/#token={token}").into();
    answer["token"] = token.into();
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `GET /v1/viewer-tokens`: the live tokens of the tenants the key administers.
pub(crate) async fn list(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_key()?;
    caller.require_some_admin()?;
    let tokens: Vec<Value> = (state.viewers.list().iter())
        .filter(|t| administers(&caller, &t.tenant))
        .map(record_json)
        .collect();
    Ok(axum::Json(json!({ "tokens": tokens })).into_response())
}

/// The token `id`, if the key administers its tenant (else, as when there is none, 404:
/// its existence is not another tenant's business).
fn managed(state: &State, caller: &Caller, id: &str) -> Result<TokenRecord, Status> {
    caller.require_key()?;
    caller.require_some_admin()?;
    state
        .viewers
        .get(id)
        .filter(|t| administers(caller, &t.tenant))
        .ok_or_else(|| Status::not_found(format!("no viewer token `{id}`")))
}

/// `GET /v1/viewer-tokens/{id}`.
pub(crate) async fn get(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let record = managed(&state, &caller, &id)?;
    Ok(axum::Json(json!({ "token": record_json(&record) })).into_response())
}

/// `DELETE /v1/viewer-tokens/{id}`: revoked from the next request on, and gone from
/// the listing (the `_system` event keeps the revocation).
pub(crate) async fn revoke(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    managed(&state, &caller, &id)?;
    let record = spawn_blocking(move || -> Result<_, Status> {
        let record = state
            .viewers
            .revoke(&id)
            .map_err(|e| Status::internal(format!("revoking a viewer token: {e:#}")))?
            .ok_or_else(|| Status::not_found(format!("no viewer token `{id}`")))?;
        audit::record(
            &state.log,
            token_event(&caller, "auditlog.viewer_token.revoke", &record),
        )?;
        Ok(record)
    })
    .await
    .map_err(task_failed)??;
    Ok(axum::Json(json!({ "token": record_json(&record) })).into_response())
}

/// The `_system` event of `caller` doing `action` to token `record`.
fn token_event<'a>(
    caller: &'a Caller,
    action: &'static str,
    record: &TokenRecord,
) -> SystemEvent<'a> {
    SystemEvent {
        actor: caller.actor(),
        action,
        resource: Some(("viewer_token", record.id.clone())),
        details: json!({
            "tenant": record.tenant,
            "filter": record.narrowing,
            "expires": Timestamp::from_unix_seconds(record.expires).to_rfc3339(),
        }),
    }
}
