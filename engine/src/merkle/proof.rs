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

/// An in-memory tree of every complete node, built from leaf hashes, that grows by a
/// leaf and changes a leaf in O(log n) hashes: for tests, and for small trees that change
/// in place (the tenant heads of a checkpoint).
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
        for leaf in leaf_hashes {
            tree.push(*leaf);
        }
        tree
    }

    /// Leaves in the tree.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf and the complete nodes it finishes.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(node);
            if row.len() % 2 == 1 {
                return;
            }
            node = self
                .alg
                .hash_children(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Replaces leaf `index` (which must exist) and the complete nodes above it.
    pub fn set(&mut self, index: u64, leaf: Hash) {
        let Ok(mut i) = usize::try_from(index) else {
            return;
        };
        let Some(slot) = self.levels.first_mut().and_then(|row| row.get_mut(i)) else {
            return;
        };
        *slot = leaf;
        for level in 1..self.levels.len() {
            i /= 2;
            let below = &self.levels[level - 1];
            let (Some(left), Some(right)) = (below.get(2 * i), below.get(2 * i + 1)) else {
                return;
            };
            let parent = self.alg.hash_children(left, right);
            match self.levels[level].get_mut(i) {
                Some(node) => *node = parent,
                None => return,
            }
        }
    }

    /// The tree head of all its leaves.
    pub fn root(&self) -> Hash {
        subtree_root(self, 0, self.len()).unwrap_or_else(|_| self.alg.empty_root())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_leaf_gives_the_tree_built_afresh() {
        let alg = HashAlg::Blake3;
        let mut leaves: Vec<Hash> = (0..37u8).map(|i| alg.hash_leaf(&[i])).collect();
        let mut tree = MemoryTree::new(alg, &[]);
        assert_eq!(tree.root(), alg.empty_root());
        for (n, leaf) in leaves.iter().enumerate() {
            tree.push(*leaf);
            assert_eq!(tree.root(), MemoryTree::new(alg, &leaves[..=n]).root());
        }
        for i in [0usize, 5, 31, 32, 36] {
            leaves[i] = alg.hash_leaf(b"changed");
            tree.set(i as u64, leaves[i]);
            let fresh = MemoryTree::new(alg, &leaves);
            assert_eq!(tree.root(), fresh.root(), "leaf {i}");
            assert_eq!(
                inclusion_path(&tree, i as u64, 37).expect("path"),
                inclusion_path(&fresh, i as u64, 37).expect("path")
            );
        }
    }
}
