//! Appending the log's own events (see [`crate::system`]).

use std::borrow::Cow;

use super::Log;
use crate::error::Result;
use crate::event::{Event, Outcome, Timestamp};
use crate::system::{SYSTEM_TENANT, SystemActor, SystemEvent};
use crate::writer::Ack;

impl Log {
    /// Appends `event` to the tenant [`SYSTEM_TENANT`] and waits until it is durable.
    pub fn record_system(&self, event: &SystemEvent<'_>) -> Result<Ack> {
        self.record_system_all(std::slice::from_ref(event))
    }

    /// Appends `events` to the tenant [`SYSTEM_TENANT`] as one batch (consecutive
    /// sequence numbers, in order) and waits until they are durable. Refused on a
    /// follower, as any batch of its own is.
    pub fn record_system_all(&self, events: &[SystemEvent<'_>]) -> Result<Ack> {
        let now = Timestamp::now();
        let metadata: Vec<String> = events.iter().map(|e| e.details.to_string()).collect();
        let stored: Vec<Event<'_>> = events
            .iter()
            .zip(&metadata)
            .map(|(event, metadata)| stored(event, metadata, now))
            .collect();
        self.append(&stored)
    }
}

/// `event` as the log stores it.
fn stored<'e>(event: &'e SystemEvent<'_>, metadata: &'e str, now: Timestamp) -> Event<'e> {
    let (actor_id, actor_kind, tenant_name) = match event.actor {
        SystemActor::Key(id) => (id, "api_key", "auditlog server"),
        SystemActor::ViewerToken(id) => (id, "viewer_token", "auditlog server"),
        SystemActor::Server => ("auditlogd", "system", "auditlog server"),
        SystemActor::Cli => ("auditlog", "system", "auditlog tool"),
    };
    let (resource_type, resource_id) = match &event.resource {
        Some((kind, id)) => (Some(Cow::Borrowed(*kind)), Some(Cow::Borrowed(id.as_str()))),
        None => (None, None),
    };
    Event {
        timestamp: now,
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
        metadata: Some(Cow::Borrowed(metadata)),
        event_id: None,
    }
}
