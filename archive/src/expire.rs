//! Deletion past retention in the archive (docs/OPERATIONS.md, "Retention, legal holds
//! and S3 Object Lock"): the log's retention receipts (and the tenant heads beside them)
//! are copied to `retention/`, read back, before anything is deleted, so a reader of the
//! archive takes the gap they cover; then every segment below the log's first kept
//! record leaves the archive, its segment and index objects first (every version, where
//! the bucket keeps versions: a version still locked by S3 Object Lock is refused by the
//! store, and the run stops there, naming it, with that segment's entry still in the
//! manifest), then its manifest entry. A run cut short is taken up by the next: an
//! archive reader skips entries below the receipts' end.

use auditlog_engine::Log;
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::{MANIFEST_DIR, SEGMENTS_DIR, base_name};
use crate::receipts::copy_retention;
use crate::run::{
    ArchiveReport, check_identity, copy_log_files, identity_of, list_entries, read_entry,
};

/// What [`expire_archive`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveExpiry {
    /// Receipt and heads files copied to the archive by this run.
    pub receipts_copied: u64,
    /// Segments whose objects and manifest entry were deleted.
    pub segments_deleted: u64,
    /// Their bytes (segments, index files and Parquet), as their entries gave them.
    pub bytes_deleted: u64,
    /// The first record the archive keeps (the log's first kept record).
    pub first_kept: u64,
    /// tlog-tiles entry bundles deleted because they held deleted records.
    pub entry_bundles_deleted: u64,
    /// Whether an archive of the log was found there (none: nothing was archived yet, so
    /// there was nothing to delete; nothing was written).
    pub found: bool,
}

/// Deletes from `archive` what `log` deleted past retention (see the module's
/// documentation). The log's cached copies of the deleted segments
/// (`archive-cache/`) go too.
pub async fn expire_archive(log: &Log, archive: &Archive) -> Result<ArchiveExpiry> {
    let first_kept = log.first_kept();
    let mut report = ArchiveExpiry {
        first_kept,
        ..ArchiveExpiry::default()
    };
    if !check_identity(log, &identity_of(log)?, archive).await? {
        return Ok(report);
    }
    report.found = true;
    // The receipts first, with the checkpoint log that signs what they were taken
    // against: a reader of the archive then takes the gap they cover.
    let mut copied = ArchiveReport::default();
    report.receipts_copied = copy_retention(log.dir(), archive, &mut copied.read_back).await?;
    copy_log_files(log, archive, &mut copied).await?;
    if first_kept == 0 {
        return Ok(report);
    }
    // The entry bundles of what left the archive go with it, even when a later segment
    // is refused (a lock, the network): no copy of a deleted record stays readable.
    let mut deleted_end = 0;
    let deleted = delete_segments(log, archive, first_kept, &mut report, &mut deleted_end).await;
    report.entry_bundles_deleted =
        crate::tiles::delete_entry_bundles_below(archive, deleted_end).await?;
    deleted?;
    Ok(report)
}

/// Deletes the archive's segments below `first_kept`, oldest first; `deleted_end` is
/// where what the archive no longer holds ends, as far as this run got.
async fn delete_segments(
    log: &Log,
    archive: &Archive,
    first_kept: u64,
    report: &mut ArchiveExpiry,
    deleted_end: &mut u64,
) -> Result<()> {
    let entries = list_entries(archive).await?;
    // Below the first segment still listed, an earlier run deleted everything.
    *deleted_end = entries
        .range(..first_kept)
        .next()
        .map_or(first_kept, |(base, _)| *base);
    for (base, object) in entries.range(..first_kept) {
        let name = archive.name(&archive.relative(object));
        let entry = read_entry(archive.store(), object, *base, &name).await?;
        if entry.tree_size > first_kept {
            return Err(ArchiveError::Conflict(format!(
                "{name} (records {}..{}) straddles the log's first kept record {first_kept}: \
                 the archive holds another history of this log",
                entry.base_seq, entry.tree_size
            )));
        }
        let objects = std::iter::once(&entry.segment)
            .chain(entry.index.as_ref())
            .chain(entry.parquet.as_ref());
        for object in objects {
            archive.delete_for_good(&object.object).await?;
            report.bytes_deleted += object.bytes;
        }
        // A Parquet file no entry names (a run cut after its upload, then one without
        // Parquet) goes too: nothing of a deleted segment stays. One the entry names is
        // gone already.
        let parquet = format!("{SEGMENTS_DIR}/{}.parquet", base_name(*base));
        if entry
            .parquet
            .as_ref()
            .is_none_or(|named| named.object != parquet)
        {
            archive.delete_for_good(&parquet).await?;
        }
        archive
            .delete_for_good(&format!("{MANIFEST_DIR}/{}.json", base_name(*base)))
            .await?;
        report.segments_deleted += 1;
        *deleted_end = entry.tree_size;
        let cached = log
            .dir()
            .join(crate::tier::CACHE_DIR)
            .join(format!("{}.seg", base_name(*base)));
        let _ = std::fs::remove_file(cached);
    }
    *deleted_end = first_kept;
    Ok(())
}

impl Archive {
    /// Deletes the object at `relative` for good: in a bucket that keeps versions, each
    /// version in turn (a locked one is refused by the store: the error names it).
    pub(crate) async fn delete_for_good(&self, relative: &str) -> Result<()> {
        let object = self.object(relative);
        let name = self.name(relative);
        // Objects are written once; a few versions at most (a resumed upload).
        for _ in 0..16 {
            let version = match self.store().head(&object).await {
                Ok(meta) => meta.version,
                Err(object_store::Error::NotFound { .. }) => return Ok(()),
                Err(cause) => {
                    return Err(ArchiveError::Store {
                        action: "reading",
                        object: name,
                        cause,
                    });
                }
            };
            match (version, self.lock_client()) {
                (Some(version), Some(client)) => {
                    client
                        .delete_version(object.as_ref(), &version, &name)
                        .await?
                }
                _ => self
                    .store()
                    .delete(&object)
                    .await
                    .map_err(|cause| ArchiveError::Store {
                        action: "deleting",
                        object: name.clone(),
                        cause,
                    })?,
            }
        }
        Err(ArchiveError::Conflict(format!(
            "{name}: still there after deleting 16 versions of it"
        )))
    }
}
