//! A transparency-log witness (c2sp.org/tlog-witness): for each log it is configured
//! with (by verifier key; the key's name is the log's origin), it keeps the newest
//! checkpoint size and root it cosigned, and cosigns a new checkpoint only if the log
//! proves it consistent with that one. A log that shows two histories (a split view) is
//! refused the second: the witness's state only ever grows along one history.
//! The state is one JSON file, replaced atomically and synced before any answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Cosigner, NoteVerifier, SignedCheckpoint, decimal};
use crate::config::BLAKE3_ORIGIN_MARK;
use crate::error::{Error, Result};
use crate::merkle::{Hash, HashAlg, verify_consistency};
use crate::storage::{FsStorage, read_all, write_atomically};

/// The file of a witness's state, in its folder.
pub const WITNESS_STATE_FILE: &str = "state.json";
/// The longest `add-checkpoint` body read: 63 proof lines and a checkpoint note.
pub const MAX_ADD_CHECKPOINT_BYTES: usize = 32 << 10;
/// The most consistency proof lines a client may send (the spec's bound).
const MAX_PROOF_LINES: usize = 63;

/// Why a witness refused a checkpoint, with the HTTP status tlog-witness assigns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is not an add-checkpoint request, or its old size is past its size.
    #[error("{0}")]
    BadRequest(String),
    /// The witness does not know the checkpoint's origin.
    #[error("this witness does not witness the log `{0}`")]
    UnknownLog(String),
    /// No valid signature by the log's key.
    #[error("{0}")]
    BadSignature(String),
    /// The old size is not the size the witness last cosigned (which it states).
    #[error("the witness's latest cosigned size of this log is {0}")]
    Conflict(u64),
    /// The checkpoint is not consistent with the one the witness holds.
    #[error("{0}")]
    Inconsistent(String),
    /// The witness could not record its new state (nothing was cosigned).
    #[error("{0}")]
    Failed(String),
}

impl Refusal {
    /// The HTTP status of the refusal (tlog-witness, "add-checkpoint").
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::UnknownLog(_) => 404,
            Refusal::BadSignature(_) => 403,
            Refusal::Conflict(_) => 409,
            Refusal::Inconsistent(_) => 422,
            Refusal::Failed(_) => 500,
        }
    }
}

/// An `add-checkpoint` request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint the client says the witness holds.
    pub old_size: u64,
    /// The consistency proof from the old size to the checkpoint's.
    pub proof: Vec<Hash>,
    /// The checkpoint, its signatures unchecked.
    pub checkpoint: SignedCheckpoint,
}

impl AddCheckpoint {
    /// Parses the body: `old N`, zero to 63 base64 proof lines, a blank line, the note.
    pub fn parse(body: &[u8]) -> std::result::Result<AddCheckpoint, Refusal> {
        let bad = |why: &str| Refusal::BadRequest(format!("not an add-checkpoint body: {why}"));
        if body.len() > MAX_ADD_CHECKPOINT_BYTES {
            return Err(bad("longer than 32 KiB"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(decimal)
            .ok_or_else(|| bad("the first line is not `old N`"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 proof lines"));
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|h| Hash::try_from(h.as_slice()).ok())
                .ok_or_else(|| bad("a proof line is not a base64 hash"))?;
            proof.push(hash);
        }
        let checkpoint = SignedCheckpoint::parse_any(note.as_bytes())
            .map_err(|e| Refusal::BadRequest(format!("its checkpoint: {e}")))?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// The body's text form.
    pub fn to_text(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            out.push_str(&BASE64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint.to_text());
        out
    }
}

/// What the witness holds of one log: the newest checkpoint it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Latest {
    size: u64,
    #[serde(with = "base64_hash")]
    root: Hash,
}

mod base64_hash {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(hash))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = BASE64.decode(text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))
    }
}

/// A witness: its key, the logs it witnesses, and its state.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, NoteVerifier>,
    state_path: PathBuf,
    latest: Mutex<BTreeMap<String, Latest>>,
}

