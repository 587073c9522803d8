//! OTLP log records to audit events: the mapping of docs/OTLP.md. Semantic conventions
//! where OpenTelemetry has them (`enduser.id`, `user.email`, `client.address`,
//! `user_agent.original`, `log.record.uid`, the record's event name), `audit.*`
//! attributes for the rest. A record attribute wins over the resource's of the same
//! name. Attributes not mapped to a field are kept in `metadata` by name, with the
//! body, the trace context and the resource's `service.name`; a record that cannot
//! make a valid event is refused with the reason, never dropped. `record_of` reads the
//! mapping backwards, for what sends events as OTLP.

use std::borrow::Cow;

use auditlog_engine::event::{EventError, limits};
use auditlog_engine::{Event, Outcome, Timestamp};
use base64::Engine;
use serde_json::{Map, Value};

use super::view::{Attribute, Logs, Place, Record, Value as Any};
use crate::opentelemetry::proto::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use crate::opentelemetry::proto::logs::v1::LogRecord;

/// Attributes read into an event's fields, each in order of preference.
pub mod attr {
    pub const ACTOR_ID: [&str; 2] = ["enduser.id", "user.id"];
    pub const ACTOR_EMAIL: &str = "user.email";
    pub const ACTOR_KIND: &str = "audit.actor.kind";
    pub const TENANT_ID: &str = "audit.tenant.id";
    pub const TENANT_NAME: &str = "audit.tenant.name";
    /// When the record has no event name.
    pub const ACTION: [&str; 2] = ["event.name", "audit.action"];
    pub const RESOURCE_TYPE: &str = "audit.resource.type";
    pub const RESOURCE_ID: &str = "audit.resource.id";
    pub const OUTCOME: &str = "audit.outcome";
    pub const IP_ADDRESS: &str = "client.address";
    pub const USER_AGENT: &str = "user_agent.original";
    pub const EVENT_ID: [&str; 2] = ["audit.event_id", "log.record.uid"];
    /// The one resource attribute kept in `metadata` (which service emitted the event).
    pub const SERVICE_NAME: &str = "service.name";

    /// Every attribute read into a field (not copied into `metadata`).
    pub(crate) const MAPPED: [&str; 16] = [
        ACTOR_ID[0],
        ACTOR_ID[1],
        ACTOR_EMAIL,
        ACTOR_KIND,
        TENANT_ID,
        TENANT_NAME,
        ACTION[0],
        ACTION[1],
        RESOURCE_TYPE,
        RESOURCE_ID,
        OUTCOME,
        IP_ADDRESS,
        USER_AGENT,
        EVENT_ID[0],
        EVENT_ID[1],
        SERVICE_NAME,
    ];
}

/// `metadata` members the mapping fills from the record itself.
pub mod meta {
    pub const BODY: &str = "body";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
}

/// One log record of a request: where it is, and its event or why it cannot be one.
pub type Named<'a> = (Place, Result<Event<'a>, String>);

/// Every log record of the request, in order, as a valid event or the reason it is
/// not one; the events borrow what the view borrows.
pub fn events_of<'a>(logs: &Logs<'a>) -> Vec<Named<'a>> {
    let mut out = Vec::with_capacity(logs.records().len());
    // The resource's attributes are read once for all its records.
    let mut resource: Option<(usize, Slots<'_, 'a>)> = None;
    for record in logs.records() {
        let slots = match resource {
            Some((r, slots)) if r == record.place.resource => slots,
            _ => {
                let slots = Slots::of_resource(logs.resource_of(record));
                resource = Some((record.place.resource, slots));
                slots
            }
        };
        out.push((record.place, event_with(logs, record, &slots)));
    }
    out
}

