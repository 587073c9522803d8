//! The log's side of checkpoints: the key and the checkpoint log of the data directory,
//! issuing a checkpoint of the durable tree (on demand, on a cadence, at close), keeping
//! the cosignatures witnesses return for them, and the check at open that the records
//! agree with the newest checkpoint ever signed; for a follower, keeping the checkpoints
//! of the log it follows once its own records make them.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::sequencer::{Sequencer, with_room};

use crate::checkpoint::{
    Checkpoint, CheckpointLog, NoteSignature, NoteSigner, NoteVerifier, SignedCheckpoint,
    create_keys, is_valid_name, load_signer, load_verifier, with_cosignatures,
};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::heads::HeadsCommitment;
use crate::merkle::Hash;
use crate::storage::Storage;

/// The signing key (absent on read-only opens), every checkpoint issued, and those kept
/// again with witnesses' cosignatures.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    origin: String,
    signer: Option<NoteSigner>,
    /// A follower's check of the checkpoints it keeps: the followed log's public key.
    follows: Option<NoteVerifier>,
    store: Mutex<CheckpointLog>,
    /// Never locked while `store` is.
    cosigned: Mutex<CheckpointLog>,
}

impl Checkpoints {
    /// The signing key of a read-write open of the log in `dir`, whose checkpoint log is
    /// `store`: the log's own, or (a new log, or one made before checkpoints) none yet,
    /// to be made. Writes nothing, so it can refuse an open before anything is changed.
    pub(crate) fn signer_for(
        storage: &dyn Storage,
        dir: &Path,
        origin: &str,
        store: &CheckpointLog,
    ) -> Result<Option<NoteSigner>> {
        let signer = match load_signer(storage, dir)? {
            Some(signer) => signer,
            // A new log, or one made before checkpoints: its first key pair. A log that
            // has signed, or has a public key, never gets a new one quietly.
            None if store.is_empty() && load_verifier(storage, dir)?.is_none() => {
                if !is_valid_name(origin) {
                    return Err(Error::InvalidArgument(format!(
                        "the origin `{origin}` cannot name a checkpoint key (no spaces or \
                         `+`); open this log read-only, or make a new one"
                    )));
                }
                return Ok(None);
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "{} has signed checkpoints or a public key but its private key \
                     (keys/checkpoint.key) is missing: restore it; a log never replaces \
                     its key",
                    dir.display()
                )));
            }
        };
        if signer.name() != origin {
            return Err(Error::InvalidArgument(format!(
                "the checkpoint key is named `{}`, the log's origin is `{origin}`",
                signer.name()
            )));
        }
        Ok(Some(signer))
    }

    /// The checkpoints of `store`, the log of `dir` read at open and so not read again,
    /// signed (unless `read_only`) with `signer`, the key
    /// [`signer_for`](Self::signer_for) loaded, or a key made now for a log that has
    /// none yet. A writer's `store` is already taken for appends.
    pub(crate) fn open(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        origin: &str,
        store: CheckpointLog,
        signer: Option<NoteSigner>,
        signing: Signing,
    ) -> Result<Checkpoints> {
        let (signer, follows) = match (signing, signer) {
            (Signing::None, _) => (None, None),
            (Signing::Follows, _) => {
                let key = load_verifier(storage.as_ref(), dir)?.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{} has no public key (keys/checkpoint.pub): a follower checks the \
                         checkpoints it keeps with the followed log's",
                        dir.display()
                    ))
                })?;
                (None, Some(key))
            }
            (Signing::Own, Some(signer)) => (Some(signer), None),
            (Signing::Own, None) => (Some(create_keys(storage.as_ref(), dir, origin)?), None),
        };
        let read_only = signing == Signing::None;
        let cosigned = CheckpointLog::open_cosigned(Arc::clone(storage), dir, origin, read_only)?;
        Ok(Checkpoints {
            origin: origin.to_owned(),
            signer,
            follows,
            store: Mutex::new(store),
            cosigned: Mutex::new(cosigned),
        })
    }

    /// The followed log's public key and origin, on a follower.
    pub(crate) fn followed(&self) -> Option<(&NoteVerifier, &str)> {
        Some((self.follows.as_ref()?, &self.origin))
    }

    /// Whether this open can sign (it is read-write).
    pub(crate) fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// The newest checkpoint, with the cosignatures kept for it if there are any.
    pub(crate) fn latest(&self) -> Option<SignedCheckpoint> {
        let latest = self.store.lock().latest().cloned()?;
        let cosigned = self.cosigned.lock().latest().cloned();
        Some(
            cosigned
                .filter(|c| c.note.text == latest.note.text)
                .unwrap_or(latest),
        )
    }

    /// The newest checkpoint kept with cosignatures.
    /// (None if its text is not the log's checkpoint of that size: only `verify` reads
    /// past such an entry, to report it.)
    pub(crate) fn latest_cosigned(&self) -> Option<SignedCheckpoint> {
        let cosigned = self.cosigned.lock().latest().cloned()?;
        let size = cosigned.checkpoint.tree_size;
        let own = self.store.lock().at_size(size).ok().flatten()?;
        (own.note.text == cosigned.note.text).then_some(cosigned)
    }

    /// The checkpoint issued at `tree_size`, if any, with the cosignatures kept for it.
    pub(crate) fn at_size(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>> {
        let Some(signed) = self.store.lock().at_size(tree_size)? else {
            return Ok(None);
        };
        let cosigned = self.cosigned.lock().at_size(tree_size)?;
        Ok(Some(
            cosigned
                .filter(|c| c.note.text == signed.note.text)
                .unwrap_or(signed),
        ))
    }

    /// Keeps witnesses' cosignature `lines` (checked by the caller) for the checkpoint
    /// issued at `tree_size`, with those kept for it before: appended, synced, to the
    /// cosigned checkpoint log. Cosignatures of a size below the newest one kept are
    /// refused (the log only ever shows witnesses one history, forward).
    pub(crate) fn keep_cosignatures(
        &self,
        tree_size: u64,
        lines: &[NoteSignature],
    ) -> Result<SignedCheckpoint> {
        if self.signer.is_none() {
            return Err(Error::InvalidArgument("the log is open read-only".into()));
        }
        // The checkpoint log's entries never change: its lock is not held over the sync.
        let signed = self.store.lock().at_size(tree_size)?.ok_or_else(|| {
            Error::InvalidArgument(format!("no checkpoint was issued at size {tree_size}"))
        })?;
        let mut cosigned = self.cosigned.lock();
        if let Some(newest) = cosigned.latest()
            && newest.checkpoint.tree_size > tree_size
        {
            return Err(Error::InvalidArgument(format!(
                "cosignatures of tree size {tree_size} after some of {} were kept: a log \
                 shows its witnesses one history, forward",
                newest.checkpoint.tree_size
            )));
        }
        let before = cosigned
            .at_size(tree_size)?
            .filter(|c| c.note.text == signed.note.text)
            .unwrap_or(signed);
        let after = with_cosignatures(&before, lines);
        if after.note != before.note {
            cosigned.append(after.clone())?;
        }
        Ok(after)
    }

    /// Every checkpoint, oldest first.
    pub(crate) fn all(&self) -> Result<Vec<SignedCheckpoint>> {
        self.store.lock().read_all()
    }

    /// The log's signing key, for the receipts it signs (an erasure, a deletion past
    /// retention); none in a log open read-only.
    pub(crate) fn signer(&self) -> Result<&NoteSigner> {
        self.signer
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the log is open read-only".into()))
    }

    /// Signs the tree head (`tree_size`, `root`), which must be durable, with the tenant
    /// heads at that size, and keeps it. If the newest checkpoint already has that size,
    /// it is returned instead.
    pub(crate) fn issue(
        &self,
        tree_size: u64,
        root: Hash,
        tenant_heads: HeadsCommitment,
    ) -> Result<SignedCheckpoint> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the log is open read-only".into()))?;
        let mut store = self.store.lock();
        // Another caller (the cadence, a close) may have signed as large a tree meanwhile.
        if let Some(latest) = store.latest()
            && latest.checkpoint.tree_size >= tree_size
        {
            return Ok(latest.clone());
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            tree_size,
            root,
            tenant_heads: Some(tenant_heads),
        };
        let signed = SignedCheckpoint::sign(checkpoint, signer)
            .map_err(|e| Error::InvalidArgument(format!("signing a checkpoint: {e}")))?;
        store.append(signed.clone())?;
        Ok(signed)
    }
}

