//! Who is calling and what they may see. Every request carries
//! `authorization: Bearer <key>`; the interceptor resolves it to a [`Caller`] before any
//! handler runs. Tenant isolation is enforced here, on the engine's own filter, below
//! every API: a read scoped to tenants always filters on one of them, so no filter,
//! cursor or leaf index can reach another tenant's events.

use std::collections::BTreeSet;
use std::sync::Arc;

use auditlog_engine::event::RawEvent;
use auditlog_engine::query::Filter;
use tonic::{Request, Status};

use crate::State;
use crate::audit::{Actor as SystemActor, SYSTEM_TENANT};
use crate::keys::{AuthError, KeyRecord, Scope, Tenants};
use crate::viewer::{self, Viewer};

/// The authenticated key of a request: an API key, or a viewer token standing as a key
/// that reads its tenant only, with the token's narrowing beside it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) key: KeyRecord,
    /// The viewer token, when the bearer is one.
    pub(crate) viewer: Option<Arc<Viewer>>,
}

impl Caller {
    /// Refuses unless the key is an admin key.
    pub(crate) fn require_admin(&self) -> Result<(), Status> {
        if self.key.scope.admin {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "this API key is not an admin key",
            ))
        }
    }

    /// Whether the key may manage the sinks of `tenants` (every one of them): an admin
    /// key, or a key administering them all.
    pub(crate) fn manages(&self, tenants: &Tenants) -> bool {
        self.key.scope.admin || self.key.scope.admin_tenants.covers(tenants)
    }

    /// Refuses unless the key administers some tenant (or is an admin key).
    pub(crate) fn require_some_admin(&self) -> Result<(), Status> {
        if self.key.scope.admin || self.key.scope.admin_tenants != Tenants::None {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "this API key administers no tenant",
            ))
        }
    }

    /// Refuses unless the key may append events of `tenant`.
    pub(crate) fn require_ingest(&self, tenant: &str) -> Result<(), Status> {
        if tenant == SYSTEM_TENANT {
            return Err(Status::permission_denied(format!(
                "tenant `{SYSTEM_TENANT}` holds the server's own events: no key may ingest into it"
            )));
        }
        if self.key.scope.admin || self.key.scope.ingest.allows(tenant) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "this API key may not ingest events of tenant `{tenant}`"
            )))
        }
    }

    /// Whether the key may read event `seq`: one of its tenants', and within a viewer
    /// token's narrowing.
    pub(crate) fn reads(&self, seq: u64, event: &RawEvent<'_>) -> bool {
        let tenant = String::from_utf8_lossy(event.tenant_id);
        let tenant_read = self.key.scope.admin || self.key.scope.read.allows(&tenant);
        tenant_read
            && self
                .viewer
                .as_ref()
                .is_none_or(|v| v.filter.matches_raw(seq, event))
    }

    /// Who the caller is in the `_system` events it causes.
    pub(crate) fn actor(&self) -> SystemActor<'_> {
        match &self.viewer {
            Some(viewer) => SystemActor::ViewerToken(&viewer.claims.id),
            None => SystemActor::Key(&self.key.id),
        }
    }

    /// Refuses unless the caller's key or viewer token is still valid: for requests
    /// that outlive their authentication (query streams, exports), before each page or
    /// chunk.
    pub(crate) fn still_valid(&self, state: &State) -> Result<(), Status> {
        match &self.viewer {
            Some(viewer) => {
                let live = state.viewers.get(&viewer.claims.id).is_some();
                if !live {
                    return Err(Status::unauthenticated(
                        "the viewer token expired or was revoked",
                    ));
                }
                issuer_of(state, viewer).map(drop)
            }
            None => match state.keys.active(&self.key.id) {
                Ok(_) => Ok(()),
                // Another node's key, the cluster's keys not read lately: not known revoked.
                Err(AuthError::KeysUnread) => {
                    Err(Status::unavailable(AuthError::KeysUnread.to_string()))
                }
                Err(_) => Err(Status::unauthenticated(AuthError::Revoked.to_string())),
            },
        }
    }

    /// Refuses viewer tokens (on routes that reveal more than events or proofs: the
    /// server's metrics and settings).
    pub(crate) fn require_key(&self) -> Result<(), Status> {
        match self.viewer {
            Some(_) => Err(Status::permission_denied(
                "a viewer token reads events, proofs and reports of its tenant only",
            )),
            None => Ok(()),
        }
    }

    /// Refuses unless the key reads some tenant's events (what proofs of the tree and
    /// checkpoints, which reveal no event, require).
    pub(crate) fn require_any_read(&self) -> Result<(), Status> {
        let some = self.key.scope.admin || self.key.scope.read != Tenants::None;
        if some || self.key.scope.ingest != Tenants::None {
            Ok(())
        } else {
            Err(Status::permission_denied("this API key has no rights"))
        }
    }

    /// Refuses unless the caller is a key (not a viewer token) that reads every tenant,
    /// for `why`.
    pub(crate) fn require_read_all(&self, why: &str) -> Result<(), Status> {
        let all = self.key.scope.admin || self.key.scope.read == Tenants::All;
        if all && self.viewer.is_none() {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "{why}: only a key that reads every tenant may read them"
            )))
        }
    }

    /// `filter` narrowed to what the key may read: unchanged for keys that read every
    /// tenant; else it must name one of the key's tenants, and a key of exactly one
    /// tenant names it by default.
    pub(crate) fn scope_filter(&self, mut filter: Filter) -> Result<Filter, Status> {
        let tenants: &BTreeSet<String> = match &self.key.scope.read {
            _ if self.key.scope.admin => return Ok(filter),
            Tenants::All => return Ok(filter),
            Tenants::None => {
                return Err(Status::permission_denied(
                    "this API key may not read events",
                ));
            }
            Tenants::Only(tenants) => tenants,
        };
        let filter = match &filter.tenant {
            Some(tenant) if tenants.contains(tenant) => Ok(filter),
            Some(tenant) => Err(Status::permission_denied(format!(
                "this API key may not read events of tenant `{tenant}`"
            ))),
            None => match tenants.iter().next() {
                Some(only) if tenants.len() == 1 => {
                    filter.tenant = Some(only.clone());
                    Ok(filter)
                }
                _ => Err(Status::invalid_argument(
                    "this API key reads several tenants: name one in the filter's `tenant`",
                )),
            },
        }?;
        match &self.viewer {
            Some(viewer) => viewer.narrow(filter),
            None => Ok(filter),
        }
    }
}

