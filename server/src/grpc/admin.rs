//! `AdminService`: API keys, erasure, legal holds and the action catalog (`catalog.rs`),
//! for admin keys only.

use std::sync::Arc;

use auditlog_engine::Error;
use auditlog_proto::v1::admin_service_server::AdminService;
use auditlog_proto::v1::{
    CoverageRequest, CoverageResponse, CreateKeyRequest, CreateKeyResponse, DefineActionRequest,
    DefineActionResponse, EraseRequest, EraseResponse, Hold, HoldRequest, HoldResponse, KeyInfo,
    KeyLimits as ProtoLimits, ListCatalogRequest, ListCatalogResponse, ListHoldsRequest,
    ListHoldsResponse, ListKeysRequest, ListKeysResponse, RemoveActionRequest,
    RemoveActionResponse, RevokeKeyRequest, RevokeKeyResponse, Scope as ProtoScope,
};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use super::catalog;
use crate::State;
use crate::audit::{self, Actor, SYSTEM_TENANT, SystemEvent};
use crate::auth::{Caller, caller};
use crate::keys::{KeyLimits, KeyRecord, Scope, Tenants};
use crate::status::{from_engine, invalid_field, task_failed};

#[derive(Debug)]
pub(crate) struct Admin {
    state: Arc<State>,
}

