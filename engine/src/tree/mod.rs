//! The stored Merkle tree: one file per level holding the hashes of its complete nodes in
//! index order (docs/FORMAT.md, "Tree level files"), plus a small state file naming the
//! tree size whose nodes are known durable. Nodes are derived data: recovery cuts the
//! level files back to the durable size and recomputes the rest from the records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::envelope::{Envelope, FORMAT_VERSION, seal_crc};
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::merkle::{CompactRange, Hash, HashAlg, NodeSource};
use crate::storage::{OpenMode, Storage, StorageFile, read_all, write_atomically};

/// The folder of tree files inside a data directory.
pub(crate) const TREE_DIR: &str = "tree";
/// Magic number of a level file.
pub(crate) const LEVEL_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'T', b'\r', b'\n', 0x1a, b'\n'];
/// Magic number of the tree state file.
pub(crate) const STATE_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'D', b'\r', b'\n', 0x1a, b'\n'];
/// Bytes before the first hash of a level file.
pub(crate) const LEVEL_HEADER_BYTES: u64 = 16;
const HASH_BYTES: u64 = 32;
const STATE_BYTES: usize = 28;

/// The level files of one log.
#[derive(Debug)]
pub(crate) struct TreeStore {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    alg: HashAlg,
    read_only: bool,
    levels: RwLock<Vec<Arc<dyn StorageFile>>>,
    /// Read-only opens cannot write the nodes they recompute past the durable size; they
    /// keep them here and serve them before the (possibly stale) files.
    overlay: RwLock<PendingNodes>,
}

/// `tree/level-NN.hashes` under the tree folder `dir`.
pub(crate) fn level_path(dir: &Path, level: u32) -> PathBuf {
    dir.join(format!("level-{level:02}.hashes"))
}

/// A level file's header: magic, version, hash code, level, reserved bytes; no CRC.
const LEVEL_ENVELOPE: Envelope = Envelope::of_format("level file header", LEVEL_MAGIC, 12..16);
/// The state file: magic, version, reserved bytes, the size, the CRC.
const STATE_ENVELOPE: Envelope = Envelope::of_format("tree state", STATE_MAGIC, 10..16);

fn level_header(alg: HashAlg, level: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(LEVEL_HEADER_BYTES as usize);
    LEVEL_ENVELOPE.begin(&mut h, FORMAT_VERSION);
    h.extend_from_slice(&[alg.code(), level as u8, 0, 0, 0, 0]);
    h
}

/// Checks the 16-byte header of the level file for `level` of a log hashing with `alg`.
pub(crate) fn check_level_header(
    path: &Path,
    header: &[u8],
    alg: HashAlg,
    level: u32,
) -> Result<()> {
    let corrupt = |offset, kind| Err(Error::Corruption(Corruption::new(path, offset, kind)));
    if let Err((offset, kind)) = LEVEL_ENVELOPE.check(header, None) {
        return corrupt(offset, kind);
    }
    if header.get(10) != Some(&alg.code()) || header.get(11) != Some(&(level as u8)) {
        return corrupt(
            10,
            CorruptionKind::BadField("level file of another algorithm or level".into()),
        );
    }
    Ok(())
}

