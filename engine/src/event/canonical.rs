//! A fast path for the JSON nearly every client sends: the key order that
//! [`super::json`] writes, compact separators, strings without escapes, integer numbers.
//! On such a line it builds the event straight from the bytes, without serde's generic
//! machinery (which was most of `auditlog ingest`'s time). It accepts a subset of what
//! the general parser accepts and yields the same event; on anything else — other key
//! orders, whitespace, escapes, `null`s, fractions, any error — it answers `None` and the
//! general parser decides, with its full error messages. The `event_json` fuzz target and
//! the tests in this module hold it to that.

use std::borrow::Cow;

use super::{Event, Outcome, Timestamp};

/// Nesting the fast path follows inside metadata; deeper objects take the general path.
const MAX_DEPTH: u32 = 16;

/// Longest integer the fast path skips; longer numbers take the general path.
const MAX_DIGITS: usize = 18;

/// Parses one line already known to be UTF-8, or answers `None` when the line is not in
/// the canonical form. The event is not validated yet.
pub(crate) fn parse(text: &str) -> Option<Event<'_>> {
    let mut c = Cursor { text, at: 0 };
    c.expect(b"{\"timestamp\":")?;
    let timestamp = Timestamp::parse(c.string()?).ok()?;
    c.expect(b",\"actor\":{\"user_id\":")?;
    let actor_id = c.string()?;
    let actor_email = c.optional(b",\"email\":")?;
    let actor_kind = c.optional(b",\"kind\":")?;
    c.expect(b"},\"organization\":{\"id\":")?;
    let tenant_id = c.string()?;
    let tenant_name = c.optional(b",\"name\":")?;
    c.expect(b"},\"action\":")?;
    let action = c.string()?;
    let (resource_type, resource_id) = if c.eat(b",\"resource\":{\"type\":") {
        let kind = c.string()?;
        c.expect(b",\"id\":")?;
        let id = c.string()?;
        c.expect(b"}")?;
        (Some(kind), Some(id))
    } else {
        (None, None)
    };
    c.expect(b",\"outcome\":")?;
    let outcome = Outcome::from_name(c.string()?)?;
    let ip_address = c.optional(b",\"ip_address\":")?;
    let user_agent = c.optional(b",\"user_agent\":")?;
    let metadata = if c.eat(b",\"metadata\":") {
        let start = c.at;
        c.object(MAX_DEPTH)?;
        Some(text.get(start..c.at)?)
    } else {
        None
    };
    let event_id = c.optional(b",\"event_id\":")?;
    c.expect(b"}")?;
    if c.at != text.len() {
        return None;
    }
    Some(Event {
        timestamp,
        actor_id: Cow::Borrowed(actor_id),
        actor_email: actor_email.map(Cow::Borrowed),
        actor_kind: actor_kind.map(Cow::Borrowed),
        tenant_id: Cow::Borrowed(tenant_id),
        tenant_name: tenant_name.map(Cow::Borrowed),
        action: Cow::Borrowed(action),
        resource_type: resource_type.map(Cow::Borrowed),
        resource_id: resource_id.map(Cow::Borrowed),
        outcome,
        ip_address: ip_address.map(Cow::Borrowed),
        user_agent: user_agent.map(Cow::Borrowed),
        metadata: metadata.map(Cow::Borrowed),
        event_id: event_id.map(Cow::Borrowed),
    })
}

