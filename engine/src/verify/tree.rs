//! The stored level files, read front to back while the tree is grown from the records
//! (docs/FORMAT.md, "Level files"), and which one is to blame, the record or the stored
//! leaf hash, when they disagree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::frames::Places;
use super::{corrupt, corruption_offset};
use crate::error::{CorruptionKind, Error, Result};
use crate::merkle::{Hash, HashAlg};
use crate::storage::{OpenMode, Storage, StorageFile, read_range};
use crate::tree::{LEVEL_HEADER_BYTES, TREE_DIR, check_level_header, level_path};

/// Reads one level file front to back as the check asks for its nodes in index order.
struct LevelCursor {
    path: PathBuf,
    file: Option<Arc<dyn StorageFile>>,
    stored: u64,
    buf: Vec<u8>,
}

impl LevelCursor {
    const CHUNK_NODES: u64 = 1 << 16;

    fn open(storage: &dyn Storage, dir: &Path, alg: HashAlg, level: u32) -> Result<LevelCursor> {
        let path = level_path(&dir.join(TREE_DIR), level);
        let mut cursor = LevelCursor {
            path: path.clone(),
            file: None,
            stored: 0,
            buf: Vec::new(),
        };
        if storage.exists(&path) {
            let file = storage
                .open(&path, OpenMode::Read)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            let len = file
                .len()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let mut header = [0u8; LEVEL_HEADER_BYTES as usize];
            if len >= LEVEL_HEADER_BYTES {
                read_range(file.as_ref(), &path, &mut header, 0)?;
            }
            check_level_header(&path, &header, alg, level)?;
            cursor.stored = len.saturating_sub(LEVEL_HEADER_BYTES) / 32;
            cursor.file = Some(file);
        }
        Ok(cursor)
    }

    /// Compares the computed nodes `first..first + row.len()` with the stored ones, a
    /// slice at a time. Nodes past the stored end are not checked (the count says how many
    /// were).
    fn compare(&mut self, first: u64, row: &[Hash]) -> Result<Compared> {
        let end = self.stored.min(first + row.len() as u64);
        let mut index = first;
        while index < end {
            let Some(file) = &self.file else { break };
            let n = (end - index).min(Self::CHUNK_NODES) as usize;
            self.buf.resize(n * 32, 0);
            read_range(
                file.as_ref(),
                &self.path,
                &mut self.buf,
                LEVEL_HEADER_BYTES + index * 32,
            )?;
            let computed = row
                .get((index - first) as usize..)
                .and_then(|rest| rest.get(..n))
                .unwrap_or_default();
            if computed.as_flattened() != self.buf.as_slice() {
                let at = computed
                    .iter()
                    .zip(self.buf.chunks_exact(32))
                    .position(|(computed, stored)| computed[..] != *stored)
                    .unwrap_or(0);
                return Ok(Compared {
                    checked: index - first,
                    differs: Some(index + at as u64),
                });
            }
            index += n as u64;
        }
        Ok(Compared {
            checked: end.saturating_sub(first),
            differs: None,
        })
    }
}

/// What comparing a row of computed nodes with the stored level found.
struct Compared {
    /// Nodes found stored and equal.
    checked: u64,
    /// The first node whose stored hash differs.
    differs: Option<u64>,
}

/// The stored level files, each read front to back as the tree grows.
pub(super) struct StoredTree<'a> {
    storage: &'a dyn Storage,
    dir: &'a Path,
    alg: HashAlg,
    levels: Vec<LevelCursor>,
    /// Nodes found stored and equal so far.
    pub(super) nodes_checked: u64,
    /// Whether computed nodes were found missing at the end of a level file.
    pub(super) missing: bool,
    /// A leaf hash that differs from the stored one, not yet blamed (see [`LeafFault`]).
    pub(super) leaf_fault: Option<LeafFault>,
}

/// A record whose leaf hash differs from the stored leaf hash: either the record or the
/// level file changed. A root that the records contradict (a sealed segment's footer, a
/// signed checkpoint) blames the record; a footer that agrees with the records blames
/// the level file. Until then no more stored nodes are compared (they would all differ).
pub(super) struct LeafFault {
    /// The fault if the record changed: at its frame.
    pub(super) record: Error,
    /// The fault if the level file changed: at the stored leaf hash.
    pub(super) stored: Error,
}

impl<'a> StoredTree<'a> {
    /// The level files of the log in `dir`, none read yet.
    pub(super) fn new(storage: &'a dyn Storage, dir: &'a Path, alg: HashAlg) -> StoredTree<'a> {
        StoredTree {
            storage,
            dir,
            alg,
            levels: Vec::new(),
            nodes_checked: 0,
            missing: false,
            leaf_fault: None,
        }
    }

    /// Compares the computed nodes `first..` of `level` with the stored ones; a differing
    /// node is a fault, named with the records under it. A differing leaf whose record is
    /// in the segment at `places` is held as a [`LeafFault`].
    pub(super) fn check_row(
        &mut self,
        level: u32,
        first: u64,
        row: &[Hash],
        places: &Places<'_>,
    ) -> Result<()> {
        if self.leaf_fault.is_some() {
            return Ok(());
        }
        while self.levels.len() <= level as usize {
            let next = self.levels.len() as u32;
            let cursor = LevelCursor::open(self.storage, self.dir, self.alg, next)?;
            self.levels.push(cursor);
        }
        let Some(cursor) = self.levels.get_mut(level as usize) else {
            return Ok(());
        };
        let compared = cursor.compare(first, row)?;
        self.nodes_checked += compared.checked;
        let Some(index) = compared.differs else {
            self.missing |= compared.checked < row.len() as u64;
            return Ok(());
        };
        let record = places.name_record(index << level);
        let stored = corrupt(
            &cursor.path,
            LEVEL_HEADER_BYTES + index * 32,
            CorruptionKind::HashMismatch(format!(
                "stored tree node ({level}, {index}) differs from the one computed from the \
                 records{record}"
            )),
        );
        match (level == 0).then(|| places.record_fault(index)).flatten() {
            Some(record) => {
                self.leaf_fault = Some(LeafFault { record, stored });
                Ok(())
            }
            None => Err(stored),
        }
    }

    /// `root_fault`, a root the records contradict, or the changed record that explains it.
    pub(super) fn blame(&mut self, root_fault: Error) -> Error {
        self.leaf_fault.take().map_or(root_fault, |f| f.record)
    }

    /// `fault`, found in a segment's records, unless a record at or before it hashes
    /// differently from its stored leaf (one forged with a valid CRC): that one is the
    /// first fault in the file.
    pub(super) fn first_fault(&mut self, fault: Error) -> Error {
        match self.leaf_fault.take() {
            Some(leaf) if corruption_offset(&leaf.record) <= corruption_offset(&fault) => {
                leaf.record
            }
            _ => fault,
        }
    }
}
