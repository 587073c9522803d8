//! How far a replica is behind its primary, for `/metrics` and `GET /v1/replica`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// What the following did, as of the last look at the primary.
#[derive(Debug, Default)]
pub(crate) struct ReplicaStatus {
    /// The tree size of the newest checkpoint the primary served.
    pub(crate) primary_size: AtomicU64,
    /// The tree size of the newest checkpoint the replica keeps.
    pub(crate) kept_size: AtomicU64,
    /// Events taken from the primary by this process.
    pub(crate) events: AtomicU64,
    /// Checkpoints (or their records) refused: inconsistent with the kept one, of
    /// another key, or records that do not make them.
    pub(crate) refused: AtomicU64,
    /// Looks at the primary that failed (unreachable, or an error answered).
    pub(crate) failures: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// When the replica last held the primary's newest checkpoint (none yet: since start).
    caught_up: Option<Instant>,
    started: Option<Instant>,
    /// The last refusal or failure, until a look succeeds.
    problem: Option<String>,
}

impl ReplicaStatus {
    /// Marks the start of following, with the checkpoint kept at `kept`: lag is counted
    /// from here until first caught up.
    pub(crate) fn start(&self, kept: u64) {
        self.kept_size.store(kept, Ordering::Relaxed);
        self.inner.lock().started = Some(Instant::now());
    }

    /// The primary served a checkpoint of tree size `size` (checked or not: lag is what
    /// it claims to be ahead).
    pub(crate) fn primary_at(&self, size: u64) {
        self.primary_size.store(size, Ordering::Relaxed);
    }

    /// A look that ended with the replica at `kept` and the primary at `primary`.
    pub(crate) fn looked(&self, kept: u64, primary: u64) {
        self.kept_size.store(kept, Ordering::Relaxed);
        self.primary_at(primary);
        let mut inner = self.inner.lock();
        inner.problem = None;
        if kept >= primary {
            inner.caught_up = Some(Instant::now());
        }
    }

    /// A look refused what the primary served: `why`.
    pub(crate) fn refused(&self, why: String) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.inner.lock().problem = Some(why);
    }

    /// A look that failed: `why`.
    pub(crate) fn failed(&self, why: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.inner.lock().problem = Some(why);
    }

    /// Events the replica lacks of the primary's newest checkpoint it has seen.
    pub(crate) fn lag_events(&self) -> u64 {
        let primary = self.primary_size.load(Ordering::Relaxed);
        primary.saturating_sub(self.kept_size.load(Ordering::Relaxed))
    }

    /// Seconds since the replica last held the primary's newest checkpoint (since it
    /// started following, if never).
    pub(crate) fn lag_seconds(&self) -> f64 {
        let inner = self.inner.lock();
        inner
            .caught_up
            .or(inner.started)
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// The last refusal or failure, if the last look did not succeed.
    pub(crate) fn problem(&self) -> Option<String> {
        self.inner.lock().problem.clone()
    }
}

impl ReplicaStatus {
    /// The replica's lines of `/metrics`.
    pub(crate) fn render(&self, text: &mut String) {
        use std::fmt::Write;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed).to_string();
        for (name, kind, help, value) in [
            (
                "auditlog_replica_lag_events",
                "gauge",
                "Events of the primary's newest checkpoint this replica does not serve yet.",
                self.lag_events().to_string(),
            ),
            (
                "auditlog_replica_lag_seconds",
                "gauge",
                "Seconds since this replica last held the primary's newest checkpoint.",
                format!("{:.3}", self.lag_seconds()),
            ),
            (
                "auditlog_replica_tree_size",
                "gauge",
                "The tree size of the newest checkpoint this replica keeps and serves.",
                load(&self.kept_size),
            ),
            (
                "auditlog_replica_events_total",
                "counter",
                "Events this process took from the primary.",
                load(&self.events),
            ),
            (
                "auditlog_replica_refused_total",
                "counter",
                "Looks that refused what the primary served (a checkpoint inconsistent with the kept one, or records that do not make it).",
                load(&self.refused),
            ),
            (
                "auditlog_replica_failures_total",
                "counter",
                "Looks at the primary that failed (unreachable, or an error answered).",
                load(&self.failures),
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}