impl Admin {
    pub(crate) fn new(state: Arc<State>) -> Admin {
        Admin { state }
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn create_key(
        &self,
        request: Request<CreateKeyRequest>,
    ) -> Result<Response<CreateKeyResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let request = request.into_inner();
        let scope = scope_from_proto(request.scope.unwrap_or_default())?;
        let limits = limits_from_proto(request.limits.unwrap_or_default())?;
        let state = Arc::clone(&self.state);
        // The key file is fsynced and the log appended to: off the async workers. The
        // secret is handed out only once the creation is in the log.
        let (key, secret) = spawn_blocking(move || {
            let (key, secret) = state
                .keys
                .create(&request.name, scope, limits)
                .map_err(|e| Status::internal(format!("{e:#}")))?;
            audit::record(&state.log, key_event(&caller, "auditlog.key.create", &key))?;
            Ok::<_, Status>((key, secret))
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(CreateKeyResponse {
            key: Some(key_to_proto(&key)),
            secret,
        }))
    }

    async fn revoke_key(
        &self,
        request: Request<RevokeKeyRequest>,
    ) -> Result<Response<RevokeKeyResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let id = request.into_inner().id;
        let state = Arc::clone(&self.state);
        let key = spawn_blocking(move || {
            let key = state
                .keys
                .revoke(&id)
                .map_err(|e| Status::internal(format!("{e:#}")))?
                .ok_or_else(|| Status::not_found(format!("no API key `{id}`")))?;
            audit::record(&state.log, key_event(&caller, "auditlog.key.revoke", &key))?;
            Ok::<_, Status>(key)
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(RevokeKeyResponse {
            key: Some(key_to_proto(&key)),
        }))
    }

    async fn erase(
        &self,
        request: Request<EraseRequest>,
    ) -> Result<Response<EraseResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let subject = request.into_inner().subject;
        if subject.is_empty() {
            return Err(invalid_field(
                "subject",
                "the subject's actor.user_id is required",
            ));
        }
        if self.state.log.config().sealing.is_none() {
            return Err(Status::failed_precondition(
                "this log does not seal personal data: there is nothing to erase",
            ));
        }
        let state = Arc::clone(&self.state);
        // The key store is rewritten and fsynced, the log appended to: off the async
        // workers. The receipt is answered once the erasure is in the log.
        let erased = spawn_blocking(move || {
            let erased = state
                .log
                .erase(&subject)
                .map_err(from_engine)?
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "{subject:?} has no key: no event of this subject was sealed"
                    ))
                })?;
            let e = &erased.receipt.erasure;
            let event = SystemEvent {
                actor: Actor::Key(&caller.key.id),
                action: "auditlog.subject.erase",
                resource: Some(("data_subject", subject.clone())),
                details: serde_json::json!({
                    "key_id": format!("{:016x}", e.key_id),
                    "erased_at": e.at.to_rfc3339(),
                    "tree_size": e.tree_size,
                    "earlier": erased.earlier,
                }),
            };
            audit::record(&state.log, event)?;
            Ok::<_, Status>(erased)
        })
        .await
        .map_err(task_failed)??;
        let e = &erased.receipt.erasure;
        Ok(Response::new(EraseResponse {
            receipt: erased.note.to_text(),
            key_id: format!("{:016x}", e.key_id),
            erased_at: e.at.to_rfc3339(),
            tree_size: e.tree_size,
            earlier: erased.earlier,
        }))
    }

    async fn list_keys(
        &self,
        request: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        caller(&request)?.require_admin()?;
        let keys = self.state.keys.list().iter().map(key_to_proto).collect();
        Ok(Response::new(ListKeysResponse { keys }))
    }

    async fn place_hold(
        &self,
        request: Request<HoldRequest>,
    ) -> Result<Response<HoldResponse>, Status> {
        self.change_hold(request, true).await
    }

    async fn lift_hold(
        &self,
        request: Request<HoldRequest>,
    ) -> Result<Response<HoldResponse>, Status> {
        self.change_hold(request, false).await
    }

    async fn list_holds(
        &self,
        request: Request<ListHoldsRequest>,
    ) -> Result<Response<ListHoldsResponse>, Status> {
        caller(&request)?.require_admin()?;
        let state = Arc::clone(&self.state);
        // Read from the `_system` tenant's events: off the async workers.
        let holds = spawn_blocking(move || state.log.legal_holds().map_err(from_engine))
            .await
            .map_err(task_failed)??;
        let holds = holds
            .into_iter()
            .map(|h| Hold {
                tenant: h.tenant,
                placed_at: h.placed_at.to_rfc3339(),
                seq: h.seq,
                reason: h.reason,
            })
            .collect();
        Ok(Response::new(ListHoldsResponse { holds }))
    }

    async fn define_action(
        &self,
        request: Request<DefineActionRequest>,
    ) -> Result<Response<DefineActionResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let answer = catalog::define(&self.state, caller, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn remove_action(
        &self,
        request: Request<RemoveActionRequest>,
    ) -> Result<Response<RemoveActionResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let answer = catalog::remove(&self.state, caller, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn list_catalog(
        &self,
        request: Request<ListCatalogRequest>,
    ) -> Result<Response<ListCatalogResponse>, Status> {
        caller(&request)?.require_admin()?;
        Ok(Response::new(catalog::list(&self.state).await?))
    }

    async fn coverage(
        &self,
        request: Request<CoverageRequest>,
    ) -> Result<Response<CoverageResponse>, Status> {
        caller(&request)?.require_admin()?;
        let answer = catalog::coverage(&self.state, request.into_inner()).await?;
        Ok(Response::new(answer))
    }
}

impl Admin {
    /// Places (`place`) or lifts a legal hold, recorded as the caller's `_system` event
    /// (the engine's) before the answer.
    async fn change_hold(
        &self,
        request: Request<HoldRequest>,
        place: bool,
    ) -> Result<Response<HoldResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let HoldRequest { tenant, reason } = request.into_inner();
        if tenant.is_empty() {
            return Err(invalid_field("tenant", "the tenant held is required"));
        }
        let state = Arc::clone(&self.state);
        let ack = spawn_blocking(move || {
            let actor = Actor::Key(&caller.key.id);
            let done = match place {
                true => state.log.place_hold(actor, &tenant, &reason),
                false => state.log.lift_hold(actor, &tenant, &reason),
            };
            // Placing a hold twice, or lifting none, is refused by the engine.
            done.map_err(|e| match e {
                Error::InvalidArgument(m) => Status::failed_precondition(m),
                e => from_engine(e),
            })
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(HoldResponse { seq: ack.first_seq }))
    }
}

/// The system event of `caller` doing `action` to `key`: its id, name, scope and limits
/// (never its secret or hash).
fn key_event<'a>(caller: &'a Caller, action: &'static str, key: &KeyRecord) -> SystemEvent<'a> {
    SystemEvent {
        actor: Actor::Key(&caller.key.id),
        action,
        resource: Some(("api_key", key.id.clone())),
        details: serde_json::json!({
            "name": key.name,
            "scope": key.scope,
            "limits": key.limits,
        }),
    }
}

fn tenants(all: bool, list: Vec<String>) -> Tenants {
    match (all, list.is_empty()) {
        (true, _) => Tenants::All,
        (false, true) => Tenants::None,
        (false, false) => Tenants::Only(list.into_iter().collect()),
    }
}

/// The scope asked for; a tenant administrator reads its tenants too.
fn scope_from_proto(scope: ProtoScope) -> Result<Scope, Status> {
    if scope.admin_tenants.iter().any(|t| t == SYSTEM_TENANT) {
        return Err(invalid_field(
            "scope.admin_tenants",
            &format!("`{SYSTEM_TENANT}` holds the server's own events: no key administers it"),
        ));
    }
    let mut read = tenants(scope.read_all_tenants, scope.read_tenants);
    let admin_tenants = tenants(false, scope.admin_tenants);
    if let Tenants::Only(administered) = &admin_tenants {
        read = match read {
            Tenants::All => Tenants::All,
            Tenants::None => Tenants::Only(administered.clone()),
            Tenants::Only(reads) => Tenants::Only(&reads | administered),
        };
    }
    Ok(Scope {
        ingest: tenants(scope.ingest_all_tenants, scope.ingest_tenants),
        read,
        admin: scope.admin,
        admin_tenants,
    })
}

fn limits_from_proto(limits: ProtoLimits) -> Result<KeyLimits, Status> {
    for (field, rate) in [
        ("limits.requests_per_second", limits.requests_per_second),
        ("limits.events_per_second", limits.events_per_second),
    ] {
        if rate == Some(0) {
            return Err(invalid_field(
                field,
                "a rate is at least 1 (leave it out for none)",
            ));
        }
    }
    Ok(KeyLimits {
        requests_per_second: limits.requests_per_second,
        events_per_second: limits.events_per_second,
    })
}

fn key_to_proto(key: &KeyRecord) -> KeyInfo {
    let split = |t: &Tenants| match t {
        Tenants::None => (false, Vec::new()),
        Tenants::Only(set) => (false, set.iter().cloned().collect()),
        Tenants::All => (true, Vec::new()),
    };
    let (ingest_all_tenants, ingest_tenants) = split(&key.scope.ingest);
    let (read_all_tenants, read_tenants) = split(&key.scope.read);
    let (_, admin_tenants) = split(&key.scope.admin_tenants);
    KeyInfo {
        id: key.id.clone(),
        name: key.name.clone(),
        scope: Some(ProtoScope {
            ingest_tenants,
            ingest_all_tenants,
            read_tenants,
            read_all_tenants,
            admin: key.scope.admin,
            admin_tenants,
        }),
        created: key.created.clone(),
        revoked: key.revoked.clone(),
        limits: Some(ProtoLimits {
            requests_per_second: key.limits.requests_per_second,
            events_per_second: key.limits.events_per_second,
        }),
    }
}