impl Witness {
    /// The witness keeping its state in `dir` (made if missing), cosigning with
    /// `cosigner` the checkpoints of the logs whose verifier keys are `logs`. A BLAKE3
    /// log cannot be witnessed: its roots are not the SHA-256 roots consistency proofs
    /// are checked with.
    pub fn open(dir: &Path, cosigner: Cosigner, logs: Vec<NoteVerifier>) -> Result<Witness> {
        let mut by_origin = BTreeMap::new();
        for key in logs {
            if key.name().ends_with(BLAKE3_ORIGIN_MARK) {
                return Err(Error::InvalidArgument(format!(
                    "{} is a BLAKE3 log's key: a witness checks SHA-256 trees only",
                    key.name()
                )));
            }
            let name = key.name().to_owned();
            if by_origin.insert(name.clone(), key).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "two keys for the log `{name}`: a witness trusts one key per log"
                )));
            }
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let state_path = dir.join(WITNESS_STATE_FILE);
        let latest = match state_path.exists() {
            false => BTreeMap::new(),
            true => {
                let bytes = read_all(&FsStorage::default(), &state_path)
                    .map_err(|e| Error::io(format!("reading {}", state_path.display()), e))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", state_path.display())))?
            }
        };
        Ok(Witness {
            cosigner,
            logs: by_origin,
            state_path,
            latest: Mutex::new(latest),
        })
    }

    /// The newest size this witness cosigned of the log `origin`, if any.
    pub fn latest_size(&self, origin: &str) -> Option<u64> {
        self.latest.lock().get(origin).map(|l| l.size)
    }

    /// Answers an `add-checkpoint` body: the cosignature line (ending in a newline), once
    /// the new state is durable; or why not, with its HTTP status. `now` is the time of
    /// the cosignature, seconds since 1970.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> std::result::Result<String, Refusal> {
        if now == 0 {
            // A cosignature's timestamp is never zero.
            return Err(Refusal::Failed("the witness's clock is not set".into()));
        }
        let request = AddCheckpoint::parse(body)?;
        let checkpoint = &request.checkpoint.checkpoint;
        let origin = &checkpoint.origin;
        let key = self
            .logs
            .get(origin)
            .ok_or_else(|| Refusal::UnknownLog(origin.clone()))?;
        key.verify(&request.checkpoint.note)
            .map_err(|e| Refusal::BadSignature(e.to_string()))?;
        let (old, size, root) = (request.old_size, checkpoint.tree_size, checkpoint.root);
        if old > size {
            return Err(Refusal::BadRequest(format!(
                "old size {old} is past the checkpoint's size {size}"
            )));
        }
        // Checked and recorded under one lock: two requests never roll the state back.
        let mut latest = self.latest.lock();
        let held = latest.get(origin).copied();
        if held.map_or(0, |l| l.size) != old {
            return Err(Refusal::Conflict(held.map_or(0, |l| l.size)));
        }
        let inconsistent = |why: String| Refusal::Inconsistent(why);
        if size == 0 && root != HashAlg::Sha256.empty_root() {
            return Err(inconsistent(
                "a checkpoint of size 0 has another root than the empty tree's".into(),
            ));
        }
        let unchanged = held == Some(Latest { size, root });
        match held {
            Some(held) if held.size == size && held.root != root => {
                return Err(inconsistent(format!(
                    "this log signed another root at size {size} (a split view)"
                )));
            }
            _ if (old == size || old == 0) && !request.proof.is_empty() => {
                return Err(inconsistent(format!(
                    "a proof from size {old} to {size} is empty"
                )));
            }
            _ if old == size || old == 0 => {}
            None => {}
            Some(held) => verify_consistency(
                HashAlg::Sha256,
                held.size,
                size,
                &held.root,
                &root,
                &request.proof,
            )
            .map_err(|e| {
                inconsistent(format!(
                    "not consistent with size {} (a split view, or a bad proof): {e}",
                    held.size
                ))
            })?,
        }
        // The same checkpoint again is cosigned again without a write: replaying a log's
        // public checkpoint costs no fsync. Otherwise the new state is durable first (a
        // failed replace may leave the disk ahead of memory: nothing was cosigned).
        if !unchanged {
            let mut next = latest.clone();
            next.insert(origin.clone(), Latest { size, root });
            let bytes = serde_json::to_vec_pretty(&next)
                .map_err(|e| Refusal::Failed(format!("encoding the witness state: {e}")))?;
            write_atomically(&FsStorage::default(), &self.state_path, &bytes).map_err(|e| {
                Refusal::Failed(format!("writing {}: {e}", self.state_path.display()))
            })?;
            *latest = next;
        }
        drop(latest);
        let line = self.cosigner.cosign(&request.checkpoint.note.text, now);
        let note = crate::checkpoint::Note {
            text: String::new(),
            signatures: vec![line],
        };
        // The signature lines of a note with no text: the blank line, then the line.
        Ok(note.to_text().trim_start_matches('\n').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, NoteSigner};
    use crate::merkle::{MemoryTree, consistency_path, subtree_root};

    /// A log of `leaves` (SHA-256) and its checkpoint of `size`, signed by `key`.
    fn checkpoint(key: &NoteSigner, leaves: &[&[u8]], size: u64) -> (MemoryTree, SignedCheckpoint) {
        let hashes: Vec<Hash> = leaves
            .iter()
            .map(|l| HashAlg::Sha256.hash_leaf(l))
            .collect();
        let tree = MemoryTree::new(HashAlg::Sha256, &hashes);
        let checkpoint = Checkpoint {
            origin: key.name().to_owned(),
            tree_size: size,
            root: subtree_root(&tree, 0, size).expect("root"),
            tenant_heads: None,
        };
        (
            tree,
            SignedCheckpoint::sign(checkpoint, key).expect("signed"),
        )
    }

    fn body(old: u64, proof: Vec<Hash>, checkpoint: SignedCheckpoint) -> Vec<u8> {
        let request = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint,
        };
        request.to_text().into_bytes()
    }

    #[test]
    fn the_specification_example_parses_and_prints_back() {
        // c2sp.org/tlog-witness, the example request body of add-checkpoint.
        let example = concat!(
            "old 20852014\n",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n",
            "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n",
            "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n",
            "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n",
            "\n",
            "example.com/behind-the-sofa\n",
            "20852163\n",
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            "\n",
            "\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n",
            "\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n",
        );
        let request = AddCheckpoint::parse(example.as_bytes()).expect("parses");
        assert_eq!(request.old_size, 20_852_014);
        assert_eq!(request.proof.len(), 4);
        assert_eq!(request.checkpoint.checkpoint.tree_size, 20_852_163);
        assert_eq!(request.checkpoint.note.signatures.len(), 2);
        assert_eq!(request.to_text(), example);
    }

    #[test]
    fn a_witness_cosigns_one_history_and_refuses_a_split_view() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = NoteSigner::generate("example.com/log").expect("log key");
        let cosigner = Cosigner::generate("witness.example/w").expect("witness key");
        let verifier = cosigner.verifier();
        let witness =
            Witness::open(dir.path(), cosigner.clone(), vec![log.verifier()]).expect("witness");
        let leaves: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d", b"e"];
        let (tree, three) = checkpoint(&log, &leaves, 3);

        // The first checkpoint: from size 0, no proof.
        let line = witness.add_checkpoint(&body(0, vec![], three.clone()), 1_700_000_000);
        let line = line.expect("cosigned");
        let cosigned = format!("{}{line}", three.to_text());
        let note = crate::checkpoint::Note::parse(cosigned.as_bytes()).expect("a note");
        assert_eq!(verifier.verify(&note), Ok(1_700_000_000));
        assert_eq!(witness.latest_size("example.com/log"), Some(3));

        // A wrong old size: 409, naming the size it holds.
        let (_, five) = checkpoint(&log, &leaves, 5);
        let refused = witness.add_checkpoint(&body(0, vec![], five.clone()), 1);
        assert_eq!(refused, Err(Refusal::Conflict(3)));
        // The consistency proof from 3 to 5: cosigned, and the state survives a reopen.
        let proof = consistency_path(&tree, 3, 5).expect("proof");
        assert!(
            witness
                .add_checkpoint(&body(3, proof, five.clone()), 2)
                .is_ok()
        );
        drop(witness);
        let witness =
            Witness::open(dir.path(), cosigner.clone(), vec![log.verifier()]).expect("reopened");
        assert_eq!(witness.latest_size("example.com/log"), Some(5));

        // The same log's key signs another history of the same size: refused (422).
        let other: Vec<&[u8]> = vec![b"a", b"b", b"c", b"X", b"e"];
        let (_, forked) = checkpoint(&log, &other, 5);
        let refused = witness.add_checkpoint(&body(5, vec![], forked), 3);
        assert_eq!(refused.as_ref().map_err(Refusal::http_status), Err(422));
        // Or a longer one whose proof cannot join it: 422 too.
        let longer: Vec<&[u8]> = vec![b"a", b"b", b"c", b"X", b"e", b"f"];
        let (fork_tree, six) = checkpoint(&log, &longer, 6);
        let bad = consistency_path(&fork_tree, 5, 6).expect("proof of the fork");
        let refused = witness.add_checkpoint(&body(5, bad, six), 4);
        assert_eq!(refused.as_ref().map_err(Refusal::http_status), Err(422));
        assert_eq!(witness.latest_size("example.com/log"), Some(5));

        // Another log's checkpoint: 404; one not signed by the log's key: 403; garbage:
        // 400.
        let stranger = NoteSigner::generate("example.com/other").expect("key");
        let (_, theirs) = checkpoint(&stranger, &leaves, 2);
        let refused = witness.add_checkpoint(&body(0, vec![], theirs), 5);
        assert_eq!(refused.map_err(|r| r.http_status()), Err(404));
        let impostor = NoteSigner::generate("example.com/log").expect("same name");
        let (_, forged) = checkpoint(&impostor, &leaves, 5);
        let refused = witness.add_checkpoint(&body(5, vec![], forged), 6);
        assert_eq!(refused.map_err(|r| r.http_status()), Err(403));
        let refused = witness.add_checkpoint(b"old 01\n\nx", 7);
        assert_eq!(refused.map_err(|r| r.http_status()), Err(400));
    }

    #[test]
    fn an_empty_tree_first_then_any_size_and_other_logs_extension_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = NoteSigner::generate("example.com/log").expect("log key");
        let cosigner = Cosigner::generate("witness.example/w").expect("witness key");
        let witness = Witness::open(dir.path(), cosigner, vec![log.verifier()]).expect("witness");
        let (_, empty) = checkpoint(&log, &[], 0);
        assert!(witness.add_checkpoint(&body(0, vec![], empty), 1).is_ok());
        // From size 0 no proof is needed, nor allowed.
        let leaves: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let (tree, three) = checkpoint(&log, &leaves, 3);
        let needless = consistency_path(&tree, 1, 3).expect("a proof");
        let refused = witness.add_checkpoint(&body(0, needless, three.clone()), 2);
        assert_eq!(refused.map_err(|r| r.http_status()), Err(422));
        assert!(
            witness
                .add_checkpoint(&body(0, vec![], three.clone()), 3)
                .is_ok()
        );
        // The same checkpoint again: cosigned again (no state change).
        assert!(
            witness
                .add_checkpoint(&body(3, vec![], three.clone()), 4)
                .is_ok()
        );
        // A checkpoint with an extension line of another log's: read, and cosigned.
        let text = format!("{}other-extension 1\n", three.note.text);
        let note = log.sign(&text).expect("signed");
        let body = format!("old 3\n\n{}", note.to_text());
        assert!(witness.add_checkpoint(body.as_bytes(), 5).is_ok());
        assert!(
            witness.add_checkpoint(&body.into_bytes(), 0).is_err(),
            "no time 0"
        );
    }
}