/// A read position in the line. Every method answers `None` where the line leaves the
/// canonical form.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    /// Steps over `literal` if the line continues with it.
    fn eat(&mut self, literal: &[u8]) -> bool {
        let found = self.rest().starts_with(literal);
        if found {
            self.at += literal.len();
        }
        found
    }

    fn expect(&mut self, literal: &[u8]) -> Option<()> {
        self.eat(literal).then_some(())
    }

    /// A string with no escapes and no control characters (which JSON forbids raw).
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b"\"")?;
        let start = self.at;
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        let value = self.text.get(start..start + len)?;
        self.at = start + len + 1;
        Some(value)
    }

    /// `key` (with its leading comma and trailing colon) and a string, if the line has
    /// that member next; `Some(None)` if it does not.
    fn optional(&mut self, key: &[u8]) -> Option<Option<&'a str>> {
        if self.eat(key) {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    /// Any JSON value the fast path knows, stepped over.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b't' => self.expect(b"true"),
            b'f' => self.expect(b"false"),
            b'n' => self.expect(b"null"),
            _ => self.integer(),
        }
    }

    fn object(&mut self, depth: u32) -> Option<()> {
        let depth = depth.checked_sub(1)?;
        self.expect(b"{")?;
        if self.eat(b"}") {
            return Some(());
        }
        loop {
            self.string()?;
            self.expect(b":")?;
            self.value(depth)?;
            if !self.eat(b",") {
                return self.expect(b"}");
            }
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        let depth = depth.checked_sub(1)?;
        self.expect(b"[")?;
        if self.eat(b"]") {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.eat(b",") {
                return self.expect(b"]");
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)`; fractions and exponents are valid JSON but left to the general
    /// parser.
    fn integer(&mut self) -> Option<()> {
        self.eat(b"-");
        let rest = self.rest();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_DIGITS || (digits > 1 && rest.first() == Some(&b'0')) {
            return None;
        }
        self.at += digits;
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::event::json::parse_general;

    const LINE: &str = r#"{"timestamp":"2026-01-01T00:00:12Z","actor":{"user_id":"usr_ogxd1lfl2l","email":"niaj.parker@northenergy.ai","kind":"user"},"organization":{"id":"org_cgh4511b","name":"North Energy"},"action":"auth.login","resource":{"type":"session","id":"ses_1c60382a"},"outcome":"success","ip_address":"198.51.100.75","user_agent":"Mozilla/5.0 (X11)","metadata":{"method":"password","mfa":true,"n":-12,"z":0,"l":[1,"a",{"x":null,"y":false}],"e":{}},"event_id":"evt-1"}"#;

    /// Whenever the fast path accepts, the general parser accepts with the same event.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            Some(fast) => parse_general(text).ok() == Some(fast),
            None => true,
        }
    }

    #[test]
    fn canonical_lines_take_the_fast_path_and_agree() {
        assert!(parse(LINE).is_some());
        assert!(agrees(LINE));
        let minimal = r#"{"timestamp":"2026-03-08T14:32:01.250Z","actor":{"user_id":"svc"},"organization":{"id":"o"},"action":"a.b","outcome":"error"}"#;
        assert!(parse(minimal).is_some());
        assert!(agrees(minimal));
    }

    #[test]
    fn generated_workload_takes_the_fast_path() {
        let config = auditlog_workload::Config {
            count: 5_000,
            seed: 11,
            ..Default::default()
        };
        let mut out = Vec::new();
        auditlog_workload::write_jsonl(&config, &mut out).expect("generate");
        for line in String::from_utf8(out).expect("utf-8").lines() {
            let fast = parse(line).unwrap_or_else(|| panic!("not canonical: {line}"));
            assert_eq!(parse_general(line).ok(), Some(fast));
        }
    }

    #[test]
    fn other_forms_are_left_to_the_general_parser() {
        for (from, to) in [
            (r#""mfa":true"#, r#""mfa": true"#),
            (r#""n":-12"#, r#""n":-1.5"#),
            (r#""n":-12"#, r#""n":1e3"#),
            (r#""n":-12"#, r#""n":012"#),
            (r#""z":0"#, r#""z":-"#),
            (r#""usr_ogxd1lfl2l""#, r#""usr_\u0041""#),
            (r#""kind":"user""#, r#""kind":null"#),
            (r#""outcome":"success""#, r#""outcome":"maybe""#),
            (r#""evt-1"}"#, r#""evt-1"} "#),
            (r#""evt-1"}"#, r#""evt-1","extra":1}"#),
            (r#""2026-01-01T00:00:12Z""#, r#""yesterday""#),
            (
                r#""email":"niaj.parker@northenergy.ai","kind":"user""#,
                r#""kind":"user","email":"niaj.parker@northenergy.ai""#,
            ),
        ] {
            let text = LINE.replacen(from, to, 1);
            assert_ne!(text, LINE, "{from}");
            assert!(parse(&text).is_none(), "{to}");
        }
        let deep = LINE.replacen(
            r#""e":{}"#,
            &format!(r#""e":{}{}"#, "[".repeat(20), "]".repeat(20)),
            1,
        );
        assert!(parse(&deep).is_none());
        assert!(parse_general(&deep).is_ok());
    }

    proptest::proptest! {
        /// Random edits of a canonical line: the fast path never accepts what the general
        /// parser refuses, nor reads it differently.
        #[test]
        fn edited_lines_agree(
            edits in proptest::collection::vec((0usize..600, 0u8..128, 0u8..3), 1..4)
        ) {
            let mut bytes = LINE.as_bytes().to_vec();
            for (at, byte, kind) in edits {
                let at = at % (bytes.len() + 1);
                match kind {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => { bytes.remove(at); }
                    _ if at < bytes.len() => bytes[at] = byte,
                    _ => {}
                }
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                proptest::prop_assert!(agrees(text), "{}", text);
            }
        }
    }
}
