//! Ed25519 cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`): a witness's
//! statement that, at a time, the consistent tree head with the largest size it has seen
//! of the log named by a checkpoint's origin has that checkpoint's root. A cosignature is
//! one more note signature line on the checkpoint: the witness's name, then base64 of its
//! key ID (type byte 0x04), the timestamp (big-endian `u64`) and the Ed25519 signature of
//! `cosignature/v1\ntime <T>\n` followed by the checkpoint's text.

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use super::note::{
    PRIVATE_KEY_PREFIX, generate_key, key_text, parse_private_key, parse_public_key,
};
use super::{Note, NoteError, NoteSignature};

/// The signature type byte of Ed25519 cosignatures (tlog-cosignature).
const COSIGNATURE: u8 = 0x04;

/// What a cosignature signs: the header, the time, the checkpoint's text.
fn signed_message(time: u64, checkpoint_text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{checkpoint_text}")
}

#[expect(
    clippy::big_endian_bytes,
    reason = "tlog-cosignature timestamps are big-endian"
)]
fn time_bytes(time: u64) -> [u8; 8] {
    time.to_be_bytes()
}

#[expect(
    clippy::big_endian_bytes,
    reason = "tlog-cosignature timestamps are big-endian"
)]
fn time_from(bytes: [u8; 8]) -> u64 {
    u64::from_be_bytes(bytes)
}

/// A witness's public key: name, key ID, Ed25519 key (vkey type 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses `<name>+<8 hex key ID>+<base64 of 0x04 and the key>`.
    pub fn parse(text: &str) -> Result<CosignatureVerifier, NoteError> {
        let (name, key_id, key) = parse_public_key(text, COSIGNATURE)?;
        Ok(CosignatureVerifier { name, key_id, key })
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        key_text(&self.name, self.key_id, COSIGNATURE, self.key.as_bytes())
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The time of this witness's valid cosignature on `note` (a checkpoint). Lines of
    /// other keys are ignored; a line of this key that does not verify rejects the note.
    pub fn verify(&self, note: &Note) -> Result<u64, NoteError> {
        let bad = || NoteError::BadSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        let mut time = None;
        for line in &note.signatures {
            if line.name != self.name || line.key_id != self.key_id {
                continue;
            }
            let (stamp, signature) = line.signature.split_first_chunk::<8>().ok_or_else(bad)?;
            let signature = Signature::from_slice(signature).map_err(|_| bad())?;
            let at = time_from(*stamp);
            if at >= 1 << 63 {
                // The spec caps timestamps at 2^63 − 1.
                return Err(bad());
            }
            self.key
                .verify_strict(signed_message(at, &note.text).as_bytes(), &signature)
                .map_err(|_| bad())?;
            time = Some(at);
        }
        time.ok_or_else(|| NoteError::NotSigned {
            name: self.name.clone(),
            key_id: self.key_id,
        })
    }
}

/// A witness's private key. Its `Debug` form hides the key.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{:08x})", self.name, self.key_id)
    }
}

impl Cosigner {
    /// A new key named `name`, from the operating system's random source.
    pub fn generate(name: &str) -> Result<Cosigner, NoteError> {
        let (key_id, key) = generate_key(name, COSIGNATURE)?;
        Ok(Cosigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex key ID>+<base64 of 0x04 and the 32-byte seed>`.
    pub fn parse(text: &str) -> Result<Cosigner, NoteError> {
        let (name, key_id, key) = parse_private_key(text, COSIGNATURE)?;
        Ok(Cosigner { name, key_id, key })
    }

    /// The private text form. Keep it secret.
    pub fn to_private_text(&self) -> String {
        let text = key_text(&self.name, self.key_id, COSIGNATURE, self.key.as_bytes());
        format!("{PRIVATE_KEY_PREFIX}{text}")
    }

    /// The matching public key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// This witness's cosignature, at `time` (seconds since 1970), of the checkpoint
    /// whose note text is `checkpoint_text`: a signature line to add to its note.
    pub fn cosign(&self, checkpoint_text: &str, time: u64) -> NoteSignature {
        use ed25519_dalek::Signer as _;
        let time = time.min((1 << 63) - 1);
        let signature = self
            .key
            .sign(signed_message(time, checkpoint_text).as_bytes());
        let mut bytes = time_bytes(time).to_vec();
        bytes.extend_from_slice(&signature.to_bytes());
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::NoteSigner;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;

    const TEXT: &str = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn a_cosignature_verifies_with_its_witness_key_only_and_states_its_time() {
        let log = NoteSigner::generate("example.com/log").expect("log key");
        let witness = Cosigner::generate("witness.example/w1").expect("witness key");
        let other = Cosigner::generate("witness.example/w1").expect("same name, other key");
        let mut note = log.sign(TEXT).expect("signed");
        note.signatures.push(witness.cosign(TEXT, 1_679_315_147));
        let note = Note::parse(note.to_text().as_bytes()).expect("parses back");
        assert_eq!(witness.verifier().verify(&note), Ok(1_679_315_147));
        assert!(matches!(
            other.verifier().verify(&note),
            Err(NoteError::NotSigned { .. })
        ));
        // The log's own signature still holds beside it; the types do not mix.
        assert!(log.verifier().verify(&note).is_ok());
        assert!(CosignatureVerifier::parse(&log.verifier().to_text()).is_err());

        // Another time, another text or a flipped byte: refused.
        let mut late = note.clone();
        late.signatures[1].signature[7] ^= 1;
        assert!(matches!(
            witness.verifier().verify(&late),
            Err(NoteError::BadSignature { .. })
        ));
        let mut edited = note.clone();
        edited.text = edited.text.replace("\n5\n", "\n6\n");
        assert!(witness.verifier().verify(&edited).is_err());
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let witness = Cosigner::generate("witness.example/w1").expect("key");
        let again = Cosigner::parse(&witness.to_private_text()).expect("private text");
        assert_eq!(again.verifier(), witness.verifier());
        let public = CosignatureVerifier::parse(&witness.verifier().to_text()).expect("vkey");
        assert_eq!(public, witness.verifier());
        let text = public.to_text();
        let encoded = text.splitn(3, '+').nth(2).expect("the key part");
        let bytes = BASE64.decode(encoded).expect("base64");
        assert_eq!(
            (bytes[0], bytes.len()),
            (0x04, 33),
            "type 0x04, then the key"
        );
        assert!(NoteSigner::parse(&witness.to_private_text()).is_err());
    }
}
