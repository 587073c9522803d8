//! Sealing one event's personal fields under its subject's key (docs/PRIVACY.md).
//!
//! [`Personal`] is what is sealed: the actor's e-mail, the IP address, the user agent,
//! and the metadata fields named personal. [`Sealed`] is what a record stores instead:
//! which fields there were (so an erased event shows them as erased), the key's id, a
//! nonce, and the AES-256-GCM ciphertext. The associated data is the record's clear part,
//! so a sealed block opens only with the event it was sealed with.
//!
//! Sealing is deterministic: the nonce is a keyed hash of the associated data and the
//! plaintext, so the same event sealed twice gives the same bytes. A client's retry of
//! a batch is then byte-identical to the stored events, which is how idempotent ingest
//! recognises it. Two different plaintexts get the same nonce only by a collision of the
//! 96-bit hash.
//!
//! That hash is most of sealing's cost, so a batch does not seal event by event: each
//! block is laid out in its record with the plaintext in place ([`Unsealed::lay_out`]),
//! and the nonces of many are hashed at once, eight per compression
//! (`crate::lanes`), before they are encrypted in place ([`Unsealed::seal_in`]).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde_json::value::RawValue;

use super::SubjectKey;
use crate::lanes::keyed_hashes;

/// `Personal::email` and friends were present.
const HAS_EMAIL: u8 = 1;
const HAS_IP: u8 = 2;
const HAS_USER_AGENT: u8 = 4;

const NONCE_BYTES: usize = 12;
/// The most metadata fields a log may name personal, and the longest name.
pub const MAX_PERSONAL_FIELDS: usize = 32;
/// See [`MAX_PERSONAL_FIELDS`].
pub const MAX_FIELD_NAME_BYTES: usize = 64;
const TAG_BYTES: usize = 16;

/// BLAKE3 key-derivation contexts of the keys derived from a subject key: the nonce key
/// and the AES-256-GCM key (the subject key itself keys nothing).
const NONCE_CONTEXT: &str = "auditlog 2026-11-27 sealed field nonce";
const AES_CONTEXT: &str = "auditlog 2026-11-27 sealed field encryption";

/// The keys derived from a subject key: the nonce key and the AES-256-GCM key.
pub(crate) struct DerivedKeys {
    nonce: [u8; 32],
    aes: LessSafeKey,
}

impl DerivedKeys {
    pub(crate) fn of(subject_key: &[u8; 32]) -> DerivedKeys {
        let mut aes = blake3::derive_key(AES_CONTEXT, subject_key);
        let keys = DerivedKeys {
            nonce: blake3::derive_key(NONCE_CONTEXT, subject_key),
            // 32 bytes is AES-256-GCM's key length: this cannot fail.
            aes: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &aes).unwrap_or_else(|_| unreachable!()),
            ),
        };
        zeroize::Zeroize::zeroize(&mut aes);
        keys
    }
}

impl Drop for DerivedKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.nonce);
    }
}

/// One event's personal fields, in the clear. Its `Debug` names the fields present, never
/// their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Personal {
    /// `actor.email`.
    pub email: Option<String>,
    /// `ip_address`.
    pub ip_address: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// The personal metadata fields: name and JSON text of the value, in their order.
    pub metadata: Vec<(String, String)>,
}

/// One event's personal fields as a record stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which of e-mail, IP address and user agent there were (bits 1, 2, 4).
    pub present: u8,
    /// The names of the sealed metadata fields, in their order.
    pub metadata_names: Vec<String>,
    /// The id of the subject key that sealed them.
    pub key_id: u64,
    /// The AES-256-GCM nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The ciphertext, tag last.
    pub ciphertext: Vec<u8>,
}

/// A sealed block that does not open: wrong key, or altered bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealed personal fields: {0}")]
pub struct SealError(&'static str);

impl std::fmt::Debug for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.metadata.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Personal")
            .field("email", &self.email.as_ref().map(|_| ".."))
            .field("ip_address", &self.ip_address.as_ref().map(|_| ".."))
            .field("user_agent", &self.user_agent.as_ref().map(|_| ".."))
            .field("metadata", &names)
            .finish()
    }
}

