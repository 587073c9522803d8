//! `SinkService`: sinks created, listed, paused, resumed, replayed and deleted
//! (docs/SINKS.md), for admin keys; each change is recorded as a `_system` event before
//! it is answered, and a webhook's secret is answered once, at creation.

use std::sync::Arc;

use auditlog_engine::Timestamp;
use auditlog_engine::query::{Order, Query};
use auditlog_proto::v1::sink_service_server::SinkService;
use auditlog_proto::v1::{
    CreateSinkRequest, CreateSinkResponse, ListSinksRequest, ListSinksResponse, ReplaySinkRequest,
    SinkInfo, SinkRequest, SinkResponse, replay_sink_request,
};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::State;
use crate::audit::{self, Actor, SystemEvent};
use crate::auth::{Caller, caller};
use crate::sinks::spec::Destination;
use crate::sinks::{SinkRecord, SinkSpec, SinkStatus};
use crate::status::{from_engine, invalid_field, task_failed};

#[derive(Debug)]
pub(crate) struct Sinks {
    state: Arc<State>,
}

impl Sinks {
    pub(crate) fn new(state: Arc<State>) -> Sinks {
        Sinks { state }
    }

    /// Runs `change` (blocking: the sink file is fsynced, the log appended to) for an
    /// admin caller, records it as `action`, and answers the sink it gives.
    async fn change(
        &self,
        caller: Caller,
        action: &'static str,
        id: String,
        change: impl FnOnce(&State, &str) -> anyhow::Result<Option<(SinkRecord, Arc<SinkStatus>)>>
        + Send
        + 'static,
    ) -> Result<Response<SinkResponse>, Status> {
        caller.require_admin()?;
        let state = Arc::clone(&self.state);
        let sink = spawn_blocking(move || {
            let (sink, status) = change(&state, &id)
                .map_err(|e| Status::internal(format!("{e:#}")))?
                .ok_or_else(|| Status::not_found(format!("no sink `{id}`")))?;
            audit::record(&state.log, sink_event(&caller, action, &sink, &status))?;
            Ok::<_, Status>(info(&sink, &status))
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(SinkResponse { sink: Some(sink) }))
    }
}

#[tonic::async_trait]
impl SinkService for Sinks {
    async fn create_sink(
        &self,
        request: Request<CreateSinkRequest>,
    ) -> Result<Response<CreateSinkResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let request = request.into_inner();
        let spec = SinkSpec::from_proto(request.spec.unwrap_or_default())?;
        let state = Arc::clone(&self.state);
        let (sink, secret) = spawn_blocking(move || {
            let cursor = request.from_seq.unwrap_or_else(|| state.log.tree_size());
            let (sink, status, secret) = state
                .sinks
                .create(spec, cursor)
                .map_err(|e| Status::internal(format!("{e:#}")))?;
            let event = sink_event(&caller, "auditlog.sink.create", &sink, &status);
            audit::record(&state.log, event)?;
            Ok::<_, Status>((info(&sink, &status), secret))
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(CreateSinkResponse {
            sink: Some(sink),
            secret,
        }))
    }

    async fn list_sinks(
        &self,
        request: Request<ListSinksRequest>,
    ) -> Result<Response<ListSinksResponse>, Status> {
        caller(&request)?.require_admin()?;
        let sinks = (self.state.sinks.list().iter())
            .map(|(sink, status)| info(sink, status))
            .collect();
        Ok(Response::new(ListSinksResponse { sinks }))
    }

    async fn pause_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        self.change(caller, "auditlog.sink.pause", id, |state, id| {
            state.sinks.set_paused(id, true)
        })
        .await
    }

    async fn resume_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        self.change(caller, "auditlog.sink.resume", id, |state, id| {
            state.sinks.set_paused(id, false)
        })
        .await
    }

    async fn replay_sink(
        &self,
        request: Request<ReplaySinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        caller.require_admin()?;
        let request = request.into_inner();
        let from = match request.from {
            Some(replay_sink_request::From::Seq(seq)) => From::Seq(seq),
            Some(replay_sink_request::From::Time(time)) => {
                From::Time(Timestamp::parse(&time).map_err(|e| invalid_field("time", &e))?)
            }
            None => return Err(invalid_field("from", "replay from a seq or a time")),
        };
        let state = Arc::clone(&self.state);
        let id = request.id.clone();
        let cursor = spawn_blocking(move || match from {
            From::Seq(seq) => Ok(seq),
            From::Time(time) => first_at_or_after(&state, &id, time),
        })
        .await
        .map_err(task_failed)??;
        self.change(
            caller,
            "auditlog.sink.replay",
            request.id,
            move |state, id| state.sinks.replay(id, cursor),
        )
        .await
    }

    async fn delete_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        self.change(caller, "auditlog.sink.delete", id, |state, id| {
            state.sinks.delete(id)
        })
        .await
    }
}

/// Where a replay starts.
enum From {
    Seq(u64),
    Time(Timestamp),
}

/// The first sequence number of sink `id`'s events (its filter) whose timestamp is at
/// or after `time`; the log's end when there is none.
fn first_at_or_after(state: &State, id: &str, time: Timestamp) -> Result<u64, Status> {
    let (sink, _) =
        (state.sinks.get(id)).ok_or_else(|| Status::not_found(format!("no sink `{id}`")))?;
    let mut filter = sink.spec.engine_filter();
    filter.time.from = Some(time);
    let end = state.log.tree_size();
    filter.seqs = Some(0..end);
    let query = Query {
        filter,
        order: Order::OldestFirst,
        limit: Some(1),
        cursor: None,
    };
    let mut first = end;
    state
        .log
        .query_raw(&query, |seq, _| {
            first = seq;
            Ok(false)
        })
        .map_err(from_engine)?;
    Ok(first)
}

/// A sink as the protocol has it.
fn info(sink: &SinkRecord, status: &SinkStatus) -> SinkInfo {
    SinkInfo {
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
    let destination = match &sink.spec.destination {
        Destination::Webhook { url } => {
            let origin = reqwest::Url::parse(url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            serde_json::json!({"type": "webhook", "origin": origin})
        }
    };
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
