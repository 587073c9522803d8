//! Erasure receipts: the evidence a controller keeps that a subject's key was destroyed
//! (docs/PRIVACY.md, "Erasure receipts"). A receipt is a C2SP signed note, signed with
//! the log's checkpoint key, whose text is
//!
//! ```text
//! <origin>
//! auditlog erasure receipt
//! subject <the subject id as a JSON string>
//! key <the destroyed key's id, 16 hex digits>
//! erased-at <RFC 3339 time>
//! tree-size <the log's tree size then>
//! root <the root hash at that size, base64>
//! ```
//!
//! Its second line is not a number, so no receipt ever reads as a checkpoint signed by
//! the same key, nor a checkpoint as a receipt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Erasure;
use crate::checkpoint::{
    Note, NoteError, NoteSigner, NoteVerifier, base64_hash, decimal, note_field,
};
use crate::event::Timestamp;
use crate::merkle::Hash;

/// The second line of every receipt.
const KIND_LINE: &str = "auditlog erasure receipt";

/// What an erasure receipt states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReceipt {
    /// The log's origin line.
    pub origin: String,
    /// The subject, the key destroyed, when, and the tree size then.
    pub erasure: Erasure,
    /// The log's root hash at `erasure.tree_size`.
    pub root: Hash,
}

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a signed note, or its signature does not check.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// A signed note, but not an erasure receipt.
    #[error("not an erasure receipt: {0}")]
    Malformed(&'static str),
}

/// The value of a `name value` line.
fn value<'a>(line: &'a str, name: &str) -> Result<&'a str, ReceiptError> {
    note_field(line, name).ok_or(ReceiptError::Malformed(
        "a line is not the field expected there",
    ))
}

impl ErasureReceipt {
    /// The note text.
    pub fn to_text(&self) -> String {
        let e = &self.erasure;
        let subject = serde_json::to_string(&e.subject).unwrap_or_default();
        format!(
            "{}\n{KIND_LINE}\nsubject {subject}\nkey {:016x}\nerased-at {}\ntree-size {}\nroot {}\n",
            self.origin,
            e.key_id,
            e.at.to_rfc3339(),
            e.tree_size,
            BASE64.encode(self.root),
        )
    }

    /// Parses a receipt's note text.
    pub fn parse(text: &str) -> Result<ErasureReceipt, ReceiptError> {
        let malformed = ReceiptError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("the text ends in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, kind, subject, key, at, size, root] = lines[..] else {
            return Err(malformed("a receipt is seven lines"));
        };
        if origin.is_empty() || kind != KIND_LINE {
            return Err(malformed(
                "the second line is not \"auditlog erasure receipt\"",
            ));
        }

        let subject: String = serde_json::from_str(value(subject, "subject")?)
            .map_err(|_| malformed("the subject is not a JSON string"))?;
        let key = value(key, "key")?;
        let hex_digit = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if key.len() != 16 || !key.bytes().all(hex_digit) {
            return Err(malformed("the key id is not 16 lower-case hex digits"));
        }
        let key_id = u64::from_str_radix(key, 16)
            .map_err(|_| malformed("the key id is not 16 lower-case hex digits"))?;
        let at = Timestamp::parse(value(at, "erased-at")?)
            .map_err(|_| malformed("the erasure time is not an RFC 3339 time"))?;
        let tree_size = decimal(value(size, "tree-size")?)
            .ok_or(malformed("the tree size is not a decimal number"))?;
        let root = base64_hash(value(root, "root")?)
            .ok_or(malformed("the root hash is not 32 bytes of base64"))?;
        Ok(ErasureReceipt {
            origin: origin.to_owned(),
            erasure: Erasure {
                subject,
                key_id,
                at,
                tree_size,
            },
            root,
        })
    }

    /// The receipt signed with the log's key, as its note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, ReceiptError> {
        Ok(signer.sign(&self.to_text())?)
    }

    /// Checks a signed receipt (the note's bytes) against the log's public key and
    /// returns what it states.
    pub fn verify(bytes: &[u8], key: &NoteVerifier) -> Result<ErasureReceipt, ReceiptError> {
        crate::checkpoint::open_statement(
            bytes,
            key,
            ErasureReceipt::parse,
            |r| &r.origin,
            ReceiptError::Malformed,
            "longer than any receipt",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, SignedCheckpoint};

    fn receipt(subject: &str) -> ErasureReceipt {
        ErasureReceipt {
            origin: "example.org/log".into(),
            erasure: Erasure {
                subject: subject.into(),
                key_id: 0x0123_4567_89ab_cdef,
                at: Timestamp::parse("2026-11-27T10:00:00.5Z").unwrap(),
                tree_size: 1234,
            },
            root: [7; 32],
        }
    }

    #[test]
    fn a_signed_receipt_checks_and_says_what_was_signed() {
        let signer = NoteSigner::generate("example.org/log").unwrap();
        // Any subject id, control characters and quotes included, survives the text.
        for subject in ["usr_1", "usr \"quoted\"\n\u{1}", "ünïcode"] {
            let r = receipt(subject);
            assert_eq!(ErasureReceipt::parse(&r.to_text()), Ok(r.clone()));
            let note = r.sign(&signer).unwrap().to_text();
            assert_eq!(
                ErasureReceipt::verify(note.as_bytes(), &signer.verifier()),
                Ok(r)
            );
        }
    }

    #[test]
    fn only_the_canonical_text_parses() {
        let text = receipt("usr_1").to_text();
        for (from, to) in [
            ("key 0123456789abcdef", "key 0123456789ABCDEF"),
            ("key 0123456789abcdef", "key +123456789abcdef"),
            ("tree-size 1234", "tree-size 01234"),
            ("subject \"usr_1\"", "subject usr_1"),
            ("auditlog erasure receipt", "auditlog erasure receipts"),
        ] {
            let altered = text.replacen(from, to, 1);
            assert_ne!(altered, text);
            assert!(ErasureReceipt::parse(&altered).is_err(), "{altered}");
        }
    }

    #[test]
    fn an_altered_receipt_or_another_key_or_a_checkpoint_is_refused() {
        let signer = NoteSigner::generate("example.org/log").unwrap();
        let note = receipt("usr_1").sign(&signer).unwrap().to_text();
        let verifier = signer.verifier();
        for (from, to) in [
            ("usr_1", "usr_2"),
            ("tree-size 1234", "tree-size 1235"),
            ("key 0123", "key 0124"),
            ("erased-at 2026", "erased-at 2027"),
        ] {
            assert!(note.contains(from));
            let altered = note.replacen(from, to, 1);
            assert!(ErasureReceipt::verify(altered.as_bytes(), &verifier).is_err());
        }
        let other = NoteSigner::generate("example.org/log").unwrap();
        assert!(ErasureReceipt::verify(note.as_bytes(), &other.verifier()).is_err());
        // A checkpoint signed by the same key is no receipt, and a receipt no checkpoint.
        let checkpoint = Checkpoint {
            origin: "example.org/log".into(),
            tree_size: 1234,
            root: [7; 32],
            tenant_heads: None,
        };
        let signed = SignedCheckpoint::sign(checkpoint, &signer).unwrap();
        assert!(matches!(
            ErasureReceipt::verify(signed.to_text().as_bytes(), &verifier),
            Err(ReceiptError::Malformed(_))
        ));
        assert!(SignedCheckpoint::open(note.as_bytes(), &verifier).is_err());
    }
}