/// [`Personal`] borrowed from the event it is taken out of (no copy per event).
#[derive(Clone, Copy)]
pub(crate) struct PersonalRef<'a> {
    pub(crate) email: Option<&'a str>,
    pub(crate) ip_address: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) metadata: &'a [(String, String)],
}

impl PersonalRef<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.ip_address.is_none()
            && self.user_agent.is_none()
            && self.metadata.is_empty()
    }

    fn present(&self) -> u8 {
        (if self.email.is_some() { HAS_EMAIL } else { 0 })
            | (if self.ip_address.is_some() { HAS_IP } else { 0 })
            | (if self.user_agent.is_some() {
                HAS_USER_AGENT
            } else {
                0
            })
    }

    /// The plaintext, appended to `out`: for each of e-mail, IP, user agent present, a
    /// `u32` length and the bytes; then each metadata value's `u32` length and bytes (the
    /// names are in the clear, in [`Sealed::metadata_names`]).
    fn encode_into(&self, out: &mut Vec<u8>) {
        let values = [self.email, self.ip_address, self.user_agent]
            .into_iter()
            .flatten()
            .chain(self.metadata.iter().map(|(_, v)| v.as_str()));
        for value in values {
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }

    #[cfg(test)]
    fn plaintext(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn check_names(&self) -> Result<(), SealError> {
        if self.metadata.len() > MAX_PERSONAL_FIELDS
            || self
                .metadata
                .iter()
                .any(|(n, _)| n.is_empty() || n.len() > MAX_FIELD_NAME_BYTES)
        {
            return Err(SealError("metadata field names beyond the limits"));
        }
        Ok(())
    }
}

impl Personal {
    /// Whether there is nothing to seal.
    pub fn is_empty(&self) -> bool {
        self.borrowed().is_empty()
    }

    fn borrowed(&self) -> PersonalRef<'_> {
        PersonalRef {
            email: self.email.as_deref(),
            ip_address: self.ip_address.as_deref(),
            user_agent: self.user_agent.as_deref(),
            metadata: &self.metadata,
        }
    }

    fn decode(present: u8, names: &[String], mut bytes: &[u8]) -> Result<Personal, SealError> {
        let mut next = || -> Result<String, SealError> {
            let len = bytes
                .first_chunk::<4>()
                .map(|b| u32::from_le_bytes(*b) as usize)
                .ok_or(SealError("the plaintext ends early"))?;
            let value = bytes
                .get(4..4 + len)
                .ok_or(SealError("the plaintext ends early"))?;
            let value =
                String::from_utf8(value.to_vec()).map_err(|_| SealError("a field is not UTF-8"))?;
            bytes = &bytes[4 + len..];
            Ok(value)
        };
        let mut field = |bit| (present & bit != 0).then(&mut next).transpose();
        let email = field(HAS_EMAIL)?;
        let ip_address = field(HAS_IP)?;
        let user_agent = field(HAS_USER_AGENT)?;
        let metadata = names
            .iter()
            .map(|name| Ok((name.clone(), next()?)))
            .collect::<Result<Vec<_>, SealError>>()?;
        if !bytes.is_empty() {
            return Err(SealError("bytes after the last field"));
        }
        Ok(Personal {
            email,
            ip_address,
            user_agent,
            metadata,
        })
    }
}

/// The associated data, appended to `out`: the record's clear part, then the block's
/// clear fields.
fn aad_into<'a>(
    clear: &[u8],
    present: u8,
    names: impl Iterator<Item = &'a str>,
    key_id: u64,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(clear);
    out.push(present);
    for name in names {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&key_id.to_le_bytes());
}

