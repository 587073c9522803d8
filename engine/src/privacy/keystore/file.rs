//! The key store's file: a 32-byte header (magic, version, the KEK's check value), then
//! record frames, one entry each. Appends are written in parts of at most
//! [`MAX_UNSYNCED_BYTES`] between syncs, so a crash tears at most that much at the end,
//! and an open cuts such a torn tail; an erasure replaces the whole file atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::split_frame;
use crate::envelope::Envelope;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::storage::{
    OpenMode, ReplaceError, Storage, StorageFile, open_for_appends, read_all, replace_atomically,
    write_atomically,
};

/// `\x89ALK\r\n\x1a\n`.
const MAGIC: [u8; 8] = [0x89, b'A', b'L', b'K', b'\r', b'\n', 0x1a, b'\n'];
pub(super) const HEADER_BYTES: usize = 32;
/// The most bytes one flush writes before it syncs them: how long a torn tail can be.
const MAX_UNSYNCED_BYTES: usize = 64 << 10;
/// The key store's version: 4, the format that introduced it; unchanged since (format 5
/// writes it as 4). The header has no CRC, so a version byte flipped to another this build
/// reads would go unseen: there is only one.
const KEY_STORE_VERSION: u16 = 4;
/// Magic, version, reserved bytes, then the KEK's check value; no CRC (each entry has its
/// own, and a MAC).
const ENVELOPE: Envelope = Envelope {
    what: "key store",
    magic: MAGIC,
    versions: KEY_STORE_VERSION..=KEY_STORE_VERSION,
    reserved: 10..16,
};

/// The header of a store written under the KEK whose check value is `check`.
pub(super) fn header(check: &[u8; 16]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    ENVELOPE.begin(&mut h, KEY_STORE_VERSION);
    h.extend_from_slice(&[0; 6]);
    h.extend_from_slice(check);
    h
}

/// Bytes of the store written but not yet known to be on disk (see
/// [`SubjectKeys::unsynced`](super::SubjectKeys::unsynced)).
pub struct Unsynced {
    file: Arc<dyn StorageFile>,
    len: u64,
}

impl std::fmt::Debug for Unsynced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsynced").field("len", &self.len).finish()
    }
}

