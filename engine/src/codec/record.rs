//! The canonical record of an event: one kind byte, the event's fields in declaration
//! order in bincode's standard configuration (varint integers, length-prefixed UTF-8,
//! `0`/`1` option tags), then (kind 2) the link to the previous event of the same tenant.
//! Encoding is deterministic: one event and link have one encoding, so the leaf hash is
//! fixed. Decoding refuses trailing bytes.

use crate::event::{Event, Outcome, RawEvent, Timestamp};

/// The kind byte of an event record without a tenant link (format versions 1 and 2).
pub const RECORD_KIND_EVENT: u8 = 1;
/// The kind byte of an event record ending in its tenant link (format version 3 on).
pub const RECORD_KIND_LINKED_EVENT: u8 = 2;
/// The kind byte of a linked event record whose personal fields are sealed
/// (docs/PRIVACY.md): the clear event, the sealed block, its length, the tenant link.
pub const RECORD_KIND_SEALED_EVENT: u8 = 3;
/// Bytes of the sealed block's length in a sealed record.
const SEALED_LEN_BYTES: usize = 2;
/// Bytes of the tenant link at the end of a linked record.
pub const TENANT_LINK_BYTES: usize = 8;
/// The link value of a tenant's first event.
const FIRST_OF_TENANT: u64 = u64::MAX;

/// Where a record points in the chain of its tenant's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantLink {
    /// A record written before links existed (kind 1): it names no previous event.
    Unlinked,
    /// The first event of its tenant in the log.
    First,
    /// The sequence number of the tenant's previous event.
    Previous(u64),
}

impl TenantLink {
    /// The 8 bytes a linked record ends with (`u64::MAX` for the first event); `None` for
    /// an unlinked record.
    pub fn to_bytes(self) -> Option<[u8; TENANT_LINK_BYTES]> {
        match self {
            TenantLink::Unlinked => None,
            TenantLink::First => Some(FIRST_OF_TENANT.to_le_bytes()),
            TenantLink::Previous(seq) => Some(seq.to_le_bytes()),
        }
    }

    fn from_bytes(bytes: [u8; TENANT_LINK_BYTES]) -> TenantLink {
        match u64::from_le_bytes(bytes) {
            FIRST_OF_TENANT => TenantLink::First,
            seq => TenantLink::Previous(seq),
        }
    }
}

/// A decoded record: the event and its tenant link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The event.
    pub event: Event<'a>,
    /// Its link to the previous event of its tenant.
    pub tenant_link: TenantLink,
    /// A sealed record's (kind 3) sealed block; `event` is then its clear part.
    pub sealed: Option<&'a [u8]>,
}

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
    /// A linked record's link names the record itself or a later one.
    #[error("tenant link {0} does not name an earlier event")]
    BadLink(u64),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Appends the record payload of `event` with `link` to `out`: kind 1 for
/// [`TenantLink::Unlinked`], else kind 2 ending in the link.
pub fn encode_record_into(event: &Event<'_>, link: TenantLink, out: &mut Vec<u8>) {
    let link = link.to_bytes();
    out.push(match link {
        None => RECORD_KIND_EVENT,
        Some(_) => RECORD_KIND_LINKED_EVENT,
    });
    // Serialising strings, integers and options into a Vec cannot fail.
    let _ = bincode::serde::encode_into_std_write(event, out, config());
    if let Some(link) = link {
        out.extend_from_slice(&link);
    }
}

/// Appends a sealed record (kind 3): the kind byte and `clear` (the event without its
/// personal fields), then the block `seal` appends (given `out` and where in it those
/// bytes, the block's associated data, are), the block's length and the link (a
/// tenant's first event when `link` is unlinked: a sealed record always carries one).
/// Nothing is appended if `seal` fails.
pub fn encode_sealed_record_into(
    clear: &Event<'_>,
    link: TenantLink,
    out: &mut Vec<u8>,
    seal: impl FnOnce(&mut Vec<u8>, std::ops::Range<usize>) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let start = out.len();
    out.push(RECORD_KIND_SEALED_EVENT);
    let _ = bincode::serde::encode_into_std_write(clear, out, config());
    let block_start = out.len();
    if let Err(e) = seal(out, start..block_start) {
        out.truncate(start);
        return Err(e);
    }
    let Ok(len) = u16::try_from(out.len() - block_start) else {
        out.truncate(start);
        return Err(RecordError::Decode("a sealed block over 64 KiB".into()));
    };
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&link.to_bytes().unwrap_or(FIRST_OF_TENANT.to_le_bytes()));
    Ok(())
}

