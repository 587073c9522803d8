//! The signed checkpoints verify checks the tree against: the log's own and those the
//! auditor holds, their signatures, and each one's root and tenant heads at its size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::corrupt;
use crate::checkpoint::{
    CheckpointLog, NoteVerifier, SignedCheckpoint, WitnessPolicy, load_verifier,
};
use crate::error::{CorruptionKind, Error, Result};
use crate::heads::TenantHeads;
use crate::merkle::CompactRange;
use crate::storage::Storage;

/// A signed checkpoint and where it came from.
pub(super) struct CheckpointAt {
    file: PathBuf,
    offset: u64,
    pub(super) signed: SignedCheckpoint,
    /// Given by the auditor, not read from the log.
    pub(super) held: bool,
}

/// Reads the checkpoint log, adds the checkpoints the auditor holds, and checks every
/// signature with `key` (or the directory's own key); returns them by tree size, with
/// the key that checked them (none when there were none).
pub(super) fn check_signatures(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    origin: &str,
    key: Option<&NoteVerifier>,
    held: &[(PathBuf, Vec<u8>)],
    notes: &mut Vec<String>,
) -> Result<(Vec<CheckpointAt>, Option<NoteVerifier>)> {
    let log = CheckpointLog::open(Arc::clone(storage), dir, origin, true)?;
    if let Some(bytes) = log.torn_tail() {
        notes.push(format!(
            "the checkpoint log ends in {bytes} bytes of an interrupted append (never handed out); the next read-write open cuts them"
        ));
    }
    let mut checkpoints: Vec<CheckpointAt> = log
        .read_entries()?
        .into_iter()
        .map(|(offset, signed)| CheckpointAt {
            file: log.path().to_path_buf(),
            offset,
            signed,
            held: false,
        })
        .collect();
    for (file, bytes) in held {
        let signed = SignedCheckpoint::parse(bytes).map_err(|e| {
            Error::InvalidArgument(format!("{}: not a signed checkpoint: {e}", file.display()))
        })?;
        if signed.checkpoint.origin != origin {
            return Err(Error::InvalidArgument(format!(
                "{}: a checkpoint of `{}`, not of this log (`{origin}`)",
                file.display(),
                signed.checkpoint.origin
            )));
        }
        checkpoints.push(CheckpointAt {
            file: file.clone(),
            offset: 0,
            signed,
            held: true,
        });
    }
    if checkpoints.is_empty() {
        if key.is_some() {
            notes.push(
                "the log has no signed checkpoint: nothing ties its records to the key given"
                    .into(),
            );
        }
        return Ok((checkpoints, None));
    }
    let key = match key {
        Some(key) => key.clone(),
        None => {
            let own = load_verifier(storage.as_ref(), dir)?.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{} has checkpoints but no public key to check them: give one",
                    dir.display()
                ))
            })?;
            notes.push(
                "checkpoint signatures were checked with the data directory's own public key; \
                 give the key you were handed to rule out a replaced one"
                    .into(),
            );
            own
        }
    };
    for at in &checkpoints {
        key.verify(&at.signed.note).map_err(|e| {
            corrupt(
                &at.file,
                at.offset,
                CorruptionKind::BadSignature(e.to_string()),
            )
        })?;
    }
    // The log's own come first among equal sizes.
    checkpoints.sort_by_key(|at| at.signed.checkpoint.tree_size);
    Ok((checkpoints, Some(key)))
}

/// Checks that the tree in `compact` (of at least the checkpoint's size, else events are
/// missing) has the checkpoint's root at its size, and the tenant heads it signs.
pub(super) fn check_checkpoint(
    at: &CheckpointAt,
    compact: &CompactRange,
    heads: &mut TenantHeads,
) -> Result<()> {
    let checkpoint = &at.signed.checkpoint;
    if checkpoint.tree_size != compact.size() {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::LostEvents(format!(
                "a checkpoint was signed at tree size {}, the records end at {}",
                checkpoint.tree_size,
                compact.size()
            )),
        ));
    }
    if compact.root() != checkpoint.root {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::HashMismatch(format!(
                "the records' tree at size {} contradicts the signed checkpoint of that size",
                checkpoint.tree_size
            )),
        ));
    }
    if let Some(signed) = checkpoint.tenant_heads
        && heads.commitment() != signed
    {
        return Err(corrupt(
            &at.file,
            at.offset,
            CorruptionKind::HashMismatch(format!(
                "the tenant heads of the records at size {} contradict those the checkpoint \
                 of that size signs",
                checkpoint.tree_size
            )),
        ));
    }
    Ok(())
}