/// Checks that records ending at `tree_size` hold at least the newest checkpoint's.
pub(crate) fn check_size(newest: Option<&Checkpoint>, tree_size: u64, dir: &Path) -> Result<()> {
    match newest {
        Some(signed) if signed.tree_size > tree_size => Err(Error::Corruption(Corruption::new(
            dir.join(crate::checkpoint::CHECKPOINTS_FILE),
            0,
            CorruptionKind::LostEvents(format!(
                "a checkpoint was signed at tree size {}, the records end at {tree_size}",
                signed.tree_size
            )),
        ))),
        _ => Ok(()),
    }
}

/// Checks that the records' tree has `signed`'s root (`root`, computed at its size).
pub(crate) fn check_root(signed: &Checkpoint, root: &Hash, dir: &Path) -> Result<()> {
    if *root != signed.root {
        return Err(Error::Corruption(Corruption::new(
            dir.join(crate::checkpoint::CHECKPOINTS_FILE),
            0,
            CorruptionKind::HashMismatch(format!(
                "the records' tree at size {} differs from the signed checkpoint",
                signed.tree_size
            )),
        )));
    }
    Ok(())
}

/// Keeps `note`, a checkpoint of the log a follower follows, once every record submitted
/// is durable: only if it is signed by that log's key, of this origin, and of exactly the
/// durable tree (size, root, tenant heads). See `Log::adopt_checkpoint`.
pub(crate) fn adopt_now(
    sequencer: &Mutex<Sequencer>,
    checkpoints: &Checkpoints,
    note: &str,
) -> Result<SignedCheckpoint> {
    let refused = |why: String| Error::InvalidArgument(format!("checkpoint refused: {why}"));
    let key = checkpoints
        .follows
        .as_ref()
        .ok_or_else(|| refused("this log is no follower: it signs its own".into()))?;
    let signed =
        SignedCheckpoint::open(note.as_bytes(), key).map_err(|e| refused(e.to_string()))?;
    if signed.checkpoint.origin != checkpoints.origin {
        return Err(refused(format!(
            "it is of `{}`, this log of `{}`",
            signed.checkpoint.origin, checkpoints.origin
        )));
    }
    let (done, size, heads) = with_room(sequencer).sync()?;
    let (tree_size, root) = done.recv().map_err(|_| Error::Closed)??;
    let theirs = &signed.checkpoint;
    if theirs.tree_size != tree_size || tree_size != size {
        return Err(refused(format!(
            "it is of tree size {}, this log holds {tree_size} records",
            theirs.tree_size
        )));
    }
    if theirs.root != root || theirs.tenant_heads != Some(heads) {
        return Err(refused(format!(
            "at tree size {tree_size} it signs another tree than this log's records make: \
             the followed log is not the one these records came from, or it forked"
        )));
    }
    let mut store = checkpoints.store.lock();
    if let Some(latest) = store.latest()
        && latest.checkpoint.tree_size >= tree_size
    {
        return Ok(latest.clone());
    }
    store.append(signed.clone())?;
    Ok(signed)
}

