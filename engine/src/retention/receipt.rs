//! The retention receipt: what a log signs when it deletes whole segments past their
//! retention (docs/FORMAT.md, "Retention receipt"). A C2SP signed note, signed with the
//! log's checkpoint key, whose text is
//!
//! ```text
//! <origin>
//! auditlog retention receipt
//! deleted <first seq> <end seq>
//! end-root <the tree head at the end seq, base64>
//! tenant-heads <count> <the tenant heads' root at the end seq, base64>
//! policy retain-days <days>
//! holds <the tenants under legal hold then, a JSON array of strings, sorted>
//! deleted-at <RFC 3339 time>
//! checkpoint <tree size> <root, base64>
//! ```
//!
//! Records `first..end` were deleted; the kept log's tree grows on from `end-root` (the
//! next segment's header frontier must give it) and every tenant's next event links to
//! the heads committed to (the heads file beside the receipt lists them), and the deletion was taken against the
//! signed checkpoint named, which reaches at least `end`. The second line is not a number,
//! so no receipt reads as a checkpoint signed by the same key, nor as an erasure receipt.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{
    Note, NoteError, NoteSigner, NoteVerifier, base64_hash, decimal, note_field,
};
use crate::event::Timestamp;
use crate::heads::HeadsCommitment;
use crate::merkle::Hash;

/// The second line of every retention receipt.
const KIND_LINE: &str = "auditlog retention receipt";

/// What a retention receipt states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReceipt {
    /// The log's origin line.
    pub origin: String,
    /// The records deleted.
    pub deleted: Range<u64>,
    /// The tree head at `deleted.end`.
    pub end_root: Hash,
    /// The tenant heads at `deleted.end`: every tenant with an event before it, and its
    /// newest.
    pub end_heads: HeadsCommitment,
    /// The retention in force: records were kept this many days after their segment's
    /// newest event.
    pub retain_days: u64,
    /// The tenants under legal hold when the records were deleted (none of their events
    /// was), sorted, each once.
    pub holds: Vec<String>,
    /// When.
    pub deleted_at: Timestamp,
    /// The size of the signed checkpoint the deletion was taken against.
    pub checkpoint_size: u64,
    /// Its root hash.
    pub checkpoint_root: Hash,
}

/// Why a retention receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionReceiptError {
    /// Not a signed note, or its signature does not check.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// A signed note, but not a retention receipt.
    #[error("not a retention receipt: {0}")]
    Malformed(&'static str),
}

/// The value of a `name value` line.
fn value<'a>(line: &'a str, name: &str) -> Result<&'a str, RetentionReceiptError> {
    note_field(line, name).ok_or(RetentionReceiptError::Malformed(
        "a line is not the field expected there",
    ))
}

impl RetentionReceipt {
    /// The note text.
    pub fn to_text(&self) -> String {
        let holds = serde_json::to_string(&self.holds).unwrap_or_default();
        format!(
            "{}\n{KIND_LINE}\ndeleted {} {}\nend-root {}\ntenant-heads {} {}\n\
             policy retain-days {}\nholds {holds}\ndeleted-at {}\ncheckpoint {} {}\n",
            self.origin,
            self.deleted.start,
            self.deleted.end,
            BASE64.encode(self.end_root),
            self.end_heads.count,
            BASE64.encode(self.end_heads.root),
            self.retain_days,
            self.deleted_at.to_rfc3339(),
            self.checkpoint_size,
            BASE64.encode(self.checkpoint_root),
        )
    }

