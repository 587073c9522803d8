//! The log's own events: what is done to the log or its server (a key created, an export
//! run, the server started, a restore from an archive) is appended as an event of the
//! reserved tenant [`SYSTEM_TENANT`], durably, before the action is answered. The server
//! lets no key ingest into that tenant, so its events are the log's tools' alone.

use std::borrow::Cow;

use crate::error::Result;
use crate::event::{Event, Outcome, Timestamp};
use crate::log::Log;
use crate::writer::Ack;

/// The tenant of the log's own events.
pub const SYSTEM_TENANT: &str = "_system";

/// Who did it: an API key (by its public id), the server itself, or the command-line tool.
#[derive(Debug, Clone, Copy)]
pub enum SystemActor<'a> {
    /// An API key of the server.
    Key(&'a str),
    /// `auditlogd`.
    Server,
    /// `auditlog`, the command-line tool, run on the data directory.
    Cli,
}

/// One thing done to the log.
#[derive(Debug)]
pub struct SystemEvent<'a> {
    /// Who.
    pub actor: SystemActor<'a>,
    /// Dotted, under `auditlog.`: `auditlog.key.create`.
    pub action: &'static str,
    /// What it was done to: (type, id).
    pub resource: Option<(&'static str, String)>,
    /// A JSON object of the details.
    pub details: serde_json::Value,
}

impl Log {
    /// Appends `event` to the tenant [`SYSTEM_TENANT`] and waits until it is durable.
    pub fn record_system(&self, event: &SystemEvent<'_>) -> Result<Ack> {
        let (actor_id, actor_kind, tenant_name) = match event.actor {
            SystemActor::Key(id) => (id, "api_key", "auditlog server"),
            SystemActor::Server => ("auditlogd", "system", "auditlog server"),
            SystemActor::Cli => ("auditlog", "system", "auditlog tool"),
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
            tenant_name: Some(Cow::Borrowed(tenant_name)),
            action: Cow::Borrowed(event.action),
            resource_type,
            resource_id,
            outcome: Outcome::Success,
            ip_address: None,
            user_agent: None,
            metadata: Some(Cow::Borrowed(&metadata)),
            event_id: None,
        };
        self.append(&[stored])
    }
}
