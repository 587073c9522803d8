//! The Merkle tree of RFC 9162 §2.1: hashing, the compact range (frontier) of a growing
//! tree, proof generation over stored nodes, and proof verification. Pure: no I/O; node
//! lookups go through [`NodeSource`], implemented by the stored tree.

mod compact;
mod hasher;
mod multiproof;
mod proof;
mod proof_json;
mod verify;

pub use compact::CompactRange;
pub use hasher::{Hash, HashAlg};
pub use multiproof::{MultiproofError, multiproof, verify_multiproof};
pub use proof::{MemoryTree, NodeSource, consistency_path, inclusion_path, subtree_root};
pub use proof_json::{ConsistencyProof, InclusionProof, Proof, ProofParseError};
pub use verify::{ProofError, verify_consistency, verify_inclusion};

/// The largest power of two strictly smaller than `n` (`n >= 2`): where RFC 9162 splits
/// a tree of `n` leaves.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::split_point;

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
