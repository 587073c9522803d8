//! Who is calling and what they may see. Every request carries
//! `authorization: Bearer <key>`; the interceptor resolves it to a [`Caller`] before any
//! handler runs. Tenant isolation is enforced here, on the engine's own filter, below
//! every API: a read scoped to tenants always filters on one of them, so no filter,
//! cursor or leaf index can reach another tenant's events.

use std::collections::BTreeSet;
use std::sync::Arc;

use auditlog_engine::query::Filter;
use tonic::{Request, Status};

use crate::State;
use crate::audit::SYSTEM_TENANT;
use crate::keys::{AuthError, KeyRecord, Tenants};

/// The authenticated key of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) key: KeyRecord,
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

    /// Whether the key may read events of `tenant`.
    pub(crate) fn reads(&self, tenant: &str) -> bool {
        self.key.scope.admin || self.key.scope.read.allows(tenant)
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
        match &filter.tenant {
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

/// The caller whose bearer token is `token`: authenticated, and within its key's rate of
/// requests. Every request of either API passes here.
pub(crate) fn admit(state: &State, token: &str) -> Result<Caller, Status> {
    let key = state
        .keys
        .authenticate(token)
        .map_err(|e| Status::unauthenticated(e.to_string()))?;
    state.limits.request(&key)?;
    Ok(Caller { key })
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
