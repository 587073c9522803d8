//! Which archived segments leave the local disk (the hot policy), and their release: each
//! only after its archived copy was read back whole and matched its manifest entry and the
//! local file.

use std::time::Duration;

use auditlog_engine::{Log, Release, Timestamp};

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::entry_object;
use crate::run::read_entry_if_any;
use crate::transfer::digest_object;

/// How much of the log stays on the local disk. A sealed segment is released once it is
/// archived and either policy lets it go: its newest event is older than `keep_days`, or
/// the newer sealed segments already fill `keep_bytes`. The newest sealed segment always
/// stays (and the active one). Without either, nothing is released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HotPolicy {
    /// Keep segments with events newer than this many days.
    pub keep_days: Option<u64>,
    /// Keep at most this many bytes of sealed segments.
    pub keep_bytes: Option<u64>,
}

impl HotPolicy {
    /// Whether it releases anything at all.
    pub fn is_set(&self) -> bool {
        self.keep_days.is_some() || self.keep_bytes.is_some()
    }
}

/// What a release did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Segments released now.
    pub released: usize,
    /// Their bytes, freed on the local disk.
    pub bytes_freed: u64,
    /// Segments released before.
    pub already_released: usize,
    /// Segments kept by the policy.
    pub kept: usize,
}

/// Releases, oldest first, the sealed segments of `log` that `policy` lets go at `now`;
/// each must be in `archive`'s manifest, and its archived copy is read back whole and must
/// match the entry and the local file, or nothing more is released. A checkpoint is
/// signed first if the newest does not cover them. The released range is always a prefix
/// of the log.
pub async fn release_cold(
    log: &Log,
    archive: &Archive,
    policy: HotPolicy,
    now: Timestamp,
) -> Result<ReleaseReport> {
    let sealed = log.sealed_segments();
    let mut report = ReleaseReport::default();
    // Newest first: which stay hot; every segment older than the first cold one is cold.
    let days = |d: u64| {
        let micros = Duration::from_secs(d.saturating_mul(86_400)).as_micros();
        i64::try_from(micros).unwrap_or(i64::MAX)
    };
    let mut hot_bytes = 0u64;
    let mut cold_from = None;
    for (i, segment) in sealed.iter().enumerate().rev() {
        let newest = i + 1 == sealed.len();
        let too_old = policy
            .keep_days
            .is_some_and(|d| segment.max_timestamp.0 < now.0.saturating_sub(days(d)));
        let too_big = policy
            .keep_bytes
            .is_some_and(|b| hot_bytes.saturating_add(segment.bytes) > b);
        if !newest && policy.is_set() && (too_old || too_big) {
            cold_from = Some(i);
            break;
        }
        if segment.local {
            hot_bytes += segment.bytes;
        }
        report.kept += 1;
    }
    let Some(cold_end) = cold_from else {
        return Ok(report);
    };
    // Opening a log reads the records past its newest checkpoint, so only segments a
    // signed checkpoint covers may go: sign one now if the newest does not reach them.
    let mut signed = log
        .latest_checkpoint()
        .map_or(0, |c| c.checkpoint.tree_size);
    if signed < sealed[cold_end].tree_size {
        signed = log.checkpoint()?.checkpoint.tree_size;
    }
    for segment in &sealed[..=cold_end] {
        if !segment.local {
            report.already_released += 1;
            continue;
        }
        if segment.tree_size > signed {
            // Past the newest checkpoint: kept until one covers it, as is all after it.
            report.kept += sealed[..=cold_end].len() - report.released - report.already_released;
            break;
        }
        let base = segment.base_seq;
        let entry_at = archive.object(&entry_object(base));
        let entry_name = archive.name(&entry_object(base));
        let entry = read_entry_if_any(archive.store(), &entry_at, base, &entry_name).await?;
        let Some(entry) = entry else {
            // Not archived (yet): nothing newer may go either, or the released range
            // would have a hole.
            report.kept += sealed[..=cold_end].len() - report.released - report.already_released;
            break;
        };
        let object = archive.object(&entry.segment.object);
        let name = archive.name(&entry.segment.object);
        let found = digest_object(archive.store(), &object, &name).await?;
        if found.bytes != entry.segment.bytes
            || found.blake3.to_hex().as_str() != entry.segment.blake3
        {
            return Err(ArchiveError::Mismatch {
                object: name,
                why: format!(
                    "{} bytes hashing to {}, where its manifest entry says {} bytes hashing to {}: \
                     the local file is kept",
                    found.bytes,
                    found.blake3.to_hex(),
                    entry.segment.bytes,
                    entry.segment.blake3
                ),
            });
        }
        match log.release_segment(base, found.blake3.as_bytes())? {
            Release::Released(bytes) => {
                report.released += 1;
                report.bytes_freed += bytes;
            }
            Release::AlreadyReleased => report.already_released += 1,
        }
    }
    Ok(report)
}
