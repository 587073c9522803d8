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
