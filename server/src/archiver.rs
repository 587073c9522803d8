//! `--archive URL`: sealed segments copied to an object store in the background, as they
//! seal (docs/OPERATIONS.md, "Archival"). One thread of its own with its own small
//! runtime, apart from the request runtime, so an upload never holds a request's worker;
//! ingest never waits for it. A failed run is logged, counted, and tried again with a
//! growing pause; a run cut by shutdown resumes at the next start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auditlog_archive::{Archive, ArchiveError, HotPolicy, KeyBackup, archive_log, release_cold};
use auditlog_engine::Log;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::State;
use crate::worker::{Worker, own_runtime};

/// How often the archiver looks for newly sealed segments.
const POLL: Duration = Duration::from_secs(1);
/// How often the hot policy is applied when no archive run prompts it.
const RELEASE_EVERY: Duration = Duration::from_secs(60);
/// The pause after a first failure, doubled at each next one up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// When a failing step is tried again: after a pause that doubles from [`FIRST_BACKOFF`]
/// up to [`MAX_BACKOFF`].
#[derive(Debug)]
struct Retry {
    at: Option<Instant>,
    backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            at: None,
            backoff: FIRST_BACKOFF,
        }
    }
}

impl Retry {
    fn due(&self) -> bool {
        self.at.is_none_or(|at| Instant::now() >= at)
    }

    fn failing(&self) -> bool {
        self.at.is_some()
    }

    fn succeeded(&mut self) {
        *self = Retry::default();
    }

    fn failed(&mut self, status: &ArchiveStatus, what: &str, e: &ArchiveError) {
        status.failures.fetch_add(1, Ordering::Relaxed);
        eprintln!(
            "auditlogd: {what} failed (next try in {}s): {e}",
            self.backoff.as_secs()
        );
        self.at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// What the archiver did, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ArchiveStatus {
    /// Segments this process archived.
    pub(crate) segments: AtomicU64,
    /// Their bytes (segments and index files).
    pub(crate) bytes: AtomicU64,
    /// Runs that failed.
    pub(crate) failures: AtomicU64,
    /// The tree size the archive reaches, as of the last run.
    pub(crate) tree_size: AtomicU64,
    /// Copies of the key store made (`--archive-keys`).
    pub(crate) key_store_copies: AtomicU64,
    /// Archived objects locked in COMPLIANCE mode (a bucket with S3 Object Lock).
    pub(crate) locked_objects: AtomicU64,
    /// Segments released from the local disk (`--hot-days`, `--hot-bytes`).
    pub(crate) released_segments: AtomicU64,
    /// Their bytes.
    pub(crate) released_bytes: AtomicU64,
}

/// The running archiver; dropping it asks the thread to stop after its current run.
#[derive(Debug)]
pub(crate) struct Archiver(Worker);

impl Archiver {
    /// Starts archiving the sealed segments of `state`'s log to `archive` (and, with
    /// `keys`, backing up its key store there whenever it changed: an erasure reaches the
    /// backup within a second or so), counting in its metrics.
    pub(crate) fn start(
        state: Arc<State>,
        archive: Archive,
        keys: Option<Archive>,
        policy: HotPolicy,
    ) -> std::io::Result<Archiver> {
        Worker::start("auditlog-archiver", move |stopped| {
            let status = &state.metrics.archive;
            let target = Target {
                archive: &archive,
                keys: keys.as_ref(),
                policy,
            };
            run(&state.log, &target, status, stopped);
        })
        .map(Archiver)
    }

    /// Asks the thread to stop and waits up to `grace` for it (a run in flight is left
    /// to end with the process: the next start resumes it).
    pub(crate) fn stop(self, grace: Duration) {
        self.0.stop(Some(grace));
    }
}

/// Where the archiver copies to, and what it may release.
struct Target<'a> {
    archive: &'a Archive,
    keys: Option<&'a Archive>,
    policy: HotPolicy,
}

fn run(log: &Log, target: &Target<'_>, status: &ArchiveStatus, stopped: &Receiver<()>) {
    let Target {
        archive,
        keys,
        policy,
    } = *target;
    let Some(runtime) = own_runtime("archiver") else {
        return;
    };
    // The log's segment count when a run last succeeded (`None` until one has: the first
    // run happens at once); a seal adds a segment, so a new count means work.
    let mut archived_segments: Option<usize> = None;
    let mut segments = Retry::default();
    let mut key_store = Retry::default();
    let mut key_backup = KeyBackup::default();
    // Releases follow each archive run, and a day-based policy is looked at again each
    // minute even when nothing seals.
    let mut released_at: Option<Instant> = None;
    let mut release = Retry::default();
    loop {
        let segment_count = log.segment_count();
        if segments.due() && (segments.failing() || archived_segments != Some(segment_count)) {
            let report = runtime.block_on(archive_log(log, archive, |entry| {
                status.segments.fetch_add(1, Ordering::Relaxed);
                let index = entry.index.as_ref().map_or(0, |i| i.bytes);
                status
                    .bytes
                    .fetch_add(entry.segment.bytes + index, Ordering::Relaxed);
                status
                    .tree_size
                    .fetch_max(entry.tree_size, Ordering::Relaxed);
            }));
            match report {
                Ok(report) => {
                    if let Some(why) = &report.tiles_not_written {
                        eprintln!("auditlogd: the archive's tlog tiles were not written: {why}");
                    }
                    status
                        .tree_size
                        .fetch_max(report.archived_tree_size, Ordering::Relaxed);
                    status
                        .locked_objects
                        .fetch_add(report.locked_objects, Ordering::Relaxed);
                    archived_segments = Some(segment_count);
                    segments.succeeded();
                    released_at = None;
                }
                Err(e) => segments.failed(status, &format!("archiving to {}", archive.url()), &e),
            }
        }
        let release_due = released_at.is_none_or(|at| at.elapsed() >= RELEASE_EVERY);
        if policy.is_set() && !segments.failing() && release.due() && release_due {
            let now = auditlog_engine::Timestamp::now();
            match runtime.block_on(release_cold(log, archive, policy, now)) {
                Ok(report) => {
                    let released = report.released as u64;
                    status
                        .released_segments
                        .fetch_add(released, Ordering::Relaxed);
                    status
                        .released_bytes
                        .fetch_add(report.bytes_freed, Ordering::Relaxed);
                    released_at = Some(Instant::now());
                    release.succeeded();
                }
                Err(e) => release.failed(status, "releasing archived segments", &e),
            }
        }
        // The key store on its own: an erasure must reach its backup even while the
        // segments cannot be archived. A look at the file each second, a copy when it
        // changed.
        if let Some(keys) = keys
            && key_store.due()
        {
            match runtime.block_on(key_backup.back_up(log, keys)) {
                Ok(copied) => {
                    if copied {
                        status.key_store_copies.fetch_add(1, Ordering::Relaxed);
                    }
                    key_store.succeeded();
                }
                Err(e) => key_store.failed(
                    status,
                    &format!("backing up the key store to {}", keys.url()),
                    &e,
                ),
            }
        }
        match stopped.recv_timeout(POLL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
