//! Sinks managed, for both APIs (gRPC's `SinkService`, HTTP's `/v1/sinks`): created,
//! listed, paused, resumed, replayed and deleted by an admin key, or by a key that
//! administers every tenant of the sink; a sink outside the caller's tenants is not
//! found, as if it did not exist. Each change is recorded as a `_system` event before it
//! is answered; a webhook's secret is answered once, at creation.

use std::sync::Arc;

use auditlog_engine::Timestamp;
use auditlog_engine::query::{Order, Query};
use auditlog_proto::v1 as pb;
use tokio::task::spawn_blocking;
use tonic::Status;

use super::spec::NewSecret;
use super::{SinkRecord, SinkSpec, SinkStatus};
use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::auth::Caller;
use crate::status::{from_engine, invalid_field, task_failed};

/// Where a replay starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReplayFrom {
    Seq(u64),
    Time(Timestamp),
}

impl ReplayFrom {
    /// The start a request names, a seq or a time (RFC 3339), exactly one of them;
    /// INVALID_ARGUMENT otherwise, naming the seq's field or, for a bad time, the time's
    /// (`fields`: their names in the request's protocol).
    pub(crate) fn named(
        seq: Option<u64>,
        time: Option<String>,
        [seq_field, time_field]: [&str; 2],
    ) -> Result<Self, Status> {
        match (seq, time) {
            (Some(seq), None) => Ok(ReplayFrom::Seq(seq)),
            (None, Some(time)) => Timestamp::parse(&time)
                .map(ReplayFrom::Time)
                .map_err(|e| invalid_field(time_field, &e)),
            (Some(_), Some(_)) => Err(invalid_field(
                seq_field,
                &format!("name {seq_field} or {time_field}, not both"),
            )),
            (None, None) => Err(invalid_field(
                seq_field,
                &format!("replay from a seq ({seq_field}) or a time ({time_field})"),
            )),
        }
    }

    /// The start a gRPC request names (its oneof `from`: `seq` or `time`).
    pub(crate) fn from_proto(from: Option<pb::replay_sink_request::From>) -> Result<Self, Status> {
        use pb::replay_sink_request::From;
        let (seq, time) = match from {
            Some(From::Seq(seq)) => (Some(seq), None),
            Some(From::Time(time)) => (None, Some(time)),
            None => (None, None),
        };
        ReplayFrom::named(seq, time, ["from", "time"])
    }
}

/// Creates the sink `request` asks for; answers it with its secret.
pub(crate) async fn create(
    state: &Arc<State>,
    caller: Caller,
    request: pb::CreateSinkRequest,
) -> Result<pb::CreateSinkResponse, Status> {
    caller.require_some_admin()?;
    let spec = SinkSpec::from_proto(request.spec.unwrap_or_default())?;
    if !caller.manages(&spec.tenants) {
        return Err(Status::permission_denied(
            "this API key may not manage sinks of these tenants",
        ));
    }
    state.sinks.check_destination(&spec.destination)?;
    let secret = NewSecret::of(&spec.destination, request.secret)?;
    if let Some(seq) = request.from_seq {
        within_log(state, "from_seq", seq)?;
    }
    let state = Arc::clone(state);
    spawn_blocking(move || {
        let cursor = request.from_seq.unwrap_or_else(|| state.log.tree_size());
        let (sink, status, secret) = state
            .sinks
            .create(spec, secret, cursor, &caller.key.id)
            .map_err(|e| Status::internal(format!("{e:#}")))?;
        let event = sink_event(&caller, "auditlog.sink.create", &sink, &status);
        if let Err(e) = audit::record(&state.log, event) {
            // Unrecorded, it is undone: its secret would be answered to no one.
            let _ = state.sinks.delete(&sink.id);
            return Err(e);
        }
        Ok(pb::CreateSinkResponse {
            sink: Some(info(&sink, &status)),
            secret,
        })
    })
    .await
    .map_err(task_failed)?
}

/// The sinks the caller manages, oldest first.
pub(crate) fn list(state: &State, caller: &Caller) -> Result<pb::ListSinksResponse, Status> {
    caller.require_some_admin()?;
    let sinks = (state.sinks.list().iter())
        .filter(|(sink, _)| caller.manages(&sink.spec.tenants))
        .map(|(sink, status)| info(sink, status))
        .collect();
    Ok(pb::ListSinksResponse { sinks })
}

/// Sink `id`, if the caller manages it.
pub(crate) fn get(state: &State, caller: &Caller, id: &str) -> Result<pb::SinkInfo, Status> {
    let (sink, status) = visible(state, caller, id)?;
    Ok(info(&sink, &status))
}

/// Pauses (or resumes) sink `id`.
pub(crate) async fn set_paused(
    state: &Arc<State>,
    caller: Caller,
    id: String,
    paused: bool,
) -> Result<pb::SinkInfo, Status> {
    let action = if paused {
        "auditlog.sink.pause"
    } else {
        "auditlog.sink.resume"
    };
    change(state, caller, action, id, move |state, id| {
        state.sinks.set_paused(id, paused)
    })
    .await
}

