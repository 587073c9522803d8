//! A [`Storage`] that fails on cue, for fault-injection tests: short writes, `ENOSPC`,
//! `EIO` on write or on fsync, a disk that stops syncing until told to go on, a rename or
//! directory sync that fails, and a byte of any file that cannot be read. It counts the
//! syncs of every file and the most bytes ever written and not yet synced. It wraps the
//! real file system, so what did reach the disk can be inspected after reopening without
//! faults.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::{AppendMap, FsStorage, MappedBytes, OpenMode, Storage, StorageFile};

/// One injected failure, armed for the next operation it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next write to a segment stores only half its bytes, then fails with `EIO`.
    ShortWrite,
    /// The next write to a segment fails with `ENOSPC` and stores nothing.
    NoSpace,
    /// The next write to a segment fails with `EIO` and stores nothing.
    WriteEio,
    /// The next `fdatasync` of a segment fails with `EIO`.
    SyncEio,
    /// The next rename (of any file) fails with `EIO` and renames nothing.
    RenameEio,
    /// The next directory sync fails with `EIO` (after the entries it was to sync were
    /// made: whether they are durable is unknown).
    SyncDirEio,
}

/// The real file system with faults armed by the test.
#[derive(Debug, Clone, Default)]
pub struct FaultyStorage {
    inner: FsStorage,
    armed: Arc<Mutex<Option<Fault>>>,
    stall: Arc<Stall>,
    unreadable: Arc<Mutex<Option<(PathBuf, u64)>>>,
    counts: Arc<Mutex<Counts>>,
}

/// Whether segment syncs wait, and where they are woken.
#[derive(Debug, Default)]
struct Stall {
    stalled: Mutex<bool>,
    resumed: Condvar,
}

/// What the files were asked to do, all files together.
#[derive(Debug, Default)]
struct Counts {
    syncs: usize,
    unsynced: u64,
    most_unsynced: u64,
}

impl FaultyStorage {
    /// Storage without faults until [`FaultyStorage::arm`] is called.
    pub fn new() -> FaultyStorage {
        FaultyStorage::default()
    }

    /// Arms `fault` for the next operation it names.
    pub fn arm(&self, fault: Fault) {
        *self.armed.lock() = Some(fault);
    }

    /// Whether the armed fault has fired.
    pub fn fired(&self) -> bool {
        self.armed.lock().is_none()
    }

    /// Makes every `fdatasync` of a segment wait until [`FaultyStorage::resume_syncs`]:
    /// a disk that has fallen behind.
    pub fn stall_syncs(&self) {
        *self.stall.stalled.lock() = true;
    }

    /// Lets stalled and later syncs go on.
    pub fn resume_syncs(&self) {
        *self.stall.stalled.lock() = false;
        self.stall.resumed.notify_all();
    }

    /// Makes byte `at` of the file at `path` unreadable (`EIO`, as a bad sector): every
    /// read that covers it fails, and so does mapping the file.
    pub fn fail_reads_at(&self, path: &Path, at: u64) {
        *self.unreadable.lock() = Some((path.to_path_buf(), at));
    }

    /// `fdatasync`s of files so far (every file, not only segments).
    pub fn syncs(&self) -> usize {
        self.counts.lock().syncs
    }

    /// The most bytes that were ever written to files and not yet synced, all files
    /// together: what a crash at the worst instant could have torn.
    pub fn most_unsynced(&self) -> u64 {
        self.counts.lock().most_unsynced
    }

    /// The unreadable byte of the file at `path`, if any.
    fn unreadable_in(&self, path: &Path) -> Option<u64> {
        match &*self.unreadable.lock() {
            Some((file, at)) if file == path => Some(*at),
            _ => None,
        }
    }

    /// Fires the armed fault if it is `fault`.
    fn take(&self, fault: Fault) -> io::Result<()> {
        let mut armed = self.armed.lock();
        match *armed {
            Some(f) if f == fault => {
                *armed = None;
                Err(io::Error::from_raw_os_error(5))
            }
            _ => Ok(()),
        }
    }
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(FaultyFile {
            inner: self.inner.open(path, mode)?,
            segment: path.extension().is_some_and(|e| e == "seg"),
            unreadable: self.unreadable_in(path),
            armed: Arc::clone(&self.armed),
            stall: Arc::clone(&self.stall),
            counts: Arc::clone(&self.counts),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.take(Fault::RenameEio)?;
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.take(Fault::SyncDirEio)?;
        self.inner.sync_dir(dir)
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        if self.unreadable_in(path).is_some() {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.map(path)
    }
    fn map_appending(&self, path: &Path, len: u64) -> io::Result<Option<AppendMap>> {
        self.inner.map_appending(path, len)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    /// Whether the armed write and sync faults, and stalls, apply (they are segments').
    segment: bool,
    /// The byte that cannot be read.
    unreadable: Option<u64>,
    armed: Arc<Mutex<Option<Fault>>>,
    stall: Arc<Stall>,
    counts: Arc<Mutex<Counts>>,
}

impl FaultyFile {
    fn take(&self, wanted: &[Fault]) -> Option<Fault> {
        if !self.segment {
            return None;
        }
        let mut armed = self.armed.lock();
        match *armed {
            Some(f) if wanted.contains(&f) => armed.take(),
            _ => None,
        }
    }

    fn written(&self, bytes: usize) {
        let mut counts = self.counts.lock();
        counts.unsynced += bytes as u64;
        counts.most_unsynced = counts.most_unsynced.max(counts.unsynced);
    }
}

impl StorageFile for FaultyFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self
            .unreadable
            .is_some_and(|at| (offset..offset + buf.len() as u64).contains(&at))
        {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.take(&[Fault::ShortWrite, Fault::NoSpace, Fault::WriteEio]) {
            Some(Fault::ShortWrite) => {
                let half = buf.get(..buf.len() / 2).unwrap_or_default();
                self.inner.write_all_at(half, offset)?;
                self.written(half.len());
                Err(io::Error::from_raw_os_error(5))
            }
            Some(Fault::NoSpace) => Err(io::Error::from_raw_os_error(28)),
            Some(_) => Err(io::Error::from_raw_os_error(5)),
            None => {
                self.inner.write_all_at(buf, offset)?;
                self.written(buf.len());
                Ok(())
            }
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.segment {
            let mut stalled = self.stall.stalled.lock();
            while *stalled {
                self.stall.resumed.wait(&mut stalled);
            }
        }
        if self.take(&[Fault::SyncEio]).is_some() {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.inner.sync_data()?;
        let mut counts = self.counts.lock();
        counts.syncs += 1;
        counts.unsynced = 0;
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}