/// Sealed blocks laid out with their plaintext where the ciphertext goes, waiting for
/// their nonces (see the module's doc).
#[derive(Clone, Default)]
pub(crate) struct Unsealed {
    keys: Vec<Arc<SubjectKey>>,
    nonce_keys: Vec<[u8; 32]>,
    /// Each block's nonce input, back to back: the associated data's `u64` length, the
    /// associated data, the plaintext.
    inputs: Vec<u8>,
    input_ends: Vec<usize>,
    aad_lens: Vec<usize>,
    /// Where each block's nonce is in the buffer it is sealed in.
    nonce_at: Vec<usize>,
}

impl std::fmt::Debug for Unsealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("blocks", &self.keys.len())
            .finish()
    }
}

impl Unsealed {
    /// Blocks waiting.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Forgets the blocks laid out after the first `len` (their record was refused and
    /// cut from the buffer).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len >= self.len() {
            return;
        }
        self.inputs
            .truncate(len.checked_sub(1).map_or(0, |i| self.input_ends[i]));
        self.keys.truncate(len);
        self.nonce_keys.truncate(len);
        self.input_ends.truncate(len);
        self.aad_lens.truncate(len);
        self.nonce_at.truncate(len);
    }

    /// Appends to `out` the block of `personal` under `key`, bound to the record's clear
    /// bytes `out[clear]`, with the plaintext in place; `out` is the buffer
    /// [`Unsealed::seal_in`] will be given. A block over 64 KiB is refused.
    pub(crate) fn lay_out(
        &mut self,
        key: &Arc<SubjectKey>,
        personal: PersonalRef<'_>,
        out: &mut Vec<u8>,
        clear: Range<usize>,
    ) -> Result<(), SealError> {
        personal.check_names()?;
        let present = personal.present();
        let names = || personal.metadata.iter().map(|(n, _)| n.as_str());
        let clear = out
            .get(clear)
            .ok_or(SealError("the clear part is not in the buffer"))?;
        let input_start = self.inputs.len();
        let block_start = out.len();
        self.inputs.extend_from_slice(&[0; 8]);
        aad_into(clear, present, names(), key.id, &mut self.inputs);
        let aad_len = self.inputs.len() - input_start - 8;
        self.inputs[input_start..input_start + 8].copy_from_slice(&(aad_len as u64).to_le_bytes());
        out.push(present);
        out.push(personal.metadata.len() as u8);
        for name in names() {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&key.id.to_le_bytes());
        let nonce_at = out.len();
        out.extend_from_slice(&[0; NONCE_BYTES]);
        let text_start = out.len();
        personal.encode_into(out);
        self.inputs.extend_from_slice(&out[text_start..]);
        out.extend_from_slice(&[0; TAG_BYTES]);
        if out.len() - block_start > usize::from(u16::MAX) {
            out.truncate(block_start);
            self.inputs.truncate(input_start);
            return Err(SealError("a sealed block over 64 KiB"));
        }
        self.keys.push(Arc::clone(key));
        self.nonce_keys.push(key.derived.nonce);
        self.input_ends.push(self.inputs.len());
        self.aad_lens.push(aad_len);
        self.nonce_at.push(nonce_at);
        Ok(())
    }

    /// Seals every block laid out, in `buffer`: hashes the nonces (eight at a time),
    /// writes each, encrypts the plaintext in place and writes the tag. Leaves nothing
    /// waiting, even on an error (after which `buffer` holds blocks in either state and
    /// must not be stored).
    pub(crate) fn seal_in(&mut self, buffer: &mut [u8]) -> Result<(), SealError> {
        let sealed = self.seal_all_in(buffer);
        self.truncate(0);
        sealed
    }

    fn seal_all_in(&self, buffer: &mut [u8]) -> Result<(), SealError> {
        let mut inputs = Vec::with_capacity(self.keys.len());
        let mut start = 0;
        for (i, &end) in self.input_ends.iter().enumerate() {
            let input = &self.inputs[start..end];
            let text_len = input.len() - 8 - self.aad_lens[i];
            // Checked before any block is touched.
            if self.nonce_at[i] + NONCE_BYTES + text_len + TAG_BYTES > buffer.len() {
                return Err(SealError("a laid-out block is not in the buffer"));
            }
            inputs.push(input);
            start = end;
        }
        let mut nonces = vec![[0u8; 32]; inputs.len()];
        keyed_hashes(&self.nonce_keys, &inputs, &mut nonces);
        self.encrypt(&inputs, &nonces, buffer)
    }

    fn encrypt(
        &self,
        inputs: &[&[u8]],
        nonces: &[[u8; 32]],
        buffer: &mut [u8],
    ) -> Result<(), SealError> {
        for (i, input) in inputs.iter().enumerate() {
            let mut nonce = [0u8; NONCE_BYTES];
            nonce.copy_from_slice(&nonces[i][..NONCE_BYTES]);
            let aad = &input[8..8 + self.aad_lens[i]];
            let text_len = input.len() - 8 - self.aad_lens[i];
            let at = self.nonce_at[i];
            let block = buffer
                .get_mut(at..at + NONCE_BYTES + text_len + TAG_BYTES)
                .ok_or(SealError("a laid-out block is not in the buffer"))?;
            let (nonce_slot, rest) = block.split_at_mut(NONCE_BYTES);
            let (text, tag_slot) = rest.split_at_mut(text_len);
            nonce_slot.copy_from_slice(&nonce);
            let tag = self.keys[i]
                .derived
                .aes
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    text,
                )
                .map_err(|_| SealError("sealing failed"))?;
            tag_slot.copy_from_slice(tag.as_ref());
        }
        Ok(())
    }
}

