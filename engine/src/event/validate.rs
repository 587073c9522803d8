//! The rules every event must meet before it reaches the log, each with its own error so a
//! client learns exactly what to fix (docs/EVENTS.md, "Validation").

use std::net::IpAddr;

use super::Event;

/// Size limits, in bytes of UTF-8.
pub mod limits {
    /// Ids: actor, tenant, resource, client event id.
    pub const MAX_ID_BYTES: usize = 256;
    /// Names, emails, resource types, actor kinds.
    pub const MAX_NAME_BYTES: usize = 512;
    /// The dotted action.
    pub const MAX_ACTION_BYTES: usize = 128;
    /// The user agent.
    pub const MAX_USER_AGENT_BYTES: usize = 2048;
    /// The metadata object, as JSON text.
    pub const MAX_METADATA_BYTES: usize = 16 * 1024;
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The input is not UTF-8.
    #[error("invalid UTF-8 at byte {byte_offset}")]
    InvalidUtf8 {
        /// Where the first bad byte is.
        byte_offset: usize,
    },
    /// Not JSON of the event shape: syntax, a missing required field, an unknown field or
    /// a value of the wrong type (serde_json's message names it).
    #[error("{0}")]
    Json(String),
    /// The timestamp is not RFC 3339.
    #[error("timestamp: {0}")]
    BadTimestamp(String),
    /// A required string is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field, as a JSON path.
        field: &'static str,
    },
    /// A string is longer than its limit.
    #[error("{field} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// The field, as a JSON path.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string holds control characters.
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The field, as a JSON path.
        field: &'static str,
    },
    /// The action is not dotted words.
    #[error(
        "action `{0}` is not of the dotted form `namespace.verb` (lower-case letters, digits, `_` or `-`, separated by dots)"
    )]
    BadAction(String),
    /// The IP address does not parse.
    #[error("ip_address `{0}` is not an IPv4 or IPv6 address")]
    BadIpAddress(String),
    /// The email has no `@`.
    #[error("actor.email `{0}` is not an email address")]
    BadEmail(String),
    /// Metadata is not a JSON object.
    #[error("metadata must be a JSON object")]
    MetadataNotObject,
}

impl EventError {
    /// The field at fault, as a JSON path, when the error names one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            EventError::Empty { field }
            | EventError::TooLong { field, .. }
            | EventError::ControlCharacter { field } => Some(field),
            EventError::BadTimestamp(_) => Some("timestamp"),
            EventError::BadAction(_) => Some("action"),
            EventError::BadIpAddress(_) => Some("ip_address"),
            EventError::BadEmail(_) => Some("actor.email"),
            EventError::MetadataNotObject => Some("metadata"),
            EventError::InvalidUtf8 { .. } | EventError::Json(_) => None,
        }
    }
}

fn check(field: &'static str, value: &str, max: usize) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError::Empty { field });
    }
    if value.len() > max {
        return Err(EventError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    if has_control_character(value) {
        return Err(EventError::ControlCharacter { field });
    }
    Ok(())
}

/// `value.chars().any(char::is_control)`, on bytes: C0 controls and DEL are single
/// bytes, and the C1 controls U+0080..=U+009F are exactly the pairs `C2 80..=C2 9F`.
fn has_control_character(value: &str) -> bool {
    if is_printable_ascii(value) {
        return false;
    }
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// Whether every byte is printable ASCII (0x20..=0x7e): the common case, checked without
/// branches so it vectorises.
fn is_printable_ascii(value: &str) -> bool {
    value
        .bytes()
        .fold(true, |ok, b| ok & (b.wrapping_sub(0x20) < 0x5f))
}

fn check_opt(field: &'static str, value: Option<&str>, max: usize) -> Result<(), EventError> {
    value.map_or(Ok(()), |v| check(field, v, max))
}

fn clipped(value: &str) -> String {
    value.chars().take(64).collect()
}

fn is_dotted_action(action: &str) -> bool {
    let mut words = 0;
    for word in action.split('.') {
        let ok = !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return false;
        }
        words += 1;
    }
    words >= 2
}

/// Checks an action name alone, as an event's is checked: for names given elsewhere (the
/// action catalog).
pub fn check_action(action: &str) -> Result<(), EventError> {
    check("action", action, limits::MAX_ACTION_BYTES)?;
    if !is_dotted_action(action) {
        return Err(EventError::BadAction(clipped(action)));
    }
    Ok(())
}

pub(super) fn validate(e: &Event<'_>) -> Result<(), EventError> {
    use limits::*;
    check("actor.user_id", &e.actor_id, MAX_ID_BYTES)?;
    check_opt("actor.email", e.actor_email.as_deref(), MAX_NAME_BYTES)?;
    if let Some(email) = e.actor_email.as_deref() {
        let ok = email.split_once('@').is_some_and(|(local, domain)| {
            let has_space = if is_printable_ascii(email) {
                email.as_bytes().contains(&b' ')
            } else {
                email.contains(char::is_whitespace)
            };
            !local.is_empty() && !domain.is_empty() && !has_space
        });
        if !ok {
            return Err(EventError::BadEmail(clipped(email)));
        }
    }
    check_opt("actor.kind", e.actor_kind.as_deref(), MAX_NAME_BYTES)?;
    check("organization.id", &e.tenant_id, MAX_ID_BYTES)?;
    check_opt(
        "organization.name",
        e.tenant_name.as_deref(),
        MAX_NAME_BYTES,
    )?;
    check_action(&e.action)?;
    check_opt("resource.type", e.resource_type.as_deref(), MAX_NAME_BYTES)?;
    check_opt("resource.id", e.resource_id.as_deref(), MAX_ID_BYTES)?;
    if let Some(ip) = e.ip_address.as_deref()
        && ip.parse::<IpAddr>().is_err()
    {
        return Err(EventError::BadIpAddress(clipped(ip)));
    }
    check_opt("user_agent", e.user_agent.as_deref(), MAX_USER_AGENT_BYTES)?;
    if let Some(metadata) = e.metadata.as_deref() {
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(EventError::TooLong {
                field: "metadata",
                len: metadata.len(),
                max: MAX_METADATA_BYTES,
            });
        }
        if !metadata.starts_with('{') {
            return Err(EventError::MetadataNotObject);
        }
    }
    check_opt("event_id", e.event_id.as_deref(), MAX_ID_BYTES)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_dotted_action;

    proptest::proptest! {
        #[test]
        fn control_check_on_bytes_matches_chars(s in "\\PC*|[\\x00-\\x{a0}]{0,8}") {
            proptest::prop_assert_eq!(super::has_control_character(&s), s.chars().any(char::is_control));
        }
    }

    #[test]
    fn dotted_actions() {
        assert!(is_dotted_action("feature_flag.override.create"));
        assert!(is_dotted_action("auth.login"));
        assert!(is_dotted_action("api-key.v2.use"));
        for bad in [
            "login",
            "auth.",
            ".login",
            "auth..login",
            "Auth.Login",
            "auth login.x",
            "auth.löschen",
        ] {
            assert!(!is_dotted_action(bad), "{bad}");
        }
    }
}