/// The sealed part of a kind 3 record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedPart<'a> {
    /// The associated data the block was sealed with: the kind byte and clear event.
    pub aad: &'a [u8],
    /// The sealed block (docs/FORMAT.md, "Event record").
    pub block: &'a [u8],
}

/// A sealed record's [`SealedPart`]; `None` for a record of another kind.
pub fn sealed_part(payload: &[u8]) -> Result<Option<SealedPart<'_>>, RecordError> {
    Ok(split_sealed(payload)?.2)
}

/// A sealed record's block; `None` for a record of another kind (checked elsewhere).
fn sealed_block(payload: &[u8]) -> Result<Option<&[u8]>, RecordError> {
    match payload.first() {
        Some(&RECORD_KIND_SEALED_EVENT) => Ok(sealed_part(payload)?.map(|part| part.block)),
        _ => Ok(None),
    }
}

/// The link bytes at the end of a linked record's `rest` (after the kind byte), and what
/// comes before them.
fn split_link(rest: &[u8]) -> Result<(&[u8], TenantLink), RecordError> {
    let split = rest
        .len()
        .checked_sub(TENANT_LINK_BYTES)
        .ok_or_else(|| RecordError::Decode("shorter than its tenant link".into()))?;
    let (body, link) = rest.split_at(split);
    let link = <[u8; TENANT_LINK_BYTES]>::try_from(link)
        .map_err(|_| RecordError::Decode("shorter than its tenant link".into()))?;
    Ok((body, TenantLink::from_bytes(link)))
}

/// The event bytes of a payload (after the kind byte, before any sealed block and link)
/// and its link.
fn split_record(payload: &[u8]) -> Result<(&[u8], TenantLink), RecordError> {
    split_sealed(payload).map(|(body, link, _)| (body, link))
}

/// [`split_record`], and the sealed part of a kind 3 record: its layout read once.
fn split_sealed(
    payload: &[u8],
) -> Result<(&[u8], TenantLink, Option<SealedPart<'_>>), RecordError> {
    match payload.split_first() {
        Some((&RECORD_KIND_EVENT, body)) => Ok((body, TenantLink::Unlinked, None)),
        Some((&RECORD_KIND_LINKED_EVENT, rest)) => {
            split_link(rest).map(|(body, link)| (body, link, None))
        }
        Some((&RECORD_KIND_SEALED_EVENT, rest)) => {
            let (before_link, link) = split_link(rest)?;
            let short = || RecordError::Decode("shorter than its sealed block".into());
            let split = before_link
                .len()
                .checked_sub(SEALED_LEN_BYTES)
                .ok_or_else(short)?;
            let (rest, len) = before_link.split_at(split);
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let event_len = rest.len().checked_sub(len).ok_or_else(short)?;
            let (body, block) = rest.split_at(event_len);
            let aad = &payload[..1 + event_len];
            Ok((body, link, Some(SealedPart { aad, block })))
        }
        Some((&kind, _)) => Err(RecordError::UnknownKind(Some(kind))),
        None => Err(RecordError::UnknownKind(None)),
    }
}

/// The fields of a record up to its tenant: what `verify` reads of every record (to
/// check time bounds and tenant links) without decoding every string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead<'a> {
    /// The event's timestamp.
    pub timestamp: Timestamp,
    /// `organization.id`, as stored (not checked to be UTF-8 here).
    pub tenant_id: &'a [u8],
    /// The record's tenant link.
    pub tenant_link: TenantLink,
}

/// Decodes a record's timestamp, tenant and link, not the rest of the event: the first
/// five fields read by hand, as docs/FORMAT.md ("Event record") lays bincode's encoding
/// out, since `verify` does this for every record and bincode's general decoder costs
/// several times more. The strings are read as bytes, none checked for UTF-8: `verify`
/// needs only to tell tenants apart, and the leaf hash covers every byte. The fuzz target
/// `record` checks that it agrees with [`decode_record`] on every record that decodes.
pub fn decode_record_head(payload: &[u8]) -> Result<RecordHead<'_>, RecordError> {
    let (body, tenant_link) = split_record(payload)?;
    let short = || RecordError::Decode("the record ends before its tenant".into());
    let mut reader = PrefixReader { bytes: body };
    let timestamp = reader.timestamp()?;
    reader.bytes().ok_or_else(short)?; // actor_id
    reader.option_bytes().ok_or_else(short)?; // actor_email
    reader.option_bytes().ok_or_else(short)?; // actor_kind
    let tenant_id = reader.bytes().ok_or_else(short)?;
    Ok(RecordHead {
        timestamp,
        tenant_id,
        tenant_link,
    })
}

