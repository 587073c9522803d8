//! Signed checkpoints: tree heads in the C2SP `tlog-checkpoint` form (origin line, tree
//! size, base64 root hash), signed as C2SP signed notes with the log's Ed25519 key, and
//! kept, every one of them, in the checkpoint log (docs/FORMAT.md, "Checkpoint log"), so
//! any two can later be proven consistent. docs/PROOFS.md says what they prove.

mod cosignature;
mod keys;
mod note;
mod store;
mod tlog_proof;
mod witnessed;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use crate::heads::HeadsCommitment;
use crate::merkle::Hash;
pub use cosignature::{CosignatureVerifier, Cosigner};
pub use keys::{
    KEYS_DIR, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_keys, load_signer, load_verifier,
};
pub use note::{
    MAX_SIGNATURES, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, is_valid_name, key_id,
};
pub use store::{CHECKPOINTS_FILE, COSIGNED_FILE, CheckpointLog};
pub use tlog_proof::{TLOG_PROOF_HEADER, TlogProof, TlogProofError};
pub use witnessed::{PolicyError, WitnessPolicy, Witnessed, with_cosignatures};

/// The longest checkpoint note this crate reads (a few hundred bytes are usual).
pub const MAX_NOTE_BYTES: usize = 16 << 10;

/// The first word of the extension line that carries a checkpoint's tenant heads.
pub const TENANT_HEADS_EXTENSION: &str = "tenant-heads";

/// A tree head: what a checkpoint's note text says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The number of leaves.
    pub tree_size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// Every tenant's newest event at that size (checkpoints of format 3 on): the
    /// extension line `tenant-heads <count> <base64 root>`.
    pub tenant_heads: Option<HeadsCommitment>,
}

impl Checkpoint {
    /// The note text: origin, decimal size and base64 root, each on its own line, then
    /// the tenant heads extension line if there is one.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root)
        );
        if let Some(heads) = &self.tenant_heads {
            text.push_str(&format!(
                "{TENANT_HEADS_EXTENSION} {} {}\n",
                heads.count,
                BASE64.encode(heads.root)
            ));
        }
        text
    }

    /// Parses a note text in the `tlog-checkpoint` form. The one extension line read is
    /// this log's tenant heads; any other is refused: this log never writes it, and it
    /// would not be audited.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse_with(text, false)
    }

    /// Parses the checkpoint of any log (a witnessed one): its three lines, any extension
    /// lines passed by (they are signed, but not this log's to read).
    pub fn parse_any(text: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse_with(text, true)
    }

    fn parse_with(text: &str, any_extensions: bool) -> Result<Checkpoint, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("a checkpoint ends in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let (origin, size, root, heads) = match lines[..] {
            [origin, size, root] => (origin, size, root, None),
            [origin, size, root, heads] if !any_extensions => (origin, size, root, Some(heads)),
            [origin, size, root, ..] if any_extensions => (origin, size, root, None),
            _ => {
                return Err(NoteError::Malformed(
                    "a checkpoint is three lines (origin, tree size, root hash) and at most \
                     a tenant heads line",
                ));
            }
        };
        if any_extensions && lines[3..].iter().any(|l| l.is_empty()) {
            return Err(NoteError::Malformed("an empty extension line"));
        }
        if origin.is_empty() {
            return Err(NoteError::Malformed("the origin line is empty"));
        }
        let tree_size = decimal(size).ok_or(NoteError::Malformed(
            "the tree size is not a decimal number without leading zeros",
        ))?;
        let root = base64_hash(root).ok_or(NoteError::Malformed(
            "the root hash is not 32 bytes of base64",
        ))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
            tenant_heads: heads.map(parse_heads).transpose()?,
        })
    }
}

/// `tenant-heads <count> <base64 root>`.
fn parse_heads(line: &str) -> Result<HeadsCommitment, NoteError> {
    let malformed =
        NoteError::Malformed("the extension line is not `tenant-heads <count> <base64 root>`");
    let mut words = line.split(' ');
    let (Some(TENANT_HEADS_EXTENSION), Some(count), Some(root), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(malformed);
    };
    let count = decimal(count).ok_or(NoteError::Malformed(
        "the tenant count is not a decimal number without leading zeros",
    ))?;
    let root = base64_hash(root).ok_or(NoteError::Malformed(
        "the tenant heads root is not 32 bytes of base64",
    ))?;
    Ok(HeadsCommitment { count, root })
}

/// A decimal `u64` written without a sign or leading zeros (one text, one number).
pub(crate) fn decimal(text: &str) -> Option<u64> {
    let canonical = text == "0" || (!text.starts_with('0') && !text.is_empty());
    text.parse::<u64>()
        .ok()
        .filter(|_| canonical && text.bytes().all(|b| b.is_ascii_digit()))
}

/// Opens a signed statement of a log (an erasure or retention receipt, a report
/// attestation): at most [`MAX_NOTE_BYTES`], signed by `key`, its text read by `parse`,
/// and the origin it states (`origin`) the key's name. `malformed` makes the statement's
/// own error for the two refusals found here.
pub(crate) fn open_statement<T, E: From<NoteError>>(
    bytes: &[u8],
    key: &NoteVerifier,
    parse: impl FnOnce(&str) -> Result<T, E>,
    origin: impl FnOnce(&T) -> &str,
    malformed: impl Fn(&'static str) -> E,
    too_long: &'static str,
) -> Result<T, E> {
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(malformed(too_long));
    }
    let note = Note::parse(bytes)?;
    key.verify(&note)?;
    let statement = parse(&note.text)?;
    if origin(&statement) != key.name() {
        return Err(malformed("signed by another log's key"));
    }
    Ok(statement)
}

