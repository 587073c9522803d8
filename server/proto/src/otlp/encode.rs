//! The log record of an event written straight as protobuf: the bytes prost writes for
//! [`record_of`]'s record, without building it (no `String` per attribute, no tree of
//! values to size and then walk): what a sink sends, event after event. Held to
//! `record_of` byte for byte by the tests below.
//!
//! [`record_of`]: super::map::record_of

use serde_json::{Map, Value};

use super::map::{attr, meta};
use auditlog_engine::Event;

/// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// Appends the fields of `event`'s log record (not framed: the caller writes its tag and
/// length), with `ints` appended to its attributes as integer values.
pub fn write_record(event: &Event<'_>, ints: &[(&str, i64)], out: &mut Vec<u8>) {
    let nanos = u64::try_from(event.timestamp.0)
        .unwrap_or(0)
        .saturating_mul(1_000);
    // LogRecord: time_unix_nano = 1 … event_name = 12, in the order of their tags.
    if nanos != 0 {
        key(out, 1, FIXED64);
        out.extend_from_slice(&nanos.to_le_bytes());
    }
    let metadata = event
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
        .unwrap_or_default();
    let (mut body, mut trace_id, mut span_id) = (None, None, None);
    for (name, value) in &metadata {
        match name.as_str() {
            meta::BODY => body = Some(value),
            meta::TRACE_ID => trace_id = id(value, 32).or(trace_id),
            meta::SPAN_ID => span_id = id(value, 16).or(span_id),
            _ => {}
        }
    }
    if let Some(value) = body {
        nested(out, 5, |out| any_value(out, value));
    }
    let strings = [
        (attr::ACTOR_ID[0], Some(&*event.actor_id)),
        (attr::ACTOR_EMAIL, event.actor_email.as_deref()),
        (attr::ACTOR_KIND, event.actor_kind.as_deref()),
        (attr::TENANT_ID, Some(&*event.tenant_id)),
        (attr::TENANT_NAME, event.tenant_name.as_deref()),
        (attr::RESOURCE_TYPE, event.resource_type.as_deref()),
        (attr::RESOURCE_ID, event.resource_id.as_deref()),
        (attr::OUTCOME, Some(event.outcome.as_str())),
        (attr::IP_ADDRESS, event.ip_address.as_deref()),
        (attr::USER_AGENT, event.user_agent.as_deref()),
        (attr::EVENT_ID[1], event.event_id.as_deref()),
    ];
    for (name, value) in strings {
        if let Some(value) = value {
            string_attribute(out, name, value);
        }
    }
    for (name, value) in &metadata {
        match name.as_str() {
            meta::BODY => {}
            meta::TRACE_ID if id(value, 32).is_some() => {}
            meta::SPAN_ID if id(value, 16).is_some() => {}
            name if attr::MAPPED.contains(&name) && name != attr::SERVICE_NAME => {
                let prefixed = format!("audit.metadata.{name}");
                nested(out, 6, |out| key_value(out, &prefixed, value));
            }
            name => nested(out, 6, |out| key_value(out, name, value)),
        }
    }
    for (name, value) in ints {
        nested(out, 6, |out| {
            text(out, 1, name);
            nested(out, 2, |out| {
                key(out, 3, VARINT);
                varint(out, value.cast_unsigned());
            });
        });
    }
    for (tag, bytes) in [(9, trace_id), (10, span_id)] {
        if let Some(bytes) = bytes.filter(|b| !b.is_empty()) {
            key(out, tag, LEN);
            varint(out, bytes.len() as u64);
            out.extend_from_slice(&bytes);
        }
    }
    if nanos != 0 {
        key(out, 11, FIXED64);
        out.extend_from_slice(&nanos.to_le_bytes());
    }
    text(out, 12, &event.action);
}

/// A trace or span id as `record_of` takes it: lower-case hex of `len` digits.
fn id(value: &Value, len: usize) -> Option<Vec<u8>> {
    value
        .as_str()
        .filter(|s| s.len() == len && !s.bytes().any(|b| b.is_ascii_uppercase()))
        .and_then(auditlog_engine::hex::decode)
}