/// The interceptor every authenticated service runs: resolves the bearer token and
/// leaves the [`Caller`] in the request's extensions.
pub(crate) fn authenticate(
    state: Arc<State>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(AuthError::Missing)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let caller = admit(&state, token)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The caller whose bearer token is `token` (an API key or a viewer token):
/// authenticated, and within its key's rate of requests. Every request of either API
/// passes here.
pub(crate) fn admit(state: &State, token: &str) -> Result<Caller, Status> {
    let refused = |e: AuthError| Status::unauthenticated(e.to_string());
    let caller = if token.starts_with(viewer::token::PREFIX) {
        let viewer = state.viewers.authenticate(token).map_err(refused)?;
        let issuer = issuer_of(state, &viewer)?;
        // The token stands as a key of its own, reading its tenant, with its issuer's
        // rates and stream caps (each token its own: one tenant's viewers cannot use up
        // another's).
        let key = KeyRecord {
            id: format!("{}/viewer/{}", issuer.id, viewer.claims.id),
            name: "viewer token".to_owned(),
            scope: Scope {
                read: Tenants::Only([viewer.claims.tenant.clone()].into()),
                ..Scope::default()
            },
            limits: issuer.limits,
            created: String::new(),
            revoked: None,
            secret_hash: String::new(),
        };
        Caller {
            key,
            viewer: Some(Arc::new(viewer)),
        }
    } else {
        let key = state.keys.authenticate(token).map_err(|e| match e {
            AuthError::KeysUnread => Status::unavailable(e.to_string()),
            e => refused(e),
        })?;
        Caller { key, viewer: None }
    };
    state.limits.request(&caller.key)?;
    Ok(caller)
}

/// The key that issued `viewer`, if it still may: not revoked, and still administering
/// the token's tenant (a token is no more than its issuer).
fn issuer_of(state: &State, viewer: &Viewer) -> Result<KeyRecord, Status> {
    let issuer = match state.keys.active(&viewer.issuer) {
        Err(AuthError::KeysUnread) => {
            return Err(Status::unavailable(AuthError::KeysUnread.to_string()));
        }
        issuer => issuer.ok(),
    };
    issuer
        .filter(|k| {
            let tenant = Tenants::Only([viewer.claims.tenant.clone()].into());
            k.scope.admin || k.scope.admin_tenants.covers(&tenant)
        })
        .ok_or_else(|| {
            Status::unauthenticated(
                "the key that issued this viewer token was revoked or no longer administers its tenant",
            )
        })
}

/// The token of an `authorization` value `Bearer <token>` (the scheme in any case, as
/// RFC 9110 §11.1 has it).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The caller the interceptor left on `request`.
pub(crate) fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated(AuthError::Missing.to_string()))
}