    /// Parses a receipt's note text: only the canonical text this build writes.
    pub fn parse(text: &str) -> Result<RetentionReceipt, RetentionReceiptError> {
        let malformed = RetentionReceiptError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("the text ends in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [
            origin,
            kind,
            deleted,
            end_root,
            end_heads,
            policy,
            holds,
            at,
            checkpoint,
        ] = lines[..]
        else {
            return Err(malformed("a retention receipt is nine lines"));
        };
        if origin.is_empty() || kind != KIND_LINE {
            return Err(malformed(
                "the second line is not \"auditlog retention receipt\"",
            ));
        }
        let pair = |text: &str| -> Option<(u64, u64)> {
            let (a, b) = text.split_once(' ')?;
            Some((decimal(a)?, decimal(b)?))
        };
        let (start, end) = pair(value(deleted, "deleted")?)
            .ok_or(malformed("the deleted range is not two decimal numbers"))?;
        if start >= end {
            return Err(malformed("the deleted range is empty"));
        }
        let end_root = base64_hash(value(end_root, "end-root")?)
            .ok_or(malformed("the end root is not 32 bytes of base64"))?;
        let (count, root) = value(end_heads, "tenant-heads")?
            .split_once(' ')
            .ok_or(malformed("the tenant heads are not a count and a root"))?;
        let end_heads = HeadsCommitment {
            count: decimal(count).ok_or(malformed("the tenant count is not a decimal number"))?,
            root: base64_hash(root).ok_or(malformed(
                "the tenant heads' root is not 32 bytes of base64",
            ))?,
        };
        let retain_days = decimal(value(policy, "policy retain-days")?)
            .ok_or(malformed("the retention is not a decimal number of days"))?;
        let holds_text = value(holds, "holds")?;
        let holds: Vec<String> = serde_json::from_str(holds_text)
            .map_err(|_| malformed("the holds are not a JSON array of strings"))?;
        let canonical = serde_json::to_string(&holds).unwrap_or_default();
        if canonical != holds_text || holds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(malformed("the holds are not sorted, each once, as written"));
        }
        let deleted_at = Timestamp::parse(value(at, "deleted-at")?)
            .map_err(|_| malformed("the deletion time is not an RFC 3339 time"))?;
        if deleted_at.to_rfc3339() != value(at, "deleted-at")? {
            return Err(malformed(
                "the deletion time is not written as this build does",
            ));
        }
        let (size, root) = value(checkpoint, "checkpoint")?
            .split_once(' ')
            .ok_or(malformed("the checkpoint is not a size and a root"))?;
        let checkpoint_size =
            decimal(size).ok_or(malformed("the checkpoint size is not a decimal number"))?;
        let checkpoint_root =
            base64_hash(root).ok_or(malformed("the checkpoint root is not 32 bytes of base64"))?;
        if checkpoint_size < end {
            return Err(malformed(
                "the checkpoint does not reach the deleted records",
            ));
        }
        Ok(RetentionReceipt {
            origin: origin.to_owned(),
            deleted: start..end,
            end_root,
            end_heads,
            retain_days,
            holds,
            deleted_at,
            checkpoint_size,
            checkpoint_root,
        })
    }

    /// The receipt signed with the log's key, as its note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, RetentionReceiptError> {
        Ok(signer.sign(&self.to_text())?)
    }

    /// Checks a signed receipt (the note's bytes) against the log's public key and
    /// returns what it states.
    pub fn verify(
        bytes: &[u8],
        key: &NoteVerifier,
    ) -> Result<RetentionReceipt, RetentionReceiptError> {
        crate::checkpoint::open_statement(
            bytes,
            key,
            RetentionReceipt::parse,
            |r| &r.origin,
            RetentionReceiptError::Malformed,
            "longer than any receipt",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::ErasureReceipt;

    fn receipt() -> RetentionReceipt {
        RetentionReceipt {
            origin: "example.org/log".into(),
            deleted: 0..4096,
            end_root: [3; 32],
            end_heads: HeadsCommitment {
                count: 2,
                root: [4; 32],
            },
            retain_days: 2555,
            holds: vec!["org_a".into(), "org \"b\"".into()]
                .into_iter()
                .collect::<std::collections::BTreeSet<String>>()
                .into_iter()
                .collect(),
            deleted_at: Timestamp::parse("2033-01-02T03:04:05Z").unwrap(),
            checkpoint_size: 9000,
            checkpoint_root: [9; 32],
        }
    }

    #[test]
    fn a_signed_receipt_checks_and_says_what_was_signed() {
        let signer = NoteSigner::generate("example.org/log").unwrap();
        let r = receipt();
        assert_eq!(RetentionReceipt::parse(&r.to_text()), Ok(r.clone()));
        let note = r.sign(&signer).unwrap().to_text();
        assert_eq!(
            RetentionReceipt::verify(note.as_bytes(), &signer.verifier()),
            Ok(r)
        );
    }

    #[test]
    fn only_the_canonical_text_parses() {
        let text = receipt().to_text();
        for (from, to) in [
            ("deleted 0 4096", "deleted 4096 4096"),
            ("deleted 0 4096", "deleted 0 04096"),
            ("deleted 0 4096", "deleted 0 9001"),
            ("policy retain-days 2555", "policy retain-days +2555"),
            ("tenant-heads 2 ", "tenant-heads 02 "),
            ("tenant-heads 2 ", "tenant-heads 2  "),
            (
                "holds [\"org \\\"b\\\"\",\"org_a\"]",
                "holds [\"org_a\",\"org \\\"b\\\"\"]",
            ),
            ("holds [", "holds  ["),
            (
                "deleted-at 2033-01-02T03:04:05Z",
                "deleted-at 2033-01-02T03:04:05.000Z",
            ),
            ("auditlog retention receipt", "auditlog erasure receipt"),
        ] {
            let altered = text.replacen(from, to, 1);
            assert_ne!(altered, text, "{from}");
            assert!(RetentionReceipt::parse(&altered).is_err(), "{altered}");
        }
    }

    #[test]
    fn an_altered_receipt_another_key_or_another_kind_of_note_is_refused() {
        let signer = NoteSigner::generate("example.org/log").unwrap();
        let note = receipt().sign(&signer).unwrap().to_text();
        let verifier = signer.verifier();
        for (from, to) in [
            ("deleted 0 4096", "deleted 0 4095"),
            ("retain-days 2555", "retain-days 2554"),
            ("tenant-heads 2", "tenant-heads 3"),
            ("org_a", "org_c"),
            ("checkpoint 9000", "checkpoint 9001"),
        ] {
            let altered = note.replacen(from, to, 1);
            assert!(
                RetentionReceipt::verify(altered.as_bytes(), &verifier).is_err(),
                "{from}"
            );
        }
        let other = NoteSigner::generate("example.org/log").unwrap();
        assert!(RetentionReceipt::verify(note.as_bytes(), &other.verifier()).is_err());
        // An erasure receipt signed by the same key is not a retention receipt.
        let erasure = ErasureReceipt {
            origin: "example.org/log".into(),
            erasure: crate::privacy::Erasure {
                subject: "usr_1".into(),
                key_id: 1,
                at: Timestamp(0),
                tree_size: 1,
            },
            root: [1; 32],
        };
        let erasure = erasure.sign(&signer).unwrap().to_text();
        assert!(RetentionReceipt::verify(erasure.as_bytes(), &verifier).is_err());
    }
}
