//! The backup of a sealing log's key store (docs/PRIVACY.md, "Backups of the key store"):
//! one object, `subjects`, at a location of its own, replaced by the current key store
//! whenever it changed, read back and checked. Each entry in it is wrapped under the KEK,
//! as on disk. Replacing the one copy is what lets an erasure reach the backup: the next
//! run after an erasure overwrites the copy that still held the erased key. So the
//! location must keep no older versions: it is refused when it is the segment archive or
//! lies within it (an archive may sit in a bucket with versioning and Object Lock, where a
//! replaced object's old version survives).

use std::path::PathBuf;

use auditlog_engine::Log;
use auditlog_engine::checkpoint::KEYS_DIR;
use auditlog_engine::privacy::SUBJECT_KEYS_FILE;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::transfer::{Digest, check_object, upload_file};

/// The backup object's name at its location.
pub const KEY_STORE_OBJECT: &str = "subjects";

/// Refuses a key store location that shares a bucket with the segment archive `archive`
/// (versioning and Object Lock are set per bucket), or, for directories, lies within it
/// or holds it.
pub fn check_apart(archive: &str, keys: &str) -> Result<()> {
    let refuse = |why: String| {
        Err(ArchiveError::Location {
            url: keys.to_owned(),
            why: format!(
                "the key store's backup must lie apart from the segment archive ({archive}): \
                 {why}; an archive may keep old versions of an object, and an erasure must \
                 reach every copy of a key"
            ),
        })
    };
    let bucket = |url: &str| {
        url.strip_prefix("s3://")
            .map(|rest| rest.split('/').next().unwrap_or_default().to_owned())
    };
    let dir = |url: &str| {
        url.strip_prefix("file://")
            .map(|p| std::path::Path::new(p).components().collect::<PathBuf>())
    };
    if let (Some(a), Some(k)) = (bucket(archive), bucket(keys))
        && a == k
    {
        return refuse(format!("both are in bucket `{a}`"));
    }
    if let (Some(a), Some(k)) = (dir(archive), dir(keys))
        && (k.starts_with(&a) || a.starts_with(&k))
    {
        return refuse("one directory holds the other".into());
    }
    Ok(())
}

/// What the last backup copied, to skip a run when nothing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyBackup {
    last: Option<(u64, String)>,
    /// The file's inode, length and modification time when it was last read (an erasure
    /// replaces the file by a rename: a new inode, whatever the clock's grain).
    seen: Option<(u64, u64, std::time::SystemTime)>,
}

impl KeyBackup {
    /// Copies `log`'s key store to `keys` if it changed since this value's last copy (any
    /// first call copies); `Ok(true)` when it copied. A log without a key store copies
    /// nothing.
    pub async fn back_up(&mut self, log: &Log, keys: &Archive) -> Result<bool> {
        let path: PathBuf = log.dir().join(KEYS_DIR).join(SUBJECT_KEYS_FILE);
        if !path.exists() {
            return Ok(false);
        }
        let local = |source| ArchiveError::Local {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(local)?;
        let seen = (
            std::os::unix::fs::MetadataExt::ino(&meta),
            meta.len(),
            meta.modified().map_err(local)?,
        );
        if self.seen == Some(seen) {
            return Ok(false);
        }
        let bytes = std::fs::read(&path).map_err(local)?;
        let now = (
            bytes.len() as u64,
            blake3::hash(&bytes).to_hex().to_string(),
        );
        if self.last.as_ref() == Some(&now) {
            return Ok(false);
        }
        let object = keys.object(KEY_STORE_OBJECT);
        let name = keys.name(KEY_STORE_OBJECT);
        // The file may grow between the hash above and the upload: the copy is checked
        // against what was sent, and the next look sees the growth.
        let uploaded = upload_file(keys.store(), &object, &path, &name).await?;
        let sent: Digest = uploaded.sent;
        if !uploaded.etag_matches {
            check_object(keys.store(), &object, sent, &name).await?;
        }
        self.last = Some((sent.bytes, sent.blake3.to_hex().to_string()));
        self.seen = Some(seen);
        Ok(true)
    }
}

/// The key store backed up at `keys` (for a restore).
pub async fn fetch_key_store(keys: &Archive) -> Result<Vec<u8>> {
    let name = keys.name(KEY_STORE_OBJECT);
    crate::transfer::read_small(keys.store(), &keys.object(KEY_STORE_OBJECT), &name)
        .await?
        .ok_or_else(|| ArchiveError::Mismatch {
            object: name,
            why: "missing: no key store was backed up here".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_store_backup_in_the_archive_bucket_or_directory_is_refused() {
        assert!(check_apart("s3://b/log", "s3://b/log").is_err());
        assert!(check_apart("s3://b/log/", "s3://b/log/keys").is_err());
        assert!(check_apart("s3://b/log", "s3://b/log-keys").is_err());
        assert!(check_apart("s3://b/log", "s3://b//log/keys").is_err());
        assert!(check_apart("s3://b/log", "s3://other/keys").is_ok());
        assert!(check_apart("file:///a/log", "file:///a/log/keys").is_err());
        assert!(check_apart("file:///a/log", "file:///a//log/./keys").is_err());
        assert!(check_apart("file:///a/log", "file:///a/log-keys").is_ok());
        assert!(check_apart("s3://b/log", "file:///a/keys").is_ok());
    }
}
