//! The compact range of a tree of `size` leaves: the roots of the perfect subtrees that
//! its binary decomposition names, largest (leftmost) first. It is all the state needed
//! to append leaves and compute the root, and it is what a segment header stores so the
//! segment can be checked on its own (docs/FORMAT.md, "Segment header").

use std::borrow::Cow;

use super::{Hash, HashAlg};

/// The frontier of a growing RFC 9162 tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRange {
    alg: HashAlg,
    size: u64,
    /// One hash per set bit of `size`, from the highest bit to the lowest.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The compact range of the empty tree.
    pub fn new(alg: HashAlg) -> CompactRange {
        CompactRange {
            alg,
            size: 0,
            hashes: Vec::new(),
        }
    }

    /// Rebuilds a compact range from stored parts; `None` unless there is exactly one hash
    /// per set bit of `size`.
    pub fn from_parts(alg: HashAlg, size: u64, hashes: Vec<Hash>) -> Option<CompactRange> {
        (hashes.len() == size.count_ones() as usize).then_some(CompactRange { alg, size, hashes })
    }

    /// The number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The hash algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Appends a leaf hash. `visit(level, index, hash)` sees the leaf node itself and then
    /// every interior node that the append completes, bottom-up, so a store can persist them.
    pub fn append(&mut self, leaf_hash: Hash, mut visit: impl FnMut(u32, u64, &Hash)) {
        let position = self.size;
        visit(0, position, &leaf_hash);
        let mut hash = leaf_hash;
        let mut level = 0u32;
        // Each trailing one bit of the old size is a perfect subtree that the new leaf
        // completes into a subtree twice its size.
        while (position >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = self.alg.hash_children(&left, &hash);
            level += 1;
            visit(level, position >> level, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// Appends many leaf hashes at once, hashing each level's new nodes together (so BLAKE3
    /// fills its SIMD lanes). `visit(level, first, row)` sees the new leaves and then each
    /// level's completed interior nodes as one row of consecutive nodes from index
    /// `first`, level after level.
    pub fn extend(&mut self, leaves: &[Hash], mut visit: impl FnMut(u32, u64, &[Hash])) {
        // Rows are hashed in place of copying the leaves; an odd first index pairs with
        // its left sibling from the frontier, hashed on its own.
        let mut row = Cow::Borrowed(leaves);
        let mut first = self.size;
        let mut level = 0u32;
        // Subtree roots the new size leaves behind, lowest level first.
        let mut new_roots = Vec::new();
        while !row.is_empty() {
            visit(level, first, &row);
            let mut rest: &[Hash] = &row;
            let mut parents = Vec::with_capacity(rest.len() / 2 + 1);
            if first & 1 == 1 {
                let (Some(left), Some((right, tail))) = (self.hashes.pop(), rest.split_first())
                else {
                    break;
                };
                parents.push(self.alg.hash_children(&left, right));
                rest = tail;
            }
            if rest.len() % 2 == 1 {
                new_roots.extend(rest.last().copied());
                rest = &rest[..rest.len() - 1];
            }
            let done = parents.len();
            parents.resize(done + rest.len() / 2, [0u8; 32]);
            self.alg.hash_pairs(rest, &mut parents[done..]);
            row = Cow::Owned(parents);
            first /= 2;
            level += 1;
        }
        self.hashes.extend(new_roots.into_iter().rev());
        self.size += leaves.len() as u64;
    }

    /// The tree head: `MTH(D[0:size])`.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return self.alg.empty_root();
        };
        iter.fold(*last, |acc, left| self.alg.hash_children(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH from RFC 9162 §2.1.1, written directly from the definition.
    pub(crate) fn reference_root(alg: HashAlg, leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => alg.empty_root(),
            1 => leaves[0],
            n => {
                let k = crate::merkle::split_point(n as u64) as usize;
                let l = reference_root(alg, &leaves[..k]);
                let r = reference_root(alg, &leaves[k..]);
                alg.hash_children(&l, &r)
            }
        }
    }

    #[test]
    fn root_matches_reference_for_every_size() {
        let alg = HashAlg::Blake3;
        let leaves: Vec<Hash> = (0..70u32)
            .map(|i| alg.hash_leaf(&i.to_le_bytes()))
            .collect();
        let mut range = CompactRange::new(alg);
        assert_eq!(range.root(), alg.empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            range.append(*leaf, |_, _, _| {});
            assert_eq!(
                range.root(),
                reference_root(alg, &leaves[..=i]),
                "size {}",
                i + 1
            );
            assert_eq!(range.hashes().len(), range.size().count_ones() as usize);
        }
    }

    #[test]
    fn append_visits_completed_nodes() {
        let alg = HashAlg::Sha256;
        let mut range = CompactRange::new(alg);
        let mut seen = Vec::new();
        for i in 0..4u8 {
            range.append(alg.hash_leaf(&[i]), |level, index, _| {
                seen.push((level, index))
            });
        }
        assert_eq!(
            seen,
            vec![(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0)]
        );
    }

    #[test]
    fn extend_equals_appending_one_by_one() {
        let alg = HashAlg::Blake3;
        let leaves: Vec<Hash> = (0..300u32)
            .map(|i| alg.hash_leaf(&i.to_le_bytes()))
            .collect();
        for step in [1usize, 2, 3, 7, 8, 64, 100, 300] {
            let mut one_by_one = CompactRange::new(alg);
            let mut expected = Vec::new();
            let mut batched = CompactRange::new(alg);
            let mut seen = Vec::new();
            for part in leaves.chunks(step) {
                for leaf in part {
                    one_by_one.append(*leaf, |l, i, h| expected.push((l, i, *h)));
                }
                batched.extend(part, |l, first, row| {
                    seen.extend((first..).zip(row).map(|(i, h)| (l, i, *h)));
                });
                assert_eq!(batched, one_by_one, "step {step}");
                assert_eq!(batched.root(), one_by_one.root());
            }
            // The same nodes, and within each level in index order.
            for pair in seen.windows(2) {
                if pair[0].0 == pair[1].0 {
                    assert!(pair[0].1 < pair[1].1, "step {step}");
                }
            }
            expected.sort_unstable();
            seen.sort_unstable();
            assert_eq!(seen, expected, "step {step}");
        }
    }

    #[test]
    fn from_parts_checks_shape() {
        let alg = HashAlg::Blake3;
        assert!(CompactRange::from_parts(alg, 5, vec![[0; 32]; 2]).is_some());
        assert!(CompactRange::from_parts(alg, 5, vec![[0; 32]; 1]).is_none());
    }
}
