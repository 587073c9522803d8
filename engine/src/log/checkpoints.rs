//! The log's side of checkpoints: the key and the checkpoint log of the data directory,
//! issuing a checkpoint of the durable tree (on demand, on a cadence, at close), and the
//! check at open that the records agree with the newest checkpoint ever signed.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::checkpoint::{
    Checkpoint, CheckpointLog, NoteSigner, SignedCheckpoint, create_keys, load_signer,
};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::merkle::{Hash, NodeSource, subtree_root};
use crate::storage::Storage;
use crate::writer::Request;

/// The signing key (absent on read-only opens) and every checkpoint issued.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    origin: String,
    signer: Option<NoteSigner>,
    store: Mutex<CheckpointLog>,
}

impl Checkpoints {
    /// Opens the checkpoint log of `dir`; a read-write open also loads the private key,
    /// making the key pair first if the directory has none (a log made before
    /// checkpoints existed).
    pub(crate) fn open(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        origin: &str,
        read_only: bool,
    ) -> Result<Checkpoints> {
        let store = CheckpointLog::open(Arc::clone(storage), dir, origin, read_only)?;
        let signer = if read_only {
            None
        } else {
            let signer = match load_signer(storage.as_ref(), dir)? {
                Some(signer) => signer,
                None => create_keys(storage.as_ref(), dir, origin)?,
            };
            if signer.name() != origin {
                return Err(Error::InvalidArgument(format!(
                    "the checkpoint key is named `{}`, the log's origin is `{origin}`",
                    signer.name()
                )));
            }
            Some(signer)
        };
        Ok(Checkpoints {
            origin: origin.to_owned(),
            signer,
            store: Mutex::new(store),
        })
    }

    /// Bytes of an interrupted append cut from the checkpoint log at open.
    pub(crate) fn torn_tail(&self) -> Option<u64> {
        self.store.lock().torn_tail()
    }

    /// The newest checkpoint.
    pub(crate) fn latest(&self) -> Option<SignedCheckpoint> {
        self.store.lock().latest().cloned()
    }

    /// Every checkpoint, oldest first.
    pub(crate) fn all(&self) -> Result<Vec<SignedCheckpoint>> {
        self.store.lock().read_all()
    }

    /// Signs the tree head (`tree_size`, `root`), which must be durable, and keeps it.
    /// If the newest checkpoint already has that size, it is returned instead.
    pub(crate) fn issue(&self, tree_size: u64, root: Hash) -> Result<SignedCheckpoint> {
        let signer = self
            .signer
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the log is open read-only".into()))?;
        let mut store = self.store.lock();
        if let Some(latest) = store.latest()
            && latest.checkpoint.tree_size == tree_size
        {
            return Ok(latest.clone());
        }
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            tree_size,
            root,
        };
        let signed = SignedCheckpoint::sign(checkpoint, signer)
            .map_err(|e| Error::InvalidArgument(format!("signing a checkpoint: {e}")))?;
        store.append(signed.clone())?;
        Ok(signed)
    }

    /// Checks that the tree of `tree_size` leaves in `tree` contains the newest checkpoint:
    /// as many leaves at least, and the same root at its size.
    pub(crate) fn check_tree(
        &self,
        tree: &dyn NodeSource,
        tree_size: u64,
        dir: &Path,
    ) -> Result<()> {
        let Some(latest) = self.latest() else {
            return Ok(());
        };
        let file = dir.join(crate::checkpoint::CHECKPOINTS_FILE);
        let signed = latest.checkpoint;
        let fault = |kind| Error::Corruption(Corruption::new(&file, 0, kind));
        if signed.tree_size > tree_size {
            return Err(fault(CorruptionKind::LostEvents(format!(
                "a checkpoint was signed at tree size {}, the records end at {tree_size}",
                signed.tree_size
            ))));
        }
        if subtree_root(tree, 0, signed.tree_size)? != signed.root {
            return Err(fault(CorruptionKind::HashMismatch(format!(
                "the records' tree at size {} differs from the signed checkpoint",
                signed.tree_size
            ))));
        }
        Ok(())
    }
}

/// Makes every record written durable and signs the tree head they make.
pub(crate) fn issue_now(
    sender: &Sender<Request>,
    checkpoints: &Checkpoints,
) -> Result<SignedCheckpoint> {
    let (reply, done) = crossbeam_channel::bounded(1);
    sender
        .send(Request::Sync(reply))
        .map_err(|_| Error::Closed)?;
    let (tree_size, root) = done.recv().map_err(|_| Error::Closed)??;
    checkpoints.issue(tree_size, root)
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
        sender: Sender<Request>,
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
                        let _ = issue_now(&sender, &checkpoints);
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