/// The event of one record, whose resource's mapped attributes are `resource`,
/// borrowing from the request (only `metadata` is made).
fn event_with<'v, 'a>(
    logs: &'v Logs<'a>,
    record: &'v Record<'a>,
    resource: &Slots<'v, 'a>,
) -> Result<Event<'a>, String> {
    let attributes = logs.attributes_of(record);
    let found = resource.with_record(attributes);
    let nanos = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => return Err("no time: set the record's time (or observed time)".into()),
        (0, observed) => observed,
        (time, _) => time,
    };
    // Microseconds, the log's resolution; u64 nanoseconds end in 2554, within range.
    let timestamp = Timestamp((nanos / 1_000) as i64);
    let action = if record.event_name.is_empty() {
        found.first_of(&attr::ACTION)?.ok_or_else(|| {
            "no action: set the record's event name (or attribute `event.name` or \
             `audit.action`)"
                .to_owned()
        })?
    } else {
        record.event_name
    };
    let actor_id = found
        .first_of(&attr::ACTOR_ID)?
        .ok_or_else(|| "no actor: set attribute `enduser.id` (or `user.id`)".to_owned())?;
    let tenant_id = found
        .string(attr::TENANT_ID)?
        .ok_or_else(|| "no tenant: set attribute `audit.tenant.id`".to_owned())?;
    let outcome_name = found.string(attr::OUTCOME)?.ok_or_else(|| {
        "no outcome: set attribute `audit.outcome` (success, failure, denied or error)".to_owned()
    })?;
    let outcome = Outcome::from_name(outcome_name).ok_or_else(|| {
        format!(
            "attribute `audit.outcome` is `{}`, not success, failure, denied or error",
            cut(outcome_name)
        )
    })?;
    let resource_type = found.string(attr::RESOURCE_TYPE)?;
    let resource_id = found.string(attr::RESOURCE_ID)?;
    if resource_type.is_some() != resource_id.is_some() {
        return Err(
            "attributes `audit.resource.type` and `audit.resource.id` come together".into(),
        );
    }
    let event = Event {
        timestamp,
        actor_id: Cow::Borrowed(actor_id),
        actor_email: found.string(attr::ACTOR_EMAIL)?.map(Cow::Borrowed),
        actor_kind: found.string(attr::ACTOR_KIND)?.map(Cow::Borrowed),
        tenant_id: Cow::Borrowed(tenant_id),
        tenant_name: found.string(attr::TENANT_NAME)?.map(Cow::Borrowed),
        action: Cow::Borrowed(action),
        resource_type: resource_type.map(Cow::Borrowed),
        resource_id: resource_id.map(Cow::Borrowed),
        outcome,
        ip_address: found.string(attr::IP_ADDRESS)?.map(Cow::Borrowed),
        user_agent: found.string(attr::USER_AGENT)?.map(Cow::Borrowed),
        metadata: metadata(record, attributes, found.service)?.map(Cow::Owned),
        event_id: found.first_of(&attr::EVENT_ID)?.map(Cow::Borrowed),
    };
    event.validate().map_err(|e| field_reason(&e))?;
    Ok(event)
}

/// An event's refusal in the record's terms: the attribute it came from.
fn field_reason(error: &EventError) -> String {
    let attribute = match error.field() {
        Some("actor.user_id") => "attribute `enduser.id`",
        Some("actor.email") => "attribute `user.email`",
        Some("actor.kind") => "attribute `audit.actor.kind`",
        Some("organization.id") => "attribute `audit.tenant.id`",
        Some("organization.name") => "attribute `audit.tenant.name`",
        Some("action") => "the event name",
        Some("resource.type") => "attribute `audit.resource.type`",
        Some("resource.id") => "attribute `audit.resource.id`",
        Some("ip_address") => "attribute `client.address`",
        Some("user_agent") => "attribute `user_agent.original`",
        Some("metadata") => "the other attributes, body and trace context (as metadata)",
        Some("event_id") => "attribute `audit.event_id` or `log.record.uid`",
        Some("timestamp") => "the record's time",
        _ => "the record",
    };
    format!("{attribute}: {error}")
}

/// The values of the mapped attributes, found in one pass over the resource's (once
/// for all its records) and one over the record's (which win); the last of a repeated
/// name counts.
#[derive(Clone, Copy)]
struct Slots<'v, 'a> {
    values: [Option<&'v Any<'a>>; attr::MAPPED.len()],
    /// `service.name`, for `metadata`.
    service: Option<&'v Any<'a>>,
}

