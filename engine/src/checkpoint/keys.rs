//! The log's checkpoint key pair in the data directory (docs/FORMAT.md, "Checkpoint
//! keys"): `keys/checkpoint.key`, the private key in the reference implementation's text
//! form, owner-only (mode 0600) and never printed; `keys/checkpoint.pub`, the verifier key
//! an auditor is given.

use std::path::{Path, PathBuf};

use super::note::{NoteSigner, NoteVerifier};
use crate::error::{Error, Result};
use crate::storage::{Storage, read_all, write_atomically};

/// The folder of the key files.
pub const KEYS_DIR: &str = "keys";
/// The private key file, in [`KEYS_DIR`].
pub const PRIVATE_KEY_FILE: &str = "checkpoint.key";
/// The verifier key file, in [`KEYS_DIR`].
pub const PUBLIC_KEY_FILE: &str = "checkpoint.pub";

fn key_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(KEYS_DIR).join(file)
}

/// Makes a new key pair named `name` and stores it in `dir`, refusing to replace one.
pub fn create_keys(storage: &dyn Storage, dir: &Path, name: &str) -> Result<NoteSigner> {
    for file in [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE] {
        let path = key_path(dir, file);
        if storage.exists(&path) {
            return Err(Error::InvalidArgument(format!(
                "{} already exists; a log keeps its key",
                path.display()
            )));
        }
    }
    let private = key_path(dir, PRIVATE_KEY_FILE);
    let signer = NoteSigner::generate(name).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let keys = dir.join(KEYS_DIR);
    storage
        .create_dir_all(&keys)
        .map_err(|e| Error::io(format!("creating {}", keys.display()), e))?;
    let public = key_path(dir, PUBLIC_KEY_FILE);
    let text = format!("{}\n", signer.verifier().to_text());
    write_atomically(storage, &public, text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", public.display()), e))?;
    // The private key last: its presence says the pair is complete.
    let text = format!("{}\n", signer.to_private_text());
    write_atomically(storage, &private, text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", private.display()), e))?;
    Ok(signer)
}

/// The private key of the log in `dir`, if it has one.
pub fn load_signer(storage: &dyn Storage, dir: &Path) -> Result<Option<NoteSigner>> {
    let path = key_path(dir, PRIVATE_KEY_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = read_all(storage, &path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let text = String::from_utf8(bytes).unwrap_or_default();
    // The error names the file only: the key's text never reaches a message.
    NoteSigner::parse(&text)
        .map(Some)
        .map_err(|_| Error::InvalidArgument(format!("{} is not a private key", path.display())))
}

/// The verifier key of the log in `dir`, if it has one.
pub fn load_verifier(storage: &dyn Storage, dir: &Path) -> Result<Option<NoteVerifier>> {
    let path = key_path(dir, PUBLIC_KEY_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = read_all(storage, &path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let text = String::from_utf8_lossy(&bytes);
    NoteVerifier::parse(&text)
        .map(Some)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
}
