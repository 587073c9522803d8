//! An event as its record stores it: the strings as bytes not yet checked to be UTF-8.
//! Queries and exports write it out as JSON straight from those bytes, checking each
//! string for UTF-8 and for characters to escape in one pass, without building an
//! [`Event`]; [`Event::write_json`] goes through the same writer, so there is one JSON
//! layout.

use std::borrow::Cow;
use std::str::Utf8Error;

use super::decimal::write_u64;
use super::{Event, Outcome, Timestamp};

/// An event's fields as stored (see docs/FORMAT.md, "Event record").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// When it happened.
    pub timestamp: Timestamp,
    /// `actor.user_id`.
    pub actor_id: &'a [u8],
    /// `actor.email`.
    pub actor_email: Option<&'a [u8]>,
    /// `actor.kind`.
    pub actor_kind: Option<&'a [u8]>,
    /// `organization.id`.
    pub tenant_id: &'a [u8],
    /// `organization.name`.
    pub tenant_name: Option<&'a [u8]>,
    /// The dotted verb.
    pub action: &'a [u8],
    /// `resource.type`.
    pub resource_type: Option<&'a [u8]>,
    /// `resource.id`.
    pub resource_id: Option<&'a [u8]>,
    /// The result.
    pub outcome: Outcome,
    /// The client's IP address.
    pub ip_address: Option<&'a [u8]>,
    /// The client's user agent.
    pub user_agent: Option<&'a [u8]>,
    /// The metadata object's JSON text.
    pub metadata: Option<&'a [u8]>,
    /// The client's idempotency key.
    pub event_id: Option<&'a [u8]>,
}

/// A string field that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {source}")]
pub struct NotUtf8 {
    /// The field's JSON path.
    pub field: &'static str,
    /// Where its bytes stop being UTF-8.
    pub source: Utf8Error,
}

impl<'a> RawEvent<'a> {
    /// The event, each string checked to be UTF-8.
    pub fn to_event(&self) -> Result<Event<'a>, NotUtf8> {
        let text = |field: &'static str, bytes: &'a [u8]| {
            utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|source| NotUtf8 { field, source })
        };
        let opt = |field, bytes: Option<&'a [u8]>| bytes.map(|b| text(field, b)).transpose();
        Ok(Event {
            timestamp: self.timestamp,
            actor_id: text("actor.user_id", self.actor_id)?,
            actor_email: opt("actor.email", self.actor_email)?,
            actor_kind: opt("actor.kind", self.actor_kind)?,
            tenant_id: text("organization.id", self.tenant_id)?,
            tenant_name: opt("organization.name", self.tenant_name)?,
            action: text("action", self.action)?,
            resource_type: opt("resource.type", self.resource_type)?,
            resource_id: opt("resource.id", self.resource_id)?,
            outcome: self.outcome,
            ip_address: opt("ip_address", self.ip_address)?,
            user_agent: opt("user_agent", self.user_agent)?,
            metadata: opt("metadata", self.metadata)?,
            event_id: opt("event_id", self.event_id)?,
        })
    }

    /// Appends the event as one JSON object (no newline) in the ingest shape, with a
    /// leading `"seq":N` member when `seq` is given: what [`Event::write_json`] writes.
    /// A string that is not UTF-8 is an error (and leaves `out` partly written).
    pub fn write_json(&self, seq: Option<u64>, out: &mut Vec<u8>) -> Result<(), NotUtf8> {
        // Room for a typical event at once, rather than growth by many small steps.
        out.reserve(512 + self.metadata.map_or(0, <[u8]>::len));
        out.push(b'{');
        if let Some(seq) = seq {
            out.extend_from_slice(b"\"seq\":");
            write_u64(out, seq);
            out.push(b',');
        }
        out.extend_from_slice(b"\"timestamp\":\"");
        self.timestamp.format_into(out);
        out.extend_from_slice(b"\",\"actor\":{\"user_id\":");
        write_str(out, "actor.user_id", self.actor_id)?;
        write_opt(out, b",\"email\":", "actor.email", self.actor_email)?;
        write_opt(out, b",\"kind\":", "actor.kind", self.actor_kind)?;
        out.extend_from_slice(b"},\"organization\":{\"id\":");
        write_str(out, "organization.id", self.tenant_id)?;
        write_opt(out, b",\"name\":", "organization.name", self.tenant_name)?;
        out.extend_from_slice(b"},\"action\":");
        write_str(out, "action", self.action)?;
        match (self.resource_type, self.resource_id) {
            (Some(kind), Some(id)) => {
                out.extend_from_slice(b",\"resource\":{\"type\":");
                write_str(out, "resource.type", kind)?;
                out.extend_from_slice(b",\"id\":");
                write_str(out, "resource.id", id)?;
                out.push(b'}');
            }
            // Half a resource (never ingested: JSON has both or neither) is not written,
            // but it is checked like every string of the record.
            (Some(half), None) | (None, Some(half)) => {
                let field = if self.resource_type.is_some() {
                    "resource.type"
                } else {
                    "resource.id"
                };
                utf8(half).map_err(|source| NotUtf8 { field, source })?;
            }
            (None, None) => {}
        }
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(self.outcome.as_str().as_bytes());
        out.push(b'"');
        write_opt(out, b",\"ip_address\":", "ip_address", self.ip_address)?;
        write_opt(out, b",\"user_agent\":", "user_agent", self.user_agent)?;
        if let Some(metadata) = self.metadata {
            // Stored as the client's validated JSON text: copied, only checked.
            utf8(metadata).map_err(|source| NotUtf8 {
                field: "metadata",
                source,
            })?;
            out.extend_from_slice(b",\"metadata\":");
            out.extend_from_slice(metadata);
        }
        write_opt(out, b",\"event_id\":", "event_id", self.event_id)?;
        out.push(b'}');
        Ok(())
    }
}