/// The value of a `name value` line of a signed note's text (receipts), if the line is
/// that field.
pub(crate) fn note_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix(name)?.strip_prefix(' ')
}

/// A 32-byte hash in standard base64.
pub(crate) fn base64_hash(text: &str) -> Option<Hash> {
    BASE64
        .decode(text)
        .ok()
        .and_then(|bytes| Hash::try_from(bytes).ok())
}

/// A checkpoint with its note, as issued (the note's text is the checkpoint's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The signed note.
    pub note: Note,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `signer`.
    pub fn sign(
        checkpoint: Checkpoint,
        signer: &NoteSigner,
    ) -> Result<SignedCheckpoint, NoteError> {
        let note = signer.sign(&checkpoint.to_text())?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Reads a signed checkpoint note and checks its signature by `verifier`.
    pub fn open(bytes: &[u8], verifier: &NoteVerifier) -> Result<SignedCheckpoint, NoteError> {
        let checkpoint = SignedCheckpoint::parse(bytes)?;
        verifier.verify(&checkpoint.note)?;
        Ok(checkpoint)
    }

    /// Reads a signed checkpoint note without checking any signature.
    pub fn parse(bytes: &[u8]) -> Result<SignedCheckpoint, NoteError> {
        SignedCheckpoint::parse_with(bytes, Checkpoint::parse)
    }

    /// [`SignedCheckpoint::parse`] for any log's checkpoint ([`Checkpoint::parse_any`]).
    pub fn parse_any(bytes: &[u8]) -> Result<SignedCheckpoint, NoteError> {
        SignedCheckpoint::parse_with(bytes, Checkpoint::parse_any)
    }

    fn parse_with(
        bytes: &[u8],
        parse: fn(&str) -> Result<Checkpoint, NoteError>,
    ) -> Result<SignedCheckpoint, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("longer than 16 KiB"));
        }
        let note = Note::parse(bytes)?;
        let checkpoint = parse(&note.text)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The note's text form.
    pub fn to_text(&self) -> String {
        self.note.to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_example_parses() {
        // c2sp.org/tlog-checkpoint, the example at the top of the specification.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse(text).expect("parses");
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.tree_size, 20_852_163);
        assert_eq!(checkpoint.to_text(), text);
    }

    #[test]
    fn bad_bodies_are_refused() {
        let root = BASE64.encode([7u8; 32]);
        for bad in [
            format!("o\n12\n{root}"),
            format!("\n12\n{root}\n"),
            format!("o\n012\n{root}\n"),
            format!("o\n+12\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n12\n{}\n", BASE64.encode([7u8; 31])),
            format!("o\n12\n{root}\nextension\n"),
            format!("o\n12\n{root}\ntenant-heads 3\n"),
            format!("o\n12\n{root}\ntenant-heads 03 {root}\n"),
            format!("o\n12\n{root}\ntenant-heads 3 {root} more\n"),
            format!(
                "o\n12\n{root}\ntenant-heads 3 {}\n",
                BASE64.encode([7u8; 31])
            ),
            format!("o\n12\n{root}\ntenant-heads 3 {root}\nextension\n"),
            "o\n12\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn tenant_heads_ride_in_one_extension_line() {
        let root = BASE64.encode([7u8; 32]);
        let text = format!(
            "o\n12\n{root}\ntenant-heads 3 {}\n",
            BASE64.encode([8u8; 32])
        );
        let checkpoint = Checkpoint::parse(&text).expect("parses");
        assert_eq!(
            checkpoint.tenant_heads,
            Some(HeadsCommitment {
                count: 3,
                root: [8; 32]
            })
        );
        assert_eq!(checkpoint.to_text(), text);
    }

    #[test]
    fn signed_checkpoints_open_with_their_key_only() {
        let signer = NoteSigner::generate("audit.example.com/log").expect("key");
        let checkpoint = Checkpoint {
            origin: "audit.example.com/log".into(),
            tree_size: 42,
            root: [9; 32],
            tenant_heads: Some(HeadsCommitment {
                count: 2,
                root: [3; 32],
            }),
        };
        let signed = SignedCheckpoint::sign(checkpoint.clone(), &signer).expect("sign");
        let text = signed.to_text();
        let opened = SignedCheckpoint::open(text.as_bytes(), &signer.verifier()).expect("open");
        assert_eq!(opened.checkpoint, checkpoint);
        let other = NoteSigner::generate("audit.example.com/log").expect("key");
        assert!(SignedCheckpoint::open(text.as_bytes(), &other.verifier()).is_err());
        for (from, to) in [("\n42\n", "\n43\n"), ("tenant-heads 2", "tenant-heads 1")] {
            let edited = text.replacen(from, to, 1);
            assert_ne!(edited, text);
            assert!(SignedCheckpoint::open(edited.as_bytes(), &signer.verifier()).is_err());
        }
    }
}
