//! Proof generation (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF) over stored nodes.
//! Every hash a proof needs is either a stored perfect subtree or the fold of at most
//! log2(n) of them along the right edge, so a proof costs O(log n) node reads.

use super::{Hash, HashAlg, split_point};
use crate::error::{Error, Result};

/// Read access to the complete (perfect) subtree hashes of a tree: node `(level, index)`
/// covers leaves `[index << level, (index + 1) << level)`.
pub trait NodeSource {
    /// The hash algorithm of the tree.
    fn alg(&self) -> HashAlg;
    /// The stored hash of a complete node. Errors when it is not stored or unreadable.
    fn node(&self, level: u32, index: u64) -> Result<Hash>;
}

/// `MTH(D[lo:hi])` for a subtree of the RFC 9162 shape (`lo` aligned as the tree's own
/// splits produce it).
pub fn subtree_root(source: &dyn NodeSource, lo: u64, hi: u64) -> Result<Hash> {
    let n = hi - lo;
    if n == 0 {
        return Ok(source.alg().empty_root());
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return source.node(level, lo >> level);
    }
    let k = split_point(n);
    let left = subtree_root(source, lo, lo + k)?;
    let right = subtree_root(source, lo + k, hi)?;
    Ok(source.alg().hash_children(&left, &right))
}

/// The inclusion path of leaf `leaf_index` in the tree of `tree_size` leaves, leaf first.
pub fn inclusion_path(
    source: &dyn NodeSource,
    leaf_index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>> {
    if leaf_index >= tree_size {
        return Err(Error::InvalidArgument(format!(
            "leaf index {leaf_index} is not below tree size {tree_size}"
        )));
    }
    let mut path = Vec::with_capacity(64);
    push_path(source, leaf_index, 0, tree_size, &mut path)?;
    Ok(path)
}

fn push_path(source: &dyn NodeSource, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<()> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < lo + k {
        push_path(source, m, lo, lo + k, out)?;
        out.push(subtree_root(source, lo + k, hi)?);
    } else {
        push_path(source, m, lo + k, hi, out)?;
        out.push(subtree_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `size1` and `size2` leaves
/// (`0 < size1 <= size2`); empty when the sizes are equal.
pub fn consistency_path(source: &dyn NodeSource, size1: u64, size2: u64) -> Result<Vec<Hash>> {
    if size1 == 0 || size1 > size2 {
        return Err(Error::InvalidArgument(format!(
            "a consistency proof needs 0 < size1 <= size2, got size1 {size1}, size2 {size2}"
        )));
    }
    let mut path = Vec::with_capacity(64);
    push_subproof(source, size1, 0, size2, true, &mut path)?;
    Ok(path)
}

fn push_subproof(
    source: &dyn NodeSource,
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<()> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(subtree_root(source, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        push_subproof(source, m, lo, lo + k, complete, out)?;
        out.push(subtree_root(source, lo + k, hi)?);
    } else {
        push_subproof(source, m - k, lo + k, hi, false, out)?;
        out.push(subtree_root(source, lo, lo + k)?);
    }
    Ok(())
}

/// An in-memory node source built from leaf hashes; for tests and small trees.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    alg: HashAlg,
    /// `levels[l][i]` is node `(l, i)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// Builds every complete node above `leaf_hashes`.
    pub fn new(alg: HashAlg, leaf_hashes: &[Hash]) -> MemoryTree {
        let mut tree = MemoryTree {
            alg,
            levels: vec![Vec::new()],
        };
        let mut range = super::CompactRange::new(alg);
        for leaf in leaf_hashes {
            range.append(*leaf, |level, _, hash| {
                let level = level as usize;
                if tree.levels.len() <= level {
                    tree.levels.push(Vec::new());
                }
                if let Some(row) = tree.levels.get_mut(level) {
                    row.push(*hash);
                }
            });
        }
        tree
    }
}

impl NodeSource for MemoryTree {
    fn alg(&self) -> HashAlg {
        self.alg
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or_else(|| Error::InvalidArgument(format!("node ({level}, {index}) is not stored")))
    }
}
