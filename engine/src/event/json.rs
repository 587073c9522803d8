//! The JSON shape of an event, in (here) and out (`raw.rs`):
//! `{"timestamp":…,"actor":{"user_id":…,"email":…,"kind":…},"organization":{"id":…,"name":…},
//! "action":…,"resource":{"type":…,"id":…},"outcome":…,"ip_address":…,"user_agent":…,
//! "metadata":{…},"event_id":…}`. Output uses this key order with compact separators, so a
//! line of the workload generator comes back byte for byte, and input in this form takes
//! the fast path of [`super::canonical`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Event, EventError, Outcome, Timestamp};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    actor: WireActor<'a>,
    #[serde(borrow)]
    organization: WireOrganization<'a>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow, default)]
    resource: Option<WireResource<'a>>,
    outcome: Outcome,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    event_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireActor<'a> {
    #[serde(borrow)]
    user_id: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    email: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOrganization<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResource<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// Like serde's `Option<Cow<str>>`, but borrowing whenever the JSON string has no escapes.
fn opt_cow<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'de>>::deserialize(d)?.map(|b| b.0))
}

/// Parses and validates one event from JSON bytes (one JSONL line, without its newline).
pub fn parse_json(bytes: &[u8]) -> Result<Event<'_>, EventError> {
    let text = std::str::from_utf8(bytes).map_err(|e| EventError::InvalidUtf8 {
        byte_offset: e.valid_up_to(),
    })?;
    let event = match super::canonical::parse(text) {
        Some(event) => event,
        None => parse_general(text)?,
    };
    event.validate()?;
    Ok(event)
}

/// The metadata object of an event received apart from its JSON (over gRPC, say): `text`
/// must be exactly one JSON object, as the event parser requires; what is kept is its
/// text without surrounding whitespace, which queries copy out verbatim.
pub fn metadata_from_json(text: &str) -> Result<&str, EventError> {
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| EventError::Json(format!("metadata: {e}")))?;
    if !raw.get().starts_with('{') {
        return Err(EventError::MetadataNotObject);
    }
    Ok(raw.get())
}

/// Any key order, whitespace, escapes and `null`s, through serde_json; not validated.
pub(crate) fn parse_general(text: &str) -> Result<Event<'_>, EventError> {
    let wire: WireEvent<'_> =
        serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string()))?;
    let timestamp = Timestamp::parse(&wire.timestamp).map_err(EventError::BadTimestamp)?;
    let metadata = match wire.metadata {
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(Cow::Borrowed(raw.get())),
        None => None,
    };
    let (resource_type, resource_id) = match wire.resource {
        Some(r) => (Some(r.kind), Some(r.id)),
        None => (None, None),
    };
    Ok(Event {
        timestamp,
        actor_id: wire.actor.user_id,
        actor_email: wire.actor.email,
        actor_kind: wire.actor.kind,
        tenant_id: wire.organization.id,
        tenant_name: wire.organization.name,
        action: wire.action,
        resource_type,
        resource_id,
        outcome: wire.outcome,
        ip_address: wire.ip_address,
        user_agent: wire.user_agent,
        metadata,
        event_id: wire.event_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_received_alone_must_be_one_json_object() {
        assert_eq!(
            metadata_from_json(r#" {"a": [1, 2]} "#),
            Ok(r#"{"a": [1, 2]}"#)
        );
        assert_eq!(metadata_from_json("[]"), Err(EventError::MetadataNotObject));
        assert_eq!(metadata_from_json("7"), Err(EventError::MetadataNotObject));
        for bad in ["", "{", "{} {}", r#"{"a":}"#, "{'a':1}"] {
            assert!(
                matches!(metadata_from_json(bad), Err(EventError::Json(m)) if m.starts_with("metadata: ")),
                "{bad:?}"
            );
        }
    }
}
