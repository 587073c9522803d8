//! An archive read as a data directory, through the engine's [`Storage`], so the engine's
//! own checks run over it unchanged (`auditlog verify --archive`): the directory is the
//! archive's URL; `config.json`, `checkpoints` and `keys/checkpoint.pub` come from the
//! objects of those names and `log.json`; `segments/` lists what the manifest names from
//! the end of the retention receipts on, and `retention/` the receipts and heads files
//! (which the engine checks against the log's key).
//! Every segment and index object is checked against its manifest entry (length, BLAKE3,
//! and for a segment the base, tree size and root its header and footer claim) as it is
//! fetched; a fault is kept, to be reported as what it is (a missing, truncated, corrupted
//! or substituted object) rather than as the I/O error the engine sees. Read-only: every
//! write is refused.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlog_engine::checkpoint::{KEYS_DIR, PUBLIC_KEY_FILE};
use auditlog_engine::retention::RETENTION_DIR;
use auditlog_engine::storage::{MappedBytes, OpenMode, Storage, StorageFile};
use auditlog_engine::verify::sealed_claims;
use auditlog_engine::{CONFIG_FILE, hex};
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parking_lot::Mutex;

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::{
    CHECKPOINTS_OBJECT, LOG_OBJECT, LogIdentity, MANIFEST_DIR, ManifestEntry, ObjectRef,
    SEGMENTS_DIR, base_name,
};
use crate::read_only::{ReadOnlyFile, read_only};
use crate::receipts::archived_retention_files;
use crate::run::{list_entries, read_entry};
use crate::transfer::{Digest, check_object, read_small};

/// Manifest entries read at once when an archive is opened.
const ENTRIES_IN_FLIGHT: usize = 16;

/// An object being fetched ahead of its read: its name and the task.
type Prefetch = (
    String,
    tokio::task::JoinHandle<Result<(Vec<u8>, blake3::Hash)>>,
);

/// An archive, read-only, as a data directory.
pub struct ArchiveReader {
    archive: Archive,
    runtime: tokio::runtime::Runtime,
    root: PathBuf,
    identity: LogIdentity,
    entries: BTreeMap<u64, ManifestEntry>,
    /// The first fault found in an object, kept for the caller.
    fault: Mutex<Option<ArchiveError>>,
    /// The next segment, fetched while the one before is checked (reads go oldest first).
    prefetch: Mutex<Option<Prefetch>>,
    /// Whether the archive holds its copy of the checkpoint log.
    has_checkpoints: bool,
    /// The files of `retention/`: receipts of deletions past retention and their heads.
    retention: Vec<String>,
    /// Where the receipts end, as their names say (the engine checks them).
    first_kept: u64,
}

