//! An audit event as an application builds it: the required fields up front, the rest
//! by name. It is checked when recorded (the server's own validation, so a bad event
//! is refused at once, in the caller's hands, not later in a batch).

use auditlog_engine::{Event, Outcome, Timestamp};
use auditlog_proto::convert::{event_from_proto, outcome_to_proto};
use auditlog_proto::v1 as pb;

/// One audit event (docs/EVENTS.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The message sent; `event_id` is set by the client when the caller left it empty.
    pub(crate) message: pb::Event,
}

/// Why an event was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The event is not valid (the field and why): it would be refused by the server.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The buffer is full and the policy is not to wait (`try_record` under `Block`).
    #[error("the client's buffer is full")]
    Full,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

impl AuditEvent {
    /// `actor` of `tenant` did `action` (dotted, e.g. `invoice.approve`) with `outcome`,
    /// now.
    pub fn new(tenant: &str, actor: &str, action: &str, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            message: pb::Event {
                timestamp: Timestamp::now().to_rfc3339(),
                actor: Some(pb::Actor {
                    user_id: actor.to_owned(),
                    ..Default::default()
                }),
                organization: Some(pb::Organization {
                    id: tenant.to_owned(),
                    name: None,
                }),
                action: action.to_owned(),
                outcome: outcome_to_proto(outcome).into(),
                ..Default::default()
            },
        }
    }

    /// When it happened (RFC 3339), instead of now.
    pub fn at(mut self, timestamp: &str) -> AuditEvent {
        self.message.timestamp = timestamp.to_owned();
        self
    }

    pub fn actor_email(mut self, email: &str) -> AuditEvent {
        if let Some(actor) = &mut self.message.actor {
            actor.email = Some(email.to_owned());
        }
        self
    }

    pub fn actor_kind(mut self, kind: &str) -> AuditEvent {
        if let Some(actor) = &mut self.message.actor {
            actor.kind = Some(kind.to_owned());
        }
        self
    }

    pub fn tenant_name(mut self, name: &str) -> AuditEvent {
        if let Some(org) = &mut self.message.organization {
            org.name = Some(name.to_owned());
        }
        self
    }

    /// What it was done to.
    pub fn resource(mut self, kind: &str, id: &str) -> AuditEvent {
        self.message.resource = Some(pb::Resource {
            r#type: kind.to_owned(),
            id: id.to_owned(),
        });
        self
    }

    pub fn ip_address(mut self, ip: &str) -> AuditEvent {
        self.message.ip_address = Some(ip.to_owned());
        self
    }

    pub fn user_agent(mut self, agent: &str) -> AuditEvent {
        self.message.user_agent = Some(agent.to_owned());
        self
    }

    /// Details, as one JSON object.
    pub fn metadata(mut self, metadata: &serde_json::Value) -> AuditEvent {
        self.message.metadata_json = Some(metadata.to_string());
        self
    }

    /// The idempotency key; the client makes one when none is given, so its own
    /// retries are stored once.
    pub fn event_id(mut self, id: &str) -> AuditEvent {
        self.message.event_id = Some(id.to_owned());
        self
    }

    /// The event as the protocol has it.
    pub fn as_proto(&self) -> &pb::Event {
        &self.message
    }

    /// The engine's event, after the server's own checks.
    pub(crate) fn checked(&self) -> Result<Event<'static>, RecordError> {
        let event = event_from_proto(&self.message)
            .map_err(|bad| RecordError::Invalid(format!("{}: {}", bad.field, bad.message)))?;
        event
            .validate()
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
        Ok(event.into_owned())
    }
}
