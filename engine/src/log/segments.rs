//! What a log tells about its sealed segments: the files and facts an archive copies and
//! names (docs/FORMAT.md, "Archive").

use std::path::PathBuf;

use super::Log;
use crate::event::Timestamp;
use crate::index::index_path;
use crate::merkle::Hash;

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
                bytes: s.bytes().len() as u64,
            })
            .collect()
    }
}
