//! Signed checkpoints: tree heads in the C2SP `tlog-checkpoint` form (origin line, tree
//! size, base64 root hash), signed as C2SP signed notes with the log's Ed25519 key, and
//! kept, every one of them, in the checkpoint log (docs/FORMAT.md, "Checkpoint log"), so
//! any two can later be proven consistent. docs/PROOFS.md says what they prove.

mod keys;
mod note;
mod store;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::merkle::Hash;
pub use keys::{
    KEYS_DIR, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, create_keys, load_signer, load_verifier,
};
pub use note::{
    MAX_SIGNATURES, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, is_valid_name, key_id,
};
pub use store::{CHECKPOINTS_FILE, CheckpointLog};

/// The longest checkpoint note this crate reads (a few hundred bytes are usual).
pub const MAX_NOTE_BYTES: usize = 16 << 10;

/// A tree head: what a checkpoint's note text says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The number of leaves.
    pub tree_size: u64,
    /// The root hash at that size.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, decimal size and base64 root, each on its own line.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a note text in the `tlog-checkpoint` form. Extension lines (after the root)
    /// are refused: this log never writes them, and they are not auditable.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("a checkpoint ends in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(NoteError::Malformed(
                "a checkpoint is three lines: origin, tree size, root hash",
            ));
        };
        if origin.is_empty() {
            return Err(NoteError::Malformed("the origin line is empty"));
        }
        let canonical = size == "0" || (!size.starts_with('0') && !size.is_empty());
        let tree_size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical && size.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(NoteError::Malformed(
                "the tree size is not a decimal number without leading zeros",
            ))?;
        let root = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or(NoteError::Malformed(
                "the root hash is not 32 bytes of base64",
            ))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
        })
    }
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
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("longer than 16 KiB"));
        }
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
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
            "o\n12\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn signed_checkpoints_open_with_their_key_only() {
        let signer = NoteSigner::generate("audit.example.com/log").expect("key");
        let checkpoint = Checkpoint {
            origin: "audit.example.com/log".into(),
            tree_size: 42,
            root: [9; 32],
        };
        let signed = SignedCheckpoint::sign(checkpoint.clone(), &signer).expect("sign");
        let text = signed.to_text();
        let opened = SignedCheckpoint::open(text.as_bytes(), &signer.verifier()).expect("open");
        assert_eq!(opened.checkpoint, checkpoint);
        let other = NoteSigner::generate("audit.example.com/log").expect("key");
        assert!(SignedCheckpoint::open(text.as_bytes(), &other.verifier()).is_err());
        let edited = text.replacen("\n42\n", "\n43\n", 1);
        assert!(SignedCheckpoint::open(edited.as_bytes(), &signer.verifier()).is_err());
    }
}