impl Sealed {
    /// Seals `personal` under `key`, bound to the record's clear bytes `clear`.
    pub fn seal(
        key: &Arc<SubjectKey>,
        clear: &[u8],
        personal: &Personal,
    ) -> Result<Sealed, SealError> {
        let mut unsealed = Unsealed::default();
        let mut record = clear.to_vec();
        unsealed.lay_out(key, personal.borrowed(), &mut record, 0..clear.len())?;
        unsealed.seal_in(&mut record)?;
        Sealed::decode_from(&record[clear.len()..])
    }

    /// Opens the block with `key` (the one [`Sealed::key_id`] names), bound to `clear`.
    pub fn open(&self, key: &SubjectKey, clear: &[u8]) -> Result<Personal, SealError> {
        if key.id != self.key_id {
            return Err(SealError("not the key it was sealed with"));
        }
        if self.ciphertext.len() < TAG_BYTES {
            return Err(SealError("shorter than its tag"));
        }
        let mut aad = Vec::with_capacity(clear.len() + 64);
        aad_into(
            clear,
            self.present,
            self.metadata_names.iter().map(String::as_str),
            self.key_id,
            &mut aad,
        );
        let mut buffer = self.ciphertext.clone();
        let plain = key
            .derived
            .aes
            .open_in_place(
                Nonce::assume_unique_for_key(self.nonce),
                Aad::from(&aad[..]),
                &mut buffer,
            )
            .map_err(|_| SealError("the tag does not match (altered, or another key)"))?;
        Personal::decode(self.present, &self.metadata_names, plain)
    }