impl std::fmt::Debug for ArchiveReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("archive", &self.archive.url())
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl ArchiveReader {
    /// Reads the archive's identity and every manifest entry, checking that the entries
    /// are contiguous from the first (a gap names the records missing). Call from outside
    /// any async runtime: the reader runs its own.
    pub fn open(archive: Archive) -> Result<ArchiveReader> {
        // One worker: a fetch ahead runs on it while the caller checks what it has. Its
        // own clients: the caller's may hold connections its own runtime pooled.
        let archive = archive.with_own_clients()?;
        let runtime = archive.worker_runtime()?;
        let retention = runtime.block_on(archived_retention_files(&archive))?;
        let first_kept = retention
            .iter()
            .filter_map(|name| name.strip_suffix(".receipt")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let (identity, entries) = runtime.block_on(read_manifest(&archive, first_kept))?;
        let checkpoints = archive.object(CHECKPOINTS_OBJECT);
        let has_checkpoints = match runtime.block_on(archive.store().head(&checkpoints)) {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(cause) => {
                return Err(ArchiveError::Store {
                    action: "reading",
                    object: archive.name(CHECKPOINTS_OBJECT),
                    cause,
                });
            }
        };
        Ok(ArchiveReader {
            root: PathBuf::from(archive.url().trim_end_matches('/')),
            archive,
            runtime,
            identity,
            entries,
            fault: Mutex::new(None),
            prefetch: Mutex::new(None),
            has_checkpoints,
            retention,
            first_kept,
        })
    }

    /// The directory the engine is given: the archive's URL.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The log's identity, from `log.json`.
    pub fn identity(&self) -> &LogIdentity {
        &self.identity
    }

    /// The first record the archive keeps: the end of its retention receipts (0 if it
    /// has none).
    pub fn first_kept(&self) -> u64 {
        self.first_kept
    }

    /// The manifest's entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.entries.values()
    }

    /// The bytes of every segment object, as the manifest gives them.
    pub fn segment_bytes(&self) -> u64 {
        self.entries
            .values()
            .fold(0u64, |sum, e| sum.saturating_add(e.segment.bytes))
    }

    /// Refuses an archive without its copy of the checkpoint log (with segments): nothing
    /// would tie its records to the log's key.
    pub fn require_checkpoints(&self) -> Result<()> {
        if self.has_checkpoints || self.entries.is_empty() {
            return Ok(());
        }
        Err(ArchiveError::Mismatch {
            object: self.archive.name(CHECKPOINTS_OBJECT),
            why: "missing: nothing ties the archived records to a signed checkpoint".into(),
        })
    }

    /// Reads each Parquet file the manifest names back whole and checks its length and
    /// BLAKE3 against the entry (the engine reads segments and index files only):
    /// how many were checked, or the first that is missing or differs.
    pub fn check_parquet(&self) -> Result<u64> {
        self.runtime.block_on(async {
            let mut checked = 0;
            for parquet in self.entries.values().filter_map(|e| e.parquet.as_ref()) {
                let name = self.archive.name(&parquet.object);
                let blake3 = blake3::Hash::from_hex(&parquet.blake3).map_err(|e| {
                    ArchiveError::Mismatch {
                        object: name.clone(),
                        why: format!("its entry's hash: {e}"),
                    }
                })?;
                let expected = Digest {
                    bytes: parquet.bytes,
                    blake3,
                };
                let object = self.archive.object(&parquet.object);
                check_object(self.archive.store(), &object, expected, &name)
                    .await
                    .map_err(|e| match e {
                        ArchiveError::Store {
                            cause: object_store::Error::NotFound { .. },
                            ..
                        } => missing(&name),
                        other => other,
                    })?;
                checked += 1;
            }
            Ok(checked)
        })
    }

    /// The first fault found in an object, if any (taken: asked once).
    pub fn take_fault(&self) -> Option<ArchiveError> {
        self.fault.lock().take()
    }

    /// The bytes of the file at `path` under [`root`](Self::root), fetched and checked
    /// (for a segment or index object, against its manifest entry): an object's fault as
    /// what it is, any other failure as an I/O error of the path.
    pub(crate) fn read_checked_file(&self, path: &Path) -> Result<Vec<u8>> {
        self.read(path).map_err(|source| {
            self.take_fault().unwrap_or_else(|| ArchiveError::Local {
                path: path.to_path_buf(),
                source,
            })
        })
    }

    /// The manifest entry and object reference `path` names, if it is a segment or index
    /// file of the archive.
    fn object_at(&self, path: &Path) -> Option<(&ManifestEntry, &ObjectRef)> {
        let rest = path.strip_prefix(&self.root).ok()?.to_str()?;
        let name = rest.strip_prefix(SEGMENTS_DIR)?.strip_prefix('/')?;
        let (digits, ext) = name.split_once('.')?;
        let entry = self.entries.get(&digits.parse().ok()?)?;
        if digits != base_name(entry.base_seq) {
            return None;
        }
        match ext {
            "seg" => Some((entry, &entry.segment)),
            "idx" => entry.index.as_ref().map(|i| (entry, i)),
            _ => None,
        }
    }

    /// Whether `relative` names a file of the archive's `retention/`.
    fn is_retention_file(&self, relative: &str) -> bool {
        relative
            .strip_prefix(RETENTION_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|name| self.retention.iter().any(|n| n == name))
    }

    /// The relative name of `path` under the root.
    fn relative<'p>(&self, path: &'p Path) -> Option<&'p str> {
        path.strip_prefix(&self.root).ok()?.to_str()
    }

    /// The bytes of the file at `path`: a checked object, or a file the archive implies.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let not_found = || io::Error::new(io::ErrorKind::NotFound, path.display().to_string());
        if let Some((entry, object)) = self.object_at(path) {
            return self.fetch_checked(entry, object);
        }
        let relative = self.relative(path).ok_or_else(not_found)?;
        let key_file = format!("{KEYS_DIR}/{PUBLIC_KEY_FILE}");
        if relative == key_file {
            let key = self.identity.verifier_key.clone().ok_or_else(not_found)?;
            return Ok(format!("{key}\n").into_bytes());
        }
        if relative != CONFIG_FILE
            && relative != CHECKPOINTS_OBJECT
            && !self.is_retention_file(relative)
        {
            return Err(not_found());
        }
        let object = self.archive.object(relative);
        let name = self.archive.name(relative);
        match self
            .runtime
            .block_on(read_small(self.archive.store(), &object, &name))
        {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(not_found()),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// Fetches `object` of `entry` whole and checks it against the manifest; a fault is
    /// kept and returned as an I/O error. Fetching a segment starts fetching the next.
    fn fetch_checked(&self, entry: &ManifestEntry, object: &ObjectRef) -> io::Result<Vec<u8>> {
        let name = self.archive.name(&object.object);
        let ahead = {
            let mut prefetch = self.prefetch.lock();
            match &*prefetch {
                Some((fetching, _)) if *fetching == object.object => prefetch.take(),
                _ => None,
            }
        };
        let result = self.runtime.block_on(async {
            match ahead {
                Some((fetching, task)) if fetching == object.object => {
                    task.await.unwrap_or_else(|e| {
                        Err(ArchiveError::Conflict(format!("fetching {name}: {e}")))
                    })
                }
                _ => fetch_hashed(self.archive.clone(), object.object.clone(), name.clone()).await,
            }
        });
        if object.object.ends_with(".seg")
            && let Some((_, next)) = self.entries.range(entry.base_seq + 1..).next()
        {
            let relative = next.segment.object.clone();
            let task = self.runtime.spawn(fetch_hashed(
                self.archive.clone(),
                relative.clone(),
                self.archive.name(&relative),
            ));
            if let Some((_, stale)) = self.prefetch.lock().replace((relative, task)) {
                stale.abort();
            }
        }
        let checked = result.and_then(|(bytes, hash)| {
            if bytes.len() as u64 != object.bytes || hash.to_hex().as_str() != object.blake3 {
                return Err(ArchiveError::Mismatch {
                    object: name.clone(),
                    why: format!(
                        "{} bytes hashing to {}, where the manifest says {} bytes hashing to {} \
                         (truncated, corrupted or replaced)",
                        bytes.len(),
                        hash.to_hex(),
                        object.bytes,
                        object.blake3
                    ),
                });
            }
            if object.object.ends_with(".seg") {
                check_claims(entry, &name, &bytes)?;
            }
            Ok(bytes)
        });
        match checked {
            Ok(bytes) => Ok(bytes),
            // A fault of the archive is kept to be reported as one; a failure of the
            // store (refused, unreachable) is an I/O error.
            Err(e @ ArchiveError::Mismatch { .. }) => {
                let message = e.to_string();
                self.fault.lock().get_or_insert(e);
                Err(io::Error::new(io::ErrorKind::InvalidData, message))
            }
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    fn refuse<T>(&self, path: &Path) -> io::Result<T> {
        Err(read_only(path))
    }
}

/// Checks that the segment `bytes` claim (header and footer) the base, tree size and root
/// its manifest entry gives.
fn check_claims(entry: &ManifestEntry, name: &str, bytes: &[u8]) -> Result<()> {
    let claims = sealed_claims(Path::new(name), bytes).map_err(|e| ArchiveError::Mismatch {
        object: name.to_owned(),
        why: format!("not a sealed segment: {e}"),
    })?;
    let root = hex::encode(&claims.root);
    if claims.base_seq != entry.base_seq
        || claims.tree_size != entry.tree_size
        || root != entry.root
    {
        return Err(ArchiveError::Mismatch {
            object: name.to_owned(),
            why: format!(
                "holds records {}..{} with root {root}, where the manifest says {}..{} with root {} \
                 (another segment put in its place?)",
                claims.base_seq, claims.tree_size, entry.base_seq, entry.tree_size, entry.root
            ),
        });
    }
    Ok(())
}

/// The fault of an object the manifest names and the store lacks.
fn missing(name: &str) -> ArchiveError {
    ArchiveError::Mismatch {
        object: name.to_owned(),
        why: "missing: the manifest names it, the store has no such object".into(),
    }
}

/// An object's bytes, whole, and their hash; a missing one is a fault of the archive.
async fn fetch_hashed(
    archive: Archive,
    relative: String,
    name: String,
) -> Result<(Vec<u8>, blake3::Hash)> {
    let store_error = |cause| ArchiveError::Store {
        action: "reading",
        object: name.clone(),
        cause,
    };
    let got = match archive.store().get(&archive.object(&relative)).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Err(missing(&name)),
        Err(cause) => return Err(store_error(cause)),
    };
    // Whole, in one read where the store can (a file is read directly, not in small
    // chunks); hashed here, on the runtime's worker, while the caller checks the object
    // before.
    let bytes: Vec<u8> = got.bytes().await.map_err(store_error)?.into();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&bytes);
    Ok((bytes, hasher.finalize()))
}