impl Event<'_> {
    /// The event's fields as bytes.
    pub fn raw(&self) -> RawEvent<'_> {
        fn bytes<'b>(value: &'b Option<Cow<'_, str>>) -> Option<&'b [u8]> {
            value.as_deref().map(str::as_bytes)
        }
        RawEvent {
            timestamp: self.timestamp,
            actor_id: self.actor_id.as_bytes(),
            actor_email: bytes(&self.actor_email),
            actor_kind: bytes(&self.actor_kind),
            tenant_id: self.tenant_id.as_bytes(),
            tenant_name: bytes(&self.tenant_name),
            action: self.action.as_bytes(),
            resource_type: bytes(&self.resource_type),
            resource_id: bytes(&self.resource_id),
            outcome: self.outcome,
            ip_address: bytes(&self.ip_address),
            user_agent: bytes(&self.user_agent),
            metadata: bytes(&self.metadata),
            event_id: bytes(&self.event_id),
        }
    }
}

/// `bytes` as UTF-8 text, checked word by word when it is ASCII (as stored strings nearly
/// always are: `str::from_utf8` goes byte by byte through short unaligned strings).
#[expect(
    unsafe_code,
    reason = "ASCII is UTF-8: skipping the second check of bytes just checked"
)]
fn utf8(bytes: &[u8]) -> Result<&str, Utf8Error> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
}

/// Whether every byte is ASCII and none a control character, `"` or `\\`: a string
/// JSON takes as it is. Eight bytes at a time (SWAR: a zero byte of `x ^ pattern`, or a
/// byte below 0x20, sets its high bit); the last word overlaps the one before, and a
/// string shorter than a word is padded with a plain byte, so no byte loop or `memcpy`
/// call is needed. Record strings are short, and this beats a vector loop on them (and
/// copying word by word as it goes beats neither).
fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // With every byte below 0x80, subtracting sets a byte's high bit exactly where it is
    // below the subtrahend, except above such a byte (a borrow): one test of the four.
    let plain = |x: u64| {
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        (x | x.wrapping_sub(ONES * 0x20) | quote.wrapping_sub(ONES) | backslash.wrapping_sub(ONES))
            & HIGHS
            == 0
    };
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if !plain(word(chunk)) {
            return false;
        }
    }
    let rest = chunks.remainder();
    match bytes.len().checked_sub(8) {
        _ if rest.is_empty() => true,
        Some(last) => bytes.get(last..).is_none_or(|tail| plain(word(tail))),
        None => {
            let mut x = ONES * u64::from(b'a');
            for (i, &b) in rest.iter().enumerate() {
                let shift = 8 * i as u32;
                x = x & !(0xff << shift) | u64::from(b) << shift;
            }
            plain(x)
        }
    }
}

/// Appends `value` as a JSON string: copied whole when plain (queries and exports write
/// millions), else checked for UTF-8 and escaped.
#[inline(always)]
fn write_str(out: &mut Vec<u8>, field: &'static str, value: &[u8]) -> Result<(), NotUtf8> {
    if !is_plain(value) {
        return write_escaped(out, field, value);
    }
    out.reserve(value.len() + 2);
    out.push(b'"');
    out.extend_from_slice(value);
    out.push(b'"');
    Ok(())
}

/// [`write_str`] of a string that is not plain: rare, so kept out of its way.
#[cold]
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, field: &'static str, value: &[u8]) -> Result<(), NotUtf8> {
    let text = std::str::from_utf8(value).map_err(|source| NotUtf8 { field, source })?;
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
    Ok(())
}

/// `key` is the member's JSON text up to its value: `,"name":`.
#[inline(always)]
fn write_opt(
    out: &mut Vec<u8>,
    key: &[u8],
    field: &'static str,
    value: Option<&[u8]>,
) -> Result<(), NotUtf8> {
    match value {
        Some(v) => {
            out.extend_from_slice(key);
            write_str(out, field, v)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_strings_are_ascii_without_escapes() {
        let rule = |b: &[u8]| {
            b.iter()
                .all(|&c| (0x20..0x80).contains(&c) && c != b'"' && c != b'\\')
        };
        let mut cases: Vec<Vec<u8>> =
            vec![b"".to_vec(), "héllo wörld ✓✓✓".into(), b"plain".to_vec()];
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
        for len in 1..=17 {
            for at in 0..len {
                // Every byte, among fillers just above each threshold (where a borrow
                // from a byte below could hide or fake a match).
                for special in 0..=u8::MAX {
                    for filler in [b'z', 0x20, b'#', b']', 0x7f] {
                        let mut v = vec![filler; len];
                        v[at] = special;
                        cases.push(v);
                    }
                }
            }
        }
        for case in cases {
            assert_eq!(super::is_plain(&case), rule(&case), "{case:?}");
        }
    }

    #[test]
    fn strings_that_are_not_utf8_are_refused_and_others_escaped() {
        let mut out = Vec::new();
        let err = super::write_str(&mut out, "action", b"a\xffb").unwrap_err();
        assert_eq!(err.field, "action");
        out.clear();
        super::write_str(&mut out, "action", "tab\there \"q\" é".as_bytes()).unwrap();
        assert_eq!(out, r#""tab\there \"q\" é""#.as_bytes());
    }
}
