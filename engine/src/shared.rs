//! State shared by the [`Log`](crate::Log) facade and the writer and sync threads: the settings, the
//! stored tree, what readers may see, and counters. Neither side owns the other.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::config::LogConfig;
use crate::index::{IndexSource, SealedIndex, SharedIndex};
use crate::merkle::Hash;
use crate::segment::{ActiveView, SealedSegment};
use crate::storage::Storage;
use crate::tree::TreeStore;

/// Counters for operators.
#[derive(Debug, Default)]
pub struct Metrics {
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
}

impl Metrics {
    pub(crate) fn record_sync(&self, took: Duration) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.sync_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// `fdatasync` calls so far and their total duration.
    pub fn syncs(&self) -> (u64, Duration) {
        (
            self.syncs.load(Ordering::Relaxed),
            Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed)),
        )
    }
}

/// What readers see: sealed segments, the committed part of the active one, the tree head.
#[derive(Debug)]
pub(crate) struct LogView {
    pub(crate) sealed: Vec<Arc<SealedSegment>>,
    pub(crate) active: Option<ActiveView>,
    /// The index of the active segment's records (it may run ahead of `active`).
    pub(crate) active_index: SharedIndex,
    pub(crate) tree_size: u64,
    pub(crate) root: Hash,
}

/// State shared by the facade and the writer and sync threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) config: LogConfig,
    pub(crate) tree: TreeStore,
    pub(crate) view: RwLock<LogView>,
    pub(crate) metrics: Metrics,
    /// Sealed segments' indexes loaded so far, by base sequence number.
    pub(crate) indexes: RwLock<HashMap<u64, (Arc<SealedIndex>, IndexSource)>>,
    /// Whether rebuilt indexes may be written (not in a read-only open).
    pub(crate) writable: bool,
}
