//! `--retain-days N --expire`: the log's segments past its retention deleted by the server
//! itself, at start and then hourly, each deletion with its signed receipt in the
//! `_system` tenant (docs/OPERATIONS.md, "Retention, legal holds and S3 Object Lock");
//! with `--archive`, the archive's copies of them too. One thread of its own: a deletion
//! waits for nothing but the log's own locks, and ingest never waits for it. A failed run
//! is logged, counted, and tried again: the next hour, or within a minute when the
//! archive's part failed or found no archive yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auditlog_archive::{Archive, expire_archive};
use auditlog_engine::Timestamp;
use auditlog_engine::system::SystemActor;
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::State;
use crate::worker::{Worker, own_runtime};

/// How often the retention is applied.
const EVERY: Duration = Duration::from_secs(3600);
/// How soon the archive's part is tried again when it could not be done (the archive
/// not written yet by the archiver, or a failure).
const ARCHIVE_RETRY: Duration = Duration::from_secs(30);

/// What the deletions did, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ExpiryStatus {
    /// Segments deleted past retention by this process.
    pub(crate) segments: AtomicU64,
    /// Records in them.
    pub(crate) records: AtomicU64,
    /// The first record the log keeps.
    pub(crate) first_kept: AtomicU64,
    /// Runs that failed (the log's deletion or the archive's).
    pub(crate) failures: AtomicU64,
}

/// The running deletion thread; dropping it asks the thread to stop.
#[derive(Debug)]
pub(crate) struct Expirer(Worker);

impl Expirer {
    /// Starts applying a retention of `days` to `state`'s log (and `archive`, if any).
    pub(crate) fn start(
        state: Arc<State>,
        days: u64,
        archive: Option<Archive>,
    ) -> std::io::Result<Expirer> {
        Worker::start("auditlog-expiry", move |stopped| {
            run(&state, days, archive.as_ref(), stopped);
        })
        .map(Expirer)
    }

    /// Asks the thread to stop, and waits for it (a deletion in flight finishes: each
    /// of its steps is short, and the log it writes to is still open).
    pub(crate) fn stop(self) {
        self.0.stop(None);
    }
}

fn run(state: &State, days: u64, archive: Option<&Archive>, stopped: &Receiver<()>) {
    let status = &state.metrics.expiry;
    let Some(runtime) = own_runtime("expiry") else {
        return;
    };
    loop {
        let log = &state.log;
        match log.expire(SystemActor::Server, days, Timestamp::now()) {
            Ok(expiry) => {
                if let Some(expired) = &expiry.expired {
                    let range = &expired.receipt.deleted;
                    status
                        .segments
                        .fetch_add(expired.segments.len() as u64, Ordering::Relaxed);
                    status
                        .records
                        .fetch_add(range.end - range.start, Ordering::Relaxed);
                    eprintln!(
                        "auditlogd: deleted records {}..{} past a retention of {days} days",
                        range.start, range.end
                    );
                }
            }
            Err(e) => {
                status.failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("auditlogd: deleting past retention failed: {e}");
            }
        }
        status.first_kept.store(log.first_kept(), Ordering::Relaxed);
        let mut pause = EVERY;
        if let Some(archive) = archive {
            match runtime.block_on(expire_archive(log, archive)) {
                Ok(report) if report.found => {}
                Ok(_) => {
                    eprintln!(
                        "auditlogd: no archive of this log at {} yet: its copies are deleted \
                         at the next run",
                        archive.url()
                    );
                    pause = ARCHIVE_RETRY;
                }
                Err(e) => {
                    status.failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "auditlogd: deleting past retention from {} failed: {e}",
                        archive.url()
                    );
                    pause = ARCHIVE_RETRY;
                }
            }
        }
        match stopped.recv_timeout(pause) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
