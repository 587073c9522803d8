//! `archive.json`: the archive a data directory's released segments are in, and the size
//! of its local cache of them.

use std::path::Path;
use std::sync::Arc;

use auditlog_engine::storage::{FsStorage, Storage, write_atomically};
use serde::{Deserialize, Serialize};

use super::TieredStorage;
use crate::error::{ArchiveError, Result};
use crate::location::{Archive, S3Options};

/// The file, in the data directory.
pub const TIER_FILE: &str = "archive.json";
/// The cache's size when none is set: 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

/// What `archive.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// The archive's URL (`s3://bucket/prefix` or `file:///path`); its endpoint, region
    /// and credentials come from the environment or flags, never from this file.
    pub url: String,
    /// The most bytes of fetched segments the local cache keeps.
    pub cache_bytes: u64,
}

impl TierConfig {
    /// The data directory's tier settings, if any segment may have been released.
    pub fn load(dir: &Path) -> Result<Option<TierConfig>> {
        let path = dir.join(TIER_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ArchiveError::Local { path, source }),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ArchiveError::Conflict(format!("{}: not a tier setting: {e}", path.display()))
        })
    }

    /// Writes the settings, atomically and durably: before any segment is released.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(TIER_FILE);
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        write_atomically(&FsStorage::default(), &path, &bytes)
            .map_err(|source| ArchiveError::Local { path, source })
    }
}

impl TierConfig {
    /// The storage of the log in `dir` through this archive and cache (the store's
    /// endpoint, region and credentials from `s3` and the environment).
    pub fn open_storage(&self, dir: &Path, s3: &S3Options) -> Result<TieredStorage> {
        let archive = Archive::open(&self.url, s3)?;
        TieredStorage::open(dir, archive, self.cache_bytes)
    }
}

/// The storage to open the log in `dir` with: through its archive's cache if it has
/// tier settings, else the plain file system.
pub fn storage_for(dir: &Path, s3: &S3Options) -> Result<Arc<dyn Storage>> {
    match TierConfig::load(dir)? {
        Some(config) => Ok(Arc::new(config.open_storage(dir, s3)?)),
        None => Ok(Arc::new(FsStorage::default())),
    }
}
