//! The versioned JSON files a server keeps beside its log (`DIR/server/`: its API keys,
//! its sinks, its viewer tokens), and the random keys beside them ([`random_key`]).
//! A JSON file reads `{"version": N, …}`, read with the version checked (a file of another
//! version is refused, naming both), replaced atomically and durably (the directory
//! made durable first when new: a crash must not lose a file whose contents were
//! already acted on, such as a bootstrap key already printed).

use std::path::Path;

use anyhow::Context;
use auditlog_engine::storage::{FsStorage, Storage, write_atomically};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A file's version beside its members.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u32,
    #[serde(flatten)]
    body: T,
}

/// The members of the `kind` file at `path`, which must be of `version`; None when
/// there is no file.
pub(crate) fn read<T: DeserializeOwned>(
    path: &Path,
    kind: &str,
    version: u32,
) -> anyhow::Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: Versioned<T> =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        file.version == version,
        "{}: {kind} file version {} (this server reads {version})",
        path.display(),
        file.version
    );
    Ok(Some(file.body))
}

/// Replaces `path` with `body` at `version`.
pub(crate) fn write<T: Serialize>(path: &Path, version: u32, body: T) -> anyhow::Result<()> {
    let storage = FsStorage::default();
    ensure_dir(&storage, path.parent().unwrap_or(Path::new(".")))?;
    let bytes = serde_json::to_vec_pretty(&Versioned { version, body })?;
    write_atomically(&storage, path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Creates `dir` durably if it is missing.
pub(crate) fn ensure_dir(storage: &FsStorage, dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        storage
            .create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        storage
            .sync_dir(parent)
            .with_context(|| format!("syncing {}", parent.display()))?;
    }
    Ok(())
}

/// The 32-byte key at `path`, made (randomly, durably, readable by the owner only) if
/// the file is missing.
pub(crate) fn random_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("drawing a key: {e}"))?;
            let storage = FsStorage::default();
            ensure_dir(&storage, path.parent().unwrap_or(Path::new(".")))?;
            write_atomically(&storage, path, &key)
                .with_context(|| format!("writing {}", path.display()))?;
            return Ok(key);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("{}: not a 32-byte key", path.display()))
}
