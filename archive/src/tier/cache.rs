//! The storage a tiered log is opened with: the local file system, where a released
//! segment's file is fetched from the archive into a bounded cache (least recently used
//! out) and read from there. A fetched file must be the one its stub describes (length
//! and BLAKE3 hash) before anything reads it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auditlog_engine::storage::{FsStorage, MappedBytes, Storage};
use auditlog_engine::{SegmentStub, stub_for};
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parking_lot::Mutex;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::SEGMENTS_DIR;
use crate::transfer::PART_BYTES;

/// The cache's folder, in the data directory.
pub(crate) const CACHE_DIR: &str = "archive-cache";
/// Ranges of one segment fetched at once.
const RANGES_IN_FLIGHT: usize = 4;

/// What the cache has done since the storage was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Segment files fetched from the archive.
    pub fetches: u64,
    /// Their bytes.
    pub fetched_bytes: u64,
    /// Reads of a released segment served from the cache.
    pub hits: u64,
    /// Files dropped from the cache to keep it within its size.
    pub evictions: u64,
    /// Bytes the cache holds now.
    pub cached_bytes: u64,
    /// Reads of some records of a released segment not in the cache, made as byte ranges
    /// of its archived copy (each followed by a fetch of the whole file in the
    /// background).
    pub ranged_reads: u64,
    /// Their bytes.
    pub ranged_bytes: u64,
}

/// The local file system, with released segments read through the archive's cache.
pub struct TieredStorage {
    pub(super) tier: Arc<Tier>,
}

/// What a [`TieredStorage`] shares with the fetches it runs in the background.
pub(super) struct Tier {
    pub(super) local: FsStorage,
    pub(super) cache_dir: PathBuf,
    pub(super) cache_bytes: u64,
    pub(super) archive: Archive,
    pub(super) runtime: tokio::runtime::Runtime,
    /// The cache's files; held briefly, never across a fetch.
    cached: Mutex<Cached>,
    /// Held while a file is fetched (or a copy found at open is checked): one at a time.
    pub(super) fetching: Mutex<()>,
    pub(super) fetches: AtomicU64,
    pub(super) fetched_bytes: AtomicU64,
    pub(super) hits: AtomicU64,
    pub(super) evictions: AtomicU64,
    /// Segments being fetched whole in the background, after a ranged read of some of
    /// their records.
    pub(super) filling: Mutex<HashSet<String>>,
    pub(super) ranged_reads: AtomicU64,
    pub(super) ranged_bytes: AtomicU64,
}

/// The cache's files by name.
#[derive(Debug, Default)]
struct Cached {
    files: HashMap<String, CachedFile>,
    total: u64,
    clock: u64,
}

/// One file of the cache.
#[derive(Debug)]
struct CachedFile {
    len: u64,
    /// When last read (a tick of [`Cached::clock`]).
    used: u64,
    /// Its map, once this process fetched it or checked the copy it found: handed out
    /// again while the file stays, so the log reads it as it reads a local segment. A
    /// file found at open has none until its hash was checked against its stub.
    map: Option<MappedBytes>,
}

impl Cached {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl std::fmt::Debug for TieredStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStorage")
            .field("archive", &self.tier.archive.url())
            .field("cache_dir", &self.tier.cache_dir)
            .field("cache_bytes", &self.tier.cache_bytes)
            .finish_non_exhaustive()
    }
}

impl TieredStorage {
    /// The storage of the log in `dir`, whose released segments are in `archive`, with a
    /// cache of at most `cache_bytes` (it holds at least the file being read) in
    /// `dir/archive-cache`. Files a previous process fetched are kept, oldest first out.
    pub fn open(dir: &Path, archive: Archive, cache_bytes: u64) -> Result<TieredStorage> {
        let cache_dir = dir.join(CACHE_DIR);
        let local = FsStorage::default();
        let local_error = |source| ArchiveError::Local {
            path: cache_dir.clone(),
            source,
        };
        local.create_dir_all(&cache_dir).map_err(local_error)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&cache_dir).map_err(local_error)? {
            let entry = entry.map_err(local_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata().map_err(local_error)?;
            if name.ends_with(".seg") && meta.is_file() {
                found.push((meta.modified().ok(), name, meta.len()));
            } else if part_of_a_dead_process(&name) {
                // A fetch a crash cut short (another live process's fetch is left alone).
                let _ = std::fs::remove_file(entry.path());
            }
        }
        found.sort();
        let mut cached = Cached::default();
        for (_, name, len) in found {
            let used = cached.tick();
            cached.total += len;
            let map = None;
            cached.files.insert(name, CachedFile { len, used, map });
        }
        // Its own clients, driven by its own runtime (`Archive::with_own_clients`).
        let archive = archive.with_own_clients()?;
        let runtime = archive.worker_runtime()?;
        let tier = Tier {
            local,
            cache_dir,
            cache_bytes,
            archive,
            runtime,
            cached: Mutex::new(cached),
            fetching: Mutex::new(()),
            fetches: AtomicU64::new(0),
            fetched_bytes: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            filling: Mutex::default(),
            ranged_reads: AtomicU64::new(0),
            ranged_bytes: AtomicU64::new(0),
        };
        Ok(TieredStorage {
            tier: Arc::new(tier),
        })
    }

