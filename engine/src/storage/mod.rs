//! The only module that touches files. Everything above it goes through [`Storage`], so
//! tests can swap the disk for one that fails on cue ([`FaultyStorage`], feature
//! `testing`).

mod fs;
mod mapped;

#[cfg(feature = "testing")]
mod faulty;

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "testing")]
pub use faulty::{Fault, FaultyStorage};
pub use fs::FsStorage;
pub(crate) use fs::PRIVATE_FILE_MODE;
pub(crate) use mapped::WeakBytes;
pub use mapped::{AppendMap, MappedBytes};

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// A new file that must not exist yet, read and write (mode 0600 on the file system,
    /// as every file the engine creates: key files need nothing more).
    CreateNew,
}

/// A file system as the engine uses it.
pub trait Storage: Send + Sync + Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of `dir`, unsorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;
    /// Renames atomically, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes directory entries (creations, renames) in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// A read-only view of a file that is never written again (a sealed segment).
    fn map(&self, path: &Path) -> io::Result<MappedBytes>;
    /// A map of the first `len` bytes of a file that is being appended to (the active
    /// segment); `None` (the default) where reads should go through
    /// [`StorageFile::read_exact_at`].
    fn map_appending(&self, _path: &Path, _len: u64) -> io::Result<Option<AppendMap>> {
        Ok(None)
    }
    /// The byte ranges `ranges` (offset, length) of a file never written again, each
    /// whole, where the storage would rather read them than the whole file (a sealed
    /// segment released to an archive and not cached: a few records of it cost a few
    /// ranges, not the file); `None` (the default) where the file is to be read through
    /// [`Storage::map`].
    fn read_ranges(
        &self,
        _path: &Path,
        _ranges: &[(u64, u64)],
    ) -> io::Result<Option<Vec<Vec<u8>>>> {
        Ok(None)
    }
}

/// An open file. Positional reads and writes, so one handle serves many threads.
#[allow(clippy::len_without_is_empty)]
pub trait StorageFile: Send + Sync + Debug {
    /// The current length.
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: the data written so far survives a crash once this returns `Ok`.
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// Writes `bytes` to `path` so that after a crash either the old or the new content is
/// there: temporary file, fsync, rename, directory fsync (docs/FORMAT.md, "Write
/// protocol").
pub fn write_atomically(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_atomically(storage, path, bytes).map_err(|e| match e {
        ReplaceError::Unchanged(e) | ReplaceError::Replaced(e) => e,
    })
}

/// The most bytes [`write_atomically`] writes between two syncs.
const SYNC_CHUNK_BYTES: usize = 1 << 20;

/// Where [`replace_atomically`] failed.
#[derive(Debug)]
pub enum ReplaceError {
    /// Before the rename: the file at the path is the old one, untouched.
    Unchanged(io::Error),
    /// After the rename: the new file is in place, but its directory entry may not be
    /// durable.
    Replaced(io::Error),
}

/// [`write_atomically`], saying whether a failure left the old file in place.
pub fn replace_atomically(
    storage: &dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> Result<(), ReplaceError> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let write_tmp = || -> io::Result<()> {
        if storage.exists(&tmp) {
            storage.remove(&tmp)?;
        }
        let file = storage.open(&tmp, OpenMode::CreateNew)?;
        // A large file goes to disk a chunk at a time, each synced, so no single flush
        // holds the disk (and the log's fdatasync queued behind it) for long.
        let mut offset = 0;
        for chunk in bytes.chunks(SYNC_CHUNK_BYTES) {
            file.write_all_at(chunk, offset)?;
            file.sync_data()?;
            offset += chunk.len() as u64;
        }
        if bytes.is_empty() {
            file.sync_data()?;
        }
        Ok(())
    };
    write_tmp()
        .and_then(|()| storage.rename(&tmp, path))
        .map_err(ReplaceError::Unchanged)?;
    storage.sync_dir(&dir).map_err(ReplaceError::Replaced)
}

/// Opens the append-only file at `path` for appends, first cutting it back to `len`
/// bytes, durably, if `torn` (a crash's incomplete last entry, found when it was read).
pub(crate) fn open_for_appends(
    storage: &dyn Storage,
    path: &Path,
    len: u64,
    torn: bool,
) -> crate::error::Result<Arc<dyn StorageFile>> {
    let file = storage
        .open(path, OpenMode::ReadWrite)
        .map_err(|e| crate::error::Error::io(format!("opening {}", path.display()), e))?;
    if torn {
        file.set_len(len)
            .and_then(|()| file.sync_data())
            .map_err(|e| crate::error::Error::io(format!("cutting {}", path.display()), e))?;
    }
    Ok(file)
}

/// Fills `buf` from byte `offset` of `file` (at `path`); a failure names the bytes that
/// could not be read.
pub(crate) fn read_range(
    file: &dyn StorageFile,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
) -> crate::error::Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        let end = offset + buf.len() as u64;
        crate::error::Error::io(
            format!("reading bytes {offset}..{end} of {}", path.display()),
            e,
        )
    })
}

/// The whole file at `path`, read in one go; a failure names the file, and the bytes that
/// could not be read.
pub(crate) fn read_file(storage: &dyn Storage, path: &Path) -> crate::error::Result<Vec<u8>> {
    let io = |e| crate::error::Error::io(format!("reading {}", path.display()), e);
    let file = storage.open(path, OpenMode::Read).map_err(io)?;
    let len = file.len().map_err(io)?;
    let len = usize::try_from(len).map_err(|_| io(io::Error::other("file too large")))?;
    let mut buf = vec![0; len];
    read_range(file.as_ref(), path, &mut buf, 0)?;
    Ok(buf)
}

/// Reads a whole (small) file.
pub fn read_all(storage: &dyn Storage, path: &Path) -> io::Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Read)?;
    let len = usize::try_from(file.len()?).map_err(|_| io::Error::other("file too large"))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}
