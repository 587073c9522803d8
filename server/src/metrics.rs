//! `/metrics`: the log's counters and the server's answers in Prometheus's text format.
//! Ingest rate is `rate(auditlog_events_total[1m])`; errors are the non-2xx HTTP codes
//! and the error codes of the gRPC counter.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use auditlog_engine::{Log, SYNC_SECONDS_BUCKETS};
use parking_lot::Mutex;

use auditlog_archive::TieredStorage;

use crate::archiver::ArchiveStatus;
use crate::expiry::ExpiryStatus;

/// Answers counted by the server, by protocol and code.
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    http: Mutex<BTreeMap<u16, u64>>,
    grpc: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests whose handler panicked (answered 500 / INTERNAL).
    panics: AtomicU64,
    /// Events failing their action's catalogued schema: refused, and stored but flagged.
    schema_refused: AtomicU64,
    schema_flagged: AtomicU64,
    /// What the archiver did (`--archive`), shown once it is on.
    pub(crate) archive: ArchiveStatus,
    archiving: std::sync::atomic::AtomicBool,
    /// What the deletions past retention did (`--expire`), shown once they are on.
    pub(crate) expiry: ExpiryStatus,
    expiring: std::sync::atomic::AtomicBool,
    /// The archive's cache, when released segments are read through it.
    tiers: std::sync::OnceLock<std::sync::Arc<TieredStorage>>,
}

impl ServerMetrics {
    /// Counts an HTTP answer.
    pub(crate) fn http_answered(&self, status: u16) {
        *self.http.lock().entry(status).or_default() += 1;
    }

    /// Counts a gRPC answer by the status in its headers, where a call refused before
    /// any message carries it (every error of this server but one failing mid-stream);
    /// an answer with messages carries its status in trailers, counted as `TRAILERS`.
    pub(crate) fn grpc_answered(&self, code: &'static str) {
        *self.grpc.lock().entry(code).or_default() += 1;
    }

