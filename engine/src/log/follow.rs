//! A follower's step (a read replica's, docs/SCALING.md): a newer checkpoint of the log
//! it follows, checked consistent with the newest one it keeps before anything is
//! written, and a bundle of the records between, checked offline against the log's key;
//! then the records are appended in order and the checkpoint kept once they make it.

use std::io::BufRead;

use super::Log;
use crate::bundle::{Completeness, verify_bundle_visiting};
use crate::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::merkle::{ConsistencyProof, verify_consistency};
use crate::writer::MAX_BATCH_BYTES;

/// The bytes past which a batch of copied records is appended: half the largest batch,
/// so that one more record (at most 64 KiB) never takes it past the limit.
const COPY_BATCH_BYTES: usize = MAX_BATCH_BYTES / 2;

/// What a step of following did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Events appended.
    pub events: u64,
    /// The checkpoint kept, once the records reached it (`None`: a page of records
    /// short of it; more follow).
    pub kept: Option<SignedCheckpoint>,
}

impl Log {
    /// Checks `note`, a checkpoint of the log this one follows, against the newest one
    /// this log keeps, before anything is written: signed by the log's key, of its
    /// origin, not smaller, and consistent with it by `proof` (the followed log's
    /// consistency proof from the kept size to the note's; `None` when nothing is kept
    /// yet, or the sizes are equal). Returns the checkpoint, checked.
    pub fn check_followed(
        &self,
        note: &str,
        proof: Option<&ConsistencyProof>,
    ) -> Result<SignedCheckpoint> {
        let refused = |why: String| Error::InvalidArgument(format!("checkpoint refused: {why}"));
        let (key, origin) = self.followed()?;
        let signed =
            SignedCheckpoint::open(note.as_bytes(), key).map_err(|e| refused(e.to_string()))?;
        let theirs = &signed.checkpoint;
        if theirs.origin != origin {
            return Err(refused(format!(
                "it is of `{}`, this log of `{origin}`",
                theirs.origin
            )));
        }
        let Some(kept) = self
            .latest_checkpoint()
            .filter(|k| k.checkpoint.tree_size > 0)
        else {
            // Nothing kept (or the empty tree): every tree extends it.
            return Ok(signed);
        };
        let kept = &kept.checkpoint;
        if theirs.tree_size < kept.tree_size {
            // An older checkpoint of this same tree (a log with witnesses publishes the
            // newest they cosigned, which may be older than one kept): nothing new.
            if self.root_at(theirs.tree_size).ok() == Some(theirs.root) {
                return Ok(signed);
            }
            return Err(refused(format!(
                "it is of tree size {}, older than the one kept at {}, and not of this \
                 tree: the followed log went back and forked",
                theirs.tree_size, kept.tree_size
            )));
        }
        if theirs.tree_size == kept.tree_size {
            if theirs.root != kept.root {
                return Err(refused(format!(
                    "at tree size {} it signs another root than the one kept: the followed \
                     log forked",
                    theirs.tree_size
                )));
            }
            return Ok(signed);
        }
        let proof = proof.ok_or_else(|| refused("no consistency proof was given".into()))?;
        if (proof.size1, proof.size2) != (kept.tree_size, theirs.tree_size)
            || proof.root2 != theirs.root
        {
            return Err(refused(format!(
                "the consistency proof is not from the kept checkpoint ({}) to this one ({})",
                kept.tree_size, theirs.tree_size
            )));
        }
        if proof.root1 != kept.root {
            return Err(refused(format!(
                "at tree size {} the followed log's tree is not the one kept: it forked",
                kept.tree_size
            )));
        }
        verify_consistency(
            self.alg(),
            kept.tree_size,
            theirs.tree_size,
            &kept.root,
            &theirs.root,
            &proof.path,
        )
        .map_err(|e| {
            refused(format!(
                "it is not consistent with the one kept at tree size {}: the followed log \
                 forked ({e})",
                kept.tree_size
            ))
        })?;
        Ok(signed)
    }

