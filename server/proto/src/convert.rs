//! Protocol events to engine events and back, for the server and for clients (the CLI's
//! `bench-ingest`). Conversion only: the engine validates events.

use std::borrow::Cow;

use auditlog_engine::event::metadata_from_json;
use auditlog_engine::{Event, Outcome, Timestamp};

use crate::v1 as pb;

/// A field of a request that does not convert: its path and why.
#[derive(Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// The engine's event for `e`, borrowing its strings (not yet validated: the caller
/// runs [`Event::validate`]).
pub fn event_from_proto(e: &pb::Event) -> Result<Event<'_>, FieldError> {
    let bad = |field, message: String| FieldError { field, message };
    let timestamp = Timestamp::parse(&e.timestamp).map_err(|m| bad("timestamp", m))?;
    let outcome = outcome_from_proto(e.outcome).ok_or_else(|| {
        bad(
            "outcome",
            "is required: success, failure, denied or error".to_owned(),
        )
    })?;
    let metadata = e
        .metadata_json
        .as_deref()
        .map(metadata_from_json)
        .transpose()
        .map_err(|m| bad("metadata_json", m.to_string()))?;
    fn text(s: &str) -> Cow<'_, str> {
        Cow::Borrowed(s)
    }
    fn opt(s: &Option<String>) -> Option<Cow<'_, str>> {
        s.as_deref().map(Cow::Borrowed)
    }
    let actor = e.actor.as_ref();
    let organization = e.organization.as_ref();
    Ok(Event {
        timestamp,
        actor_id: text(actor.map_or("", |a| &a.user_id)),
        actor_email: actor.and_then(|a| opt(&a.email)),
        actor_kind: actor.and_then(|a| opt(&a.kind)),
        tenant_id: text(organization.map_or("", |o| &o.id)),
        tenant_name: organization.and_then(|o| opt(&o.name)),
        action: text(&e.action),
        resource_type: e.resource.as_ref().map(|r| text(&r.r#type)),
        resource_id: e.resource.as_ref().map(|r| text(&r.id)),
        outcome,
        ip_address: opt(&e.ip_address),
        user_agent: opt(&e.user_agent),
        metadata: metadata.map(Cow::Borrowed),
        event_id: opt(&e.event_id),
    })
}

/// The engine's outcome for a protocol enum value (`None`: unspecified or unknown).
pub fn outcome_from_proto(value: i32) -> Option<Outcome> {
    match pb::Outcome::try_from(value).ok()? {
        pb::Outcome::Success => Some(Outcome::Success),
        pb::Outcome::Failure => Some(Outcome::Failure),
        pb::Outcome::Denied => Some(Outcome::Denied),
        pb::Outcome::Error => Some(Outcome::Error),
        pb::Outcome::Unspecified => None,
    }
}

/// The protocol's form of event `e`.
pub fn event_to_proto(e: &Event<'_>) -> pb::Event {
    let owned = |s: &Option<Cow<'_, str>>| s.as_deref().map(str::to_owned);
    let outcome = match e.outcome {
        Outcome::Success => pb::Outcome::Success,
        Outcome::Failure => pb::Outcome::Failure,
        Outcome::Denied => pb::Outcome::Denied,
        Outcome::Error => pb::Outcome::Error,
    };
    let resource = match (&e.resource_type, &e.resource_id) {
        (Some(kind), Some(id)) => Some(pb::Resource {
            r#type: kind.to_string(),
            id: id.to_string(),
        }),
        _ => None,
    };
    pb::Event {
        timestamp: e.timestamp.to_rfc3339(),
        actor: Some(pb::Actor {
            user_id: e.actor_id.to_string(),
            email: owned(&e.actor_email),
            kind: owned(&e.actor_kind),
        }),
        organization: Some(pb::Organization {
            id: e.tenant_id.to_string(),
            name: owned(&e.tenant_name),
        }),
        action: e.action.to_string(),
        resource,
        outcome: outcome.into(),
        ip_address: owned(&e.ip_address),
        user_agent: owned(&e.user_agent),
        metadata_json: owned(&e.metadata),
        event_id: owned(&e.event_id),
    }
}
