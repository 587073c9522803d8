//! The action catalog's part of `AdminService` (docs/CATALOG.md): define, remove, list,
//! and the coverage report. Changes are recorded as `_system` events of the caller and
//! put in force for the next event ingested.

use std::sync::Arc;

use auditlog_engine::system::SystemActor;
use auditlog_engine::{Error, Timestamp};
use auditlog_proto::convert::{coverage_to_proto, entry_to_proto, spec_from_proto};
use auditlog_proto::v1::{
    CoverageRequest, CoverageResponse, DefineActionRequest, DefineActionResponse,
    ListCatalogResponse, RemoveActionRequest, RemoveActionResponse,
};
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::auth::Caller;
use crate::status::{from_engine, invalid_field, task_failed};

/// Defines (or redefines) an action, its schema compiled first.
pub(crate) async fn define(
    state: &Arc<State>,
    caller: Caller,
    request: DefineActionRequest,
) -> Result<DefineActionResponse, Status> {
    let given = request
        .action
        .ok_or_else(|| invalid_field("action", "the action defined is required"))?;
    let spec = spec_from_proto(given)
        .map_err(|bad| invalid_field(&format!("action.{}", bad.field), &bad.message))?;
    if let Some(schema) = &spec.schema {
        auditlog_catalog::check_schema(&spec.action, schema)
            .map_err(|e| invalid_field("action.schema_json", &e.to_string()))?;
    }
    let state = Arc::clone(state);
    let defined = spawn_blocking(move || {
        let actor = SystemActor::Key(&caller.key.id);
        state
            .catalog
            .change(&state.log, || state.log.define_action(actor, &spec))
            .map_err(from_engine)
    })
    .await
    .map_err(task_failed)??;
    Ok(DefineActionResponse {
        version: defined.version,
        changed: defined.seq.is_some(),
        seq: defined.seq.unwrap_or(0),
    })
}

/// Removes an action; one not catalogued is FAILED_PRECONDITION.
pub(crate) async fn remove(
    state: &Arc<State>,
    caller: Caller,
    request: RemoveActionRequest,
) -> Result<RemoveActionResponse, Status> {
    if request.action.is_empty() {
        return Err(invalid_field("action", "the action removed is required"));
    }
    let state = Arc::clone(state);
    let ack = spawn_blocking(move || {
        let actor = SystemActor::Key(&caller.key.id);
        let removed = state.catalog.change(&state.log, || {
            state
                .log
                .remove_action(actor, &request.action, &request.reason)
        });
        removed.map_err(|e| match e {
            Error::InvalidArgument(m) => Status::failed_precondition(m),
            e => from_engine(e),
        })
    })
    .await
    .map_err(task_failed)??;
    Ok(RemoveActionResponse { seq: ack.first_seq })
}

/// The catalog, by action.
pub(crate) async fn list(state: &Arc<State>) -> Result<ListCatalogResponse, Status> {
    let state = Arc::clone(state);
    let catalog = spawn_blocking(move || state.log.catalog().map_err(from_engine))
        .await
        .map_err(task_failed)??;
    Ok(ListCatalogResponse {
        actions: catalog.entries().map(entry_to_proto).collect(),
    })
}

/// The coverage report, now.
pub(crate) async fn coverage(
    state: &Arc<State>,
    request: CoverageRequest,
) -> Result<CoverageResponse, Status> {
    let state = Arc::clone(state);
    let tenant = Some(request.tenant).filter(|t| !t.is_empty());
    let report = spawn_blocking(move || {
        state
            .log
            .coverage(tenant.as_deref(), Timestamp::now())
            .map_err(from_engine)
    })
    .await
    .map_err(task_failed)??;
    Ok(coverage_to_proto(&report))
}