/// The fields of a record the indexes hold (docs/FORMAT.md, "Index file"), as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexFields<'a> {
    /// The event's timestamp.
    pub timestamp: Timestamp,
    /// `actor.user_id`.
    pub actor_id: &'a [u8],
    /// `organization.id`.
    pub tenant_id: &'a [u8],
    /// `action`.
    pub action: &'a [u8],
    /// The outcome's code (its variant index).
    pub outcome: u8,
}

impl<'a> IndexFields<'a> {
    /// The fields of a decoded event.
    pub fn of(event: &'a Event<'_>) -> IndexFields<'a> {
        IndexFields {
            timestamp: event.timestamp,
            actor_id: event.actor_id.as_bytes(),
            tenant_id: event.tenant_id.as_bytes(),
            action: event.action.as_bytes(),
            outcome: event.outcome.code(),
        }
    }
}

/// Decodes the fields the indexes hold, skipping the rest, by hand like
/// [`decode_record_head`] and for the same reason: indexing runs for every record written
/// and rebuilt. Strings are not checked for UTF-8 (the writer validated them, and the
/// leaf hash covers them). The fuzz target `record` holds it to [`decode_record`].
pub fn decode_index_fields(payload: &[u8]) -> Result<IndexFields<'_>, RecordError> {
    let (body, _) = split_record(payload)?;
    let short = || RecordError::Decode("the record ends before its outcome".into());
    let mut reader = PrefixReader { bytes: body };
    let timestamp = reader.timestamp()?;
    let actor_id = reader.bytes().ok_or_else(short)?;
    reader.option_bytes().ok_or_else(short)?; // actor_email
    reader.option_bytes().ok_or_else(short)?; // actor_kind
    let tenant_id = reader.bytes().ok_or_else(short)?;
    reader.option_bytes().ok_or_else(short)?; // tenant_name
    let action = reader.bytes().ok_or_else(short)?;
    reader.option_bytes().ok_or_else(short)?; // resource_type
    reader.option_bytes().ok_or_else(short)?; // resource_id
    let outcome = reader.outcome()?.code();
    Ok(IndexFields {
        timestamp,
        actor_id,
        tenant_id,
        action,
        outcome,
    })
}

/// Reads bincode's standard encoding from the front of a byte slice.
struct PrefixReader<'a> {
    bytes: &'a [u8],
}

impl<'a> PrefixReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    /// An unsigned varint: one byte up to 250, else a marker and 2, 4 or 8 bytes.
    fn varint(&mut self) -> Option<u64> {
        let marker = *self.take(1)?.first()?;
        let wide = |bytes: &[u8]| {
            let mut le = [0u8; 8];
            le.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(u64::from_le_bytes(le))
        };
        match marker {
            0..=250 => Some(u64::from(marker)),
            251 => wide(self.take(2)?),
            252 => wide(self.take(4)?),
            253 => wide(self.take(8)?),
            _ => None,
        }
    }

    /// A length-prefixed string, as bytes. Record strings are short: a length below 251
    /// is its own one-byte varint, read without the general reader.
    #[inline]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = match self.bytes.split_first() {
            Some((&len @ 0..=250, rest)) => {
                self.bytes = rest;
                usize::from(len)
            }
            _ => usize::try_from(self.varint()?).ok()?,
        };
        self.take(len)
    }

    /// An option tag, then the string if present.
    #[inline]
    fn option_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let (&tag, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        match tag {
            0 => Some(None),
            1 => self.bytes().map(Some),
            _ => None,
        }
    }

    /// A zigzag-encoded signed varint: the timestamp.
    fn timestamp(&mut self) -> Result<Timestamp, RecordError> {
        let zigzag = self
            .varint()
            .ok_or_else(|| RecordError::Decode("bad or missing timestamp".into()))?;
        Ok(Timestamp(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)))
    }

    /// A length-prefixed string, as bytes.
    #[inline]
    fn string(&mut self, field: &str) -> Result<&'a [u8], RecordError> {
        self.bytes()
            .ok_or_else(|| malformed(field, "bad length or too short"))
    }

    /// An option tag, then the string if present.
    #[inline]
    fn option_string(&mut self, field: &str) -> Result<Option<&'a [u8]>, RecordError> {
        self.option_bytes()
            .ok_or_else(|| malformed(field, "bad option tag or length"))
    }

    /// The outcome: its variant index, a varint of at most 32 bits (as bincode reads a
    /// `u32`: no 8-byte form).
    fn outcome(&mut self) -> Result<Outcome, RecordError> {
        let bad = || RecordError::Decode("the outcome is not one of four".into());
        if self.bytes.first().is_some_and(|&marker| marker > 252) {
            return Err(bad());
        }
        let code = self.varint().and_then(|v| u8::try_from(v).ok());
        code.and_then(Outcome::from_code).ok_or_else(bad)
    }
}

