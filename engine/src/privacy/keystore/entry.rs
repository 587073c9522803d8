//! One entry of the key store (docs/FORMAT.md, "Subject key store"): a subject's key,
//! sealed with AES-256-GCM under the KEK; a blind-index token; or an erasure. Each ends
//! in a MAC chained to the entry before it, so no entry can be altered, moved or taken
//! out unnoticed.

use ring::aead::{Aad, LessSafeKey, Nonce};

use super::{Erasure, MAX_SUBJECT_BYTES, SubjectKey};
use crate::codec::{begin_frame, finish_frame};
use crate::error::{Error, Result};
use crate::event::Timestamp;
use crate::le::{i64_at, u16_at, u64_at};
use crate::privacy::Kek;

pub(super) const MAC_BYTES: usize = 16;
pub(super) const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

const KIND_KEY: u8 = 1;
const KIND_BLIND: u8 = 2;
const KIND_ERASED: u8 = 3;

/// An entry's MAC, which the next entry's covers.
pub(super) type Mac = [u8; MAC_BYTES];

/// One decoded entry.
pub(super) enum Entry {
    Key(Box<SubjectKey>),
    Blind { key_id: u64, token: [u8; 32] },
    Erased(Erasure),
}

/// Why an entry does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum EntryError {
    #[error("an entry shorter than its MAC")]
    NoMac,
    #[error("an entry ends early")]
    EndsEarly,
    #[error("unknown entry kind {0}")]
    UnknownKind(u8),
    #[error("a subject id of {0} bytes")]
    SubjectLength(usize),
    #[error("a subject id that is not UTF-8")]
    SubjectNotUtf8,
    #[error("bytes after an entry's last field")]
    TrailingBytes,
    #[error(
        "an entry's MAC does not match (altered, moved, an entry before it taken out, or \
         another KEK's)"
    )]
    BadMac,
    #[error("a subject key does not open under this KEK")]
    KeyDoesNotOpen,
    #[error("a subject key is not 32 bytes")]
    KeyLength,
}

/// The keys that seal and MAC entries, derived from the KEK.
pub(super) struct EntryKeys {
    wrap: LessSafeKey,
    mac_key: [u8; 32],
}

impl Drop for EntryKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.mac_key);
    }
}

impl EntryKeys {
    pub(super) fn new(kek: &Kek) -> EntryKeys {
        EntryKeys {
            wrap: kek.wrapping_key(),
            mac_key: kek.mac_key(),
        }
    }

    /// `MAC(previous MAC ‖ payload)`.
    pub(super) fn mac(&self, previous: &Mac, payload: &[u8]) -> Mac {
        let mut hasher = blake3::Hasher::new_keyed(&self.mac_key);
        hasher.update(previous);
        hasher.update(payload);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&hasher.finalize().as_bytes()[..MAC_BYTES]);
        mac
    }

    /// Appends `payload ‖ MAC(previous MAC ‖ payload)` as one record frame to `out`;
    /// the MAC.
    pub(super) fn frame_into(
        &self,
        out: &mut Vec<u8>,
        payload: &[u8],
        previous: &Mac,
    ) -> Result<Mac> {
        let start = begin_frame(out);
        let mac = self.mac(previous, payload);
        out.extend_from_slice(payload);
        out.extend_from_slice(&mac);
        finish_frame(out, start)
            .map_err(|e| Error::InvalidArgument(format!("a key store entry: {e}")))?;
        Ok(mac)
    }

    /// A key entry: `kind ‖ id ‖ created ‖ subject length ‖ subject ‖ nonce ‖ sealed key
    /// ‖ GCM tag` (the bytes before the nonce are the GCM's associated data).
    pub(super) fn encode_key(&self, key: &SubjectKey, nonce: [u8; NONCE_BYTES]) -> Result<Vec<u8>> {
        let mut payload = vec![KIND_KEY];
        payload.extend_from_slice(&key.id.to_le_bytes());
        payload.extend_from_slice(&key.created.0.to_le_bytes());
        put_subject(&mut payload, &key.subject);
        let aad_len = payload.len();
        payload.extend_from_slice(&nonce);
        let mut sealed = key.bytes().to_vec();
        let tag = self
            .wrap
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&payload[..aad_len]),
                &mut sealed,
            )
            .map_err(|_| Error::InvalidArgument("sealing a subject key failed".into()))?;
        payload.extend_from_slice(&sealed);
        payload.extend_from_slice(tag.as_ref());
        Ok(payload)
    }

    /// One entry (a frame's payload, MAC included) that follows the entry whose MAC is
    /// `previous`: its fields are read first (so a fuzzer reaches every check), then its
    /// MAC, then a key entry's seal is opened. The entry and its MAC.
    pub(super) fn decode_entry(
        &self,
        framed: &[u8],
        previous: &Mac,
    ) -> std::result::Result<(Entry, Mac), EntryError> {
        let split = framed
            .len()
            .checked_sub(MAC_BYTES)
            .ok_or(EntryError::NoMac)?;
        let (payload, mac) = framed.split_at(split);
        let mut r = Fields {
            bytes: payload,
            at: 0,
        };
        let entry = match r.u8()? {
            KIND_KEY => {
                let id = r.u64()?;
                let created = Timestamp(r.i64()?);
                let subject = r.subject()?;
                let aad_len = r.at;
                let nonce: [u8; NONCE_BYTES] = r.array()?;
                let sealed = r.take(32 + TAG_BYTES)?;
                r.end()?;
                Parsed::Key {
                    id,
                    created,
                    subject,
                    aad_len,
                    nonce,
                    sealed,
                }
            }
            KIND_BLIND => {
                let key_id = r.u64()?;
                let token = r.array()?;
                r.end()?;
                Parsed::Ready(Entry::Blind { key_id, token })
            }
            KIND_ERASED => {
                let key_id = r.u64()?;
                let at = Timestamp(r.i64()?);
                let tree_size = r.u64()?;
                let subject = r.subject()?;
                r.end()?;
                Parsed::Ready(Entry::Erased(Erasure {
                    subject,
                    key_id,
                    at,
                    tree_size,
                }))
            }
            kind => return Err(EntryError::UnknownKind(kind)),
        };
        let expected = self.mac(previous, payload);
        if mac != expected {
            return Err(EntryError::BadMac);
        }
        let entry = match entry {
            Parsed::Ready(entry) => entry,
            Parsed::Key {
                id,
                created,
                subject,
                aad_len,
                nonce,
                sealed,
            } => {
                let mut sealed = sealed.to_vec();
                let opened = self
                    .wrap
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&payload[..aad_len]),
                        &mut sealed,
                    )
                    .map_err(|_| EntryError::KeyDoesNotOpen)?;
                let bytes: [u8; 32] = (&*opened).try_into().map_err(|_| EntryError::KeyLength)?;
                zeroize::Zeroize::zeroize(&mut sealed);
                Entry::Key(Box::new(SubjectKey::new(id, subject, created, bytes)))
            }
        };
        Ok((entry, expected))
    }
}