    /// Takes the followed log's records from this log's size to `to` (at most `checked`'s
    /// size: short of it, a page) out of `bundle`, a bundle of exactly that range proven
    /// against `checked` (returned by [`Log::check_followed`]), checked offline with the
    /// log's key before any record is appended; once the records reach the checkpoint,
    /// keeps it ([`Log::adopt_checkpoint`]). The records are appended as copies: at their
    /// own seqs or not at all, never taken for a client's retry. Records of a log that
    /// seals personal data are refused: re-sealed, they would not be the followed log's.
    pub fn follow_bundle(
        &self,
        checked: &SignedCheckpoint,
        to: u64,
        bundle: &mut dyn BufRead,
    ) -> Result<Followed> {
        let refused =
            |why: String| Error::InvalidArgument(format!("shipped records refused: {why}"));
        let (key, _) = self.followed()?;
        // In seq order (the checker refuses any other), each record of the range once
        // (checked below).
        let mut events: Vec<Event<'static>> = Vec::new();
        let mut sealed = false;
        let summary = verify_bundle_visiting(bundle, Some(key), &mut |_, event, block| {
            sealed |= block.is_some();
            events.push(event.clone().into_owned());
        })
        .map_err(|e| refused(e.to_string()))?;
        if sealed {
            return Err(refused(
                "they hold sealed personal data, which a follower cannot take as stored yet".into(),
            ));
        }
        if summary.checkpoint != checked.checkpoint {
            return Err(refused(format!(
                "they are proven against a checkpoint of tree size {}, not the one checked ({})",
                summary.checkpoint.tree_size, checked.checkpoint.tree_size
            )));
        }
        let from = self.tree_size();
        let size = checked.checkpoint.tree_size;
        let whole = Completeness::Range { from, to };
        let asked = summary.selection.from_seq == from && summary.selection.to_seq == Some(to);
        if to > size
            || !asked
            || !summary.selection.is_whole_range()
            || summary.completeness != whole
        {
            return Err(refused(format!(
                "they are not every record of seq {from}..{to} ({})",
                summary.completeness
            )));
        }
        let count = self.append_copied(&events, from)?;
        let kept = match to == size {
            true => Some(self.adopt_checkpoint(&checked.to_text())?),
            false => None,
        };
        Ok(Followed {
            events: count,
            kept,
        })
    }

    /// Appends `events`, the records the followed log stored from seq `at` on, as copies:
    /// at their own seqs or not at all (refused unless `at` is this log's size), never
    /// taken for a client's retry, in batches within the largest. The only way events
    /// reach a follower; [`Log::follow_bundle`] checks them first. Returns how many.
    pub fn append_copied(&self, events: &[Event<'_>], at: u64) -> Result<u64> {
        self.followed()?;
        let mut next = at;
        let mut batch = self.batch();
        for (i, event) in events.iter().enumerate() {
            event.validate()?;
            batch.push(event)?;
            if batch.byte_len() >= COPY_BATCH_BYTES || i + 1 == events.len() {
                let mut full = std::mem::replace(&mut batch, self.batch());
                full.copy_at = Some(next);
                next += self.append_batch(full)?.count;
            }
        }
        Ok(next - at)
    }

    /// The followed log's public key and origin: refused unless this log is a follower.
    fn followed(&self) -> Result<(&NoteVerifier, &str)> {
        self.checkpoints
            .followed()
            .ok_or_else(|| Error::InvalidArgument("this log follows no other".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_json;
    use crate::{LogConfig, OpenOptions};

    fn event(action: &str) -> String {
        format!(
            r#"{{"timestamp":"2026-03-01T00:00:00Z","actor":{{"user_id":"usr_1"}},"organization":{{"id":"org_a"}},"action":"{action}","resource":{{"type":"doc","id":"d1"}},"outcome":"success","event_id":"ev-1"}}"#
        )
    }

    #[test]
    fn copied_records_are_never_retries_and_land_at_their_own_seq() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(dir.path(), &LogConfig::default()).unwrap();
        let (a, b, c) = (event("a.read"), event("b.read"), event("c.read"));
        log.append(&[parse_json(a.as_bytes()).unwrap()]).unwrap();
        // From a client, the same id with other content is a retry gone wrong: refused.
        let copied = parse_json(b.as_bytes()).unwrap();
        assert!(log.append(std::slice::from_ref(&copied)).is_err());
        assert_eq!(log.tree_size(), 1);
        // Copies are a follower's only.
        assert!(log.append_copied(std::slice::from_ref(&copied), 1).is_err());
        log.close();
        drop(log);
        // The same log as a follower (it remembers `ev-1` from its records).
        std::fs::remove_file(dir.path().join("keys/checkpoint.key")).unwrap();
        let log = OpenOptions::new().follower(true).open(dir.path()).unwrap();
        // Copied from a log that stored it (having forgotten the id): stored, at its seq.
        assert_eq!(
            log.append_copied(std::slice::from_ref(&copied), 1).unwrap(),
            1
        );
        // The same record again, as a copy: stored again (a copy is never a retry).
        assert_eq!(log.append_copied(&[copied], 2).unwrap(), 1);
        assert_eq!(log.tree_size(), 3);
        // At a seq other than the next: refused, nothing stored.
        let other = parse_json(c.as_bytes()).unwrap();
        let refused = log.append_copied(&[other], 7).unwrap_err().to_string();
        assert!(refused.contains("from seq 3"), "{refused}");
        assert_eq!(log.tree_size(), 3);
    }
}
