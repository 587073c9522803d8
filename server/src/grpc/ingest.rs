//! `IngestService`: validates a batch, checks that the key may write each event's
//! tenant, and hands the batch to the engine's group-committing writer. A stream's
//! batches are submitted as they arrive (sharing group commits) and acknowledged
//! together at its end; a refused batch stops the stream, and the response says which,
//! whether the batch was refused by its content or never arrived whole (too large,
//! undecodable, the stream broken). Waiting for an acknowledgement holds no thread: the
//! writer completes a future.

use std::sync::Arc;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_server::IngestService;
use auditlog_proto::v1::{
    BatchRefusal, FlaggedEvent, IngestRequest, IngestResponse, IngestStreamResponse,
};
use prost::Message;
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status, Streaming};
use tonic_types::StatusExt;

use crate::State;
use crate::auth::{Caller, caller};
use crate::catalog::{self, Flagged};
use crate::intake::{self, Pending, hand_over};
use crate::status::{invalid_field, task_failed};
use auditlog_proto::convert::event_from_proto;
use auditlog_proto::writer::named_writer;

#[derive(Debug)]
pub(crate) struct Ingest {
    state: Arc<State>,
}

impl Ingest {
    pub(crate) fn new(state: Arc<State>) -> Ingest {
        Ingest { state }
    }
}

#[tonic::async_trait]
impl IngestService for Ingest {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<IngestResponse>, Status> {
        let caller = caller(&request)?;
        let submitted = submit(Arc::clone(&self.state), caller, request.into_inner()).await?;
        Ok(Response::new(acknowledged(submitted).await?))
    }

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<IngestStreamResponse>, Status> {
        let caller = caller(&request)?;
        let mut stream = request.into_inner();
        let mut pending = Vec::new();
        let mut refused = None;
        loop {
            let index = pending.len() as u32;
            // A message that cannot be read (over the size limit, undecodable, the stream
            // cut) refuses that batch like a bad event would: those before it are still
            // acknowledged, as the client was promised.
            let batch = match stream.message().await {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(status) => {
                    refused = Some(refusal(index, &status));
                    break;
                }
            };
            // A key revoked while its stream is open stops it at the next batch.
            if let Err(revoked) = caller.still_valid(&self.state) {
                refused = Some(refusal(index, &revoked));
                break;
            }
            match submit(Arc::clone(&self.state), caller.clone(), batch).await {
                Ok(ack) => pending.push(ack),
                Err(status) => {
                    refused = Some(refusal(index, &status));
                    break;
                }
            }
        }
        let mut acks = Vec::with_capacity(pending.len());
        for submitted in pending {
            acks.push(acknowledged(submitted).await?);
        }
        Ok(Response::new(IngestStreamResponse { acks, refused }))
    }
}

/// A batch with the writer, and its events that fail their schema under the policy
/// `flag`.
type Submitted = (Pending, Vec<Flagged>);

/// Admits the batch (the in-flight budget, the key's event rate), validates and encodes
/// it (each event checked against the action catalog too) and hands it to the writer
/// without waiting for a full queue: on the blocking pool, as encoding is CPU work. The
/// admission is held until the batch is acknowledged, whether or not the client still
/// waits.
async fn submit(
    state: Arc<State>,
    caller: Caller,
    request: IngestRequest,
) -> Result<Submitted, Status> {
    let admitted = state.limits.admit(request.encoded_len())?;
    state
        .limits
        .events(&caller.key, request.events.len() as u64)?;
    spawn_blocking(move || {
        if request.events.is_empty() {
            return Err(invalid_field("events", "a batch holds at least one event"));
        }
        let mut batch = state.log.batch();
        let rules = state.catalog.current();
        let mut flagged = Vec::new();
        let mut writers = intake::WriterChecks::default();
        for (i, e) in request.events.iter().enumerate() {
            let event = event_from_proto(e).map_err(|bad| {
                invalid_field(&format!("events[{i}].{}", bad.field), &bad.message)
            })?;
            event.validate().map_err(|bad| {
                // The protocol carries the metadata as `metadata_json`.
                let field = match bad.field() {
                    Some("metadata") => "metadata_json",
                    Some(field) => field,
                    None => "event",
                };
                invalid_field(&format!("events[{i}].{field}"), &bad.to_string())
            })?;
            intake::not_reserved(&event.action, || format!("events[{i}].action"))?;
            caller.require_ingest(&event.tenant_id)?;
            writers.require(&state, &event.tenant_id)?;
            let metadata = || format!("events[{i}].metadata_json");
            flagged.extend(catalog::check(
                &rules,
                &state.metrics,
                &event,
                i,
                i,
                metadata,
            )?);
            batch
                .push(&event)
                .map_err(|e| invalid_field(&format!("events[{i}]"), &e.to_string()))?;
        }
        let held = writers.still_writer(&state)?;
        let pending = hand_over(&state, batch, admitted, &caller.key.id, flagged.clone())?;
        drop(held);
        Ok((pending, flagged))
    })
    .await
    .map_err(task_failed)?
}

/// What a stream answers for the batch at `index`, refused with `status`.
fn refusal(index: u32, status: &Status) -> BatchRefusal {
    let fields = status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    BatchRefusal {
        batch: index,
        code: status.code() as i32,
        message: status.message().to_owned(),
        fields,
        writer: named_writer(status).map(|w| pb::Writer {
            tenant: w.tenant.unwrap_or_default(),
            node: w.node,
            grpc: w.grpc,
            http: w.http,
        }),
    }
}

/// The answer for a batch, once durable under the log's policy and its flagged events
/// recorded.
async fn acknowledged((pending, flagged): Submitted) -> Result<IngestResponse, Status> {
    let ack = intake::acknowledged(pending).await?;
    let seqs: Vec<u64> = ack.seqs().collect();
    let flagged = flagged
        .into_iter()
        .map(|f| FlaggedEvent {
            index: f.index as u32,
            field: f.field,
            message: f.violation.message,
            schema_version: f.violation.version,
        })
        .collect();
    Ok(IngestResponse {
        seqs,
        tree_size: ack.tree_size,
        replayed: ack.replayed(),
        flagged,
    })
}