impl<'v, 'a> Slots<'v, 'a> {
    fn of_resource(resource: &'v [Attribute<'a>]) -> Slots<'v, 'a> {
        let mut slots = Slots {
            values: [None; attr::MAPPED.len()],
            service: None,
        };
        slots.overlay(resource);
        slots
    }

    fn with_record(&self, attributes: &'v [Attribute<'a>]) -> Slots<'v, 'a> {
        let mut slots = *self;
        slots.overlay(attributes);
        slots
    }

    fn overlay(&mut self, attributes: &'v [Attribute<'a>]) {
        for attribute in attributes {
            if let Some(i) = mapped(attribute.key) {
                self.values[i] = Some(&attribute.value);
            }
        }
        self.service = self.values[mapped(attr::SERVICE_NAME).unwrap_or_default()];
    }

    /// The string value of attribute `name`, if set; any other type is refused.
    fn string(&self, name: &str) -> Result<Option<&'a str>, String> {
        match mapped(name).and_then(|i| self.values[i]) {
            None | Some(Any::Empty) => Ok(None),
            Some(Any::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("attribute `{name}` must be a string")),
        }
    }

    /// The first of `names` that is set.
    fn first_of(&self, names: &[&str]) -> Result<Option<&'a str>, String> {
        for name in names {
            if let Some(value) = self.string(name)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }
}

/// The place of `name` in [`attr::MAPPED`], if the mapping reads it (a `match`, which
/// compiles to a few length and byte tests: it runs for every attribute).
fn mapped(name: &str) -> Option<usize> {
    let i = match name {
        "enduser.id" => 0,
        "user.id" => 1,
        "user.email" => 2,
        "audit.actor.kind" => 3,
        "audit.tenant.id" => 4,
        "audit.tenant.name" => 5,
        "event.name" => 6,
        "audit.action" => 7,
        "audit.resource.type" => 8,
        "audit.resource.id" => 9,
        "audit.outcome" => 10,
        "client.address" => 11,
        "user_agent.original" => 12,
        "audit.event_id" => 13,
        "log.record.uid" => 14,
        "service.name" => 15,
        _ => return None,
    };
    debug_assert_eq!(attr::MAPPED[i], name);
    Some(i)
}

/// Which members of a key-value list count: the last of each key. Lists of a few
/// members are checked pairwise; longer ones through a set (no quadratic work on a
/// hostile list of many keys).
enum LastOfKey {
    Few,
    Many(Vec<bool>),
}

