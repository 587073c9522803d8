//! The JSON shape of an event, in and out:
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

/// Whether any byte is a control character, `"` or `\\`: eight bytes at a time, the
/// last ones padded to a word (SWAR: a zero byte of `x ^ pattern`, or a byte below 0x20,
/// sets its high bit). Record strings are short: this beats a vector loop on them.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let special = |word: [u8; 8]| {
        let x = u64::from_le_bytes(word);
        // Bytes of 0x80 and more are UTF-8 continuation/lead bytes: never escaped, so
        // they are masked out of the below-0x20 test.
        x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
    };
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if special(word) {
            return true;
        }
    }
    // Padded with a byte that needs no escape.
    let mut word = [b'a'; 8];
    for (slot, &b) in word.iter_mut().zip(chunks.remainder()) {
        *slot = b;
    }
    special(word)
}

fn write_str(out: &mut Vec<u8>, value: &str) {
    // Most strings need no escape: copy them whole (queries and exports write millions).
    if !needs_escape(value.as_bytes()) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `key` is the member's JSON text up to its value: `,"name":`.
fn write_opt_member(out: &mut Vec<u8>, key: &[u8], value: Option<&Cow<'_, str>>) {
    if let Some(v) = value {
        out.extend_from_slice(key);
        write_str(out, v);
    }
}

/// Appends `value` in decimal.
fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

pub(super) fn write_json(e: &Event<'_>, seq: Option<u64>, out: &mut Vec<u8>) {
    // Room for a typical event at once, rather than growth by many small steps.
    out.reserve(512 + e.metadata.as_ref().map_or(0, |m| m.len()));
    out.push(b'{');
    if let Some(seq) = seq {
        out.extend_from_slice(b"\"seq\":");
        write_u64(out, seq);
        out.push(b',');
    }
    out.extend_from_slice(b"\"timestamp\":\"");
    e.timestamp.format_into(out);
    out.extend_from_slice(b"\",\"actor\":{\"user_id\":");
    write_str(out, &e.actor_id);
    write_opt_member(out, b",\"email\":", e.actor_email.as_ref());
    write_opt_member(out, b",\"kind\":", e.actor_kind.as_ref());
    out.extend_from_slice(b"},\"organization\":{\"id\":");
    write_str(out, &e.tenant_id);
    write_opt_member(out, b",\"name\":", e.tenant_name.as_ref());
    out.extend_from_slice(b"},\"action\":");
    write_str(out, &e.action);
    if let (Some(kind), Some(id)) = (&e.resource_type, &e.resource_id) {
        out.extend_from_slice(b",\"resource\":{\"type\":");
        write_str(out, kind);
        out.extend_from_slice(b",\"id\":");
        write_str(out, id);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(e.outcome.as_str().as_bytes());
    out.push(b'"');
    write_opt_member(out, b",\"ip_address\":", e.ip_address.as_ref());
    write_opt_member(out, b",\"user_agent\":", e.user_agent.as_ref());
    if let Some(metadata) = &e.metadata {
        out.extend_from_slice(b",\"metadata\":");
        out.extend_from_slice(metadata.as_bytes());
    }
    write_opt_member(out, b",\"event_id\":", e.event_id.as_ref());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 100, 123_456_789, u64::MAX] {
            let mut out = b"x".to_vec();
            super::write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn escape_detection_agrees_with_the_byte_rule() {
        let rule = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let mut cases: Vec<Vec<u8>> = vec![b"".to_vec(), "héllo wörld ✓✓✓".into()];
        for special in [
            0u8, 0x1f, 0x20, b'"', b'\\', 0x21, 0x7f, 0x80, 0x9f, 0xff, 0x5b, 0x5d,
        ] {
            for at in 0..20 {
                let mut v = vec![b'a'; 19];
                v.insert(at, special);
                cases.push(v.clone());
                v.fill(0xe2);
                v[at] = special;
                cases.push(v);
            }
        }
        for case in cases {
            assert_eq!(super::needs_escape(&case), rule(&case), "{case:?}");
        }
    }
}