    /// What the cache has done.
    pub fn stats(&self) -> CacheStats {
        let tier = &self.tier;
        CacheStats {
            fetches: tier.fetches.load(Ordering::Relaxed),
            fetched_bytes: tier.fetched_bytes.load(Ordering::Relaxed),
            hits: tier.hits.load(Ordering::Relaxed),
            evictions: tier.evictions.load(Ordering::Relaxed),
            cached_bytes: tier.cached.lock().total,
            ranged_reads: tier.ranged_reads.load(Ordering::Relaxed),
            ranged_bytes: tier.ranged_bytes.load(Ordering::Relaxed),
        }
    }

    /// Empties the cache, once the fetches running in the background are done: the next
    /// read of each released segment fetches (for measuring a cold read; a reader holding
    /// a segment keeps its pages).
    pub fn clear_cache(&self) {
        while !self.tier.filling.lock().is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut cached = self.tier.cached.lock();
        for name in cached.files.keys() {
            let _ = std::fs::remove_file(self.tier.cache_dir.join(name));
        }
        cached.files.clear();
        cached.total = 0;
    }

    /// The most bytes the cache keeps.
    pub fn cache_bytes(&self) -> u64 {
        self.tier.cache_bytes
    }

    /// The archive it reads from.
    pub fn archive(&self) -> &Archive {
        &self.tier.archive
    }
}

impl Tier {
    /// Whether the cache holds released segment `name` (checked or not yet).
    pub(super) fn holds(&self, name: &str) -> bool {
        self.cached.lock().files.contains_key(name)
    }

    /// The bytes of the released segment at `path` (no file there, a stub): its copy in
    /// the cache, fetched first if need be, or a copy found there checked against the
    /// stub. `None` for any other file.
    pub(super) fn copy_of(&self, path: &Path) -> io::Result<Option<MappedBytes>> {
        let name = file_name(path);
        if let Some(map) = self.hit(&name) {
            return Ok(Some(map));
        }
        if self.local.exists(path) {
            return Ok(None);
        }
        let Some(stub_path) = stub_for(path).filter(|s| self.local.exists(s)) else {
            return Ok(None);
        };
        let stub = SegmentStub::read(&self.local, &stub_path).map_err(io::Error::other)?;
        let _one_at_a_time = self.fetching.lock();
        if let Some(map) = self.hit(&name) {
            return Ok(Some(map));
        }
        let copy = self.cache_dir.join(&name);
        if !matches_stub(&copy, &stub) {
            self.make_room(&name, stub.file_len);
            self.fetch(&name, &stub, &copy).map_err(io::Error::other)?;
        }
        let map = self.local.map(&copy)?;
        let mut cached = self.cached.lock();
        if let Some(gone) = cached.files.remove(&name) {
            cached.total -= gone.len;
        }
        let file = CachedFile {
            len: stub.file_len,
            used: cached.tick(),
            map: Some(map.clone()),
        };
        cached.files.insert(name.clone(), file);
        cached.total += stub.file_len;
        self.evict(&mut cached, Some(&name));
        Ok(Some(map))
    }

    /// The map of the released segment `name` if this process holds it.
    pub(super) fn hit(&self, name: &str) -> Option<MappedBytes> {
        let mut cached = self.cached.lock();
        let now = cached.tick();
        let file = cached.files.get_mut(name)?;
        let map = file.map.clone()?;
        file.used = now;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(map)
    }

    /// Drops the least recently used files (other than `name`) until `len` bytes more fit
    /// within the cache's size: room is made before a fetched file takes its name, so a
    /// process that ends between the two (a background fill cut short by the process's
    /// exit) leaves the cache within its size.
    fn make_room(&self, name: &str, len: u64) {
        let mut cached = self.cached.lock();
        cached.total += len;
        self.evict(&mut cached, Some(name));
        cached.total -= len;
    }