    /// The block as a record stores it (docs/FORMAT.md, "Sealed block"): `present`, the
    /// name count, each name's length byte and bytes, the key id, the nonce, then the
    /// ciphertext to the end.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(32 + self.ciphertext.len());
        out.push(self.present);
        out.push(self.metadata_names.len() as u8);
        for name in &self.metadata_names {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(&self.key_id.to_le_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
    }

    /// Decodes a block (not opening it).
    pub fn decode_from(mut bytes: &[u8]) -> Result<Sealed, SealError> {
        let mut take = |n: usize| -> Result<&[u8], SealError> {
            if bytes.len() < n {
                return Err(SealError("the sealed block ends early"));
            }
            let (head, rest) = bytes.split_at(n);
            bytes = rest;
            Ok(head)
        };
        let present = take(1)?[0];
        if present & !(HAS_EMAIL | HAS_IP | HAS_USER_AGENT) != 0 {
            return Err(SealError("unknown field bits"));
        }
        let count = usize::from(take(1)?[0]);
        if count > MAX_PERSONAL_FIELDS {
            return Err(SealError("too many metadata fields"));
        }
        let mut metadata_names = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(take(1)?[0]);
            if len == 0 || len > MAX_FIELD_NAME_BYTES {
                return Err(SealError("a metadata field name of bad length"));
            }
            let name = std::str::from_utf8(take(len)?)
                .map_err(|_| SealError("a metadata field name that is not UTF-8"))?;
            metadata_names.push(name.to_owned());
        }
        let key_id = u64::from_le_bytes(
            take(8)?
                .try_into()
                .map_err(|_| SealError("the sealed block ends early"))?,
        );
        let nonce = take(NONCE_BYTES)?
            .try_into()
            .map_err(|_| SealError("the sealed block ends early"))?;
        let ciphertext = bytes.to_vec();
        if ciphertext.len() < TAG_BYTES {
            return Err(SealError("shorter than its tag"));
        }
        Ok(Sealed {
            present,
            metadata_names,
            key_id,
            nonce,
            ciphertext,
        })
    }

    /// Which of e-mail, IP address and user agent there were.
    pub fn has_email(&self) -> bool {
        self.present & HAS_EMAIL != 0
    }

    /// See [`Sealed::has_email`].
    pub fn has_ip_address(&self) -> bool {
        self.present & HAS_IP != 0
    }

    /// See [`Sealed::has_email`].
    pub fn has_user_agent(&self) -> bool {
        self.present & HAS_USER_AGENT != 0
    }
}

/// Metadata fields: each name with its value's JSON text, in order.
pub type Fields = Vec<(String, String)>;

/// Splits a metadata object's text into the fields not named in `personal` (as compact
/// JSON object text, `None` if none are left) and those named, in their order. A
/// metadata object with no personal field is returned as it is, byte for byte.
pub fn split_metadata<'a>(
    metadata: &'a str,
    personal: &[String],
) -> Result<(Option<Cow<'a, str>>, Fields), serde_json::Error> {
    if personal.is_empty() {
        return Ok((Some(Cow::Borrowed(metadata)), Vec::new()));
    }
    let fields = object_fields(metadata)?;
    if !fields.iter().any(|(name, _)| personal.contains(name)) {
        return Ok((Some(Cow::Borrowed(metadata)), Vec::new()));
    }
    let (sealed, kept): (Vec<_>, Vec<_>) = fields
        .into_iter()
        .partition(|(name, _)| personal.contains(name));
    let clear = (!kept.is_empty()).then(|| Cow::Owned(join_object(&kept)));
    Ok((clear, sealed))
}

/// The metadata object of `clear` (if any) with `sealed` appended, as compact JSON text.
pub fn merge_metadata(
    clear: Option<&str>,
    sealed: &[(String, String)],
) -> Result<Option<String>, serde_json::Error> {
    if sealed.is_empty() {
        return Ok(clear.map(str::to_owned));
    }
    let mut fields = match clear {
        Some(text) => object_fields(text)?,
        None => Vec::new(),
    };
    fields.extend(sealed.iter().cloned());
    Ok(Some(join_object(&fields)))
}