/// Who signs an open's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signing {
    /// Nobody: a read-only open.
    None,
    /// The log itself, with its key.
    Own,
    /// Another log, which this one follows: its checkpoints are kept, checked.
    Follows,
}

/// Makes every record submitted durable and signs the tree head they make, with the
/// tenant heads at that size.
pub(crate) fn issue_now(
    sequencer: &Mutex<Sequencer>,
    checkpoints: &Checkpoints,
) -> Result<SignedCheckpoint> {
    let (done, size, heads) = with_room(sequencer).sync()?;
    let (tree_size, root) = done.recv().map_err(|_| Error::Closed)??;
    if tree_size != size {
        return Err(Error::WriterFailed(format!(
            "the writer synced a tree of {tree_size} leaves, {size} were submitted"
        )));
    }
    checkpoints.issue(tree_size, root, heads)
}

/// A thread that issues a checkpoint every interval in which the tree grew.
#[derive(Debug)]
pub(crate) struct Cadence {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl Cadence {
    /// Starts the thread; `tree_size` reads the committed size.
    pub(crate) fn start(
        every: Duration,
        sequencer: Arc<Mutex<Sequencer>>,
        checkpoints: Arc<Checkpoints>,
        tree_size: impl Fn() -> u64 + Send + 'static,
    ) -> Result<Cadence> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("auditlog-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let signed = checkpoints.latest().map(|c| c.checkpoint.tree_size);
                    if signed.is_none_or(|size| size < tree_size()) {
                        // A failure (the writer stopped) is tried again next time; the
                        // writer reports it to appenders.
                        let _ = issue_now(&sequencer, &checkpoints);
                    }
                }
            })
            .map_err(|e| Error::io("starting the checkpoint thread", e))?;
        Ok(Cadence { stop, handle })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}
