//! The canonical record of an event: one kind byte, then the event's fields in declaration
//! order in bincode's standard configuration (varint integers, length-prefixed UTF-8,
//! `0`/`1` option tags). Encoding is deterministic: one event has one encoding, so its
//! leaf hash is fixed. Decoding refuses trailing bytes.

use crate::event::Event;

/// The kind byte of an event record.
pub const RECORD_KIND_EVENT: u8 = 1;

/// Why a record payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The payload is empty or of an unknown kind.
    #[error("unknown record kind {0:?}")]
    UnknownKind(Option<u8>),
    /// bincode refused the bytes.
    #[error("undecodable event record: {0}")]
    Decode(String),
    /// Bytes remain after the event.
    #[error("{0} trailing bytes after the event record")]
    TrailingBytes(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Appends the record payload of `event` to `out`.
pub fn encode_event_into(event: &Event<'_>, out: &mut Vec<u8>) {
    out.push(RECORD_KIND_EVENT);
    // Serialising strings, integers and options into a Vec cannot fail.
    let _ = bincode::serde::encode_into_std_write(event, out, config());
}

/// Decodes only the timestamp, the first field of a record: what `verify` needs to check
/// a segment's time bounds without decoding every string.
pub fn decode_timestamp(payload: &[u8]) -> Result<crate::event::Timestamp, RecordError> {
    let (kind, body) = payload
        .split_first()
        .ok_or(RecordError::UnknownKind(None))?;
    if *kind != RECORD_KIND_EVENT {
        return Err(RecordError::UnknownKind(Some(*kind)));
    }
    bincode::decode_from_slice::<i64, _>(body, config())
        .map(|(micros, _)| crate::event::Timestamp(micros))
        .map_err(|e| RecordError::Decode(e.to_string()))
}

/// Decodes a record payload, borrowing strings from it.
pub fn decode_event(payload: &[u8]) -> Result<Event<'_>, RecordError> {
    let (kind, body) = payload
        .split_first()
        .ok_or(RecordError::UnknownKind(None))?;
    if *kind != RECORD_KIND_EVENT {
        return Err(RecordError::UnknownKind(Some(*kind)));
    }
    let (event, used): (Event<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(body, config())
            .map_err(|e| RecordError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(RecordError::TrailingBytes(body.len() - used));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_json;

    #[test]
    fn timestamp_alone_equals_the_full_decode() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56.789012Z","actor":{"user_id":"usr_1"},"organization":{"id":"org_1"},"action":"auth.login","outcome":"success"}"#;
        let event = parse_json(line).expect("valid event");
        let mut payload = Vec::new();
        encode_event_into(&event, &mut payload);
        let full = decode_event(&payload).expect("decodes");
        assert_eq!(decode_timestamp(&payload), Ok(full.timestamp));
        assert_eq!(full.timestamp, event.timestamp);
        assert_eq!(decode_timestamp(&[]), Err(RecordError::UnknownKind(None)));
        assert_eq!(
            decode_timestamp(&[9, 1]),
            Err(RecordError::UnknownKind(Some(9)))
        );
        assert!(matches!(
            decode_timestamp(&[RECORD_KIND_EVENT]),
            Err(RecordError::Decode(_))
        ));
    }
}
