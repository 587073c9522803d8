//! The checkpoint log: every checkpoint the log ever issued, in order, in one append-only
//! file (docs/FORMAT.md, "Checkpoint log"). A 16-byte header, then one record frame per
//! checkpoint holding its signed note; a checkpoint is handed out only once its frame is
//! fdatasynced. The cosigned checkpoint log, of the same form, keeps checkpoints with
//! the cosignatures witnesses returned for them ("Cosigned checkpoint log").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{MAX_NOTE_BYTES, SignedCheckpoint};
use crate::codec::{FrameError, begin_frame, finish_frame, split_frame};
use crate::envelope::{Envelope, FORMAT_VERSION};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::storage::{OpenMode, Storage, StorageFile, open_for_appends, read_all};

/// The checkpoint log's file name in the data directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints";
/// The cosigned checkpoint log's file name in the data directory.
pub const COSIGNED_FILE: &str = "cosigned-checkpoints";

/// `\x89ALC\r\n\x1a\n`.
const MAGIC: [u8; 8] = [0x89, b'A', b'L', b'C', b'\r', b'\n', 0x1a, b'\n'];
const HEADER_BYTES: usize = 16;

/// Magic, version, reserved bytes; no CRC (each entry has its own).
const ENVELOPE: Envelope = Envelope::of_format("checkpoint log", MAGIC, 10..HEADER_BYTES);

fn header() -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    ENVELOPE.begin(&mut h, FORMAT_VERSION);
    h.resize(HEADER_BYTES, 0);
    h
}

/// The checkpoint log of one data directory, open for reading and (unless read-only)
/// appending.
#[derive(Debug)]
pub struct CheckpointLog {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    len: u64,
    /// The offset of each checkpoint's frame, oldest first.
    offsets: Vec<u64>,
    /// The tree size of each checkpoint, in the same order (never falling): the index by
    /// which one is found without reading the others.
    sizes: Vec<u64>,
    latest: Option<SignedCheckpoint>,
    /// Bytes of a torn last frame found at open (cut unless read-only).
    torn_tail: Option<u64>,
    read_only: bool,
}

