//! What an open changes in the segments, the tree, the checkpoint log and the key store,
//! decided once the records, the tree, the newest checkpoint and the writer's keys have
//! passed their checks, and made only by [`RecoveryPlan::apply`]: nothing before it
//! writes, so a log that fails one of those checks is left exactly as it was found.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::replay::{Nodes, replay};
use super::scan::Scanned;
use crate::checkpoint::CheckpointLog;
use crate::error::{Error, Result};
use crate::merkle::{CompactRange, HashAlg};
use crate::privacy::SubjectKeys;
use crate::storage::{OpenMode, Storage};
use crate::tree::{PendingNodes, TreeStore};

/// Every cut, removal and rewrite an open makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecoveryPlan {
    /// The active segment's torn tail is cut.
    cut_torn_tail: bool,
    /// A last segment whose creation a crash interrupted is removed.
    discard: Option<PathBuf>,
    /// Files of segments a deletion past retention was cut short removing (its receipt
    /// is durable) are removed.
    remove_deleted: Vec<PathBuf>,
    /// The level files are cut back to the tree of this many leaves (repaired first, if
    /// their headers are bad) and the tree is rebuilt from there over the records.
    tree_from: u64,
    /// Sealed segments made durable before the tree state says so: those past the
    /// durable size, and the newest (a crash may have left a seal in the page cache only).
    sync_sealed: Vec<PathBuf>,
    /// The tree state is made durable at this size (leaves were replayed).
    sync_tree: Option<u64>,
    /// Bytes of an interrupted append cut from the checkpoint log (the whole file, if
    /// its creation was interrupted).
    cut_checkpoints: Option<u64>,
    /// Bytes of an interrupted last entry cut from the key store.
    cut_key_store: Option<u64>,
}

/// The stores a writer appends to besides the segments, read and checked before the
/// plan, taken for appends by it.
pub(super) struct Stores<'a> {
    pub(super) checkpoints: &'a mut CheckpointLog,
    pub(super) keys: Option<&'a mut SubjectKeys>,
}

impl RecoveryPlan {
    /// The plan for the log `scanned` holds, whose stored tree holds `tree_from` leaves
    /// that need no replay, whose tree state said `durable`, and whose other stores are
    /// `stores`.
    pub(super) fn new(
        scanned: &Scanned,
        tree_from: u64,
        durable: u64,
        stores: &Stores<'_>,
    ) -> RecoveryPlan {
        let tree_size = scanned.tree_size();
        let last_end = scanned.sealed.last().map_or(0, |s| s.end());
        RecoveryPlan {
            cut_torn_tail: scanned.torn_tail.is_some() && scanned.active.is_some(),
            discard: scanned.discarded.clone(),
            remove_deleted: scanned.below_floor.clone(),
            tree_from,
            sync_sealed: scanned
                .sealed
                .iter()
                .filter(|s| s.end() > durable || s.end() == last_end)
                .map(|s| s.path.clone())
                .collect(),
            sync_tree: (tree_size > tree_from).then_some(tree_size),
            cut_checkpoints: stores.checkpoints.torn_tail(),
            cut_key_store: stores.keys.as_ref().and_then(|k| k.torn_tail()),
        }
    }

    /// Makes the changes, in an order a crash at any point leaves recoverable: the torn
    /// tail cut, an interrupted creation and the files of deleted segments removed, the level files rebuilt from
    /// `tree_from` (with `computed`, the nodes the checks computed, if they kept them;
    /// else over the records again), every segment the tree state will cover synced, then
    /// the tree state; last the checkpoint log and the key store taken for appends, their
    /// interrupted appends cut. The tree store, and the tree of every record, which must
    /// be the one the checks computed (`checked`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply(
        self,
        stores: Stores<'_>,
        storage: &Arc<dyn Storage>,
        dir: &Path,
        alg: HashAlg,
        scanned: &Scanned,
        checked: &CompactRange,
        computed: Option<PendingNodes>,
    ) -> Result<(TreeStore, CompactRange)> {
        if self.cut_torn_tail
            && let Some(a) = &scanned.active
        {
            a.segment.cut_torn_tail()?;
        }
        for path in self.discard.iter().chain(&self.remove_deleted) {
            let io = |e| Error::io(format!("removing {}", path.display()), e);
            storage.remove(path).map_err(io)?;
        }
        if !self.remove_deleted.is_empty() {
            let segments = dir.join(crate::segment::SEGMENTS_DIR);
            let io = |e| Error::io(format!("syncing {}", segments.display()), e);
            storage.sync_dir(&segments).map_err(io)?;
        }
        let tree = TreeStore::open(Arc::clone(storage), dir, alg, false)?;
        tree.truncate_to(self.tree_from)?;
        let compact = match computed {
            Some(mut nodes) => {
                nodes
                    .write_to(&tree)
                    .map_err(|e| Error::io("writing tree nodes", e))?;
                checked.clone()
            }
            None => {
                let written = Nodes::Written(&tree);
                replay(
                    storage.as_ref(),
                    &tree,
                    alg,
                    self.tree_from,
                    scanned,
                    None,
                    written,
                )?
                .0
            }
        };
        if compact.size() != checked.size() || compact.root() != checked.root() {
            return Err(Error::WriterFailed(
                "the records read twice while opening gave two trees: is another process \
                 writing the log?"
                    .into(),
            ));
        }
        for path in &self.sync_sealed {
            let io = |e| Error::io(format!("syncing {}", path.display()), e);
            storage
                .open(path, OpenMode::Read)
                .and_then(|f| f.sync_data())
                .map_err(io)?;
        }
        if let Some(a) = &scanned.active {
            let path = a.segment.path.display();
            a.segment
                .file
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {path}"), e))?;
        }
        if let Some(size) = self.sync_tree {
            tree.sync(size)
                .map_err(|e| Error::io("syncing the tree", e))?;
        }
        // Each store cuts its own interrupted append (the plan records the bytes).
        debug_assert_eq!(self.cut_checkpoints, stores.checkpoints.torn_tail());
        stores.checkpoints.open_for_appends()?;
        if let Some(keys) = stores.keys {
            debug_assert_eq!(self.cut_key_store, keys.torn_tail());
            keys.open_for_appends()?;
        }
        Ok((tree, compact))
    }
}
