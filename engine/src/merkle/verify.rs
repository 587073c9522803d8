//! Proof verification exactly as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
//! describe it, with the policy of docs/PROOFS.md: every hash is exactly 32 bytes,
//! `leaf_index < tree_size`, `0 < size1 <= size2`, and for `size1 == size2` only an empty
//! path with equal roots is valid. Sizes are `u64`; nothing here can overflow.

use super::{Hash, HashAlg};

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A hash is not 32 bytes long.
    #[error("{what} is {len} bytes long, not 32")]
    BadHashLength {
        /// Which hash.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// `leaf_index >= tree_size`.
    #[error("leaf index {leaf_index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// The leaf index claimed.
        leaf_index: u64,
        /// The tree size claimed.
        tree_size: u64,
    },
    /// The sizes of a consistency proof are not `0 < size1 <= size2`.
    #[error("consistency needs 0 < size1 <= size2, got {size1} and {size2}")]
    BadSizes {
        /// The old tree size.
        size1: u64,
        /// The new tree size.
        size2: u64,
    },
    /// The path has more or fewer elements than the sizes allow.
    #[error("the proof path has the wrong number of elements ({len})")]
    WrongPathLength {
        /// Elements in the path.
        len: usize,
    },
    /// The recomputed root differs from the claimed one.
    #[error("the recomputed {which} does not match the claimed one")]
    RootMismatch {
        /// `root`, `root1` or `root2`.
        which: &'static str,
    },
}

fn to_hash(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

fn to_hashes<T: AsRef<[u8]>>(path: &[T]) -> Result<Vec<Hash>, ProofError> {
    path.iter()
        .map(|p| to_hash("a path element", p.as_ref()))
        .collect()
}

/// Checks that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves with
/// root `root`, given the audit `path` (leaf first).
pub fn verify_inclusion<T: AsRef<[u8]>>(
    alg: HashAlg,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &[u8],
    path: &[T],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf_hash = to_hash("the leaf hash", leaf_hash)?;
    let root = to_hash("the root", root)?;
    let path = to_hashes(path)?;
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            leaf_index,
            tree_size,
        });
    }
    let wrong_length = ProofError::WrongPathLength { len: path.len() };
    let (mut fnode, mut snode) = (leaf_index, tree_size - 1);
    let mut r = leaf_hash;
    for p in &path {
        if snode == 0 {
            return Err(wrong_length);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = alg.hash_children(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = alg.hash_children(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length);
    }
    if r != root {
        return Err(ProofError::RootMismatch { which: "root" });
    }
    Ok(())
}

/// Checks that the tree of `size2` leaves with root `root2` extends the tree of `size1`
/// leaves with root `root1`, given the consistency `path`.
pub fn verify_consistency<T: AsRef<[u8]>>(
    alg: HashAlg,
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    path: &[T],
) -> Result<(), ProofError> {
    let root1 = to_hash("root1", root1)?;
    let root2 = to_hash("root2", root2)?;
    let path = to_hashes(path)?;
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes { size1, size2 });
    }
    let wrong_length = ProofError::WrongPathLength { len: path.len() };
    if size1 == size2 {
        if !path.is_empty() {
            return Err(wrong_length);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch { which: "root2" })
        };
    }
    // Step 2: a perfect old tree is its own first proof element.
    let mut elements = Vec::with_capacity(path.len() + 1);
    if size1.is_power_of_two() {
        elements.push(root1);
    }
    elements.extend_from_slice(&path);
    let Some((first, rest)) = elements.split_first() else {
        return Err(wrong_length);
    };
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(wrong_length);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = alg.hash_children(c, &fr);
            sr = alg.hash_children(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = alg.hash_children(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(wrong_length);
    }
    if fr != root1 {
        return Err(ProofError::RootMismatch { which: "root1" });
    }
    if sr != root2 {
        return Err(ProofError::RootMismatch { which: "root2" });
    }
    Ok(())
}
