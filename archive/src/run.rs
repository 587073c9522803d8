//! One archive run: every sealed segment of a log that the archive's manifest does not
//! name yet is copied, read back, checked, and only then entered in the manifest; then
//! the checkpoint log is copied.

use std::collections::BTreeMap;

use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{CONFIG_FILE, Log, SealedSegmentInfo, Timestamp, hex};
use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use serde::Serialize;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::lock::Locking;
use crate::manifest::{
    ARCHIVE_FORMAT, CHECKPOINTS_OBJECT, LOG_OBJECT, LogIdentity, MANIFEST_DIR, ManifestEntry,
    SEGMENTS_DIR, base_name, entry_base, entry_object,
};
use crate::transfer::{copy_checked, read_small, upload_bytes};

/// What an archive run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Segments this run copied and entered in the manifest.
    pub segments_archived: u64,
    /// Their bytes (segments and index files).
    pub bytes_archived: u64,
    /// The bytes of the Parquet files written beside them (not in `bytes_archived`).
    pub parquet_bytes: u64,
    /// Why a segment this run archived has no Parquet although the run writes it: the
    /// first such reason (the segment is archived all the same; its entry, written once,
    /// names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet_not_written: Option<String>,
    /// Sealed segments the manifest already named.
    pub already_archived: u64,
    /// The tree size the archived segments reach (0 if there are none).
    pub archived_tree_size: u64,
    /// Objects read back whole to check them, because the store's ETag did not confirm
    /// their MD5 (a store that is not S3, or S3 with KMS encryption); the others were
    /// checked by ETag.
    pub read_back: u64,
    /// Where the archive's copy of the checkpoint log was kept because the log's own is
    /// not its continuation (a log restored without its newest checkpoints): signed
    /// history is never overwritten.
    pub superseded_checkpoints: Option<String>,
    /// Objects this run locked in COMPLIANCE mode (a bucket with S3 Object Lock): each
    /// archived segment's copy, index file, Parquet and manifest entry, until its
    /// retention date.
    pub locked_objects: u64,
    /// The retention date of the newest segment this run locked.
    pub locked_until: Option<String>,
    /// Retention receipts and heads files this run copied (docs/FORMAT.md, "Retention
    /// receipt").
    pub retention_files: u64,
    /// tlog-tiles objects this run wrote (tiles, entry bundles, `checkpoint`).
    pub tiles_written: u64,
    /// Why this run wrote no tiles although it could have (they are derived data: the
    /// run goes on, and the next one tries again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiles_not_written: Option<String>,
}

/// Archives every sealed segment of `log` that `archive` lacks, oldest first, calling
/// `on_entry` as each enters the manifest. The log may be open read-only beside a writer:
/// sealed segments never change.
pub async fn archive_log(
    log: &Log,
    archive: &Archive,
    mut on_entry: impl FnMut(&ManifestEntry),
) -> Result<ArchiveReport> {
    // Read first: bad credentials show on the first object, naming it; then the lock
    // setting, before anything is written. Temporary Parquet files that processes which
    // died mid-run left behind go first.
    crate::segment_parquet::remove_orphans();
    let ours = identity_of(log)?;
    let known = check_identity(log, &ours, archive).await?;
    let locking = archive.locking().await?;
    if !known {
        write_identity(&ours, archive, locking).await?;
    }
    // The receipts of deletions past retention first: an archive that ends below the
    // log's first kept record goes on from there, and the receipts cover the gap.
    let mut report = ArchiveReport::default();
    report.retention_files =
        crate::receipts::copy_retention(log.dir(), archive, &mut report.read_back).await?;
    let archived = list_entries(archive).await?;
    let sealed = log.sealed_segments();
    report.archived_tree_size = check_continues(log, archive, &archived, &sealed).await?;
    for segment in &sealed {
        if archived.contains_key(&segment.base_seq) {
            report.already_archived += 1;
            continue;
        }
        let lock = locking.and_then(|l| Some((l, l.until(segment.max_timestamp)?)));
        let entry = archive_segment(log, archive, segment, lock, &mut report).await?;
        report.segments_archived += 1;
        report.bytes_archived += entry.segment.bytes + entry.index.as_ref().map_or(0, |i| i.bytes);
        report.parquet_bytes += entry.parquet.as_ref().map_or(0, |p| p.bytes);
        report.archived_tree_size = report.archived_tree_size.max(entry.tree_size);
        on_entry(&entry);
    }
    // The checkpoints that sign the archived trees: copied after the entries (a
    // checkpoint log only grows, so this copy covers every one of them); and the log's
    // settings, which a reader of the archive opens it with.
    copy_log_files(log, archive, &mut report).await?;
    // The archive as a static tlog: tiles of the newest checkpoint it holds whole.
    match crate::tiles::write_tiles(log, archive, report.archived_tree_size).await {
        Ok(written) => report.tiles_written = written,
        Err(e) => report.tiles_not_written = Some(e.to_string()),
    }
    Ok(report)
}