impl LastOfKey {
    fn of(list: &[Attribute<'_>]) -> LastOfKey {
        if list.len() <= 16 {
            return LastOfKey::Few;
        }
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        let mut last = vec![false; list.len()];
        for (i, attribute) in list.iter().enumerate().rev() {
            last[i] = seen.insert(attribute.key);
        }
        LastOfKey::Many(last)
    }

    fn counts(&self, list: &[Attribute<'_>], i: usize) -> bool {
        match self {
            LastOfKey::Few => !list[i + 1..].iter().any(|a| a.key == list[i].key),
            LastOfKey::Many(last) => last[i],
        }
    }
}

/// Past the metadata limit: the record is refused. Checked as the text is written, so
/// an oversized value is refused before it is copied.
struct Over;

fn fits(out: &[u8], more: usize) -> Result<(), Over> {
    if out.len().saturating_add(more) > limits::MAX_METADATA_BYTES {
        Err(Over)
    } else {
        Ok(())
    }
}

/// The record's attributes not mapped to a field (in their order), its body, trace
/// context and `service` (the resource's, or the record's own), as one JSON object;
/// None when empty.
fn metadata(
    record: &Record<'_>,
    attributes: &[Attribute<'_>],
    service: Option<&Any<'_>>,
) -> Result<Option<String>, String> {
    let over = |Over| {
        format!(
            "the other attributes, body and trace context (as metadata) are over {} bytes",
            limits::MAX_METADATA_BYTES
        )
    };
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let last = LastOfKey::of(attributes);
    for (i, attribute) in attributes.iter().enumerate() {
        if mapped(attribute.key).is_none() && last.counts(attributes, i) {
            member(&mut out, attribute.key, |out| {
                write_any(out, &attribute.value)
            })
            .map_err(over)?;
        }
    }
    let taken = |key: &str| {
        if attributes.iter().any(|a| a.key == key) {
            Err(format!(
                "attribute `{key}` is taken: the mapping keeps the record's {key} there"
            ))
        } else {
            Ok(())
        }
    };
    if record.body != Any::Empty {
        taken(meta::BODY)?;
        member(&mut out, meta::BODY, |out| write_any(out, &record.body)).map_err(over)?;
    }
    for (key, id) in [
        (meta::TRACE_ID, record.trace_id),
        (meta::SPAN_ID, record.span_id),
    ] {
        if !id.is_empty() {
            taken(key)?;
            fits(&out, id.len() * 2)
                .and_then(|()| {
                    member(&mut out, key, |out| {
                        write_str(out, &auditlog_engine::hex::encode(id))
                    })
                })
                .map_err(over)?;
        }
    }
    if let Some(service) = service {
        member(&mut out, attr::SERVICE_NAME, |out| write_any(out, service)).map_err(over)?;
    }
    if out.len() == 1 {
        return Ok(None);
    }
    out.push(b'}');
    // Only JSON text of UTF-8 strings was written.
    Ok(Some(String::from_utf8(out).map_err(|e| e.to_string())?))
}

/// Appends `"key":` and the value `write` writes, after a comma unless first.
fn member(
    out: &mut Vec<u8>,
    key: &str,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), Over>,
) -> Result<(), Over> {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    write_str(out, key)?;
    out.push(b':');
    write(out)
}

fn write_str(out: &mut Vec<u8>, text: &str) -> Result<(), Over> {
    fits(out, text.len() + 2)?;
    // Writing a string to a Vec cannot fail; escapes may lengthen it.
    let _ = serde_json::to_writer(&mut *out, text);
    fits(out, 0)
}

/// An OTLP value as JSON text, as [`any_to_json`] has it.
fn write_any(out: &mut Vec<u8>, value: &Any<'_>) -> Result<(), Over> {
    use std::io::Write;
    match value {
        Any::String(s) => write_str(out, s)?,
        Any::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Writing to a Vec cannot fail.
        Any::Int(i) => drop(write!(out, "{i}")),
        Any::Array(values) => {
            out.push(b'[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_any(out, v)?;
            }
            out.push(b']');
        }
        Any::Kvlist(members) => {
            out.push(b'{');
            let last = LastOfKey::of(members);
            for (i, m) in members.iter().enumerate() {
                if last.counts(members, i) {
                    member(out, m.key, |out| write_any(out, &m.value))?;
                }
            }
            out.push(b'}');
        }
        // Bytes: refused before they are encoded when they cannot fit.
        Any::Bytes(b) => {
            fits(out, b.len() / 3 * 4)?;
            write_str(out, &base64::engine::general_purpose::STANDARD.encode(b))?;
        }
        Any::Double(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => drop(serde_json::to_writer(&mut *out, &n)),
            None => write_str(out, non_finite(*d))?,
        },
        Any::Empty | Any::Strindex(_) => out.extend_from_slice(b"null"),
    }
    fits(out, 0)
}

/// An OTLP value as JSON: arrays and key-value lists nest, bytes are base64, a
/// non-finite double is its name as a string, an empty value null.
pub fn any_to_json(value: Option<&AnyValue>) -> Value {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(V::StringValueStrindex(_)) => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(non_finite(*d).to_owned()), Value::Number),
        Some(V::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(V::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| any_to_json(Some(v))).collect())
        }
        Some(V::KvlistValue(list)) => Value::Object(
            list.values
                .iter()
                .map(|kv| (kv.key.clone(), any_to_json(kv.value.as_ref())))
                .collect(),
        ),
    }
}