/// Moves sink `id`'s cursor to `from`.
pub(crate) async fn replay(
    state: &Arc<State>,
    caller: Caller,
    id: String,
    from: ReplayFrom,
) -> Result<pb::SinkInfo, Status> {
    let (sink, _) = visible(state, &caller, &id)?;
    let cursor = match from {
        ReplayFrom::Seq(seq) => within_log(state, "seq", seq)?,
        ReplayFrom::Time(time) => {
            let state = Arc::clone(state);
            spawn_blocking(move || first_at_or_after(&state, &sink.spec, time))
                .await
                .map_err(task_failed)??
        }
    };
    change(
        state,
        caller,
        "auditlog.sink.replay",
        id,
        move |state, id| state.sinks.replay(id, cursor),
    )
    .await
}

/// Deletes sink `id`, its cursor and its secret.
pub(crate) async fn delete(
    state: &Arc<State>,
    caller: Caller,
    id: String,
) -> Result<pb::SinkInfo, Status> {
    change(state, caller, "auditlog.sink.delete", id, |state, id| {
        state.sinks.delete(id)
    })
    .await
}

/// `seq` if it is at most the log's size (the end: only new events); INVALID_ARGUMENT
/// naming `field` past it.
fn within_log(state: &State, field: &str, seq: u64) -> Result<u64, Status> {
    let size = state.log.tree_size();
    if seq > size {
        return Err(invalid_field(
            field,
            &format!("{seq} is past the log's end ({size} events)"),
        ));
    }
    Ok(seq)
}

/// Sink `id` with where it stands, if the caller manages it; NOT_FOUND otherwise (a
/// sink of other tenants is not revealed).
fn visible(
    state: &State,
    caller: &Caller,
    id: &str,
) -> Result<(SinkRecord, Arc<SinkStatus>), Status> {
    caller.require_some_admin()?;
    state
        .sinks
        .get(id)
        .filter(|(sink, _)| caller.manages(&sink.spec.tenants))
        .ok_or_else(|| Status::not_found(format!("no sink `{id}`")))
}

/// Runs `change` (blocking: the sink's files are fsynced, the log appended to) on a sink
/// the caller manages, records it as `action`, and answers the sink it gives.
async fn change(
    state: &Arc<State>,
    caller: Caller,
    action: &'static str,
    id: String,
    change: impl FnOnce(&State, &str) -> anyhow::Result<Option<(SinkRecord, Arc<SinkStatus>)>>
    + Send
    + 'static,
) -> Result<pb::SinkInfo, Status> {
    visible(state, &caller, &id)?;
    let state = Arc::clone(state);
    spawn_blocking(move || {
        let (sink, status) = change(&state, &id)
            .map_err(|e| Status::internal(format!("{e:#}")))?
            .ok_or_else(|| Status::not_found(format!("no sink `{id}`")))?;
        audit::record(&state.log, sink_event(&caller, action, &sink, &status))?;
        Ok(info(&sink, &status))
    })
    .await
    .map_err(task_failed)?
}

/// The first sequence number of the events `spec` takes whose timestamp is at or after
/// `time`; the log's end when there is none.
fn first_at_or_after(state: &State, spec: &SinkSpec, time: Timestamp) -> Result<u64, Status> {
    let mut filter = spec.engine_filter();
    filter.time.from = Some(time);
    let end = state.log.tree_size();
    filter.seqs = Some(0..end);
    let query = Query {
        filter,
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let mut first = end;
    state
        .log
        .query_raw(&query, |seq, raw| {
            if spec.takes_tenant(raw.tenant_id) {
                first = seq;
                return Ok(false);
            }
            Ok(true)
        })
        .map_err(from_engine)?;
    Ok(first)
}

/// A sink as the protocol has it.
pub(crate) fn info(sink: &SinkRecord, status: &SinkStatus) -> pb::SinkInfo {
    pb::SinkInfo {
        id: sink.id.clone(),
        spec: Some(sink.spec.to_proto()),
        created: sink.created.clone(),
        paused: sink.paused,
        cursor: status.cursor(),
        state: if sink.paused {
            "paused"
        } else {
            status.state().name()
        }
        .to_owned(),
        failures: status.failures(),
        last_error: status.last_error(),
        delivered: status.delivered(),
        created_by: sink.created_by.clone(),
    }
}

/// The `_system` event of a change to `sink` (its destination named by scheme and host
/// only: a URL's path or query may carry a token).
fn sink_event<'a>(
    caller: &'a Caller,
    action: &'static str,
    sink: &SinkRecord,
    status: &SinkStatus,
) -> SystemEvent<'a> {
    let destination = &sink.spec.destination;
    let destination =
        serde_json::json!({"type": destination.kind(), "origin": destination.origin()});
    SystemEvent {
        actor: Actor::Key(&caller.key.id),
        action,
        resource: Some(("sink", sink.id.clone())),
        details: serde_json::json!({
            "name": sink.spec.name,
            "tenants": sink.spec.tenants,
            "filter": sink.spec.filter,
            "destination": destination,
            "paused": sink.paused,
            "cursor": status.cursor(),
        }),
    }
}