    /// Drops the least recently used files until the cache is within its size (never
    /// `keep`, the file about to be read). A reader holding a dropped file's map keeps
    /// reading it: its pages stay until the last map goes.
    fn evict(&self, cached: &mut Cached, keep: Option<&str>) {
        while cached.total > self.cache_bytes {
            let oldest = cached
                .files
                .iter()
                .filter(|(name, _)| Some(name.as_str()) != keep)
                .min_by_key(|(_, file)| file.used)
                .map(|(name, _)| name.clone());
            let Some(name) = oldest else { break };
            if let Some(gone) = cached.files.remove(&name) {
                cached.total -= gone.len;
            }
            // A reader that mapped it keeps its pages until it is done.
            let _ = std::fs::remove_file(self.cache_dir.join(&name));
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Fetches segment `name` from the archive to `copy`, in ranges fetched a few at a
    /// time, checked against `stub` before it takes its name.
    fn fetch(&self, name: &str, stub: &SegmentStub, copy: &Path) -> Result<()> {
        let relative = format!("{SEGMENTS_DIR}/{name}");
        let object = self.archive.object(&relative);
        let object_name = self.archive.name(&relative);
        let part = self
            .cache_dir
            .join(format!("{name}.part-{}", std::process::id()));
        let archive = self.archive.clone();
        let (len, part_path) = (stub.file_len, part.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let named = object_name.clone();
        // Spawned, not blocked on: the caller may itself be on an async runtime's thread.
        self.runtime.spawn(async move {
            let got = download(&archive, &object, &named, &part_path, len).await;
            let _ = tx.send(got);
        });
        let hash = rx.recv().map_err(|_| ArchiveError::Location {
            url: self.archive.url().to_owned(),
            why: "the fetch was cut short".into(),
        })?;
        let hash = hash.inspect_err(|_| {
            let _ = std::fs::remove_file(&part);
        })?;
        if hash.as_bytes() != &stub.blake3 {
            let _ = std::fs::remove_file(&part);
            return Err(ArchiveError::Mismatch {
                object: object_name,
                why: format!(
                    "it hashes to {}, where the local stub of the released segment says {}",
                    hash.to_hex(),
                    blake3::Hash::from_bytes(stub.blake3).to_hex()
                ),
            });
        }
        std::fs::rename(&part, copy).map_err(|source| ArchiveError::Local {
            path: copy.to_path_buf(),
            source,
        })?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.fetched_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether the cache's file `copy` is the segment `stub` describes (length and BLAKE3):
/// a copy an earlier process left is used only then.
fn matches_stub(copy: &Path, stub: &SegmentStub) -> bool {
    let Ok(file) = std::fs::File::open(copy) else {
        return false;
    };
    if file.metadata().map(|m| m.len()).ok() != Some(stub.file_len) {
        return false;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).is_ok() && hasher.finalize().as_bytes() == &stub.blake3
}

/// Whether `name` is the part file of a fetch by a process that no longer runs.
fn part_of_a_dead_process(name: &str) -> bool {
    let Some(pid) = name.rsplit_once(".part-").map(|(_, pid)| pid) else {
        return false;
    };
    process_is_gone(pid)
}

/// Whether `pid` (decimal) names a process that no longer runs: files a process names
/// for itself (cache parts, temporary Parquet) are another's to remove once it is gone.
pub(crate) fn process_is_gone(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// The file name of `path`, as the cache names its copy.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Copies `len` bytes of `object` to the new file `part`, synced; their hash.
async fn download(
    archive: &Archive,
    object: &object_store::path::Path,
    name: &str,
    part: &Path,
    len: u64,
) -> Result<blake3::Hash> {
    let local = |source| ArchiveError::Local {
        path: part.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(part)
        .map_err(local)?;
    let store = archive.store();
    let ranges = (0..len.div_ceil(PART_BYTES as u64)).map(|i| {
        let start = i * PART_BYTES as u64;
        start..len.min(start + PART_BYTES as u64)
    });
    let mut chunks = futures_util::stream::iter(ranges)
        .map(|range| async move {
            let want = range.end - range.start;
            let got = store.get_range(object, range).await;
            got.map(|bytes| (bytes, want))
        })
        .buffered(RANGES_IN_FLIGHT)
        .map_err(|cause| ArchiveError::Store {
            action: "fetching",
            object: name.to_owned(),
            cause,
        });
    let mut hasher = blake3::Hasher::new();
    let mut at = 0u64;
    while let Some((bytes, want)) = chunks.try_next().await? {
        if bytes.len() as u64 != want {
            return Err(ArchiveError::Mismatch {
                object: name.to_owned(),
                why: format!("shorter than the {len} bytes of the released segment"),
            });
        }
        hasher.update(&bytes);
        file.write_all_at(&bytes, at).map_err(local)?;
        at += want;
    }
    file.sync_data().map_err(local)?;
    Ok(hasher.finalize())
}