/// A string attribute: its length known at once, written without a detour.
fn string_attribute(out: &mut Vec<u8>, name: &str, value: &str) {
    let any = 1 + varint_len(value.len() as u64) + value.len();
    let name_len = if name.is_empty() {
        0
    } else {
        1 + varint_len(name.len() as u64) + name.len()
    };
    let pair = name_len + 1 + varint_len(any as u64) + any;
    key(out, 6, LEN);
    varint(out, pair as u64);
    text(out, 1, name);
    key(out, 2, LEN);
    varint(out, any as u64);
    key(out, 1, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// A KeyValue's fields.
fn key_value(out: &mut Vec<u8>, name: &str, value: &Value) {
    text(out, 1, name);
    nested(out, 2, |out| any_value(out, value));
}

/// An AnyValue's fields, as `json_to_any` maps a JSON value.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            key(out, 2, VARINT);
            out.push(u8::from(*b));
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                key(out, 3, VARINT);
                varint(out, i.cast_unsigned());
            }
            None => {
                key(out, 4, FIXED64);
                let d = n.as_f64().unwrap_or(f64::NAN);
                out.extend_from_slice(&d.to_bits().to_le_bytes());
            }
        },
        Value::String(s) => {
            // A oneof member is written even when empty.
            key(out, 1, LEN);
            varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => nested(out, 5, |out| {
            for item in items {
                nested(out, 1, |out| any_value(out, item));
            }
        }),
        Value::Object(members) => nested(out, 6, |out| {
            for (name, item) in members {
                nested(out, 1, |out| key_value(out, name, item));
            }
        }),
    }
}

/// A length-delimited field `tag` whose content `write` appends: written in place, then
/// its length put before it (nested values are small; the move is of them alone).
fn nested(out: &mut Vec<u8>, tag: u32, write: impl FnOnce(&mut Vec<u8>)) {
    key(out, tag, LEN);
    let start = out.len();
    write(out);
    let mut prefix = [0u8; 10];
    let mut free = &mut prefix[..];
    prost::encoding::encode_varint((out.len() - start) as u64, &mut free);
    let n = 10 - free.len();
    out.splice(start..start, prefix[..n].iter().copied());
}

