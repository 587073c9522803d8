//! What every way in shares (gRPC ingest, HTTP ingest, OTLP): handing a batch to the
//! writer without waiting for a full queue, and waiting for its acknowledgement without
//! holding a thread. HTTP and OTLP refuse events one by one ([`Sorting`]): the events
//! that pass go to the log as one batch, each refused one is answered with its reason.
//! Only what the writer decides refuses such a request whole: an `event_id` used before
//! by a different event, or a retry that is not the batch it repeats (ALREADY_EXISTS).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use auditlog_catalog::Rules;
use auditlog_engine::handover::RESERVED_ACTIONS;
use auditlog_engine::{Ack, Event, PreparedBatch};
use parking_lot::RwLockReadGuard;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tonic::Status;

use crate::State;
use crate::auth::Caller;
use crate::catalog::{self, Flagged};
use crate::status::{from_engine, invalid_field};

/// A batch handed to the writer: where its acknowledgement arrives, once durable.
pub(crate) type Pending = oneshot::Receiver<auditlog_engine::Result<Ack>>;

/// Hands `batch` to the writer; `admitted` (the request's share of the in-flight
/// budget) is held until the batch is acknowledged, whether or not the client still
/// waits. The events of the batch that fail their schema under the policy `flag`
/// (`flagged`, sent by `key_id`) are recorded once it is durable and before the
/// acknowledgement is passed on, by a task of their own: a client that goes away loses
/// none.
pub(crate) fn hand_over(
    state: &Arc<State>,
    batch: PreparedBatch,
    admitted: OwnedSemaphorePermit,
    key_id: &str,
    flagged: Vec<Flagged>,
) -> Result<Pending, Status> {
    let (answer, pending) = oneshot::channel();
    let flags = (!flagged.is_empty()).then(|| {
        let runtime = tokio::runtime::Handle::try_current().ok();
        (Arc::clone(state), key_id.to_owned(), flagged, runtime)
    });
    let then = move |ack: auditlog_engine::Result<Ack>| {
        drop(admitted);
        match (flags, ack) {
            (Some((state, key_id, flagged, runtime)), Ok(ack)) => {
                // Off the writer's thread: recording appends, and waits for the writer.
                let record = move || {
                    catalog::record_flags(&state, &key_id, &flagged, &ack);
                    let _ = answer.send(Ok(ack));
                };
                match runtime {
                    Some(runtime) => drop(runtime.spawn_blocking(record)),
                    None => drop(std::thread::spawn(record)),
                }
            }
            // A client that went away does not want it.
            (_, ack) => drop(answer.send(ack)),
        }
    };
    state
        .log
        .try_submit_then(batch, then)
        .map_err(from_engine)?;
    Ok(pending)
}

/// Refuses an event whose action only the log writes (a tenant's hand-over records):
/// a client's would pass for a move that never happened.
pub(crate) fn not_reserved(action: &str, field: impl Fn() -> String) -> Result<(), Status> {
    if !action.starts_with(RESERVED_ACTIONS) {
        return Ok(());
    }
    Err(invalid_field(
        &field(),
        &format!("actions under `{RESERVED_ACTIONS}` are the log's own (tenant hand-overs)"),
    ))
}

/// Whether this node writes the tenants of one request's events: always, outside a
/// cluster; inside one, where the shard map gives it the tenant and its lease lives
/// (else the refusal names the node that writes it). Each tenant is looked up once per
/// request; from a blocking thread.
#[derive(Debug, Default)]
pub(crate) struct WriterChecks {
    checked: HashMap<String, Result<(), Status>>,
}

impl WriterChecks {
    /// Refuses an event of `tenant` unless this node writes the tenant.
    pub(crate) fn require(&mut self, state: &State, tenant: &str) -> Result<(), Status> {
        let Some(cluster) = &state.cluster else {
            return Ok(());
        };
        if let Some(answer) = self.checked.get(tenant) {
            return answer.clone();
        }
        let answer = cluster.require_writer(tenant, &state.log);
        self.checked.insert(tenant.to_owned(), answer.clone());
        answer
    }

    /// Refuses unless the node's lease still lives and none of the batch's tenants is
    /// being handed over: right before the batch goes to the writer, with no call to
    /// etcd between. Hold what it gives until the batch is with the writer.
    pub(crate) fn still_writer<'s>(
        &self,
        state: &'s State,
    ) -> Result<Option<RwLockReadGuard<'s, ()>>, Status> {
        let Some(cluster) = &state.cluster else {
            return Ok(None);
        };
        let tenants = self
            .checked
            .iter()
            .filter(|(_, answer)| answer.is_ok())
            .map(|(tenant, _)| tenant.as_str());
        cluster.hold_writes(tenants).map(Some)
    }
}

/// Waits for the writer's acknowledgement: the batch is durable under the log's policy.
pub(crate) async fn acknowledged(pending: Pending) -> Result<Ack, Status> {
    pending
        .await
        .map_err(|_| Status::unavailable("the log closed before acknowledging the batch"))?
        .map_err(from_engine)
}

