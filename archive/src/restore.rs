//! `auditlog restore`: a data directory rebuilt from an archive after its disk was lost.
//! The archived segments and index files (each checked against the manifest), the log's
//! settings, public key and checkpoints come from the archive; the private checkpoint key
//! (and a sealing log's key store) from the operator's own backup, since an archive never
//! holds a secret. Opening the result read-write rebuilds the tree and state; the log
//! then goes on appending from the archive's end.

use std::path::Path;

use auditlog_engine::checkpoint::{
    CHECKPOINTS_FILE, CheckpointLog, KEYS_DIR, NoteSigner, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE,
};
use auditlog_engine::privacy::SUBJECT_KEYS_FILE;
use auditlog_engine::storage::{FsStorage, Storage, write_atomically};
use auditlog_engine::{CONFIG_FILE, LogConfig};
use serde::Serialize;

use crate::error::{ArchiveError, Result};
use crate::manifest::{CHECKPOINTS_OBJECT, SEGMENTS_DIR, base_name};
use crate::reader::ArchiveReader;

/// The secrets a restore takes from the operator's backups.
#[derive(Debug, Clone, Default)]
pub struct RestoreKeys<'a> {
    /// The log's private checkpoint key (`keys/checkpoint.key`); without it the restored
    /// log can be read but not appended to.
    pub checkpoint_key: Option<&'a Path>,
    /// A sealing log's key store (`keys/subjects`, from a file or its backup,
    /// [`fetch_key_store`](crate::fetch_key_store)); without it a sealing log is refused.
    pub subject_keys: Option<Vec<u8>>,
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Segments restored.
    pub segments: u64,
    /// Their bytes and their index files'.
    pub bytes: u64,
    /// The tree size the restored records reach: the archive's end.
    pub tree_size: u64,
    /// Checkpoints restored (those within the records).
    pub checkpoints: u64,
    /// Tree sizes of checkpoints signed past the archive's end, dropped: the events
    /// between the archive's end and the largest were lost with the disk, and a holder of
    /// one of those checkpoints will see the restored log fork from it.
    pub dropped_checkpoints: Vec<u64>,
    /// Whether the private key was restored (the log can be appended to).
    pub writable: bool,
}

/// Writes the data directory `dir` (which must not exist, or be empty) from `reader`'s
/// archive. Open it afterwards to rebuild the tree and go on.
pub fn restore(
    reader: &ArchiveReader,
    dir: &Path,
    keys: &RestoreKeys<'_>,
) -> Result<RestoreReport> {
    let local = |source: std::io::Error| ArchiveError::Local {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(local)?.next().is_some() {
        return Err(ArchiveError::Conflict(format!(
            "{} is not empty: a restore writes a new data directory",
            dir.display()
        )));
    }
    // Every check before anything is written.
    reader.require_checkpoints()?;
    let first_kept = reader.first_kept();
    if first_kept > 0 && reader.entries().next().is_none() {
        return Err(ArchiveError::Conflict(format!(
            "the archive holds no segment from record {first_kept}, the first kept after \
             deletions past retention: nothing to restore a log from"
        )));
    }
    let root = reader.root();
    let config_bytes = reader.read_checked_file(&root.join(CONFIG_FILE))?;
    let config = LogConfig::load(reader, root)?;
    if config.sealing.is_some() && keys.subject_keys.is_none() {
        return Err(ArchiveError::Conflict(
            "the log seals personal data: give its key store (a backup of keys/subjects) to \
             restore it"
                .into(),
        ));
    }
    let public = reader.identity().verifier_key.as_deref();
    let private_key = match keys.checkpoint_key {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ArchiveError::Local {
                path: path.to_path_buf(),
                source,
            })?;
            let signer = NoteSigner::parse(text.trim()).map_err(|_| {
                ArchiveError::Conflict(format!("{} is not a private key", path.display()))
            })?;
            if Some(signer.verifier().to_text().as_str()) != public {
                return Err(ArchiveError::Conflict(format!(
                    "{} is not the private key of the archived log (whose key is {})",
                    path.display(),
                    public.unwrap_or("none")
                )));
            }
            Some(text)
        }
        None => None,
    };
    // Written beside `dir` and renamed into place whole: a restore cut short leaves no
    // directory that opens as a shorter log.
    let name = dir
        .file_name()
        .ok_or_else(|| ArchiveError::Conflict(format!("{} names no directory", dir.display())))?;
    let staging = dir.with_file_name(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    let report = write_staged(
        reader,
        &staging,
        &config,
        &config_bytes,
        public,
        private_key,
        keys,
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    if dir.exists() {
        std::fs::remove_dir(dir).map_err(local)?;
    }
    std::fs::rename(&staging, dir).map_err(local)?;
    if let Some(parent) = dir.parent() {
        FsStorage::default()
            .sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            })
            .map_err(local)?;
    }
    Ok(report)
}

