//! The auditor audits itself: what is done to the server (a key created or revoked, an
//! export run, the server started with a configuration, stopped) is appended to the log
//! as an event of the reserved tenant [`SYSTEM_TENANT`] (the engine's `Log::record_system`),
//! durably, before the action is answered. No key may ingest into that tenant, so its
//! events are the server's alone; keys that read it (admin keys, keys reading all tenants
//! or naming it) query them like any other.

use auditlog_engine::Log;
pub(crate) use auditlog_engine::system::{SYSTEM_TENANT, SystemActor as Actor, SystemEvent};
use tonic::Status;

use crate::status::from_engine;

/// Appends `event` and waits until it is durable: blocking, so call it off the async
/// workers.
pub(crate) fn record(log: &Log, event: SystemEvent<'_>) -> Result<(), Status> {
    record_at(log, event).map(drop)
}

/// [`record`], returning the record's seq.
pub(crate) fn record_at(log: &Log, event: SystemEvent<'_>) -> Result<u64, Status> {
    log.record_system(&event)
        .map(|ack| ack.first_seq)
        .map_err(|e| {
            let status = from_engine(e);
            Status::new(
                status.code(),
                format!(
                    "recording `{}` in the log: {}",
                    event.action,
                    status.message()
                ),
            )
        })
}