/// A string field, left out when empty (proto3).
fn text(out: &mut Vec<u8>, tag: u32, value: &str) {
    if !value.is_empty() {
        key(out, tag, LEN);
        varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

fn key(out: &mut Vec<u8>, tag: u32, wire: u32) {
    varint(out, u64::from(tag << 3 | wire));
}

fn varint(out: &mut Vec<u8>, value: u64) {
    prost::encoding::encode_varint(value, out);
}

fn varint_len(value: u64) -> usize {
    prost::encoding::encoded_len_varint(value)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
    use crate::otlp::record_of;

    /// What prost writes for `record_of`'s record with `ints` appended.
    fn by_prost(event: &Event<'_>, ints: &[(&str, i64)]) -> Vec<u8> {
        let mut record = record_of(event);
        for (name, value) in ints {
            record.attributes.push(KeyValue {
                key: (*name).to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(*value)),
                }),
                key_strindex: 0,
            });
        }
        record.encode_to_vec()
    }

    fn written(event: &Event<'_>, ints: &[(&str, i64)]) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(event, ints, &mut out);
        out
    }

    #[test]
    fn records_are_the_bytes_prost_writes_for_record_of() {
        let lines = [
            r#"{"timestamp":"2026-03-08T14:32:01.123456Z","actor":{"user_id":"usr_1","email":"a@example.com","kind":"user"},"organization":{"id":"org_a","name":"A"},"action":"invoice.approve","resource":{"type":"invoice","id":"inv_1"},"outcome":"denied","ip_address":"2001:db8::1","user_agent":"curl/8","metadata":{"amount":12.5,"n":-3,"big":18446744073709551615,"ok":true,"none":null,"list":[1,"a",{"x":[]},[]],"body":{"note":"n"},"trace_id":"0123456789abcdef0123456789abcdef","span_id":"XYZ","enduser.id":"shadow","service.name":"billing","":"empty name","s":""},"event_id":"e1"}"#,
            r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"u"},"organization":{"id":"t"},"action":"a.b","outcome":"success"}"#,
            r#"{"timestamp":"1970-01-01T00:00:00Z","actor":{"user_id":"u"},"organization":{"id":"t"},"action":"a.b","outcome":"error","metadata":{"span_id":"0123456789abcdef","body":"text","long":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#,
        ];
        for line in lines {
            let event = auditlog_engine::event::parse_json(line.as_bytes()).expect("an event");
            for ints in [
                &[][..],
                &[("audit.seq", 42)],
                &[("audit.seq", -1), ("x", 300)],
            ] {
                assert_eq!(written(&event, ints), by_prost(&event, ints), "{line}");
            }
        }
    }

    /// A JSON value of a few levels: what metadata may hold.
    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z._]{0,10}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any event, whatever its metadata (names the mapping reads included).
        #[test]
        fn any_event_is_written_as_prost_writes_it(
            actor in "[a-z0-9_]{1,12}",
            email in proptest::option::of("[a-z]{1,8}@example\\.com"),
            tenant in "[a-z_]{1,10}",
            action in "[a-z]{1,8}\\.[a-z]{1,8}",
            outcome in 0usize..4,
            micros in 0i64..4_000_000_000_000_000,
            members in proptest::collection::btree_map(
                proptest::sample::select(vec![
                    "a", "n", "body", "trace_id", "span_id", "enduser.id", "service.name",
                    "audit.tenant.id", "x.y",
                ]),
                json(),
                0..6,
            ),
            seq in proptest::num::i64::ANY,
            (kind, tenant_name, resource, ip) in (
                proptest::option::of("[a-z]{1,8}"),
                proptest::option::of("\\PC{1,20}"),
                proptest::option::of(("[a-z]{1,8}", "[a-z0-9_]{1,12}")),
                proptest::option::of("203\\.0\\.113\\.[1-9][0-9]?"),
            ),
            (user_agent, event_id, trace_id, span_id) in (
                // Past 127 bytes a length takes two bytes of varint.
                proptest::option::of("[ -~]{1,300}"),
                proptest::option::of("[a-zA-Z0-9_-]{1,40}"),
                proptest::option::of("[0-9a-f]{32}"),
                proptest::option::of("[0-9a-f]{16}"),
            ),
        ) {
            let outcomes = ["success", "failure", "denied", "error"];
            let mut line = serde_json::json!({
                "timestamp": auditlog_engine::Timestamp(micros).to_rfc3339(),
                "actor": {"user_id": actor},
                "organization": {"id": tenant},
                "action": action,
                "outcome": outcomes[outcome],
            });
            if let Some(email) = email {
                line["actor"]["email"] = Value::String(email);
            }
            if let Some(kind) = kind {
                line["actor"]["kind"] = Value::String(kind);
            }
            if let Some(name) = tenant_name {
                line["organization"]["name"] = Value::String(name);
            }
            if let Some((kind, id)) = resource {
                line["resource"] = serde_json::json!({"type": kind, "id": id});
            }
            for (field, value) in [("ip_address", ip), ("user_agent", user_agent), ("event_id", event_id)] {
                if let Some(value) = value {
                    line[field] = Value::String(value);
                }
            }
            let mut members: Map<String, Value> =
                members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            for (name, id) in [("trace_id", trace_id), ("span_id", span_id)] {
                if let Some(id) = id {
                    members.insert(name.to_owned(), Value::String(id));
                }
            }
            if !members.is_empty() {
                line["metadata"] = Value::Object(members);
            }
            let text = line.to_string();
            let event = auditlog_engine::event::parse_json(text.as_bytes()).expect("an event");
            let ints = [("audit.seq", seq)];
            proptest::prop_assert_eq!(written(&event, &ints), by_prost(&event, &ints));
        }
    }
}