/// The log record of an event: the mapping read backwards, so that mapping it gives the
/// event again (with `metadata` as the same JSON value, its keys sorted). Every field is
/// a record attribute (a record may be of any tenant); `metadata` members become
/// attributes by name, `body`, `trace_id` and `span_id` the record's own, and a member
/// whose name the mapping reads into a field goes under `audit.metadata.<name>`.
pub fn record_of(event: &Event<'_>) -> LogRecord {
    let nanos = u64::try_from(event.timestamp.0)
        .unwrap_or(0)
        .saturating_mul(1_000);
    let mut attributes = Vec::with_capacity(16);
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            attributes.push(string_attribute(key, value));
        }
    };
    put(attr::ACTOR_ID[0], Some(&event.actor_id));
    put(attr::ACTOR_EMAIL, event.actor_email.as_deref());
    put(attr::ACTOR_KIND, event.actor_kind.as_deref());
    put(attr::TENANT_ID, Some(&event.tenant_id));
    put(attr::TENANT_NAME, event.tenant_name.as_deref());
    put(attr::RESOURCE_TYPE, event.resource_type.as_deref());
    put(attr::RESOURCE_ID, event.resource_id.as_deref());
    put(attr::OUTCOME, Some(event.outcome.as_str()));
    put(attr::IP_ADDRESS, event.ip_address.as_deref());
    put(attr::USER_AGENT, event.user_agent.as_deref());
    put(attr::EVENT_ID[1], event.event_id.as_deref());
    let mut record = LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: nanos,
        event_name: event.action.to_string(),
        ..Default::default()
    };
    let metadata = event
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
        .unwrap_or_default();
    for (key, value) in metadata {
        let id = |v: &Value, len: usize| {
            v.as_str()
                .filter(|s| s.len() == len && !s.bytes().any(|b| b.is_ascii_uppercase()))
                .and_then(auditlog_engine::hex::decode)
        };
        match key.as_str() {
            meta::BODY => record.body = Some(json_to_any(&value)),
            meta::TRACE_ID if id(&value, 32).is_some() => {
                record.trace_id = id(&value, 32).unwrap_or_default();
            }
            meta::SPAN_ID if id(&value, 16).is_some() => {
                record.span_id = id(&value, 16).unwrap_or_default();
            }
            name if attr::MAPPED.contains(&name) && name != attr::SERVICE_NAME => {
                attributes.push(KeyValue {
                    key: format!("audit.metadata.{name}"),
                    value: Some(json_to_any(&value)),
                    key_strindex: 0,
                });
            }
            _ => attributes.push(KeyValue {
                key,
                value: Some(json_to_any(&value)),
                key_strindex: 0,
            }),
        }
    }
    record.attributes = attributes;
    record
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    }
}