/// The tree size whose nodes were made durable (0 if never), from `tree/state`. Read it
/// before anything else of a log another process may be writing: it only advances after
/// the records and level files it covers are durable.
pub(crate) fn read_durable_size(storage: &dyn Storage, data_dir: &Path) -> Result<u64> {
    let path = data_dir.join(TREE_DIR).join("state");
    if !storage.exists(&path) {
        return Ok(0);
    }
    let bytes = read_all(storage, &path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let corrupt = |offset, kind| Error::Corruption(Corruption::new(&path, offset, kind));
    if bytes.len() != STATE_BYTES || bytes.get(..8) != Some(&STATE_MAGIC[..]) {
        return Err(corrupt(0, CorruptionKind::BadMagic));
    }
    STATE_ENVELOPE
        .check(&bytes, Some(24))
        .map_err(|(offset, kind)| corrupt(offset, kind))?;
    Ok(crate::le::u64_at(&bytes, 16).unwrap_or(0))
}

/// How many complete nodes level `level` has in a tree of `size` leaves.
pub(crate) fn nodes_at(size: u64, level: u32) -> u64 {
    size >> level
}

impl TreeStore {
    /// Opens (creating if needed) the level files under `data_dir/tree`.
    pub(crate) fn open(
        storage: Arc<dyn Storage>,
        data_dir: &Path,
        alg: HashAlg,
        read_only: bool,
    ) -> Result<TreeStore> {
        let dir = data_dir.join(TREE_DIR);
        if !read_only {
            storage
                .create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let store = TreeStore {
            dir,
            storage,
            alg,
            read_only,
            levels: RwLock::new(Vec::new()),
            overlay: RwLock::new(PendingNodes::default()),
        };
        let mut level = 0;
        loop {
            let path = level_path(&store.dir, level);
            if !store.storage.exists(&path) {
                // Levels above a missing one are useless (and would block creating it
                // again): a writer removes them; recovery rebuilds what is needed.
                if !read_only {
                    for above in level + 1..64 {
                        let path = level_path(&store.dir, above);
                        if store.storage.exists(&path) {
                            let io = |e| Error::io(format!("removing {}", path.display()), e);
                            store.storage.remove(&path).map_err(io)?;
                        }
                    }
                }
                break;
            }
            let mode = if read_only {
                OpenMode::Read
            } else {
                OpenMode::ReadWrite
            };
            let file = store
                .storage
                .open(&path, mode)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            let mut header = [0u8; LEVEL_HEADER_BYTES as usize];
            let readable = file.read_exact_at(&mut header, 0).is_ok();
            if !readable || check_level_header(&path, &header, alg, level).is_err() {
                if read_only {
                    // Derived data: a reader goes without this level and those above it.
                    break;
                }
                // A level file whose header never became durable (or was damaged) is
                // started again; recovery then rebuilds the nodes from the records.
                let io = |e| Error::io(format!("resetting {}", path.display()), e);
                file.set_len(0).map_err(io)?;
                file.write_all_at(&level_header(alg, level), 0)
                    .map_err(io)?;
            }
            store.levels.write().push(file);
            level += 1;
        }
        Ok(store)
    }

    fn level_file(&self, level: u32) -> Result<Arc<dyn StorageFile>> {
        if let Some(file) = self.levels.read().get(level as usize) {
            return Ok(Arc::clone(file));
        }
        let mut levels = self.levels.write();
        while levels.len() <= level as usize {
            let l = levels.len() as u32;
            let path = level_path(&self.dir, l);
            let io = |e| Error::io(format!("creating {}", path.display()), e);
            let file = self.storage.open(&path, OpenMode::CreateNew).map_err(io)?;
            file.write_all_at(&level_header(self.alg, l), 0)
                .map_err(io)?;
            levels.push(file);
        }
        self.storage
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("syncing the tree folder", e))?;
        levels
            .get(level as usize)
            .cloned()
            .ok_or_else(|| Error::InvalidArgument(format!("tree level {level} is missing")))
    }

    /// Writes consecutive nodes of one level starting at `first_index`.
    pub(crate) fn write_nodes(
        &self,
        level: u32,
        first_index: u64,
        hashes: &[u8],
    ) -> std::io::Result<()> {
        let file = self.level_file(level).map_err(std::io::Error::other)?;
        file.write_all_at(hashes, LEVEL_HEADER_BYTES + first_index * HASH_BYTES)
    }

    /// Makes every level file durable, then records `size` as the durable tree size.
    pub(crate) fn sync(&self, size: u64) -> std::io::Result<()> {
        let levels: Vec<_> = self.levels.read().clone();
        for file in &levels {
            file.sync_data()?;
        }
        let mut state = Vec::with_capacity(STATE_BYTES);
        STATE_ENVELOPE.begin(&mut state, FORMAT_VERSION);
        state.extend_from_slice(&[0; 6]);
        state.extend_from_slice(&size.to_le_bytes());
        seal_crc(&mut state, 0);
        write_atomically(self.storage.as_ref(), &self.dir.join("state"), &state)
    }

    /// Serves `nodes` in place of the stored ones (read-only opens; see `overlay`).
    pub(crate) fn set_overlay(&self, nodes: PendingNodes) {
        *self.overlay.write() = nodes;
    }

    /// Cuts every level back to the nodes of a tree of `size` leaves.
    pub(crate) fn truncate_to(&self, size: u64) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let levels: Vec<_> = self.levels.read().clone();
        for (level, file) in levels.iter().enumerate() {
            let len = LEVEL_HEADER_BYTES + nodes_at(size, level as u32) * HASH_BYTES;
            let current = file
                .len()
                .map_err(|e| Error::io("reading a level file length", e))?;
            if current > len {
                file.set_len(len)
                    .map_err(|e| Error::io("truncating a level file", e))?;
            }
        }
        Ok(())
    }

    /// How many nodes of `level` are stored (whatever their durability).
    pub(crate) fn stored_nodes(&self, level: u32) -> Result<u64> {
        match self.levels.read().get(level as usize) {
            None => Ok(0),
            Some(file) => {
                let len = file
                    .len()
                    .map_err(|e| Error::io("reading a level file length", e))?;
                Ok(len.saturating_sub(LEVEL_HEADER_BYTES) / HASH_BYTES)
            }
        }
    }

    /// The compact range of the tree of `size` leaves, from stored nodes.
    pub(crate) fn compact_range(&self, size: u64) -> Result<CompactRange> {
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                hashes.push(self.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        CompactRange::from_parts(self.alg, size, hashes)
            .ok_or_else(|| Error::InvalidArgument(format!("no compact range for size {size}")))
    }
}

impl TreeStore {
    /// `count` consecutive nodes of `level` from `first`, 32 bytes each: one read of the
    /// level file (node by node where a read-only open keeps nodes in memory).
    pub(crate) fn read_nodes(&self, level: u32, first: u64, count: u64) -> Result<Vec<u8>> {
        let end = first.saturating_add(count);
        if !self.overlay.read().is_empty() {
            let mut out = Vec::with_capacity(count as usize * HASH_BYTES as usize);
            for index in first..end {
                out.extend_from_slice(&self.node(level, index)?);
            }
            return Ok(out);
        }
        if end > self.stored_nodes(level)? {
            return Err(Error::InvalidArgument(format!(
                "tree nodes ({level}, {first}..{end}) are not stored"
            )));
        }
        let file = self.levels.read().get(level as usize).cloned();
        let file = file
            .ok_or_else(|| Error::InvalidArgument(format!("tree level {level} is not stored")))?;
        let mut out = vec![0u8; (count * HASH_BYTES) as usize];
        file.read_exact_at(&mut out, LEVEL_HEADER_BYTES + first * HASH_BYTES)
            .map_err(|e| Error::io(format!("reading tree nodes ({level}, {first}..{end})"), e))?;
        Ok(out)
    }
}

impl NodeSource for TreeStore {
    fn alg(&self) -> HashAlg {
        self.alg
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        if let Some(hash) = self.overlay.read().get(level, index) {
            return Ok(hash);
        }
        let file = self
            .levels
            .read()
            .get(level as usize)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidArgument(format!("tree node ({level}, {index}) is not stored"))
            })?;
        let mut hash = [0u8; 32];
        file.read_exact_at(&mut hash, LEVEL_HEADER_BYTES + index * HASH_BYTES)
            .map_err(|e| Error::io(format!("reading tree node ({level}, {index})"), e))?;
        Ok(hash)
    }
}