/// Copies what the log keeps beside its segments, past its retention receipts (copied
/// first, by the caller): the checkpoint log (it only grows, so this copy covers every
/// archived tree; a copy it does not continue is kept under another name first), and the
/// log's settings, which a reader of the archive opens it with.
pub(crate) async fn copy_log_files(
    log: &Log,
    archive: &Archive,
    report: &mut ArchiveReport,
) -> Result<()> {
    let checkpoints = log.dir().join(CHECKPOINTS_OBJECT);
    if checkpoints.exists() {
        report.superseded_checkpoints = keep_superseded_checkpoints(archive, &checkpoints).await?;
        copy_checked(
            archive,
            CHECKPOINTS_OBJECT,
            &checkpoints,
            &mut report.read_back,
        )
        .await?;
    }
    let config = log.dir().join(CONFIG_FILE);
    copy_checked(archive, CONFIG_FILE, &config, &mut report.read_back).await?;
    Ok(())
}

/// The archive's copy of the checkpoint log is replaced only by a continuation of it;
/// otherwise it is first kept under another name (returned), so no signed checkpoint the
/// archive held is lost.
async fn keep_superseded_checkpoints(
    archive: &Archive,
    local: &std::path::Path,
) -> Result<Option<String>> {
    let object = archive.object(CHECKPOINTS_OBJECT);
    let name = archive.name(CHECKPOINTS_OBJECT);
    let Some(archived) = read_small(archive.store(), &object, &name).await? else {
        return Ok(None);
    };
    let ours = std::fs::read(local).map_err(|source| ArchiveError::Local {
        path: local.to_path_buf(),
        source,
    })?;
    if ours.starts_with(&archived) {
        return Ok(None);
    }
    let kept = format!(
        "{CHECKPOINTS_OBJECT}.superseded-{}",
        Timestamp::now().to_rfc3339().replace(':', "")
    );
    upload_bytes(
        archive.store(),
        &archive.object(&kept),
        archived,
        &archive.name(&kept),
    )
    .await?;
    Ok(Some(kept))
}

/// Copies one sealed segment and its index file, and writes its events as Parquet (unless
/// the archive is without), checks each, then writes the manifest entry naming them.
async fn archive_segment(
    log: &Log,
    archive: &Archive,
    segment: &SealedSegmentInfo,
    lock: Option<(Locking<'_>, Timestamp)>,
    report: &mut ArchiveReport,
) -> Result<ManifestEntry> {
    let name = base_name(segment.base_seq);
    if !segment.local {
        return Err(ArchiveError::Conflict(format!(
            "{} was released to another archive (DATA/archive.json names it) and is not on \
             the local disk to copy: archive a tiered log to its own archive only",
            segment.path.display()
        )));
    }
    let seg = copy_checked(
        archive,
        &format!("{SEGMENTS_DIR}/{name}.seg"),
        &segment.path,
        &mut report.read_back,
    )
    .await?;
    if seg.bytes != segment.bytes {
        return Err(ArchiveError::Conflict(format!(
            "{} changed while it was archived ({} bytes, then {}): sealed segments never do",
            segment.path.display(),
            segment.bytes,
            seg.bytes
        )));
    }
    let index = match segment.index_path.exists() {
        true => Some(
            copy_checked(
                archive,
                &format!("{SEGMENTS_DIR}/{name}.idx"),
                &segment.index_path,
                &mut report.read_back,
            )
            .await?,
        ),
        false => None,
    };
    let parquet = match archive.writes_parquet() {
        true => {
            match crate::segment_parquet::copy(log, archive, segment, &mut report.read_back).await {
                Ok(parquet) => Some(parquet),
                // Derived data: a segment whose Parquet cannot be written here (the temporary
                // directory full or read-only, a record Parquet cannot hold) is archived
                // without it, said in the report; only the store's failures stop the run.
                Err(e @ (ArchiveError::Parquet { .. } | ArchiveError::Log(_))) => {
                    report.parquet_not_written.get_or_insert(e.to_string());
                    None
                }
                Err(e) => return Err(e),
            }
        }
        false => None,
    };
    let entry = ManifestEntry {
        base_seq: segment.base_seq,
        tree_size: segment.tree_size,
        root: hex::encode(&segment.root),
        min_timestamp: segment.min_timestamp.to_rfc3339(),
        max_timestamp: segment.max_timestamp.to_rfc3339(),
        segment: seg,
        index,
        parquet,
        archived_at: Timestamp::now().to_rfc3339(),
    };
    // Locked before the entry names them, and the entry after it is written: an entry
    // never names an object that could still be deleted early.
    let named = [
        Some(&entry.segment),
        entry.index.as_ref(),
        entry.parquet.as_ref(),
    ];
    if let Some((locking, until)) = lock {
        for object in named.into_iter().flatten() {
            archive.lock(locking, &object.object, until).await?;
            report.locked_objects += 1;
        }
    }
    let relative = entry_object(segment.base_seq);
    let json = entry.to_bytes();
    upload_bytes(
        archive.store(),
        &archive.object(&relative),
        json,
        &archive.name(&relative),
    )
    .await?;
    if let Some((locking, until)) = lock {
        archive.lock(locking, &relative, until).await?;
        report.locked_objects += 1;
        report.locked_until = Some(until.to_rfc3339());
    }
    Ok(entry)
}

/// The identity of `log`, as `log.json` holds it.
pub(crate) fn identity_of(log: &Log) -> Result<LogIdentity> {
    let verifier = load_verifier(&FsStorage::default(), log.dir())?;
    Ok(LogIdentity {
        archive_format: ARCHIVE_FORMAT,
        origin: log.config().origin.clone(),
        hash: log.alg().name().to_owned(),
        verifier_key: verifier.map(|v| v.to_text()),
    })
}

/// Refuses an archive of another log: whether `log.json` is there (and ours).
pub(crate) async fn check_identity(
    log: &Log,
    ours: &LogIdentity,
    archive: &Archive,
) -> Result<bool> {
    let object = archive.object(LOG_OBJECT);
    let name = archive.name(LOG_OBJECT);
    let Some(bytes) = read_small(archive.store(), &object, &name).await? else {
        return Ok(false);
    };
    let theirs = LogIdentity::parse(&bytes).map_err(|why| ArchiveError::Mismatch {
        object: name.clone(),
        why,
    })?;
    if theirs != *ours {
        return Err(ArchiveError::Conflict(format!(
            "{} holds another log (origin {}, hash {}, key {}), not {} (origin {}, \
             hash {}, key {}): give each log its own prefix",
            archive.url(),
            theirs.origin,
            theirs.hash,
            theirs.verifier_key.as_deref().unwrap_or("none"),
            log.dir().display(),
            ours.origin,
            ours.hash,
            ours.verifier_key.as_deref().unwrap_or("none"),
        )));
    }
    Ok(true)
}

/// Writes `log.json` at the first run, locked (where the bucket locks) for the retention
/// from now.
async fn write_identity(
    ours: &LogIdentity,
    archive: &Archive,
    locking: Option<Locking<'_>>,
) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(ours).expect("an identity serializes");
    json.push(b'\n');
    let object = archive.object(LOG_OBJECT);
    upload_bytes(archive.store(), &object, json, &archive.name(LOG_OBJECT)).await?;
    if let Some(locking) = locking
        && let Some(until) = locking.until(Timestamp::now())
    {
        archive.lock(locking, LOG_OBJECT, until).await?;
    }
    Ok(())
}