/// A request's events sorted one by one into a batch or a refusal (on a blocking
/// thread: encoding is CPU work), each checked against the action catalog's rules.
#[derive(Debug)]
pub(crate) struct Sorting {
    state: Arc<State>,
    caller: Caller,
    /// The catalog's rules when the request began.
    rules: Arc<Rules>,
    batch: PreparedBatch,
    /// Per event of the request, in order: None if it is in the batch.
    refusals: Vec<Option<Status>>,
    /// `tenant NUL event_id` of the batch's events that have one (neither may hold a
    /// control character): the writer refuses a whole batch that repeats one, so a
    /// repeat is refused here, alone.
    ids: HashSet<String>,
    /// The batch's events that fail their schema under the policy `flag`.
    flagged: Vec<Flagged>,
    /// Whether this node writes the request's tenants.
    writers: WriterChecks,
}

impl Sorting {
    /// Sorts a request of `events` from `caller`.
    pub(crate) fn new(state: &Arc<State>, caller: Caller, events: usize) -> Sorting {
        Sorting {
            state: Arc::clone(state),
            caller,
            rules: state.catalog.current(),
            batch: state.log.batch_with_capacity(events, 0),
            refusals: Vec::with_capacity(events),
            ids: HashSet::new(),
            flagged: Vec::new(),
            writers: WriterChecks::default(),
        }
    }

    /// Takes the request's next event (validated already, or refused with its reason)
    /// into the batch, if the caller may write its tenant and its metadata meets its
    /// action's schema. `field` names the event in the request (`events[3]`), for
    /// refusals (made only for them).
    pub(crate) fn offer(&mut self, field: impl Fn() -> String, event: Result<Event<'_>, Status>) {
        let index = self.refusals.len();
        let refusal = event.and_then(|event| {
            not_reserved(&event.action, || format!("{}.action", field()))?;
            self.caller.require_ingest(&event.tenant_id)?;
            self.writers.require(&self.state, &event.tenant_id)?;
            let key = event
                .event_id
                .as_ref()
                .map(|id| format!("{}\0{id}", event.tenant_id));
            if key.as_ref().is_some_and(|key| self.ids.contains(key)) {
                let why = "repeats the event_id of an earlier event of the request";
                return Err(invalid_field(&format!("{}.event_id", field()), why));
            }
            let position = self.batch.len();
            let flag = catalog::check(
                &self.rules,
                &self.state.metrics,
                &event,
                index,
                position,
                || format!("{}.metadata", field()),
            )?;
            self.batch
                .push(&event)
                .map_err(|e| invalid_field(&field(), &e.to_string()))?;
            // Only an id in the batch makes a later one a repeat.
            self.ids.extend(key);
            self.flagged.extend(flag);
            Ok(())
        });
        self.refusals.push(refusal.err());
    }

    /// Hands the batch to the writer, if any event is in it.
    pub(crate) fn submit(self, admitted: OwnedSemaphorePermit) -> Result<Sorted, Status> {
        let pending = if self.batch.is_empty() {
            None
        } else {
            let state = Arc::clone(&self.state);
            let _held = self.writers.still_writer(&state)?;
            let flagged = self.flagged.clone();
            Some(hand_over(
                &state,
                self.batch,
                admitted,
                &self.caller.key.id,
                flagged,
            )?)
        };
        Ok(Sorted {
            refusals: self.refusals,
            flagged: self.flagged,
            pending,
        })
    }
}

/// A sorted request, its batch with the writer.
#[derive(Debug)]
pub(crate) struct Sorted {
    refusals: Vec<Option<Status>>,
    flagged: Vec<Flagged>,
    pending: Option<Pending>,
}

/// Where an event of a request was stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) seq: u64,
    /// Stored by an earlier request with the same `event_id`, at `seq`.
    pub(crate) replayed: bool,
    /// Stored though it fails its action's schema (policy `flag`).
    pub(crate) flagged: Option<Flagged>,
}

/// Each event's fate, in request order, once its batch is durable, and the tree size
/// that includes them (none if every event was refused).
pub(crate) type Fates = (Vec<Result<Stored, Status>>, Option<u64>);

impl Sorted {
    /// Waits for the batch to be durable (and its flagged events recorded), and tells
    /// each event's fate.
    pub(crate) async fn fates(self) -> Result<Fates, Status> {
        let ack = match self.pending {
            Some(pending) => Some(acknowledged(pending).await?),
            None => None,
        };
        let tree_size = ack.as_ref().map(|a| a.tree_size);
        // The batch's leading events are the ones a retry found stored before.
        let replays: u64 = ack
            .as_ref()
            .map_or(0, |a| a.earlier.iter().map(|e| e.count).sum());
        let mut seqs = ack.iter().flat_map(Ack::seqs).enumerate();
        let mut flagged = self.flagged.iter().peekable();
        let fates: Vec<Result<Stored, Status>> = self
            .refusals
            .into_iter()
            .enumerate()
            .map(|(index, refusal)| match refusal {
                Some(status) => Err(status),
                None => {
                    let (i, seq) = seqs
                        .next()
                        .ok_or_else(|| Status::internal("the log acknowledged too few events"))?;
                    Ok(Stored {
                        seq,
                        replayed: (i as u64) < replays,
                        flagged: flagged.next_if(|f| f.index == index).cloned(),
                    })
                }
            })
            .collect();
        Ok((fates, tree_size))
    }
}