/// The error of a field that does not decode: out of the readers' way, as it is rare.
#[cold]
#[inline(never)]
fn malformed(field: &str, why: &str) -> RecordError {
    RecordError::Decode(format!("{field}: {why}"))
}

/// Decodes a record payload, borrowing strings from it: by hand, as docs/FORMAT.md
/// ("Event record") lays bincode's encoding out, since queries and exports decode every
/// record they return and bincode's general decoder through serde costs several times
/// more. It accepts exactly what bincode accepts, with the same result (the fuzz target
/// `record` and a test hold it to [`decode_record_with_bincode`]).
pub fn decode_record(payload: &[u8]) -> Result<Record<'_>, RecordError> {
    let (raw, tenant_link) = decode_raw_record(payload)?;
    let event = raw
        .to_event()
        .map_err(|e| RecordError::Decode(e.to_string()))?;
    Ok(Record {
        event,
        tenant_link,
        sealed: sealed_block(payload)?,
    })
}

/// Decodes a record payload's fields and link, its strings as bytes not yet checked to be
/// UTF-8: for writing the event out as JSON ([`RawEvent::write_json`] checks them as it
/// copies them) without a second pass over each.
pub fn decode_raw_record(payload: &[u8]) -> Result<(RawEvent<'_>, TenantLink), RecordError> {
    decode_raw_parts(payload).map(|(event, link, _)| (event, link))
}

/// [`decode_raw_record`], and the sealed part of a kind 3 record, the record's layout read
/// once: what a read of a sealing log needs to put the personal fields back.
pub(crate) fn decode_raw_parts(
    payload: &[u8],
) -> Result<(RawEvent<'_>, TenantLink, Option<SealedPart<'_>>), RecordError> {
    let (body, tenant_link, sealed) = split_sealed(payload)?;
    let mut r = PrefixReader { bytes: body };
    let event = RawEvent {
        timestamp: r.timestamp()?,
        actor_id: r.string("actor.user_id")?,
        actor_email: r.option_string("actor.email")?,
        actor_kind: r.option_string("actor.kind")?,
        tenant_id: r.string("organization.id")?,
        tenant_name: r.option_string("organization.name")?,
        action: r.string("action")?,
        resource_type: r.option_string("resource.type")?,
        resource_id: r.option_string("resource.id")?,
        outcome: r.outcome()?,
        ip_address: r.option_string("ip_address")?,
        user_agent: r.option_string("user_agent")?,
        metadata: r.option_string("metadata")?,
        event_id: r.option_string("event_id")?,
    };
    if !r.bytes.is_empty() {
        return Err(RecordError::TrailingBytes(r.bytes.len()));
    }
    Ok((event, tenant_link, sealed))
}

/// [`decode_record`] through bincode's own decoder: the reference the hand-written one is
/// tested against.
pub fn decode_record_with_bincode(payload: &[u8]) -> Result<Record<'_>, RecordError> {
    let (body, tenant_link) = split_record(payload)?;
    let (event, used): (Event<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(body, config())
            .map_err(|e| RecordError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(RecordError::TrailingBytes(body.len() - used));
    }
    Ok(Record {
        event,
        tenant_link,
        sealed: sealed_block(payload)?,
    })
}

/// Decodes a record payload's event, borrowing strings from it.
pub fn decode_event(payload: &[u8]) -> Result<Event<'_>, RecordError> {
    decode_record(payload).map(|r| r.event)
}

