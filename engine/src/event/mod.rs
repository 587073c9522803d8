//! The audit event: who did what, when, from where, with what result. Pure: parsing,
//! validation and JSON output; depends on nothing else in the crate.
//!
//! One [`Event`] type serves both directions. It borrows from its input (a JSON line or a
//! record on disk) where it can, so parsing and reading do not copy strings.

mod canonical;
mod decimal;
mod json;
mod raw;
mod time;
mod validate;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[cfg(feature = "testing")]
pub(crate) use canonical::parse as parse_canonical;
#[cfg(feature = "testing")]
pub(crate) use json::parse_general;
pub use json::{metadata_from_json, parse_json};
pub use raw::{NotUtf8, RawEvent};
pub use time::Timestamp;
pub use validate::{EventError, check_action, limits};

/// The result of the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action was carried out.
    Success,
    /// The action was attempted and failed (bad credentials, validation).
    Failure,
    /// The action was refused by an authorisation decision.
    Denied,
    /// The action failed because of a system error.
    Error,
}

impl Outcome {
    /// Every outcome, in code order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Denied,
        Outcome::Error,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    /// The outcome's one-byte code in indexes: its position in [`Outcome::ALL`].
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The outcome with code `code`.
    pub fn from_code(code: u8) -> Option<Outcome> {
        Outcome::ALL.get(usize::from(code)).copied()
    }

    /// The outcome with JSON name `name`.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// One audit event. Field order is the canonical record order (docs/FORMAT.md, "Event
/// record"); do not reorder without a format version bump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// When it happened, as the client says.
    pub timestamp: Timestamp,
    /// `actor.user_id`: who did it.
    #[serde(borrow)]
    pub actor_id: Cow<'a, str>,
    /// `actor.email`.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub actor_email: Option<Cow<'a, str>>,
    /// `actor.kind`: `user`, `service`, `api_key`, `system`, … (free-form).
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub actor_kind: Option<Cow<'a, str>>,
    /// `organization.id`: the tenant.
    #[serde(borrow)]
    pub tenant_id: Cow<'a, str>,
    /// `organization.name`.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub tenant_name: Option<Cow<'a, str>>,
    /// The dotted verb, e.g. `feature_flag.override.create`.
    #[serde(borrow)]
    pub action: Cow<'a, str>,
    /// `resource.type`.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub resource_type: Option<Cow<'a, str>>,
    /// `resource.id`.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub resource_id: Option<Cow<'a, str>>,
    /// The result.
    pub outcome: Outcome,
    /// The client's IP address, as sent (validated).
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub ip_address: Option<Cow<'a, str>>,
    /// The client's user agent.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub user_agent: Option<Cow<'a, str>>,
    /// A JSON object, exactly as the client sent its text (key order and spacing kept).
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub metadata: Option<Cow<'a, str>>,
    /// The client's idempotency key.
    #[serde(borrow, deserialize_with = "borrowed_opt")]
    pub event_id: Option<Cow<'a, str>>,
}

/// Decodes an optional string without copying it (serde's own `Option<Cow>` always copies).
fn borrowed_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<&'de str>::deserialize(d)?.map(Cow::Borrowed))
}

impl Event<'_> {
    /// Detaches the event from the buffer it borrows from.
    pub fn into_owned(self) -> Event<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        Event {
            timestamp: self.timestamp,
            actor_id: own(self.actor_id),
            actor_email: self.actor_email.map(own),
            actor_kind: self.actor_kind.map(own),
            tenant_id: own(self.tenant_id),
            tenant_name: self.tenant_name.map(own),
            action: own(self.action),
            resource_type: self.resource_type.map(own),
            resource_id: self.resource_id.map(own),
            outcome: self.outcome,
            ip_address: self.ip_address.map(own),
            user_agent: self.user_agent.map(own),
            metadata: self.metadata.map(own),
            event_id: self.event_id.map(own),
        }
    }

    /// Appends the event as one JSON object (no newline) in the ingest shape; with
    /// `seq`, a leading `"seq":N` member.
    pub fn write_json(&self, seq: Option<u64>, out: &mut Vec<u8>) {
        // An event's strings are UTF-8: this cannot fail.
        let _ = self.raw().write_json(seq, out);
    }

    /// The event as JSON text in the ingest shape.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_json(None, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Checks every field against the rules of docs/EVENTS.md.
    pub fn validate(&self) -> Result<(), EventError> {
        validate::validate(self)
    }
}
