//! The auditor audits itself: what is done to the server (a key created or revoked, an
//! export run, the server started with a configuration, stopped) is appended to the log
//! as an event of the reserved tenant [`SYSTEM_TENANT`], durably, before the action is
//! answered. No key may ingest into that tenant, so its events are the server's alone;
//! keys that read it (admin keys, keys reading all tenants or naming it) query them
//! like any other.

use std::borrow::Cow;

use auditlog_engine::{Event, Log, Outcome, Timestamp};
use tonic::Status;

use crate::status::from_engine;

/// The tenant of the server's own events.
pub(crate) const SYSTEM_TENANT: &str = "_system";

/// Who did it: an API key (by its public id), or the server itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    Key(&'a str),
    Server,
}

/// One thing done to the server.
#[derive(Debug)]
pub(crate) struct SystemEvent<'a> {
    pub(crate) actor: Actor<'a>,
    /// Dotted, under `auditlog.`: `auditlog.key.create`.
    pub(crate) action: &'static str,
    /// What it was done to: (type, id).
    pub(crate) resource: Option<(&'static str, String)>,
    /// A JSON object of the details.
    pub(crate) details: serde_json::Value,
}

/// Appends `event` and waits until it is durable: blocking, so call it off the async
/// workers.
pub(crate) fn record(log: &Log, event: SystemEvent<'_>) -> Result<(), Status> {
    let (actor_id, actor_kind) = match event.actor {
        Actor::Key(id) => (id, "api_key"),
        Actor::Server => ("auditlogd", "system"),
    };
    let metadata = event.details.to_string();
    let (resource_type, resource_id) = match &event.resource {
        Some((kind, id)) => (Some(Cow::Borrowed(*kind)), Some(Cow::Borrowed(id.as_str()))),
        None => (None, None),
    };
    let stored = Event {
        timestamp: Timestamp::now(),
        actor_id: Cow::Borrowed(actor_id),
        actor_email: None,
        actor_kind: Some(Cow::Borrowed(actor_kind)),
        tenant_id: Cow::Borrowed(SYSTEM_TENANT),
        tenant_name: Some(Cow::Borrowed("auditlog server")),
        action: Cow::Borrowed(event.action),
        resource_type,
        resource_id,
        outcome: Outcome::Success,
        ip_address: None,
        user_agent: None,
        metadata: Some(Cow::Borrowed(&metadata)),
        event_id: None,
    };
    log.append(&[stored]).map(drop).map_err(|e| {
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
