//! One proof for many leaves: the inclusion of a set of leaves in the tree of `tree_size`
//! leaves, sharing every node two of them would need. It lists, in order, the roots of
//! the largest subtrees that hold no proven leaf, found by walking the RFC 9162 tree shape
//! from the root: a subtree with a proven leaf splits at `split_point`, left then right;
//! a subtree without one is a single listed node. The verifier walks the same shape,
//! taking a listed node where no proven leaf is and the leaf's hash where one is. For k
//! leaves it lists at most about `k · log2(tree_size / k)` nodes, fewer when the leaves
//! cluster.

use super::proof::{NodeSource, subtree_root};
use super::{Hash, HashAlg, split_point};
use crate::error::Result;

/// The listed nodes proving `leaves` (sorted, distinct, each below `tree_size`) in the tree
/// of `tree_size` leaves.
pub fn multiproof(source: &dyn NodeSource, leaves: &[u64], tree_size: u64) -> Result<Vec<Hash>> {
    let mut nodes = Vec::new();
    collect(source, 0, tree_size, leaves, &mut nodes)?;
    Ok(nodes)
}

fn collect(
    source: &dyn NodeSource,
    lo: u64,
    hi: u64,
    leaves: &[u64],
    nodes: &mut Vec<Hash>,
) -> Result<()> {
    if leaves.is_empty() {
        nodes.push(subtree_root(source, lo, hi)?);
        return Ok(());
    }
    if hi - lo <= 1 {
        return Ok(());
    }
    let mid = lo + split_point(hi - lo);
    let split = leaves.partition_point(|&leaf| leaf < mid);
    collect(source, lo, mid, &leaves[..split], nodes)?;
    collect(source, mid, hi, &leaves[split..], nodes)
}

/// Why a multiproof does not prove its leaves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultiproofError {
    /// The leaves are not sorted, distinct and below the tree size.
    #[error("leaf indexes must rise and stay below the tree size {0}")]
    BadLeaves(u64),
    /// The proof has too few or too many nodes for those leaves.
    #[error("the proof has {found} nodes where the leaves need {needed}")]
    WrongLength {
        /// Nodes the walk consumed or needed.
        needed: usize,
        /// Nodes given.
        found: usize,
    },
    /// The recomputed root differs from the expected one.
    #[error("the leaves and proof make another root than the one expected")]
    RootMismatch,
}

/// Checks that `leaves` (index and leaf hash, sorted by index) are in the tree of
/// `tree_size` leaves with root `root`, given the listed `nodes`.
pub fn verify_multiproof(
    alg: HashAlg,
    leaves: &[(u64, Hash)],
    tree_size: u64,
    nodes: &[Hash],
    root: &Hash,
) -> std::result::Result<(), MultiproofError> {
    let rising = leaves.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if !rising || leaves.last().is_some_and(|&(index, _)| index >= tree_size) {
        return Err(MultiproofError::BadLeaves(tree_size));
    }
    if tree_size == 0 {
        return match (leaves.is_empty(), nodes) {
            (true, []) if *root == alg.empty_root() => Ok(()),
            (true, []) => Err(MultiproofError::RootMismatch),
            _ => Err(MultiproofError::WrongLength {
                needed: 0,
                found: nodes.len(),
            }),
        };
    }
    let mut next = 0usize;
    let computed =
        fold(alg, 0, tree_size, leaves, nodes, &mut next).ok_or(MultiproofError::WrongLength {
            needed: next + 1,
            found: nodes.len(),
        })?;
    if next != nodes.len() {
        return Err(MultiproofError::WrongLength {
            needed: next,
            found: nodes.len(),
        });
    }
    if computed != *root {
        return Err(MultiproofError::RootMismatch);
    }
    Ok(())
}

/// `MTH(D[lo:hi])` from the proven leaves in it and the listed nodes from `next` on;
/// `None` when the nodes run out.
fn fold(
    alg: HashAlg,
    lo: u64,
    hi: u64,
    leaves: &[(u64, Hash)],
    nodes: &[Hash],
    next: &mut usize,
) -> Option<Hash> {
    if leaves.is_empty() {
        let node = nodes.get(*next).copied();
        *next += 1;
        return node;
    }
    if hi - lo <= 1 {
        // Sorted, distinct and inside [lo, hi): exactly the one leaf.
        return leaves.first().map(|&(_, hash)| hash);
    }
    let mid = lo + split_point(hi - lo);
    let split = leaves.partition_point(|&(index, _)| index < mid);
    let left = fold(alg, lo, mid, &leaves[..split], nodes, next)?;
    let right = fold(alg, mid, hi, &leaves[split..], nodes, next)?;
    Some(alg.hash_children(&left, &right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    fn tree(n: u64) -> (MemoryTree, Vec<Hash>) {
        let alg = HashAlg::Blake3;
        let leaves: Vec<Hash> = (0..n).map(|i| alg.hash_leaf(&i.to_le_bytes())).collect();
        (MemoryTree::new(alg, &leaves), leaves)
    }

    proptest::proptest! {
        #[test]
        fn every_subset_proves_and_any_change_fails(
            n in 1u64..300,
            picks in proptest::collection::btree_set(0u64..300, 0..40),
            flip in 0usize..1000,
        ) {
            let alg = HashAlg::Blake3;
            let (tree, hashes) = tree(n);
            let root = subtree_root(&tree, 0, n).expect("root");
            let chosen: Vec<u64> = picks.into_iter().filter(|&i| i < n).collect();
            let nodes = multiproof(&tree, &chosen, n).expect("proof");
            let leaves: Vec<(u64, Hash)> =
                chosen.iter().map(|&i| (i, hashes[i as usize])).collect();
            proptest::prop_assert_eq!(verify_multiproof(alg, &leaves, n, &nodes, &root), Ok(()));
            // An altered leaf or node, a dropped leaf, or a dropped node: refused.
            if !leaves.is_empty() {
                let mut altered = leaves.clone();
                altered[flip % leaves.len()].1[0] ^= 1;
                proptest::prop_assert!(verify_multiproof(alg, &altered, n, &nodes, &root).is_err());
                let mut dropped = leaves.clone();
                dropped.remove(flip % leaves.len());
                proptest::prop_assert!(verify_multiproof(alg, &dropped, n, &nodes, &root).is_err());
            }
            if !nodes.is_empty() {
                let mut altered = nodes.clone();
                altered[flip % nodes.len()][31] ^= 1;
                proptest::prop_assert!(verify_multiproof(alg, &leaves, n, &altered, &root).is_err());
                proptest::prop_assert!(
                    verify_multiproof(alg, &leaves, n, &nodes[1..], &root).is_err()
                );
            }
        }
    }

    #[test]
    fn neighbours_share_their_nodes() {
        let (tree, hashes) = tree(1 << 12);
        let all: Vec<u64> = (0..1 << 12).collect();
        assert!(multiproof(&tree, &all, 1 << 12).expect("proof").is_empty());
        let run: Vec<u64> = (1000..1100).collect();
        let nodes = multiproof(&tree, &run, 1 << 12).expect("proof");
        assert!(
            nodes.len() < 2 * 12,
            "{} nodes for a run of 100",
            nodes.len()
        );
        let leaves: Vec<(u64, Hash)> = run.iter().map(|&i| (i, hashes[i as usize])).collect();
        assert_eq!(
            verify_multiproof(
                HashAlg::Blake3,
                &leaves,
                1 << 12,
                &nodes,
                &subtree_root(&tree, 0, 1 << 12).expect("root")
            ),
            Ok(())
        );
    }
}