/// A JSON value as OTLP's: integers that fit 64 bits as ints, other numbers as doubles,
/// objects as key-value lists, null as the empty value.
pub fn json_to_any(value: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue {
            values: items.iter().map(json_to_any).collect(),
        })),
        Value::Object(members) => Some(V::KvlistValue(KeyValueList {
            values: members
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(json_to_any(v)),
                    key_strindex: 0,
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// `text` cut to 64 characters, for messages.
fn cut(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
    use crate::opentelemetry::proto::logs::v1::{ResourceLogs, ScopeLogs};
    use crate::opentelemetry::proto::resource::v1::Resource;
    use crate::otlp::wire;
    use prost::Message;

    /// Every record of `request`, mapped from both views, which must agree: the fast
    /// reader's of its bytes, and the generated types'.
    fn mapped_both_ways(
        request: &ExportLogsServiceRequest,
    ) -> Vec<(Place, Result<Event<'static>, String>)> {
        let owned = |named: Vec<Named<'_>>| -> Vec<_> {
            named
                .into_iter()
                .map(|(place, event)| (place, event.map(Event::into_owned)))
                .collect()
        };
        let bytes = request.encode_to_vec();
        let fast = wire::read(&bytes, usize::MAX).expect("the fast reader reads it");
        let decoded = Logs::of_request(request);
        assert_eq!(fast, decoded);
        let (fast, decoded) = (owned(events_of(&fast)), owned(events_of(&decoded)));
        assert_eq!(fast, decoded);
        fast
    }

    /// The event of `record` under a resource with `resource` attributes.
    fn event_of(record: &LogRecord, resource: &[KeyValue]) -> Result<Event<'static>, String> {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource.to_vec(),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record.clone()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        mapped_both_ways(&request).remove(0).1
    }

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            key_strindex: 0,
        }
    }

    fn int(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
            key_strindex: 0,
        }
    }

    fn record(attributes: Vec<KeyValue>) -> LogRecord {
        LogRecord {
            time_unix_nano: 1_772_980_321_123_456_789,
            event_name: "document.read".into(),
            attributes,
            ..Default::default()
        }
    }

    fn full() -> Vec<KeyValue> {
        vec![
            string("enduser.id", "usr_1"),
            string("user.email", "jin@example.com"),
            string("audit.actor.kind", "user"),
            string("audit.tenant.id", "org_a"),
            string("audit.tenant.name", "Example"),
            string("audit.resource.type", "document"),
            string("audit.resource.id", "doc_1"),
            string("audit.outcome", "denied"),
            string("client.address", "203.0.113.9"),
            string("user_agent.original", "curl/8"),
            string("log.record.uid", "01JABCDEF"),
            int("http.response.status_code", 403),
        ]
    }

    #[test]
    fn every_mapped_name_is_found_in_its_place() {
        for (i, name) in attr::MAPPED.iter().enumerate() {
            assert_eq!(mapped(name), Some(i), "{name}");
        }
        assert_eq!(mapped("enduser.idx"), None);
    }

    #[test]
    fn every_field_comes_from_its_attribute() {
        let mut r = record(full());
        r.trace_id = vec![0xab; 16];
        r.body = Some(AnyValue {
            value: Some(any_value::Value::StringValue("denied".into())),
        });
        let resource = [string("service.name", "billing"), string("host.name", "h1")];
        let event = event_of(&r, &resource).expect("maps");
        let json: Value = serde_json::from_str(&event.to_json()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "timestamp": "2026-03-08T14:32:01.123456Z",
                "actor": {"user_id": "usr_1", "email": "jin@example.com", "kind": "user"},
                "organization": {"id": "org_a", "name": "Example"},
                "action": "document.read",
                "resource": {"type": "document", "id": "doc_1"},
                "outcome": "denied",
                "ip_address": "203.0.113.9",
                "user_agent": "curl/8",
                "metadata": {
                    "body": "denied",
                    "http.response.status_code": 403,
                    "service.name": "billing",
                    "trace_id": "ab".repeat(16),
                },
                "event_id": "01JABCDEF",
            })
        );
    }

    #[test]
    fn oversized_or_repetitive_records_are_refused_or_kept_cheaply() {
        let base = || {
            vec![
                string("enduser.id", "u"),
                string("audit.tenant.id", "t"),
                string("audit.outcome", "success"),
            ]
        };
        // A value past the metadata limit: refused, never copied whole.
        let huge = "x".repeat(2 << 20);
        let (one, resource) = (record(base()), [string("service.name", &huge)]);
        let refused = event_of(&one, &resource).map(|_| ());
        assert!(refused.expect_err("refused").contains("over 16384 bytes"));
        // Many keys, repeated: the last of each counts (checked through a set).
        let mut many = base();
        for i in 0..40 {
            many.push(int(&format!("k{}", i % 20), i));
        }
        let many = record(many);
        let event = event_of(&many, &[]).expect("maps");
        let metadata: Value =
            serde_json::from_str(event.metadata.as_deref().expect("metadata")).expect("json");
        assert_eq!(metadata.as_object().expect("object").len(), 20);
        assert_eq!(metadata["k3"], 23);
    }

    #[test]
    fn the_resource_fills_what_the_record_lacks_and_the_record_wins() {
        let resource = [
            string("audit.tenant.id", "org_from_resource"),
            string("enduser.id", "usr_resource"),
        ];
        let r = record(vec![
            string("enduser.id", "usr_record"),
            string("audit.outcome", "success"),
        ]);
        let event = event_of(&r, &resource).expect("maps");
        assert_eq!(event.tenant_id, "org_from_resource");
        assert_eq!(event.actor_id, "usr_record");
        assert_eq!(event.metadata, None);
        // The event name may come from `event.name` when the record has none.
        let mut r = r;
        r.event_name.clear();
        r.attributes.push(string("event.name", "auth.login"));
        assert_eq!(event_of(&r, &resource).expect("maps").action, "auth.login");
    }

    #[test]
    fn records_that_cannot_be_events_say_why() {
        let refused =
            |attributes: Vec<KeyValue>| event_of(&record(attributes), &[]).expect_err("refused");
        let base = || {
            vec![
                string("enduser.id", "u"),
                string("audit.tenant.id", "t"),
                string("audit.outcome", "success"),
            ]
        };
        let mut no_tenant = base();
        no_tenant.remove(1);
        assert!(refused(no_tenant).contains("no tenant"));
        let mut no_actor = base();
        no_actor.remove(0);
        assert!(refused(no_actor).contains("no actor"));
        let mut bad_outcome = base();
        bad_outcome[2] = string("audit.outcome", "ok");
        assert!(refused(bad_outcome).contains("`ok`"));
        let mut typed = base();
        typed[0] = int("enduser.id", 7);
        assert!(refused(typed).contains("`enduser.id` must be a string"));
        let mut bad_ip = base();
        bad_ip.push(string("client.address", "not-an-ip"));
        assert!(refused(bad_ip).starts_with("attribute `client.address`"));
        let mut taken = base();
        taken.push(string("body", "x"));
        let mut r = record(taken);
        r.body = Some(AnyValue {
            value: Some(any_value::Value::BoolValue(true)),
        });
        assert!(
            event_of(&r, &[])
                .expect_err("refused")
                .contains("`body` is taken")
        );
        let mut no_time = record(base());
        no_time.time_unix_nano = 0;
        assert!(
            event_of(&no_time, &[])
                .expect_err("refused")
                .contains("no time")
        );
        no_time.observed_time_unix_nano = 1_000_000_000;
        assert!(event_of(&no_time, &[]).is_ok(), "the observed time serves");
        let mut no_action = record(base());
        no_action.event_name.clear();
        assert!(
            event_of(&no_action, &[])
                .expect_err("refused")
                .contains("no action")
        );
    }

    #[test]
    fn an_event_comes_back_the_same_through_its_record() {
        let lines = [
            r#"{"timestamp":"2026-03-08T14:32:01.123456Z","actor":{"user_id":"usr_1","email":"a@example.com","kind":"user"},"organization":{"id":"org_a","name":"A"},"action":"invoice.approve","resource":{"type":"invoice","id":"inv_1"},"outcome":"denied","ip_address":"2001:db8::1","user_agent":"curl/8","metadata":{"amount":12.5,"n":3,"big":18446744073709551615,"ok":true,"none":null,"list":[1,"a",{"x":[]}],"body":{"note":"n"},"trace_id":"0123456789abcdef0123456789abcdef","span_id":"XYZ","enduser.id":"shadow"},"event_id":"e1"}"#,
            r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"u"},"organization":{"id":"t"},"action":"a.b","outcome":"success"}"#,
        ];
        for line in lines {
            let event = auditlog_engine::event::parse_json(line.as_bytes()).expect("an event");
            let record = record_of(&event);
            let back = event_of(&record, &[]).expect("maps back");
            let json =
                |e: &Event<'_>| -> Value { serde_json::from_str(&e.to_json()).expect("json") };
            let (mut sent, mut got) = (json(&event), json(&back));
            // The one member renamed on the way: a name the mapping reads into a field.
            if let Some(m) = sent.get_mut("metadata").and_then(Value::as_object_mut)
                && let Some(shadow) = m.remove("enduser.id")
            {
                m.insert("audit.metadata.enduser.id".into(), shadow);
                // u64 past i64 travels as a double.
                m.insert("big".into(), serde_json::json!(18446744073709551615.0));
            }
            assert_eq!(got.take(), sent.take());
        }
    }

    #[test]
    fn records_are_found_and_named_across_resources_and_scopes() {
        let good = record(vec![
            string("enduser.id", "u"),
            string("audit.tenant.id", "t"),
            string("audit.outcome", "success"),
        ]);
        let request = ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    resource: Some(Resource::default()),
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![good.clone(), record(vec![])],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceLogs {
                    scope_logs: vec![
                        ScopeLogs::default(),
                        ScopeLogs {
                            log_records: vec![good],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
            ],
        };
        let events = mapped_both_ways(&request);
        assert_eq!(events.len(), 3);
        assert!(events[0].1.is_ok() && events[2].1.is_ok());
        assert!(events[1].1.is_err());
        assert_eq!(
            events[1].0.to_string(),
            "resource_logs[0].scope_logs[0].log_records[1]"
        );
        assert_eq!(
            events[2].0.to_string(),
            "resource_logs[1].scope_logs[1].log_records[0]"
        );
    }
}
