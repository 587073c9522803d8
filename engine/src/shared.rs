//! State shared by the [`Log`](crate::Log) facade and the writer and sync threads: the settings, the
//! stored tree, what readers may see, and counters. Neither side owns the other.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use crossbeam_channel::Receiver;
use parking_lot::{Mutex, RwLock};

use crate::config::LogConfig;
use crate::index::{IndexSource, SealedIndex, SharedIndex};
use crate::merkle::Hash;
use crate::segment::{ActiveView, SealedSegment};
use crate::storage::Storage;
use crate::tree::TreeStore;

/// The upper bounds, in seconds, of the `fdatasync` latency histogram's buckets (a last,
/// unbounded bucket follows).
pub const SYNC_SECONDS_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Counters for operators.
#[derive(Debug, Default)]
pub struct Metrics {
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
    /// `fdatasync` calls per bucket of [`SYNC_SECONDS_BUCKETS`], not cumulative; the last
    /// counts those slower than every bound.
    sync_buckets: [AtomicU64; SYNC_SECONDS_BUCKETS.len() + 1],
}

impl Metrics {
    pub(crate) fn record_sync(&self, took: Duration) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.sync_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let seconds = took.as_secs_f64();
        let bucket = SYNC_SECONDS_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(SYNC_SECONDS_BUCKETS.len());
        if let Some(count) = self.sync_buckets.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `fdatasync` calls so far and their total duration.
    pub fn syncs(&self) -> (u64, Duration) {
        (
            self.syncs.load(Ordering::Relaxed),
            Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed)),
        )
    }

    /// `fdatasync` calls so far by latency: the count in each bucket of
    /// [`SYNC_SECONDS_BUCKETS`] and, last, the count slower than every bound.
    pub fn sync_histogram(&self) -> [u64; SYNC_SECONDS_BUCKETS.len() + 1] {
        std::array::from_fn(|i| {
            self.sync_buckets
                .get(i)
                .map_or(0, |c| c.load(Ordering::Relaxed))
        })
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
    /// Sealed segments whose index file the writer's seal thread is still writing, by
    /// base sequence number: the receiver disconnects when it is done, and a reader waits
    /// for that rather than rebuild the index.
    pub(crate) indexing: Mutex<HashMap<u64, Receiver<()>>>,
    /// Held while a sealed segment's file is released to the archive, one at a time.
    pub(crate) releasing: Mutex<()>,
    /// Held while the action catalog changes: a definition reads the versions before it
    /// appends the next.
    pub(crate) cataloguing: Mutex<()>,
    /// Whether rebuilt indexes may be written (not in a read-only open).
    pub(crate) writable: bool,
    /// The key store and settings of a log that seals personal data, when opened with
    /// its KEK.
    pub(crate) sealer: Option<Arc<crate::privacy::Sealer>>,
    /// The records deleted past retention (none: the log starts at record 0).
    pub(crate) deleted: RwLock<crate::retention::DeletedPrefix>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_latencies_land_in_their_buckets() {
        let metrics = Metrics::default();
        for micros in [100, 500, 501, 7_000, 2_000_000] {
            metrics.record_sync(Duration::from_micros(micros));
        }
        let histogram = metrics.sync_histogram();
        // 100 and 500 µs in the first bucket (≤ 0.5 ms), 501 µs in the second, 7 ms in the
        // fifth (≤ 10 ms), 2 s in the last.
        assert_eq!(histogram, [2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(metrics.syncs().0, 5);
    }
}