    /// Counts a request whose handler panicked.
    pub(crate) fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an event refused by its action's catalogued schema.
    pub(crate) fn schema_refused(&self) {
        self.schema_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts events stored though they fail their action's schema.
    pub(crate) fn schema_flagged(&self, events: u64) {
        self.schema_flagged.fetch_add(events, Ordering::Relaxed);
    }

    /// Shows the archiver's counters from now on.
    pub(crate) fn archiving(&self) {
        self.archiving.store(true, Ordering::Relaxed);
    }

    /// Shows the deletions' counters from now on.
    pub(crate) fn expiring(&self) {
        self.expiring.store(true, Ordering::Relaxed);
    }

    /// Shows the cache of released segments' counters from now on.
    pub(crate) fn reading_through(&self, tiers: std::sync::Arc<TieredStorage>) {
        let _ = self.tiers.set(tiers);
    }

    /// Requests whose handler panicked, so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Everything, as Prometheus text (version 0.0.4).
    pub(crate) fn render(&self, log: &Log, open_streams: usize) -> String {
        let mut text = String::with_capacity(2048);
        let mut put = |line: String| {
            let _ = writeln!(text, "{line}");
        };
        put(header(
            "auditlog_events_total",
            "counter",
            "Events appended: the tree size.",
        ));
        put(format!("auditlog_events_total {}", log.tree_size()));
        put(header(
            "auditlog_catalog_schema_failures_total",
            "counter",
            "Events whose metadata failed their action's catalogued schema, by what became \
             of them: refused, or stored and flagged.",
        ));
        for (policy, count) in [
            ("refuse", &self.schema_refused),
            ("flag", &self.schema_flagged),
        ] {
            let count = count.load(Ordering::Relaxed);
            put(format!(
                "auditlog_catalog_schema_failures_total{{policy=\"{policy}\"}} {count}"
            ));
        }
        put(header(
            "auditlog_ingest_queue_depth",
            "gauge",
            "Requests waiting for the writer.",
        ));
        put(format!("auditlog_ingest_queue_depth {}", log.queue_depth()));
        put(header(
            "auditlog_segments",
            "gauge",
            "Segments of the log, the active one included.",
        ));
        put(format!("auditlog_segments {}", log.segment_count()));
        put(header(
            "auditlog_fsync_seconds",
            "histogram",
            "fdatasync latency of the writer.",
        ));
        // The count from the buckets themselves, read once: a sync landing meanwhile
        // must not make `+Inf` smaller than a bucket below it.
        let histogram = log.metrics().sync_histogram();
        let count: u64 = histogram.iter().sum();
        let (_, total) = log.metrics().syncs();
        let mut cumulative = 0;
        for (bound, n) in SYNC_SECONDS_BUCKETS.iter().zip(histogram) {
            cumulative += n;
            put(format!(
                "auditlog_fsync_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            ));
        }
        put(format!(
            "auditlog_fsync_seconds_bucket{{le=\"+Inf\"}} {count}"
        ));
        put(format!(
            "auditlog_fsync_seconds_sum {}",
            total.as_secs_f64()
        ));
        put(format!("auditlog_fsync_seconds_count {count}"));
        put(header(
            "auditlog_http_responses_total",
            "counter",
            "HTTP answers by status code.",
        ));
        for (code, n) in self.http.lock().iter() {
            put(format!(
                "auditlog_http_responses_total{{code=\"{code}\"}} {n}"
            ));
        }
        put(header(
            "auditlog_grpc_responses_total",
            "counter",
            "gRPC answers by status code (TRAILERS: answers with messages, whose code comes in trailers).",
        ));
        for (code, n) in self.grpc.lock().iter() {
            put(format!(
                "auditlog_grpc_responses_total{{code=\"{code}\"}} {n}"
            ));
        }
        put(header(
            "auditlog_open_streams",
            "gauge",
            "Exports and query streams open now (capped by --max-streams).",
        ));
        put(format!("auditlog_open_streams {open_streams}"));
        put(header(
            "auditlog_panics_total",
            "counter",
            "Requests whose handler panicked (a bug), answered 500 or INTERNAL.",
        ));
        put(format!("auditlog_panics_total {}", self.panics()));
        if self.archiving.load(Ordering::Relaxed) {
            let archive = &self.archive;
            for (name, kind, help, value) in [
                (
                    "auditlog_archive_segments_total",
                    "counter",
                    "Sealed segments this process archived (--archive).",
                    &archive.segments,
                ),
                (
                    "auditlog_archive_bytes_total",
                    "counter",
                    "Bytes of segments and index files this process archived.",
                    &archive.bytes,
                ),
                (
                    "auditlog_archive_failures_total",
                    "counter",
                    "Archive runs that failed (each retried after a growing pause).",
                    &archive.failures,
                ),
                (
                    "auditlog_archive_key_store_copies_total",
                    "counter",
                    "Copies of the key store made to --archive-keys (each after it changed).",
                    &archive.key_store_copies,
                ),
                (
                    "auditlog_archived_tree_size",
                    "gauge",
                    "The tree size the archive reaches: events past it are local only.",
                    &archive.tree_size,
                ),
                (
                    "auditlog_archive_locked_objects_total",
                    "counter",
                    "Archived objects locked in COMPLIANCE mode until their retention date (S3 Object Lock).",
                    &archive.locked_objects,
                ),
                (
                    "auditlog_released_segments_total",
                    "counter",
                    "Archived segments this process released from the local disk (--hot-*).",
                    &archive.released_segments,
                ),
                (
                    "auditlog_released_bytes_total",
                    "counter",
                    "Bytes of the segment files released from the local disk.",
                    &archive.released_bytes,
                ),
            ] {
                put(header(name, kind, help));
                put(format!("{name} {}", value.load(Ordering::Relaxed)));
            }
        }
        if self.expiring.load(Ordering::Relaxed) {
            let expiry = &self.expiry;
            for (name, kind, help, value) in [
                (
                    "auditlog_retention_deleted_segments_total",
                    "counter",
                    "Segments this process deleted past the log's retention (--expire).",
                    &expiry.segments,
                ),
                (
                    "auditlog_retention_deleted_records_total",
                    "counter",
                    "Records in them.",
                    &expiry.records,
                ),
                (
                    "auditlog_retention_failures_total",
                    "counter",
                    "Deletion runs that failed, locally or in the archive (tried again hourly).",
                    &expiry.failures,
                ),
                (
                    "auditlog_first_kept_record",
                    "gauge",
                    "The first record the log keeps: those before it were deleted past retention.",
                    &expiry.first_kept,
                ),
            ] {
                put(header(name, kind, help));
                put(format!("{name} {}", value.load(Ordering::Relaxed)));
            }
        }
        if let Some(tiers) = self.tiers.get() {
            let stats = tiers.stats();
            for (name, kind, help, value) in [
                (
                    "auditlog_archive_cache_fetches_total",
                    "counter",
                    "Released segments fetched from the archive into the local cache.",
                    stats.fetches,
                ),
                (
                    "auditlog_archive_cache_fetched_bytes_total",
                    "counter",
                    "Bytes fetched from the archive into the local cache.",
                    stats.fetched_bytes,
                ),
                (
                    "auditlog_archive_cache_hits_total",
                    "counter",
                    "Reads of a released segment served from the local cache.",
                    stats.hits,
                ),
                (
                    "auditlog_archive_ranged_reads_total",
                    "counter",
                    "Reads of some records of a released segment not in the cache, as byte ranges of its archived copy.",
                    stats.ranged_reads,
                ),
                (
                    "auditlog_archive_ranged_bytes_total",
                    "counter",
                    "Bytes of those ranged reads.",
                    stats.ranged_bytes,
                ),
                (
                    "auditlog_archive_cache_bytes",
                    "gauge",
                    "Bytes the local cache of released segments holds (--cache-bytes caps it).",
                    stats.cached_bytes,
                ),
            ] {
                put(header(name, kind, help));
                put(format!("{name} {value}"));
            }
        }
        text
    }
}

fn header(name: &str, kind: &str, help: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} {kind}")
}

/// The gRPC status code name of a response's headers.
pub(crate) fn grpc_code(headers: &http::HeaderMap) -> &'static str {
    let Some(value) = headers.get("grpc-status") else {
        return "TRAILERS";
    };
    match value.as_bytes() {
        b"0" => "OK",
        b"1" => "CANCELLED",
        b"2" => "UNKNOWN",
        b"3" => "INVALID_ARGUMENT",
        b"4" => "DEADLINE_EXCEEDED",
        b"5" => "NOT_FOUND",
        b"6" => "ALREADY_EXISTS",
        b"7" => "PERMISSION_DENIED",
        b"8" => "RESOURCE_EXHAUSTED",
        b"9" => "FAILED_PRECONDITION",
        b"10" => "ABORTED",
        b"11" => "OUT_OF_RANGE",
        b"12" => "UNIMPLEMENTED",
        b"13" => "INTERNAL",
        b"14" => "UNAVAILABLE",
        b"15" => "DATA_LOSS",
        b"16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}