/// The fields of a JSON object's text, in order, each value as its JSON text.
fn object_fields(text: &str) -> Result<Fields, serde_json::Error> {
    // A Vec of pairs, not a map: the order is kept and a repeated name stays repeated.
    struct InOrder(Fields);
    impl<'de> serde::Deserialize<'de> for InOrder {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InOrder, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = InOrder;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<InOrder, A::Error> {
                    let mut fields = Vec::new();
                    while let Some((name, value)) = map.next_entry::<String, &RawValue>()? {
                        fields.push((name, value.get().to_owned()));
                    }
                    Ok(InOrder(fields))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    Ok(serde_json::from_str::<InOrder>(text)?.0)
}

fn join_object(fields: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::{Kek, SubjectKeys};
    use crate::storage::FsStorage;
    use std::sync::Arc;

    fn keys() -> (tempfile::TempDir, SubjectKeys) {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate().unwrap();
        let store =
            SubjectKeys::open(Arc::new(FsStorage::default()), dir.path(), &kek, false).unwrap();
        (dir, store)
    }

    fn personal() -> Personal {
        Personal {
            email: Some("alice@example.com".into()),
            ip_address: None,
            user_agent: Some("curl/8.5".into()),
            metadata: vec![("display_name".into(), "\"Alice A.\"".into())],
        }
    }

    #[test]
    fn sealed_fields_open_with_their_key_and_their_event_only() {
        let (_dir, mut store) = keys();
        let alice = store.key_for("usr_alice").unwrap().clone();
        let bob = store.key_for("usr_bob").unwrap().clone();
        let sealed = Sealed::seal(&alice, b"clear part", &personal()).unwrap();
        assert!(sealed.has_email() && !sealed.has_ip_address() && sealed.has_user_agent());
        assert_eq!(sealed.metadata_names, ["display_name"]);
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"alice"));
        assert_eq!(sealed.open(&alice, b"clear part").unwrap(), personal());
        // Deterministic: a retry seals to the same bytes.
        assert_eq!(
            Sealed::seal(&alice, b"clear part", &personal()).unwrap(),
            sealed
        );
        // Another event's clear part, another key, or an altered byte: refused.
        assert!(sealed.open(&alice, b"clear parT").is_err());
        assert!(sealed.open(&bob, b"clear part").is_err());
        let forged_id = Sealed {
            key_id: bob.id,
            ..sealed.clone()
        };
        assert!(forged_id.open(&bob, b"clear part").is_err());
        for at in 0..sealed.ciphertext.len() {
            let mut altered = sealed.clone();
            altered.ciphertext[at] ^= 0x80;
            assert!(altered.open(&alice, b"clear part").is_err(), "byte {at}");
        }
        let mut renamed = sealed.clone();
        renamed.metadata_names[0] = "nickname".into();
        assert!(renamed.open(&alice, b"clear part").is_err());
        let mut hidden = sealed;
        hidden.present ^= HAS_EMAIL;
        assert!(hidden.open(&alice, b"clear part").is_err());
    }

    #[test]
    fn a_block_decodes_to_what_was_encoded_and_nothing_shorter_does() {
        let (_dir, mut store) = keys();
        let alice = store.key_for("usr_alice").unwrap().clone();
        let sealed = Sealed::seal(&alice, b"clear", &personal()).unwrap();
        let mut bytes = Vec::new();
        sealed.encode_into(&mut bytes);
        assert_eq!(Sealed::decode_from(&bytes), Ok(sealed.clone()));
        for cut in 0..bytes.len() {
            if let Ok(shorter) = Sealed::decode_from(&bytes[..cut]) {
                // Only the ciphertext can be cut and still decode: opening then fails.
                assert!(shorter.open(&alice, b"clear").is_err());
            }
        }
        let too_many = Personal {
            metadata: (0..=MAX_PERSONAL_FIELDS)
                .map(|i| (format!("f{i}"), "1".to_owned()))
                .collect(),
            ..Personal::default()
        };
        assert!(Sealed::seal(&alice, b"clear", &too_many).is_err());
    }

    #[test]
    fn blocks_sealed_together_are_those_sealed_alone_and_a_cut_one_is_forgotten() {
        let (_dir, mut store) = keys();
        let subjects: Vec<_> = (0..20)
            .map(|i| store.key_for(&format!("usr_{i}")).unwrap().clone())
            .collect();
        let mut unsealed = Unsealed::default();
        let mut buffer = Vec::new();
        let mut records = Vec::new();
        for (i, key) in subjects.iter().enumerate() {
            let start = buffer.len();
            buffer.extend_from_slice(format!("clear part of event {i}").as_bytes());
            let clear = start..buffer.len();
            let mut personal = personal();
            personal.email = Some(format!("person{i}@example.org"));
            unsealed
                .lay_out(key, personal.borrowed(), &mut buffer, clear.clone())
                .unwrap();
            records.push((key, clear, buffer.len(), personal));
        }
        // The last record is refused after its block was laid out: cut and forgotten.
        let (_, cut, _, _) = records.pop().unwrap();
        buffer.truncate(cut.start);
        unsealed.truncate(records.len());
        assert_eq!(unsealed.len(), 19);
        unsealed.seal_in(&mut buffer).unwrap();
        assert_eq!(unsealed.len(), 0);
        for (key, clear, end, personal) in &records {
            let aad = &buffer[clear.clone()];
            let block = &buffer[clear.end..*end];
            let mut again = Vec::new();
            Sealed::seal(key, aad, personal)
                .unwrap()
                .encode_into(&mut again);
            assert_eq!(again, block);
            let sealed = Sealed::decode_from(block).unwrap();
            assert_eq!(sealed.open(key, aad).unwrap(), *personal);
            // The nonce as docs/FORMAT.md defines it.
            let mut input = Vec::new();
            aad_into(
                aad,
                sealed.present,
                ["display_name"].into_iter(),
                key.id,
                &mut input,
            );
            let mut hasher = blake3::Hasher::new_keyed(&key.derived.nonce);
            hasher.update(&(input.len() as u64).to_le_bytes());
            hasher.update(&input);
            hasher.update(&personal.borrowed().plaintext());
            assert_eq!(sealed.nonce, hasher.finalize().as_bytes()[..NONCE_BYTES]);
        }
    }

    #[test]
    fn different_events_get_different_nonces() {
        let (_dir, mut store) = keys();
        let alice = store.key_for("usr_alice").unwrap().clone();
        let a = Sealed::seal(&alice, b"event 1", &personal()).unwrap();
        let b = Sealed::seal(&alice, b"event 2", &personal()).unwrap();
        assert_ne!(a.nonce, b.nonce);
        let mut other = personal();
        other.user_agent = Some("curl/8.6".into());
        assert_ne!(
            Sealed::seal(&alice, b"event 1", &other).unwrap().nonce,
            a.nonce
        );
    }

    #[test]
    fn metadata_splits_by_name_and_merges_back() {
        let personal = ["display_name".to_owned(), "phone".to_owned()];
        let text = r#"{"role":"admin", "display_name":"Al \"A\"","n":[1,2],"phone":null}"#;
        let (clear, sealed) = split_metadata(text, &personal).unwrap();
        assert_eq!(clear.as_deref(), Some(r#"{"role":"admin","n":[1,2]}"#));
        assert!(matches!(clear, Some(Cow::Owned(_))));
        assert_eq!(
            sealed,
            [
                ("display_name".to_owned(), r#""Al \"A\"""#.to_owned()),
                ("phone".to_owned(), "null".to_owned())
            ]
        );
        let merged = merge_metadata(clear.as_deref(), &sealed).unwrap().unwrap();
        assert_eq!(
            merged,
            r#"{"role":"admin","n":[1,2],"display_name":"Al \"A\"","phone":null}"#
        );
        // No personal field: kept byte for byte.
        let plain = r#"{ "role" : "admin" }"#;
        let (kept, none) = split_metadata(plain, &personal).unwrap();
        assert!(matches!(kept, Some(Cow::Borrowed(text)) if text == plain));
        assert!(none.is_empty());
        // Only personal fields: no clear metadata at all.
        let (clear, sealed) = split_metadata(r#"{"phone":"+1 555"}"#, &personal).unwrap();
        assert_eq!(clear, None);
        assert_eq!(
            merge_metadata(None, &sealed).unwrap().as_deref(),
            Some(r#"{"phone":"+1 555"}"#)
        );
        assert!(split_metadata("[1]", &personal).is_err());
    }
}
