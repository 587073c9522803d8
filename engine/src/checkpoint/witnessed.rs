//! Checkpoints with witnesses' cosignatures: the lines a log adds to its own signed note
//! as witnesses return them, and the policy an auditor checks them with ("these K of
//! these N witnesses must have cosigned"), c2sp.org/tlog-cosignature.

use super::{CosignatureVerifier, Note, NoteError, NoteSignature, SignedCheckpoint};

/// `signed` with the cosignature `lines` added after its own signatures: a line of a key
/// already on the note (same name and key ID) replaces it, so a witness's newer
/// cosignature takes the place of its older one.
pub fn with_cosignatures(signed: &SignedCheckpoint, lines: &[NoteSignature]) -> SignedCheckpoint {
    let mut note = signed.note.clone();
    for line in lines {
        let same = |s: &NoteSignature| s.name == line.name && s.key_id == line.key_id;
        match note.signatures.iter_mut().find(|s| same(s)) {
            Some(old) => old.signature.clone_from(&line.signature),
            None => note.signatures.push(line.clone()),
        }
    }
    SignedCheckpoint {
        checkpoint: signed.checkpoint.clone(),
        note,
    }
}

/// An auditor's witness policy: a checkpoint counts as witnessed when at least `quorum`
/// of `witnesses` have a valid cosignature on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<CosignatureVerifier>,
    quorum: usize,
}

/// Why a witness policy cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

impl WitnessPolicy {
    /// `quorum` of `witnesses` (all of them when `None`). The witnesses must be distinct
    /// keys and the quorum between 1 and their number.
    pub fn new(
        witnesses: Vec<CosignatureVerifier>,
        quorum: Option<usize>,
    ) -> Result<WitnessPolicy, PolicyError> {
        let quorum = quorum.unwrap_or(witnesses.len());
        if witnesses.is_empty() {
            return Err(PolicyError(
                "a witness policy names at least one witness".into(),
            ));
        }
        if quorum == 0 || quorum > witnesses.len() {
            return Err(PolicyError(format!(
                "a quorum of {quorum} of {} witnesses: it must be between 1 and their number",
                witnesses.len()
            )));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i].contains(w) {
                return Err(PolicyError(format!(
                    "the witness {} is named twice",
                    w.to_text()
                )));
            }
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    /// How many cosignatures make a checkpoint witnessed.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The number of witnesses named.
    pub fn len(&self) -> usize {
        self.witnesses.len()
    }

    /// Whether no witness is named (never, for a policy made by [`WitnessPolicy::new`]).
    pub fn is_empty(&self) -> bool {
        self.witnesses.is_empty()
    }

    /// The names of the policy's witnesses whose cosignature on `note` verifies. A line of
    /// one of them that does not verify is an error: somebody altered the note or forged
    /// the line, and that is not the same as a witness that did not answer.
    pub fn cosigners(&self, note: &Note) -> Result<Vec<String>, NoteError> {
        let mut names = Vec::new();
        for witness in &self.witnesses {
            match witness.verify(note) {
                Ok(_) => names.push(witness.name().to_owned()),
                Err(NoteError::NotSigned { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(names)
    }

    /// Whether `note` has the quorum's cosignatures, with the names of its cosigners.
    pub fn check(&self, note: &Note) -> Result<Witnessed, NoteError> {
        let cosigners = self.cosigners(note)?;
        Ok(Witnessed {
            met: cosigners.len() >= self.quorum,
            cosigners,
        })
    }
}

/// What a [`WitnessPolicy`] found on one note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// Whether the quorum cosigned it.
    pub met: bool,
    /// The witnesses of the policy that did.
    pub cosigners: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, Cosigner, NoteSigner};

    fn signed() -> (NoteSigner, SignedCheckpoint) {
        let log = NoteSigner::generate("example.com/log").expect("log key");
        let checkpoint = Checkpoint {
            origin: "example.com/log".into(),
            tree_size: 5,
            root: [1; 32],
            tenant_heads: None,
        };
        let signed = SignedCheckpoint::sign(checkpoint, &log).expect("signed");
        (log, signed)
    }

    #[test]
    fn a_quorum_of_valid_cosignatures_meets_the_policy() {
        let (log, signed) = signed();
        let w: Vec<Cosigner> = (1..=3)
            .map(|i| Cosigner::generate(&format!("witness.example/w{i}")).expect("key"))
            .collect();
        let text = signed.note.text.clone();
        let cosigned =
            with_cosignatures(&signed, &[w[0].cosign(&text, 10), w[2].cosign(&text, 11)]);
        // Parsed back from text, as an auditor reads it; the log's signature still holds.
        let note = Note::parse(cosigned.to_text().as_bytes()).expect("note");
        assert!(log.verifier().verify(&note).is_ok());
        let all: Vec<_> = w.iter().map(Cosigner::verifier).collect();
        let two = WitnessPolicy::new(all.clone(), Some(2)).expect("policy");
        let found = two.check(&note).expect("checks");
        assert!(found.met);
        assert_eq!(
            found.cosigners,
            ["witness.example/w1", "witness.example/w3"]
        );
        let three = WitnessPolicy::new(all.clone(), None).expect("policy");
        assert!(!three.check(&note).expect("checks").met);
        assert!(
            !two.check(&signed.note).expect("checks").met,
            "no cosignature"
        );

        // A witness's later cosignature replaces its earlier one, not adds a line.
        let again = with_cosignatures(&cosigned, &[w[0].cosign(&text, 12)]);
        assert_eq!(again.note.signatures.len(), 3);

        // A forged or altered line of a named witness is an error, not a missing vote.
        let mut forged = note.clone();
        forged.signatures[1].signature[20] ^= 1;
        assert!(two.check(&forged).is_err());
    }

    #[test]
    fn the_fuzz_targets_witness_key_parses() {
        // engine::fuzzing::checkpoint_note checks policies with it: a key that did not
        // parse would leave that branch unexercised.
        let key = "witness.example/w1+76b49d25+BKHFc3BtGfGuhpfnogFnBV0bs9dFl2nUcWv6zq1o5aef";
        assert!(CosignatureVerifier::parse(key).is_ok());
    }

    #[test]
    fn bad_policies_are_refused() {
        let w = Cosigner::generate("witness.example/w1")
            .expect("key")
            .verifier();
        assert!(WitnessPolicy::new(vec![], None).is_err());
        assert!(WitnessPolicy::new(vec![w.clone()], Some(0)).is_err());
        assert!(WitnessPolicy::new(vec![w.clone()], Some(2)).is_err());
        assert!(WitnessPolicy::new(vec![w.clone(), w.clone()], Some(1)).is_err());
        assert_eq!(
            WitnessPolicy::new(vec![w], None).expect("policy").quorum(),
            1
        );
    }
}