impl CheckpointLog {
    /// Reads the checkpoint log of `dir` (an absent file is an empty log). A last frame
    /// that a crash left incomplete is cut, unless `read_only`; any other damage is a
    /// [`Corruption`]. Checkpoints must name `origin` and never shrink.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        origin: &str,
        read_only: bool,
    ) -> Result<CheckpointLog> {
        CheckpointLog::open_file(storage, dir, CHECKPOINTS_FILE, origin, read_only)
    }

    /// [`open`](Self::open) for the cosigned checkpoint log of `dir` (an absent file is
    /// an empty one): the same checks, and several entries may share a size, each one
    /// with more cosignatures than the one before.
    pub fn open_cosigned(
        storage: Arc<dyn Storage>,
        dir: &Path,
        origin: &str,
        read_only: bool,
    ) -> Result<CheckpointLog> {
        CheckpointLog::open_file(storage, dir, COSIGNED_FILE, origin, read_only)
    }

    fn open_file(
        storage: Arc<dyn Storage>,
        dir: &Path,
        file: &str,
        origin: &str,
        read_only: bool,
    ) -> Result<CheckpointLog> {
        let mut log = CheckpointLog::read(storage, &dir.join(file), origin)?;
        if !read_only {
            log.open_for_appends()?;
        }
        Ok(log)
    }

    /// Takes a log read by a read-only [`open`](Self::open) for appends: an interrupted
    /// creation is removed, an interrupted append cut (so a log can be read, checked
    /// against the records, and only then changed).
    pub fn open_for_appends(&mut self) -> Result<()> {
        self.read_only = false;
        if !self.storage.exists(&self.path) {
            return Ok(());
        }
        if self.len == 0 {
            // A crash interrupted the file's creation (read as a torn tail): nothing was
            // ever appended.
            let io = |e| Error::io(format!("removing {}", self.path.display()), e);
            return self.storage.remove(&self.path).map_err(io);
        }
        let torn = self.torn_tail.is_some();
        let file = open_for_appends(self.storage.as_ref(), &self.path, self.len, torn)?;
        self.file = Some(file);
        Ok(())
    }

    /// The checkpoint log at `path` as it is, changing nothing.
    fn read(storage: Arc<dyn Storage>, path: &Path, origin: &str) -> Result<CheckpointLog> {
        let path = path.to_path_buf();
        let mut log = CheckpointLog {
            storage,
            path,
            file: None,
            len: 0,
            offsets: Vec::new(),
            sizes: Vec::new(),
            latest: None,
            torn_tail: None,
            read_only: true,
        };
        if !log.storage.exists(&log.path) {
            return Ok(log);
        }
        let io = |e| Error::io(format!("reading {}", log.path.display()), e);
        let bytes = read_all(log.storage.as_ref(), &log.path).map_err(io)?;
        if bytes.len() < HEADER_BYTES && header().starts_with(&bytes) {
            // A crash interrupted the file's creation: nothing was ever appended.
            log.torn_tail = Some(bytes.len() as u64);
            return Ok(log);
        }
        let corrupt = |offset: usize, kind| {
            Error::Corruption(Corruption::new(&log.path, offset as u64, kind))
        };
        ENVELOPE
            .check(&bytes, None)
            .map_err(|(offset, kind)| corrupt(offset as usize, kind))?;
        let mut at = HEADER_BYTES;
        while at < bytes.len() {
            let rest = &bytes[at..];
            let frame = match split_frame(rest) {
                Ok(frame) => frame,
                // A frame running past the end: the tail of an interrupted append. A bad
                // length is damage, not a tear.
                Err(FrameError::Truncated { .. })
                    if rest.len() < crate::codec::FRAME_HEADER_BYTES + MAX_NOTE_BYTES =>
                {
                    log.torn_tail = Some(rest.len() as u64);
                    break;
                }
                Err(e) => return Err(corrupt(at, CorruptionKind::BadField(e.to_string()))),
            };
            if let Err(e) = frame.check() {
                if at + frame.total == bytes.len() {
                    log.torn_tail = Some(rest.len() as u64);
                    break;
                }
                return Err(corrupt(at, CorruptionKind::BadField(e.to_string())));
            }
            let signed = SignedCheckpoint::parse(frame.payload)
                .map_err(|e| corrupt(at, CorruptionKind::BadField(e.to_string())))?;
            let checkpoint = &signed.checkpoint;
            if checkpoint.origin != origin {
                return Err(corrupt(
                    at,
                    CorruptionKind::BadField(format!(
                        "checkpoint of origin `{}`, the log's is `{origin}`",
                        checkpoint.origin
                    )),
                ));
            }
            if log
                .latest
                .as_ref()
                .is_some_and(|l| l.checkpoint.tree_size > checkpoint.tree_size)
            {
                return Err(corrupt(
                    at,
                    CorruptionKind::BadField(
                        "checkpoint of a smaller tree than the one before".into(),
                    ),
                ));
            }
            log.offsets.push(at as u64);
            log.sizes.push(checkpoint.tree_size);
            log.latest = Some(signed);
            at += frame.total;
        }
        log.len = at as u64;
        Ok(log)
    }

    /// Bytes of an incomplete last frame found at open (cut, unless opened read-only).
    pub fn torn_tail(&self) -> Option<u64> {
        self.torn_tail
    }

    /// The number of checkpoints.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no checkpoint was issued yet.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The newest checkpoint.
    pub fn latest(&self) -> Option<&SignedCheckpoint> {
        self.latest.as_ref()
    }

    /// The last checkpoint kept at `tree_size`, if any (the log signs one per size; the
    /// cosigned log keeps the one with the most cosignatures last), read alone from the
    /// file: found through the index of sizes kept since open, not by reading every one.
    pub fn at_size(&self, tree_size: u64) -> Result<Option<SignedCheckpoint>> {
        let Some(i) = self
            .sizes
            .partition_point(|&s| s <= tree_size)
            .checked_sub(1)
        else {
            return Ok(None);
        };
        if self.sizes.get(i) != Some(&tree_size) {
            return Ok(None);
        }
        let (Some(&start), end) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
            return Ok(None);
        };
        let end = end.copied().unwrap_or(self.len);
        let io = |e| Error::io(format!("reading {}", self.path.display()), e);
        let len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| io(std::io::Error::other("a checkpoint frame too long")))?;
        let mut bytes = vec![0; len];
        self.storage
            .open(&self.path, OpenMode::Read)
            .and_then(|file| file.read_exact_at(&mut bytes, start))
            .map_err(io)?;
        parse_entry(&self.path, start, &bytes).map(Some)
    }

    /// Every checkpoint, oldest first, read back from the file.
    pub fn read_all(&self) -> Result<Vec<SignedCheckpoint>> {
        Ok(self.read_entries()?.into_iter().map(|(_, c)| c).collect())
    }

    /// Every checkpoint with the offset of its frame in the file, oldest first.
    pub fn read_entries(&self) -> Result<Vec<(u64, SignedCheckpoint)>> {
        if self.offsets.is_empty() {
            return Ok(Vec::new());
        }
        let io = |e| Error::io(format!("reading {}", self.path.display()), e);
        let bytes = read_all(self.storage.as_ref(), &self.path).map_err(io)?;
        self.offsets
            .iter()
            .map(|&offset| {
                let frame = bytes.get(offset as usize..).unwrap_or_default();
                parse_entry(&self.path, offset, frame).map(|signed| (offset, signed))
            })
            .collect()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `signed` durably: written, then fdatasynced. It must not be of a smaller
    /// tree than the latest.
    pub fn append(&mut self, signed: SignedCheckpoint) -> Result<()> {
        let size = signed.checkpoint.tree_size;
        if self.read_only {
            return Err(Error::InvalidArgument(
                "the checkpoint log is open read-only".into(),
            ));
        }
        if self
            .latest
            .as_ref()
            .is_some_and(|l| l.checkpoint.tree_size > size)
        {
            return Err(Error::InvalidArgument(format!(
                "a checkpoint of size {size} after one of a larger tree"
            )));
        }
        let path = self.path.clone();
        let io = |e| Error::io(format!("appending to {}", path.display()), e);
        let file = match &self.file {
            Some(file) => Arc::clone(file),
            None => self.create().map_err(io)?,
        };
        let mut frame = Vec::with_capacity(512);
        let start = begin_frame(&mut frame);
        frame.extend_from_slice(signed.to_text().as_bytes());
        finish_frame(&mut frame, start)
            .map_err(|e| Error::InvalidArgument(format!("checkpoint note refused: {e}")))?;
        if let Err(e) = file
            .write_all_at(&frame, self.len)
            .and_then(|()| file.sync_data())
        {
            // Nothing of it was handed out: cut whatever part landed.
            let _ = file.set_len(self.len);
            return Err(io(e));
        }
        self.offsets.push(self.len);
        self.sizes.push(size);
        self.len += frame.len() as u64;
        self.latest = Some(signed);
        Ok(())
    }

    /// Creates the file with its header, durably.
    fn create(&mut self) -> std::io::Result<Arc<dyn StorageFile>> {
        let file = self.storage.open(&self.path, OpenMode::CreateNew)?;
        file.write_all_at(&header(), 0)?;
        file.sync_data()?;
        if let Some(dir) = self.path.parent() {
            self.storage.sync_dir(dir)?;
        }
        self.len = HEADER_BYTES as u64;
        self.file = Some(Arc::clone(&file));
        Ok(file)
    }
}

/// The checkpoint whose frame starts `bytes` (at `offset` of the file at `path`), read
/// again after open: a frame or note that no longer checks is damage since.
fn parse_entry(path: &Path, offset: u64, bytes: &[u8]) -> Result<SignedCheckpoint> {
    let corrupt = |what: String| {
        Error::Corruption(Corruption::new(
            path,
            offset,
            CorruptionKind::BadField(what),
        ))
    };
    let frame = split_frame(bytes).map_err(|e| corrupt(e.to_string()))?;
    frame.check().map_err(|e| corrupt(e.to_string()))?;
    SignedCheckpoint::parse(frame.payload).map_err(|e| corrupt(e.to_string()))
}