/// Nodes computed but not yet written, grouped per level into runs of consecutive indexes
/// so each level costs one write.
#[derive(Debug, Default)]
pub(crate) struct PendingNodes {
    levels: Vec<(u64, Vec<u8>)>,
}

impl PendingNodes {
    /// Records node `(level, index)`; nodes of a level arrive in index order.
    pub(crate) fn push(&mut self, level: u32, index: u64, hash: &Hash) {
        self.push_run(level, index, std::slice::from_ref(hash));
    }

    /// Records the nodes of `level` from index `first` on, the next ones in index order.
    pub(crate) fn push_run(&mut self, level: u32, first: u64, hashes: &[Hash]) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, || (0, Vec::new()));
        }
        if let Some((start, bytes)) = self.levels.get_mut(level) {
            if bytes.is_empty() {
                *start = first;
            }
            bytes.extend_from_slice(hashes.as_flattened());
        }
    }

    /// Writes every pending node and forgets them.
    pub(crate) fn write_to(&mut self, tree: &TreeStore) -> std::io::Result<()> {
        for (level, (first, bytes)) in self.levels.iter_mut().enumerate() {
            if !bytes.is_empty() {
                tree.write_nodes(level as u32, *first, bytes)?;
                bytes.clear();
            }
        }
        Ok(())
    }

    /// Forgets every pending node.
    pub(crate) fn clear(&mut self) {
        for (_, bytes) in &mut self.levels {
            bytes.clear();
        }
    }

    /// Whether no node is held here.
    fn is_empty(&self) -> bool {
        self.levels.iter().all(|(_, bytes)| bytes.is_empty())
    }

    /// A pending node, if it is held here.
    fn get(&self, level: u32, index: u64) -> Option<Hash> {
        let (first, bytes) = self.levels.get(level as usize)?;
        let at = usize::try_from(index.checked_sub(*first)?.checked_mul(HASH_BYTES)?).ok()?;
        crate::le::hash_at(bytes, at)
    }
}