/// `log.json` and every manifest entry from `first_kept` (the end of the retention
/// receipts) on, checked contiguous; entries below it are left by a deletion cut short.
async fn read_manifest(
    archive: &Archive,
    first_kept: u64,
) -> Result<(LogIdentity, BTreeMap<u64, ManifestEntry>)> {
    let name = archive.name(LOG_OBJECT);
    let bytes = read_small(archive.store(), &archive.object(LOG_OBJECT), &name)
        .await?
        .ok_or_else(|| ArchiveError::Location {
            url: archive.url().to_owned(),
            why: format!("no archive here: {name} is missing"),
        })?;
    let identity =
        LogIdentity::parse(&bytes).map_err(|why| ArchiveError::Mismatch { object: name, why })?;
    let named: Vec<_> = list_entries(archive)
        .await?
        .into_iter()
        .filter(|(base, _)| *base >= first_kept)
        .map(|(base, object)| {
            let name = archive.name(&archive.relative(&object));
            (base, object, name)
        })
        .collect();
    let store = archive.store();
    let read: Vec<ManifestEntry> = futures_util::stream::iter(named)
        .map(|(base, object, name)| async move { read_entry(store, &object, base, &name).await })
        .buffered(ENTRIES_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut entries = BTreeMap::new();
    // An archive starts at 0, or where its retention receipts end (the engine checks
    // them and the first segment's frontier against them).
    let mut next: Option<u64> = Some(first_kept);
    let by_base: BTreeMap<u64, ManifestEntry> = read.into_iter().map(|e| (e.base_seq, e)).collect();
    for entry in by_base.into_values() {
        if let Some(next) = next
            && entry.base_seq != next
        {
            return Err(ArchiveError::Mismatch {
                object: archive.name(&format!("{MANIFEST_DIR}/")),
                why: format!(
                    "a gap: records {next}..{} have no entry (the entry of base {next} is \
                     missing)",
                    entry.base_seq
                ),
            });
        }
        next = Some(entry.tree_size);
        entries.insert(entry.base_seq, entry);
    }
    Ok((identity, entries))
}

impl Storage for ArchiveReader {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.refuse(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        match self.relative(dir) {
            Some("") => {
                let mut names: Vec<String> = vec![
                    CONFIG_FILE.into(),
                    CHECKPOINTS_OBJECT.into(),
                    SEGMENTS_DIR.into(),
                ];
                if !self.retention.is_empty() {
                    names.push(RETENTION_DIR.into());
                }
                Ok(names)
            }
            Some(RETENTION_DIR) if !self.retention.is_empty() => Ok(self.retention.clone()),
            Some(SEGMENTS_DIR) => Ok(self
                .entries
                .values()
                .flat_map(|e| {
                    let name = base_name(e.base_seq);
                    let index = e.index.as_ref().map(|_| format!("{name}.idx"));
                    std::iter::once(format!("{name}.seg")).chain(index)
                })
                .collect()),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                dir.display().to_string(),
            )),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        if self.object_at(path).is_some() {
            return true;
        }
        match self.relative(path) {
            Some(r) if r == CONFIG_FILE => true,
            Some(r) if r == RETENTION_DIR => !self.retention.is_empty(),
            Some(r) if self.is_retention_file(r) => true,
            Some(r) if r == format!("{KEYS_DIR}/{PUBLIC_KEY_FILE}") => {
                self.identity.verifier_key.is_some()
            }
            Some(r) if r == CHECKPOINTS_OBJECT => {
                let object = self.archive.object(CHECKPOINTS_OBJECT);
                self.runtime
                    .block_on(object_store::ObjectStoreExt::head(
                        self.archive.store(),
                        &object,
                    ))
                    .is_ok()
            }
            _ => false,
        }
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        if mode != OpenMode::Read {
            return self.refuse(path);
        }
        Ok(Arc::new(ReadOnlyFile {
            path: path.to_path_buf(),
            bytes: MappedBytes::from_vec(self.read(path)?),
        }))
    }

    fn rename(&self, from: &Path, _to: &Path) -> io::Result<()> {
        self.refuse(from)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.refuse(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.refuse(dir)
    }

    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        self.read(path).map(MappedBytes::from_vec)
    }
}
