//! The archive's copies of the log's retention receipts and their heads files
//! (`retention/<end>.receipt`, `.heads`; docs/FORMAT.md, "Archive"): copied once each,
//! before anything is deleted from the archive, so a reader takes the gap they cover.

use std::path::Path;

use auditlog_engine::retention::RETENTION_DIR;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::transfer::copy_checked;

/// Whether `name` is a file of `retention/`: `<20 digits>.receipt` or `.heads`.
pub(crate) fn is_retention_file(name: &str) -> bool {
    let Some((digits, ext)) = name.split_once('.') else {
        return false;
    };
    digits.len() == 20
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(ext, "receipt" | "heads")
}

/// Copies the receipts and heads files of the log in `dir` that the archive lacks, each
/// checked as it is written (they never change once written). How many.
pub(crate) async fn copy_retention(
    dir: &Path,
    archive: &Archive,
    read_back: &mut u64,
) -> Result<u64> {
    let folder = dir.join(RETENTION_DIR);
    if !folder.exists() {
        return Ok(0);
    }
    let local = |source| ArchiveError::Local {
        path: folder.clone(),
        source,
    };
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .map_err(local)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| is_retention_file(name))
        .collect();
    names.sort();
    let archived = archived_retention_files(archive).await?;
    let mut copied = 0;
    for name in names.iter().filter(|n| !archived.contains(*n)) {
        let relative = format!("{RETENTION_DIR}/{name}");
        copy_checked(archive, &relative, &folder.join(name), read_back).await?;
        copied += 1;
    }
    Ok(copied)
}

/// The names of the files under the archive's `retention/`.
pub(crate) async fn archived_retention_files(archive: &Archive) -> Result<Vec<String>> {
    use futures_util::TryStreamExt;
    let folder = archive.object(RETENTION_DIR);
    let listed: Vec<_> = archive
        .store()
        .list(Some(&folder))
        .try_collect()
        .await
        .map_err(|cause| ArchiveError::Store {
            action: "listing",
            object: archive.name(RETENTION_DIR),
            cause,
        })?;
    let mut names: Vec<String> = listed
        .iter()
        .filter_map(|meta| {
            let relative = archive.relative(&meta.location);
            let name = relative.strip_prefix(RETENTION_DIR)?.strip_prefix('/')?;
            is_retention_file(name).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}
