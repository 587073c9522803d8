//! What a log tells about its sealed segments: the files and facts an archive copies and
//! names (docs/FORMAT.md, "Archive").

use std::path::PathBuf;
use std::sync::Arc;

use super::Log;
use crate::error::{Error, Result};
use crate::event::Timestamp;
use crate::index::index_path;
use crate::merkle::Hash;
use crate::segment::{SEGMENTS_DIR, stub_path};
use crate::storage::write_atomically;

/// A sealed segment of the log: immutable, and so safe to copy while the log runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// Its index file (derived data, rebuilt from the segment when missing).
    pub index_path: PathBuf,
    /// Sequence number of its first record.
    pub base_seq: u64,
    /// The tree size after its last record: its records are `base_seq..tree_size`.
    pub tree_size: u64,
    /// The tree head at `tree_size`, from its footer.
    pub root: Hash,
    /// The earliest event timestamp in it.
    pub min_timestamp: Timestamp,
    /// The latest event timestamp in it.
    pub max_timestamp: Timestamp,
    /// The file's length in bytes.
    pub bytes: u64,
    /// Whether the file is on the local disk (else it was archived and released, and only
    /// its stub is).
    pub local: bool,
}

impl Log {
    /// Every sealed segment, oldest first (the active segment is not among them).
    pub fn sealed_segments(&self) -> Vec<SealedSegmentInfo> {
        let view = self.shared.view.read();
        view.sealed
            .iter()
            .map(|s| SealedSegmentInfo {
                path: s.path.clone(),
                index_path: index_path(&s.path),
                base_seq: s.base(),
                tree_size: s.end(),
                root: s.footer.root,
                min_timestamp: s.footer.min_timestamp,
                max_timestamp: s.footer.max_timestamp,
                bytes: s.file_len,
                local: s.is_local(),
            })
            .collect()
    }
}

/// What [`Log::release_segment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The file was removed; its stub stands for it. The bytes freed.
    Released(u64),
    /// It had been released before.
    AlreadyReleased,
}

impl Log {
    /// Releases the file of the sealed segment that begins at `base_seq` from the local
    /// disk, for its archived copy, whose BLAKE3 hash the caller has read back from the
    /// archive and gives as `archived_blake3`: if the local file hashes otherwise,
    /// nothing is removed. A stub (docs/FORMAT.md, "Archived segment stub") is written
    /// first and made durable, then the file is removed: a crash between the two leaves
    /// both, and the file counts. Readers that hold the segment keep reading the file they
    /// mapped; later ones read it through the log's storage, which must fetch it from the
    /// archive. Its index file (written first if it was missing) and its tree nodes stay.
    /// Only a segment the newest signed checkpoint covers is released: opening the log
    /// reads the records past that checkpoint.
    pub fn release_segment(&self, base_seq: u64, archived_blake3: &[u8; 32]) -> Result<Release> {
        if !self.shared.writable {
            return Err(Error::InvalidArgument(
                "a log opened read-only cannot release segments".into(),
            ));
        }
        let _one_at_a_time = self.shared.releasing.lock();
        let segment = {
            let view = self.shared.view.read();
            let found = view.sealed.iter().find(|s| s.base() == base_seq);
            Arc::clone(found.ok_or_else(|| {
                Error::InvalidArgument(format!("no sealed segment begins at {base_seq}"))
            })?)
        };
        if !segment.is_local() {
            return Ok(Release::AlreadyReleased);
        }
        // Opening the log reads the records past the newest checkpoint: they stay local.
        let signed = self
            .latest_checkpoint()
            .map_or(0, |c| c.checkpoint.tree_size);
        if segment.end() > signed {
            return Err(Error::InvalidArgument(format!(
                "{} ends at {}, past the newest signed checkpoint ({signed}): sign one first",
                segment.path.display(),
                segment.end()
            )));
        }
        // Its index file must be there: opening and planning read it instead of the records.
        self.sealed_index(&segment)?;
        let Some(stub) = segment.stub() else {
            return Ok(Release::AlreadyReleased);
        };
        if &stub.blake3 != archived_blake3 {
            return Err(Error::InvalidArgument(format!(
                "{} differs from its archived copy: kept",
                segment.path.display()
            )));
        }
        let storage = self.shared.storage.as_ref();
        let stub_at = stub_path(&self.shared.dir, base_seq);
        write_atomically(storage, &stub_at, &stub.to_bytes())
            .map_err(|e| Error::io(format!("writing {}", stub_at.display()), e))?;
        let released = Arc::new(segment.released(stub));
        {
            let mut view = self.shared.view.write();
            if let Some(slot) = view.sealed.iter_mut().find(|s| s.base() == base_seq) {
                *slot = released;
            }
        }
        let io = |e| Error::io(format!("removing {}", segment.path.display()), e);
        storage.remove(&segment.path).map_err(io)?;
        let dir = self.shared.dir.join(SEGMENTS_DIR);
        storage.sync_dir(&dir).map_err(io)?;
        Ok(Release::Released(segment.file_len))
    }
}