/// An entry whose fields are read but whose MAC is not yet checked.
enum Parsed<'a> {
    Key {
        id: u64,
        created: Timestamp,
        subject: String,
        aad_len: usize,
        nonce: [u8; NONCE_BYTES],
        sealed: &'a [u8],
    },
    Ready(Entry),
}

/// A blind-index entry: `kind ‖ key id ‖ token`.
pub(super) fn encode_blind(key_id: u64, token: &[u8; 32]) -> Vec<u8> {
    let mut payload = vec![KIND_BLIND];
    payload.extend_from_slice(&key_id.to_le_bytes());
    payload.extend_from_slice(token);
    payload
}

/// An erasure entry: `kind ‖ key id ‖ at ‖ tree size ‖ subject length ‖ subject`.
pub(super) fn encode_erasure(e: &Erasure) -> Vec<u8> {
    let mut payload = vec![KIND_ERASED];
    payload.extend_from_slice(&e.key_id.to_le_bytes());
    payload.extend_from_slice(&e.at.0.to_le_bytes());
    payload.extend_from_slice(&e.tree_size.to_le_bytes());
    put_subject(&mut payload, &e.subject);
    payload
}

fn put_subject(out: &mut Vec<u8>, subject: &str) {
    // Subjects are at most MAX_SUBJECT_BYTES long (checked where keys are made).
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(subject.as_bytes());
}

/// Reads an entry's fields in order through `le`: a short entry is an error, never a
/// panic.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], EntryError> {
        let end = self.at.checked_add(n).ok_or(EntryError::EndsEarly)?;
        let bytes = self.bytes.get(self.at..end).ok_or(EntryError::EndsEarly)?;
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], EntryError> {
        self.take(N)?.try_into().map_err(|_| EntryError::EndsEarly)
    }

    fn u8(&mut self) -> std::result::Result<u8, EntryError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> std::result::Result<u64, EntryError> {
        let value = u64_at(self.bytes, self.at).ok_or(EntryError::EndsEarly)?;
        self.at += 8;
        Ok(value)
    }

    fn i64(&mut self) -> std::result::Result<i64, EntryError> {
        let value = i64_at(self.bytes, self.at).ok_or(EntryError::EndsEarly)?;
        self.at += 8;
        Ok(value)
    }

    fn subject(&mut self) -> std::result::Result<String, EntryError> {
        let len = u16_at(self.bytes, self.at).ok_or(EntryError::EndsEarly)? as usize;
        self.at += 2;
        if len == 0 || len > MAX_SUBJECT_BYTES {
            return Err(EntryError::SubjectLength(len));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| EntryError::SubjectNotUtf8)
    }

    fn end(&self) -> std::result::Result<(), EntryError> {
        match self.at == self.bytes.len() {
            true => Ok(()),
            false => Err(EntryError::TrailingBytes),
        }
    }
}