/// The manifest's entries, by base: their objects, not read.
pub(crate) async fn list_entries(archive: &Archive) -> Result<BTreeMap<u64, ObjectPath>> {
    let folder = archive.object(MANIFEST_DIR);
    let listed: Vec<_> = archive
        .store()
        .list(Some(&folder))
        .try_collect()
        .await
        .map_err(|source| ArchiveError::Store {
            action: "listing",
            object: archive.name(MANIFEST_DIR),
            cause: source,
        })?;
    Ok(listed
        .into_iter()
        .filter_map(|meta| {
            let relative = archive.relative(&meta.location);
            entry_base(&relative).map(|base| (base, meta.location))
        })
        .collect())
}

/// Reads the manifest entry at `object`, the entry of the segment at `base`.
pub(crate) async fn read_entry(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    base: u64,
    name: &str,
) -> Result<ManifestEntry> {
    read_entry_if_any(store, object, base, name)
        .await?
        .ok_or_else(|| ArchiveError::Mismatch {
            object: name.to_owned(),
            why: "listed but gone".into(),
        })
}

/// The manifest entry at `object`, the entry of the segment at `base`, if there is one.
pub(crate) async fn read_entry_if_any(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    base: u64,
    name: &str,
) -> Result<Option<ManifestEntry>> {
    let Some(bytes) = read_small(store, object, name).await? else {
        return Ok(None);
    };
    ManifestEntry::parse(&bytes, base)
        .map(Some)
        .map_err(|why| ArchiveError::Mismatch {
            object: name.to_owned(),
            why,
        })
}

/// Checks that the archive is of this log's history: its newest entry names the same
/// segment (base, tree size, root) as the log. The tree size the archive reaches (0 for
/// none).
async fn check_continues(
    log: &Log,
    archive: &Archive,
    archived: &BTreeMap<u64, ObjectPath>,
    sealed: &[SealedSegmentInfo],
) -> Result<u64> {
    let Some((base, object)) = archived.last_key_value() else {
        return Ok(0);
    };
    let name = archive.name(&archive.relative(object));
    let entry = read_entry(archive.store(), object, *base, &name).await?;
    let ours = sealed.iter().find(|s| s.base_seq == *base);
    let same =
        ours.is_some_and(|s| s.tree_size == entry.tree_size && hex::encode(&s.root) == entry.root);
    // Deleted past retention since: the receipts copied by this run cover the gap.
    let deleted = ours.is_none() && entry.tree_size <= log.first_kept();
    if deleted {
        return Ok(entry.tree_size);
    }
    if !same {
        return Err(ArchiveError::Conflict(format!(
            "{name} (records {}..{}, root {}) is not a sealed segment of {} (tree size {}): \
             the archive holds another history of this log",
            entry.base_seq,
            entry.tree_size,
            entry.root,
            log.dir().display(),
            log.tree_size()
        )));
    }
    Ok(entry.tree_size)
}
