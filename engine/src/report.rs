//! Report attestations: a tenant's report (docs/VIEWER.md, "Reports") signed with the
//! log's checkpoint key, so that an auditor can check it was not edited and which state
//! of the log it was computed from. The attestation is a C2SP signed note whose text is
//!
//! ```text
//! <origin>
//! auditlog tenant report
//! tenant <the tenant as a JSON string>
//! from <RFC 3339 time, or ->
//! to <RFC 3339 time, or ->
//! tree-size <the checkpoint's size: the report counts the events below it>
//! root <the root hash at that size, base64>
//! digest <SHA-256 of the report's JSON, 64 lower-case hex digits>
//! ```
//!
//! Its second line is not a number, so no attestation reads as a checkpoint (nor as an
//! erasure receipt) signed by the same key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::checkpoint::{NoteError, NoteVerifier, base64_hash, decimal, note_field};
use crate::event::Timestamp;
use crate::merkle::Hash;

/// The second line of every attestation.
const KIND_LINE: &str = "auditlog tenant report";

/// What a report attestation states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAttestation {
    /// The log's origin line.
    pub origin: String,
    /// The tenant reported on.
    pub tenant: String,
    /// The period's start (inclusive), when given.
    pub from: Option<Timestamp>,
    /// The period's end (exclusive), when given.
    pub to: Option<Timestamp>,
    /// The size of the checkpoint the report was computed against: it counts the
    /// events below it.
    pub tree_size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// SHA-256 of the report's JSON bytes.
    pub digest: [u8; 32],
}

/// Why an attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Not a signed note, or its signature does not check.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// A signed note, but not a report attestation.
    #[error("not a report attestation: {0}")]
    Malformed(&'static str),
}

/// The SHA-256 digest of a report's JSON bytes.
pub fn report_digest(json: &[u8]) -> [u8; 32] {
    Sha256::digest(json).into()
}

fn time_field(time: Option<Timestamp>) -> String {
    time.map_or_else(|| "-".to_owned(), Timestamp::to_rfc3339)
}

impl ReportAttestation {
    /// The note text.
    pub fn to_text(&self) -> String {
        let tenant = serde_json::to_string(&self.tenant).unwrap_or_default();
        format!(
            "{}\n{KIND_LINE}\ntenant {tenant}\nfrom {}\nto {}\ntree-size {}\nroot {}\ndigest {}\n",
            self.origin,
            time_field(self.from),
            time_field(self.to),
            self.tree_size,
            BASE64.encode(self.root),
            crate::hex::encode(&self.digest),
        )
    }

    /// Parses an attestation's note text.
    pub fn parse(text: &str) -> std::result::Result<ReportAttestation, ReportError> {
        let malformed = ReportError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("the text ends in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, kind, tenant, from, to, size, root, digest] = lines[..] else {
            return Err(malformed("an attestation is eight lines"));
        };
        if origin.is_empty() || kind != KIND_LINE {
            return Err(malformed(
                "the second line is not \"auditlog tenant report\"",
            ));
        }
        let get = |line, name| {
            note_field(line, name).ok_or(malformed("a line is not the field expected there"))
        };
        let tenant: String = serde_json::from_str(get(tenant, "tenant")?)
            .map_err(|_| malformed("the tenant is not a JSON string"))?;
        let time = |line, name| -> std::result::Result<Option<Timestamp>, ReportError> {
            match get(line, name)? {
                "-" => Ok(None),
                t => Timestamp::parse(t)
                    .map(Some)
                    .map_err(|_| malformed("a time is not an RFC 3339 time")),
            }
        };
        let from = time(from, "from")?;
        let to = time(to, "to")?;
        let tree_size = decimal(get(size, "tree-size")?)
            .ok_or(malformed("the tree size is not a decimal number"))?;
        let root = base64_hash(get(root, "root")?)
            .ok_or(malformed("the root hash is not 32 bytes of base64"))?;
        let digest = get(digest, "digest")?;
        let lower_hex = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let digest: [u8; 32] = crate::hex::decode(digest)
            .filter(|_| lower_hex)
            .and_then(|d| d.try_into().ok())
            .ok_or(malformed("the digest is not 64 lower-case hex digits"))?;
        Ok(ReportAttestation {
            origin: origin.to_owned(),
            tenant,
            from,
            to,
            tree_size,
            root,
            digest,
        })
    }

    /// Checks a signed attestation (the note's bytes) against the log's public key and
    /// returns what it states.
    pub fn verify(
        bytes: &[u8],
        key: &NoteVerifier,
    ) -> std::result::Result<ReportAttestation, ReportError> {
        crate::checkpoint::open_statement(
            bytes,
            key,
            ReportAttestation::parse,
            |a| &a.origin,
            ReportError::Malformed,
            "longer than any attestation",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::NoteSigner;

    fn attestation() -> ReportAttestation {
        ReportAttestation {
            origin: "example.org/log".into(),
            tenant: "org \"a\"".into(),
            from: Some(Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
            to: None,
            tree_size: 42,
            root: [7; 32],
            digest: report_digest(b"{}"),
        }
    }

    #[test]
    fn a_signed_attestation_checks_and_says_what_was_signed() {
        let signer = NoteSigner::generate("example.org/log").unwrap();
        let a = attestation();
        assert_eq!(ReportAttestation::parse(&a.to_text()), Ok(a.clone()));
        let note = signer.sign(&a.to_text()).unwrap().to_text();
        let key = signer.verifier();
        assert_eq!(ReportAttestation::verify(note.as_bytes(), &key), Ok(a));
        // Another digest (an edited report), another key: refused.
        let edited = note.replacen("digest 44", "digest 45", 1);
        assert_ne!(edited, note);
        assert!(ReportAttestation::verify(edited.as_bytes(), &key).is_err());
        let other = NoteSigner::generate("example.org/log").unwrap().verifier();
        assert!(ReportAttestation::verify(note.as_bytes(), &other).is_err());
        // A checkpoint signed by the same key is not an attestation.
        let checkpoint =
            signer.sign("example.org/log\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n");
        let checkpoint = checkpoint.unwrap().to_text();
        assert!(ReportAttestation::verify(checkpoint.as_bytes(), &key).is_err());
    }
}
