//! [`TieredStorage`] as the engine's [`Storage`]: the local file system, with a released
//! segment's file read from the cache (fetched whole first, if need be), or some of its
//! records as byte ranges of the archived copy when the cache does not hold it.

use std::io;
use std::path::Path;
use std::sync::Arc;

use auditlog_engine::storage::{MappedBytes, OpenMode, Storage, StorageFile};

use super::cache::TieredStorage;
use super::ranges::read_ranges;
use crate::read_only::ReadOnlyFile;

impl Storage for TieredStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.tier.local.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.tier.local.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.tier.local.exists(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        match mode {
            OpenMode::Read => match self.tier.copy_of(path)? {
                Some(bytes) => Ok(Arc::new(ReadOnlyFile {
                    path: path.to_path_buf(),
                    bytes,
                })),
                None => self.tier.local.open(path, mode),
            },
            _ => self.tier.local.open(path, mode),
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.tier.local.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.tier.local.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.tier.local.sync_dir(dir)
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        match self.tier.copy_of(path)? {
            Some(map) => Ok(map),
            None => self.tier.local.map(path),
        }
    }
    fn map_appending(
        &self,
        path: &Path,
        len: u64,
    ) -> io::Result<Option<auditlog_engine::storage::AppendMap>> {
        self.tier.local.map_appending(path, len)
    }
    fn read_ranges(&self, path: &Path, ranges: &[(u64, u64)]) -> io::Result<Option<Vec<Vec<u8>>>> {
        read_ranges(&self.tier, path, ranges)
    }
}