impl Unsynced {
    /// fdatasyncs the bytes.
    pub fn sync_data(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// How an atomic replacement of the file ended badly.
pub(super) enum Replaced {
    /// Before the rename: the old file stands, whole and synced, and appends go on.
    Unchanged(Error),
    /// After it: the new file is in place but may not be durable; no append until a
    /// reopen reads what the disk holds.
    Unknown(Error),
}

/// The file of one key store, as far as it is known to hold whole entries.
pub(super) struct KeyFile {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    /// Open for appends (a writable store whose file exists).
    file: Option<Arc<dyn StorageFile>>,
    /// Bytes of the file that hold whole entries.
    len: u64,
    /// Bytes of the file known to be on disk.
    synced_len: u64,
    /// Bytes of an incomplete last entry found at open.
    torn_tail: Option<u64>,
    /// Set by a failed write: what reached the disk is unknown until a reopen.
    failed: bool,
}

impl KeyFile {
    /// The file at `path`, not read yet.
    pub(super) fn new(storage: Arc<dyn Storage>, path: PathBuf) -> KeyFile {
        KeyFile {
            storage,
            path,
            file: None,
            len: 0,
            synced_len: 0,
            torn_tail: None,
            failed: false,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn torn_tail(&self) -> Option<u64> {
        self.torn_tail
    }

    pub(super) fn failed(&self) -> bool {
        self.failed
    }

    /// A fault at byte `offset` of the file.
    pub(super) fn corrupt(&self, offset: usize, kind: CorruptionKind) -> Error {
        Error::Corruption(Corruption::new(&self.path, offset as u64, kind))
    }

    /// The whole file, `None` if there is none yet.
    pub(super) fn read(&self) -> Result<Option<Vec<u8>>> {
        if !self.storage.exists(&self.path) {
            return Ok(None);
        }
        read_all(self.storage.as_ref(), &self.path)
            .map(Some)
            .map_err(|e| Error::io(format!("reading {}", self.path.display()), e))
    }

    /// The entry frames of a whole file's `bytes`, once its header is checked (written
    /// under the KEK whose check value is `check`). Read them all, then hand them back to
    /// [`read_through`](Self::read_through).
    pub(super) fn frames<'b>(&self, bytes: &'b [u8], check: &[u8; 16]) -> Result<Frames<'b>> {
        ENVELOPE
            .check(bytes, None)
            .map_err(|(offset, kind)| self.corrupt(offset as usize, kind))?;
        let Some(head) = bytes.get(..HEADER_BYTES) else {
            return Err(self.corrupt(0, CorruptionKind::Truncated("key store")));
        };
        if head[16..32] != check[..] {
            return Err(Error::InvalidArgument(format!(
                "{}: the key-encryption key given is not the one this key store was written with",
                self.path.display()
            )));
        }
        Ok(Frames {
            path: self.path.clone(),
            bytes,
            at: HEADER_BYTES,
            torn_tail: None,
        })
    }

    /// Takes the length of the whole entries `frames` found, and its torn tail.
    pub(super) fn read_through(&mut self, frames: &Frames<'_>) {
        self.len = frames.at as u64;
        self.synced_len = self.len;
        self.torn_tail = frames.torn_tail;
    }

    /// Opens the file read by [`read_through`](Self::read_through) for appends, cutting
    /// its torn tail first; an absent file is made, with its header, at the first append.
    pub(super) fn open_for_appends(&mut self) -> Result<()> {
        if !self.storage.exists(&self.path) {
            return Ok(());
        }
        let torn = self.torn_tail.is_some();
        let file = open_for_appends(self.storage.as_ref(), &self.path, self.len, torn)?;
        self.file = Some(file);
        Ok(())
    }

    /// Appends `frames` (whole entries) without waiting for the disk, but never leaving
    /// more than [`MAX_UNSYNCED_BYTES`] unsynced: it syncs first when they would be. A new
    /// file is made with `header`, whole, first.
    pub(super) fn append(&mut self, frames: &[u8], header: &[u8]) -> Result<()> {
        let path = self.path.clone();
        let io = |e| Error::io(format!("appending to {}", path.display()), e);
        let file = match &self.file {
            Some(file) => Arc::clone(file),
            None => self.create(header).map_err(io)?,
        };
        let mut written = 0;
        while written < frames.len() {
            let mut end = written;
            while end < frames.len() {
                let len = frame_len(&frames[end..]);
                // Unsynced bytes before this entry: written earlier, or in this part.
                let before = self.len - self.synced_len + (end - written) as u64;
                // With nothing unsynced an entry always goes, even alone over the bound
                // (none is near it).
                if before > 0 && before + len as u64 > MAX_UNSYNCED_BYTES as u64 {
                    break;
                }
                end += len;
            }
            if end == written {
                // Not even one more entry fits unsynced: sync what is written first.
                self.sync()?;
                continue;
            }
            if let Err(e) = file.write_all_at(&frames[written..end], self.len) {
                let _ = file.set_len(self.len);
                self.failed = true;
                return Err(io(e));
            }
            self.len += (end - written) as u64;
            written = end;
        }
        Ok(())
    }

    /// fdatasyncs what [`append`](Self::append) wrote.
    pub(super) fn sync(&mut self) -> Result<()> {
        match self.unsynced() {
            Some(unsynced) => {
                let done = unsynced.sync_data();
                self.synced(unsynced, done)
            }
            None => Ok(()),
        }
    }

    /// What [`sync`](Self::sync) would fdatasync, if anything.
    pub(super) fn unsynced(&self) -> Option<Unsynced> {
        if self.len == self.synced_len {
            return None;
        }
        self.file.as_ref().map(|file| Unsynced {
            file: Arc::clone(file),
            len: self.len,
        })
    }

    /// Records the outcome of syncing `unsynced`: on failure the file takes no more
    /// appends until reopened.
    pub(super) fn synced(&mut self, unsynced: Unsynced, done: std::io::Result<()>) -> Result<()> {
        // An erasure may have replaced the file meanwhile, having synced the old one
        // first and written the new one whole: the old one's outcome no longer matters.
        let same_file = self
            .file
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, &unsynced.file));
        if !same_file {
            return Ok(());
        }
        if let Err(e) = done {
            self.failed = true;
            return Err(Error::io(format!("syncing {}", self.path.display()), e));
        }
        self.synced_len = self.synced_len.max(unsynced.len);
        Ok(())
    }

