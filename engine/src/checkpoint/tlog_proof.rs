//! The C2SP tlog-proof text form (c2sp.org/tlog-proof): an inclusion proof with the
//! signed checkpoint it leads to, checkable offline with the log's key alone. auditlog
//! puts the entry's record payload in the `extra` line, so the proof carries what its
//! leaf hash covers: `SHA-256(0x00 ‖ extra)` (docs/PROOFS.md, "tlog-proof").

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{MAX_NOTE_BYTES, NoteVerifier, SignedCheckpoint, decimal};
use crate::merkle::{Hash, HashAlg, verify_inclusion};

/// The first line of every tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The most proof lines a tree of at most 2^64 − 1 leaves needs.
const MAX_PATH: usize = 64;
/// The longest extra this crate reads: a record payload is at most 64 KiB.
const MAX_EXTRA_BYTES: usize = 64 << 10;

/// A tlog-proof, parsed; nothing checked yet but its syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The opaque extra data: in auditlog's proofs, the entry's record payload.
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log (its seq).
    pub index: u64,
    /// The RFC 6962 inclusion path, from the leaf's sibling up.
    pub path: Vec<Hash>,
    /// The checkpoint, verbatim.
    pub checkpoint: SignedCheckpoint,
}

/// Why a tlog-proof cannot be read, or does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// Not a tlog-proof at all.
    #[error("not a tlog-proof: {0}")]
    Malformed(String),
    /// Well formed, but it does not check.
    #[error("{0}")]
    Invalid(String),
}

fn malformed(why: impl Into<String>) -> TlogProofError {
    TlogProofError::Malformed(why.into())
}

impl TlogProof {
    /// Parses the text form.
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        if text.len() > MAX_NOTE_BYTES + MAX_EXTRA_BYTES * 2 + MAX_PATH * 48 + 64 {
            return Err(malformed("too long"));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(malformed(format!(
                "the first line is not `{TLOG_PROOF_HEADER}`"
            )));
        }
        let mut line = lines.next();
        let mut extra = None;
        if let Some(encoded) = line.and_then(|l| l.strip_prefix("extra ")) {
            let bytes = BASE64
                .decode(encoded)
                .map_err(|_| malformed("the extra line is not base64"))?;
            if bytes.len() > MAX_EXTRA_BYTES {
                return Err(malformed("the extra data is longer than 64 KiB"));
            }
            extra = Some(bytes);
            line = lines.next();
        }
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .and_then(decimal)
            .ok_or_else(|| malformed("no `index N` line"))?;
        let mut path = Vec::new();
        for line in lines {
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|h| Hash::try_from(h.as_slice()).ok())
                .ok_or_else(|| malformed("a proof line is not a base64 SHA-256 hash"))?;
            if path.len() == MAX_PATH {
                return Err(malformed("more than 64 proof lines"));
            }
            path.push(hash);
        }
        let checkpoint = SignedCheckpoint::parse(checkpoint.as_bytes())
            .map_err(|e| malformed(format!("its checkpoint: {e}")))?;
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint,
        })
    }

    /// The text form: header, extra, index, path, a blank line, the checkpoint.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", BASE64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.path {
            out.push_str(&BASE64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint.to_text());
        out
    }

    /// Checks the proof as the spec says, for an auditlog log: the checkpoint is signed
    /// by `key` and names its log, and the entry, hashed from the extra data (its record
    /// payload), is in the checkpoint's SHA-256 tree at the index stated.
    pub fn verify(&self, key: &NoteVerifier) -> Result<(), TlogProofError> {
        let invalid = |why: String| TlogProofError::Invalid(why);
        key.verify(&self.checkpoint.note)
            .map_err(|e| invalid(format!("its checkpoint: {e}")))?;
        let checkpoint = &self.checkpoint.checkpoint;
        if checkpoint.origin != key.name() {
            return Err(invalid(format!(
                "its checkpoint is of `{}`, not of `{}`",
                checkpoint.origin,
                key.name()
            )));
        }
        let record = self.extra.as_deref().ok_or_else(|| {
            invalid("it carries no entry (the extra line auditlog's proofs hold)".into())
        })?;
        let leaf = HashAlg::Sha256.hash_leaf(record);
        verify_inclusion(
            HashAlg::Sha256,
            self.index,
            checkpoint.tree_size,
            &leaf,
            &self.path,
            &checkpoint.root,
        )
        .map_err(|e| invalid(e.to_string()))
    }
}