/// Checks a record's link against its own sequence number: a link names an earlier event.
pub fn check_link(link: TenantLink, seq: u64) -> Result<(), RecordError> {
    match link {
        TenantLink::Previous(prev) if prev >= seq => Err(RecordError::BadLink(prev)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_json;

    #[test]
    fn the_hand_decoder_agrees_with_bincode_on_damaged_records() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56.789012Z","actor":{"user_id":"usr_1","email":"a@b.c"},"organization":{"id":"org_1","name":"Org"},"action":"auth.login","resource":{"type":"user","id":"u"},"outcome":"failure","ip_address":"10.0.0.1","user_agent":"ua","metadata":{"k":"v"},"event_id":"e1"}"#;
        let event = parse_json(line).expect("valid event");
        for link in [TenantLink::Unlinked, TenantLink::Previous(3)] {
            let mut payload = Vec::new();
            encode_record_into(&event, link, &mut payload);
            assert_eq!(
                decode_record(&payload),
                decode_record_with_bincode(&payload)
            );
            assert_eq!(decode_record(&payload).map(|r| r.event), Ok(event.clone()));
            let agree = |bytes: &[u8]| {
                let (hand, reference) = (decode_record(bytes), decode_record_with_bincode(bytes));
                assert_eq!(
                    hand.is_ok(),
                    reference.is_ok(),
                    "{bytes:?}: {hand:?} {reference:?}"
                );
                assert_eq!(hand.ok(), reference.ok());
            };
            for cut in 0..payload.len() {
                agree(&payload[..cut]);
            }
            for at in 0..payload.len() {
                for value in [
                    0u8, 1, 2, 3, 4, 0x7f, 0x80, 0xc3, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
                ] {
                    let mut damaged = payload.clone();
                    damaged[at] = value;
                    agree(&damaged);
                }
            }
        }
    }

    #[test]
    fn a_sealed_record_reads_as_its_clear_event_with_its_block_apart() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56Z","actor":{"user_id":"usr_1"},"organization":{"id":"org_1"},"action":"auth.login","outcome":"success","metadata":{"role":"admin"}}"#;
        let clear = parse_json(line).expect("valid event");
        let block = b"present, names, key id, nonce, ciphertext".to_vec();
        let mut aad_seen = Vec::new();
        let mut payload = b"before".to_vec();
        encode_sealed_record_into(&clear, TenantLink::Previous(7), &mut payload, |out, aad| {
            aad_seen = out[aad].to_vec();
            out.extend_from_slice(&block);
            Ok(())
        })
        .unwrap();
        let payload = &payload[b"before".len()..];
        assert_eq!(payload[0], RECORD_KIND_SEALED_EVENT);
        assert_eq!(&payload[payload.len() - 8..], &7u64.to_le_bytes());
        let record = decode_record(payload).unwrap();
        assert_eq!(record.event, clear);
        assert_eq!(record.tenant_link, TenantLink::Previous(7));
        assert_eq!(decode_record_with_bincode(payload), Ok(record.clone()));
        assert_eq!(decode_index_fields(payload), Ok(IndexFields::of(&clear)));
        assert_eq!(decode_record_head(payload).unwrap().tenant_id, b"org_1");
        let part = sealed_part(payload).unwrap().unwrap();
        assert_eq!((part.aad, part.block), (&aad_seen[..], &block[..]));
        // Other kinds have no sealed part; a failed seal appends nothing.
        let mut plain = Vec::new();
        encode_record_into(&clear, TenantLink::First, &mut plain);
        assert_eq!(sealed_part(&plain), Ok(None));
        let mut out = b"kept".to_vec();
        let refused = encode_sealed_record_into(&clear, TenantLink::First, &mut out, |out, _| {
            out.extend_from_slice(b"half a block");
            Err(RecordError::Decode("no key".into()))
        });
        assert!(refused.is_err());
        assert_eq!(out, b"kept");
        // Cut or damaged anywhere: every reader answers, the full ones alike.
        let answers = |bytes: &[u8]| {
            assert_eq!(
                decode_record(bytes).ok(),
                decode_record_with_bincode(bytes).ok()
            );
            let _ = (
                sealed_part(bytes),
                decode_record_head(bytes),
                decode_index_fields(bytes),
            );
        };
        for cut in 0..payload.len() {
            answers(&payload[..cut]);
        }
        for at in 0..payload.len() {
            let mut damaged = payload.to_vec();
            damaged[at] ^= 0xff;
            answers(&damaged);
        }
    }

    #[test]
    fn an_outcome_in_the_eight_byte_form_is_refused_by_every_reader() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56Z","actor":{"user_id":"u"},"organization":{"id":"o"},"action":"a.b","outcome":"denied"}"#;
        let event = parse_json(line).expect("valid event");
        let mut payload = Vec::new();
        encode_record_into(&event, TenantLink::First, &mut payload);
        // Walk to the outcome: kind byte, timestamp, then eight string fields.
        let mut r = PrefixReader {
            bytes: &payload[1..],
        };
        r.varint().unwrap();
        r.bytes().unwrap();
        r.option_bytes().unwrap();
        r.option_bytes().unwrap();
        r.bytes().unwrap();
        r.option_bytes().unwrap();
        r.bytes().unwrap();
        r.option_bytes().unwrap();
        r.option_bytes().unwrap();
        let at = payload.len() - r.bytes.len();
        assert_eq!(payload[at], 2, "denied");
        let mut long = payload.clone();
        long.splice(at..=at, [0xfd, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(decode_record_with_bincode(&long).is_err());
        assert!(decode_record(&long).is_err());
        assert!(decode_index_fields(&long).is_err());
        // The four-byte form bincode takes for a u32, and so do they.
        let mut wide = payload.clone();
        wide.splice(at..=at, [0xfc, 2, 0, 0, 0]);
        assert!(decode_record_with_bincode(&wide).is_ok());
        assert_eq!(
            decode_record(&wide).map(|r| r.event.outcome),
            Ok(Outcome::Denied)
        );
        assert_eq!(decode_index_fields(&wide).map(|f| f.outcome), Ok(2));
    }

    #[test]
    fn the_head_alone_equals_the_full_decode() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56.789012Z","actor":{"user_id":"usr_1"},"organization":{"id":"org_1"},"action":"auth.login","outcome":"success"}"#;
        let event = parse_json(line).expect("valid event");
        let mut payload = Vec::new();
        encode_record_into(&event, TenantLink::Previous(7), &mut payload);
        let full = decode_event(&payload).expect("decodes");
        let head = decode_record_head(&payload).expect("decodes");
        assert_eq!(decode_index_fields(&payload), Ok(IndexFields::of(&full)));
        assert_eq!(head.timestamp, full.timestamp);
        assert_eq!(head.tenant_id, b"org_1");
        assert_eq!(head.tenant_link, TenantLink::Previous(7));
        assert_eq!(full.timestamp, event.timestamp);
        assert_eq!(decode_record_head(&[]), Err(RecordError::UnknownKind(None)));
        assert_eq!(
            decode_record_head(&[9, 1]),
            Err(RecordError::UnknownKind(Some(9)))
        );
        assert!(matches!(
            decode_record_head(&[RECORD_KIND_EVENT]),
            Err(RecordError::Decode(_))
        ));
    }

    #[test]
    fn links_round_trip_and_old_records_decode_unlinked() {
        let line = br#"{"timestamp":"2026-03-01T12:34:56Z","actor":{"user_id":"usr_1"},"organization":{"id":"org_1"},"action":"auth.login","outcome":"success"}"#;
        let event = parse_json(line).expect("valid event");
        for link in [
            TenantLink::Unlinked,
            TenantLink::First,
            TenantLink::Previous(0),
            TenantLink::Previous(41),
        ] {
            let mut payload = Vec::new();
            encode_record_into(&event, link, &mut payload);
            let record = decode_record(&payload).expect("decodes");
            assert_eq!((record.event, record.tenant_link), (event.clone(), link));
        }
        let mut linked = Vec::new();
        encode_record_into(&event, TenantLink::Previous(41), &mut linked);
        assert_eq!(linked[0], RECORD_KIND_LINKED_EVENT);
        assert_eq!(linked[linked.len() - 8..], 41u64.to_le_bytes());
        // The event bytes are those of the unlinked record.
        let mut unlinked = Vec::new();
        encode_record_into(&event, TenantLink::Unlinked, &mut unlinked);
        assert_eq!(unlinked[1..], linked[1..linked.len() - 8]);
        // A linked record cut short, or with a byte too many, does not decode.
        assert!(decode_record(&linked[..linked.len() - 1]).is_err());
        linked.insert(linked.len() - 8, 0);
        assert_eq!(
            decode_record(&linked).map(|r| r.tenant_link),
            Err(RecordError::TrailingBytes(1))
        );
        assert_eq!(
            check_link(TenantLink::Previous(5), 5),
            Err(RecordError::BadLink(5))
        );
        assert_eq!(check_link(TenantLink::Previous(4), 5), Ok(()));
        assert_eq!(check_link(TenantLink::First, 0), Ok(()));
    }
}