/// Writes the restored data directory at `dir` (the staging one), every file synced.
fn write_staged(
    reader: &ArchiveReader,
    dir: &Path,
    config: &LogConfig,
    config_bytes: &[u8],
    public: Option<&str>,
    private_key: Option<String>,
    keys: &RestoreKeys<'_>,
) -> Result<RestoreReport> {
    let local = |source: std::io::Error| ArchiveError::Local {
        path: dir.to_path_buf(),
        source,
    };
    let fs = FsStorage::default();
    let write = |path: &Path, bytes: &[u8]| {
        write_atomically(&fs, path, bytes).map_err(|source| ArchiveError::Local {
            path: path.to_path_buf(),
            source,
        })
    };
    for folder in [
        dir.to_path_buf(),
        dir.join(SEGMENTS_DIR),
        dir.join(KEYS_DIR),
    ] {
        fs.create_dir_all(&folder).map_err(local)?;
    }
    let root = reader.root();
    write(&dir.join(CONFIG_FILE), config_bytes)?;
    if let Some(public) = public {
        write(
            &dir.join(KEYS_DIR).join(PUBLIC_KEY_FILE),
            format!("{public}\n").as_bytes(),
        )?;
    }
    let writable = private_key.is_some();
    if let Some(text) = &private_key {
        write(&dir.join(KEYS_DIR).join(PRIVATE_KEY_FILE), text.as_bytes())?;
    }
    if let Some(bytes) = &keys.subject_keys {
        write(&dir.join(KEYS_DIR).join(SUBJECT_KEYS_FILE), bytes)?;
    }
    let mut report = RestoreReport {
        segments: 0,
        bytes: 0,
        tree_size: reader.first_kept(),
        checkpoints: 0,
        dropped_checkpoints: Vec::new(),
        writable,
    };
    for entry in reader.entries() {
        let name = base_name(entry.base_seq);
        let mut objects = vec![format!("{SEGMENTS_DIR}/{name}.seg")];
        if entry.index.is_some() {
            objects.push(format!("{SEGMENTS_DIR}/{name}.idx"));
        }
        for relative in objects {
            let bytes = reader.read_checked_file(&root.join(&relative))?;
            write(&dir.join(&relative), &bytes)?;
            report.bytes += bytes.len() as u64;
        }
        report.segments += 1;
        report.tree_size = entry.tree_size;
    }
    // The receipts of deletions past retention and their heads: the log starts where
    // they end (opening it checks them).
    let retention = root.join(auditlog_engine::retention::RETENTION_DIR);
    if reader.exists(&retention) {
        let folder = dir.join(auditlog_engine::retention::RETENTION_DIR);
        fs.create_dir_all(&folder).map_err(local)?;
        for name in reader.list(&retention).map_err(local)? {
            let bytes = reader.read_checked_file(&retention.join(&name))?;
            write(&folder.join(&name), &bytes)?;
        }
    }
    // The checkpoints within the records; those past them signed events lost with the
    // disk, and a log whose newest checkpoint its records do not reach does not open.
    let checkpoints = match reader.read_checked_file(&root.join(CHECKPOINTS_OBJECT)) {
        Ok(bytes) => Some(bytes),
        Err(ArchiveError::Local { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(bytes) = checkpoints {
        let path = dir.join(CHECKPOINTS_FILE);
        write(&path, &bytes)?;
        let log = CheckpointLog::open(
            std::sync::Arc::new(FsStorage::default()),
            dir,
            &config.origin,
            true,
        )?;
        let entries = log.read_entries()?;
        let cut = entries
            .iter()
            .find(|(_, signed)| signed.checkpoint.tree_size > report.tree_size)
            .map(|(offset, _)| *offset);
        report.checkpoints = entries
            .iter()
            .filter(|(_, s)| s.checkpoint.tree_size <= report.tree_size)
            .count() as u64;
        report.dropped_checkpoints = entries
            .iter()
            .map(|(_, s)| s.checkpoint.tree_size)
            .filter(|&size| size > report.tree_size)
            .collect();
        if let Some(offset) = cut {
            let kept = &bytes[..offset as usize];
            write(&path, kept)?;
        }
    }
    Ok(report)
}
