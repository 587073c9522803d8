//! Page cursors: opaque to clients, they name the last event a page returned, the order
//! and a digest of the filter. The next page starts strictly after that event in that
//! order, so events appended meanwhile neither shift nor repeat a page (they have higher
//! sequence numbers: newest-first paging never meets them, oldest-first paging reaches
//! them at the end).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::event::Timestamp;

/// Result order. Sequence numbers follow arrival: "newest" is the most recently appended
/// (client timestamps may disagree slightly; docs/QUERIES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Highest sequence number first.
    #[default]
    NewestFirst,
    /// Lowest sequence number first.
    OldestFirst,
}

impl Order {
    fn code(self) -> u8 {
        match self {
            Order::NewestFirst => 0,
            Order::OldestFirst => 1,
        }
    }
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_BYTES: usize = 27;

/// Where a page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) order: Order,
    /// The last sequence number returned.
    pub(crate) last_seq: u64,
    pub(crate) fingerprint: [u8; 8],
    /// The query's time range start, as resolved for the first page: a relative start
    /// (`--since 1h`) must stay what it was for the pages that follow.
    pub(crate) from: Option<Timestamp>,
}

impl Cursor {
    /// The start of the time range of the query that gave out this cursor.
    pub fn time_from(&self) -> Option<Timestamp> {
        self.from
    }

    /// The cursor's text: URL-safe base64 of a version byte, the order, the last sequence
    /// number, the filter digest, and the time range's start (a presence byte, then i64).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_BYTES);
        bytes.push(CURSOR_VERSION);
        bytes.push(self.order.code());
        bytes.extend_from_slice(&self.last_seq.to_le_bytes());
        bytes.extend_from_slice(&self.fingerprint);
        bytes.push(u8::from(self.from.is_some()));
        bytes.extend_from_slice(&self.from.map_or(0, |t| t.0).to_le_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor's text.
    pub fn decode(text: &str) -> Result<Cursor> {
        let bad = || Error::InvalidArgument(format!("`{text}` is not a cursor this log gave out"));
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let bytes: [u8; CURSOR_BYTES] = bytes.try_into().map_err(|_| bad())?;
        let [version, order, rest @ ..] = bytes;
        if version != CURSOR_VERSION {
            return Err(bad());
        }
        let order = match order {
            0 => Order::NewestFirst,
            1 => Order::OldestFirst,
            _ => return Err(bad()),
        };
        let (seq, rest) = rest.split_at(8);
        let (fingerprint, rest) = rest.split_at(8);
        let (has_from, from) = rest.split_at(1);
        let from = i64::from_le_bytes(from.try_into().map_err(|_| bad())?);
        let from = match has_from {
            [0] if from == 0 => None,
            [1] => Some(Timestamp(from)),
            _ => return Err(bad()),
        };
        Ok(Cursor {
            order,
            last_seq: u64::from_le_bytes(seq.try_into().map_err(|_| bad())?),
            fingerprint: fingerprint.try_into().map_err(|_| bad())?,
            from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = Cursor {
            order: Order::OldestFirst,
            last_seq: 1234,
            fingerprint: [7; 8],
            from: None,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let d = Cursor {
            from: Some(Timestamp(-5)),
            ..c
        };
        assert_eq!(Cursor::decode(&d.encode()).unwrap(), d);
        assert!(Cursor::decode("").is_err());
        assert!(Cursor::decode("!!!").is_err());
        let mut text = c.encode();
        text.push('A');
        assert!(Cursor::decode(&text).is_err());
    }
}