    /// Replaces the whole file with `bytes` (temporary file, fsync, rename, directory
    /// fsync) and opens it for appends.
    pub(super) fn replace(&mut self, bytes: &[u8]) -> std::result::Result<(), Replaced> {
        // The old file handle must not outlive the rename: appends go to the new file.
        let old_file = self.file.take();
        let path = self.path.clone();
        let rewriting = |e| Error::io(format!("rewriting {}", path.display()), e);
        let replaced = replace_atomically(self.storage.as_ref(), &self.path, bytes);
        if let Err(ReplaceError::Unchanged(e)) = replaced {
            self.file = old_file;
            return Err(Replaced::Unchanged(rewriting(e)));
        }
        drop(old_file);
        self.len = bytes.len() as u64;
        self.synced_len = self.len;
        if let Err(ReplaceError::Replaced(e)) = replaced {
            self.failed = true;
            return Err(Replaced::Unknown(rewriting(e)));
        }
        match self.storage.open(&self.path, OpenMode::ReadWrite) {
            Ok(file) => {
                self.file = Some(file);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                let opening = format!("opening {}", self.path.display());
                Err(Replaced::Unknown(Error::io(opening, e)))
            }
        }
    }

    /// Makes the file, its `header` written whole before anything is appended to it.
    fn create(&mut self, header: &[u8]) -> std::io::Result<Arc<dyn StorageFile>> {
        if let Some(dir) = self.path.parent() {
            self.storage.create_dir_all(dir)?;
        }
        write_atomically(self.storage.as_ref(), &self.path, header)?;
        let file = self.storage.open(&self.path, OpenMode::ReadWrite)?;
        self.len = header.len() as u64;
        self.synced_len = self.len;
        self.file = Some(Arc::clone(&file));
        Ok(file)
    }
}

/// The entry frames of a file, each a payload and its offset. A frame that does not split
/// or check within the last [`MAX_UNSYNCED_BYTES`] is the tail of an interrupted flush (a
/// flush syncs no more at once) and ends them; further from the end it is damage.
pub(super) struct Frames<'b> {
    path: PathBuf,
    bytes: &'b [u8],
    /// Where the next frame starts.
    at: usize,
    torn_tail: Option<u64>,
}

impl<'b> Iterator for Frames<'b> {
    type Item = Result<(usize, &'b [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.at..).filter(|r| !r.is_empty())?;
        match split_frame(rest).and_then(|f| f.check().map(|()| f)) {
            Ok(frame) => {
                let at = self.at;
                self.at += frame.total;
                Some(Ok((at, frame.payload)))
            }
            Err(_) if rest.len() <= MAX_UNSYNCED_BYTES => {
                // The whole entries end where the tail begins.
                self.torn_tail = Some(rest.len() as u64);
                self.bytes = &self.bytes[..self.at];
                None
            }
            Err(e) => {
                let at = self.at;
                self.bytes = &self.bytes[..at];
                let why = CorruptionKind::BadField(e.to_string());
                Some(Err(Error::Corruption(Corruption::new(
                    &self.path, at as u64, why,
                ))))
            }
        }
    }
}

/// The length of the frame at the start of `frames` (entries made here, well formed).
fn frame_len(frames: &[u8]) -> usize {
    split_frame(frames).map_or(frames.len(), |f| f.total)
}