/// The newest checkpoint a witness policy accepts, as verify found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    /// Its tree size.
    pub tree_size: u64,
    /// The policy's witnesses that cosigned it.
    pub cosigners: Vec<String>,
    /// Whether it is a checkpoint the auditor gave, not one of the directory's.
    pub held: bool,
}

/// Reads the cosigned checkpoint log: each entry must carry a valid signature of the log's
/// `key` (the one [`check_signatures`] used) and be, in its text, the checkpoint the log signed at
/// that size (`checkpoints`, already checked and sorted by size), else the log's key
/// signed two histories. With a `policy`, also finds the newest of those entries and of
/// the checkpoints the auditor holds that it accepts; a cosignature line of one of its
/// witnesses that does not verify is a fault. Returns the number of entries read and what
/// the policy accepted. Reads one entry at a time against a binary search of
/// `checkpoints`: a witnessed log keeps an entry per checkpoint.
pub(super) fn check_cosigned(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    origin: &str,
    key: Option<&NoteVerifier>,
    checkpoints: &[CheckpointAt],
    policy: Option<&WitnessPolicy>,
    notes: &mut Vec<String>,
) -> Result<(usize, Option<WitnessedCheckpoint>)> {
    let log = CheckpointLog::open_cosigned(Arc::clone(storage), dir, origin, true)?;
    if let Some(bytes) = log.torn_tail() {
        notes.push(format!(
            "the cosigned checkpoint log ends in {bytes} bytes of an interrupted append; the next read-write open cuts them"
        ));
    }
    let mut best: Option<WitnessedCheckpoint> = None;
    let mut consider = |at: &CheckpointAt| -> Result<()> {
        let Some(policy) = policy else {
            return Ok(());
        };
        let size = at.signed.checkpoint.tree_size;
        let found = policy.check(&at.signed.note).map_err(|e| {
            corrupt(
                &at.file,
                at.offset,
                CorruptionKind::BadSignature(format!(
                    "a witness's cosignature on the checkpoint of tree size {size}: {e}"
                )),
            )
        })?;
        if found.met && best.as_ref().is_none_or(|b| b.tree_size < size) {
            best = Some(WitnessedCheckpoint {
                tree_size: size,
                cosigners: found.cosigners,
                held: at.held,
            });
        }
        Ok(())
    };
    let entries = log.read_entries()?;
    let kept = entries.len();
    if let Some((offset, _)) = entries.first()
        && key.is_none()
    {
        return Err(corrupt(
            log.path(),
            *offset,
            CorruptionKind::BadField("cosigned checkpoints of a log that signed none".into()),
        ));
    }
    if let Some(key) = key {
        for (offset, signed) in entries {
            let at = CheckpointAt {
                file: log.path().to_path_buf(),
                offset,
                signed,
                held: false,
            };
            let size = at.signed.checkpoint.tree_size;
            let fault = |kind| Err(corrupt(log.path(), offset, kind));
            if let Err(e) = key.verify(&at.signed.note) {
                return fault(CorruptionKind::BadSignature(format!(
                    "the cosigned checkpoint of tree size {size}: {e}"
                )));
            }
            let first = checkpoints.partition_point(|c| c.signed.checkpoint.tree_size < size);
            let own = checkpoints[first..]
                .iter()
                .take_while(|c| c.signed.checkpoint.tree_size == size)
                .find(|c| !c.held);
            match own {
                None => {
                    return fault(CorruptionKind::HashMismatch(format!(
                        "cosignatures are kept for tree size {size}, at which the log signed \
                         no checkpoint"
                    )));
                }
                Some(own) if own.signed.note.text != at.signed.note.text => {
                    return fault(CorruptionKind::HashMismatch(format!(
                        "the cosigned checkpoint of tree size {size} is not the one the log \
                         signed at that size: the log's key signed two histories"
                    )));
                }
                Some(_) => consider(&at)?,
            }
        }
    }
    for at in checkpoints.iter().filter(|at| at.held) {
        consider(at)?;
    }
    Ok((kept, best))
}
