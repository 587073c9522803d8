//! Tree hashing with the RFC 9162 domain-separation prefixes: a leaf is `H(0x00 ‖ data)`,
//! an interior node `H(0x01 ‖ left ‖ right)`, the empty tree `H()`.

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// A tree hash. Both supported algorithms produce 32 bytes.
pub type Hash = [u8; 32];

/// The hash function of a log, fixed when the log is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// BLAKE3, checked by auditlog's own tools only (its logs' origins end in
    /// `#blake3`). On CPUs with SHA-NI and without AVX-512, SHA-256 is faster for
    /// inputs of a few hundred bytes (docs/BENCHMARKS.md).
    Blake3,
    /// SHA-256, the RFC 6962 tree of every transparency-log tool: the default.
    Sha256,
}

impl HashAlg {
    /// The algorithm's code in file headers (docs/FORMAT.md, "Conventions").
    pub fn code(self) -> u8 {
        match self {
            HashAlg::Blake3 => 1,
            HashAlg::Sha256 => 2,
        }
    }

    /// The algorithm with file-header code `code`, if any.
    pub fn from_code(code: u8) -> Option<HashAlg> {
        match code {
            1 => Some(HashAlg::Blake3),
            2 => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// The name used in proof JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Blake3 => "blake3",
            HashAlg::Sha256 => "sha256",
        }
    }

    /// The algorithm called `name` (`blake3` or `sha256`).
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name {
            "blake3" => Some(HashAlg::Blake3),
            "sha256" => Some(HashAlg::Sha256),
            _ => None,
        }
    }

    /// `H(0x00 ‖ data)`.
    pub fn hash_leaf(self, data: &[u8]) -> Hash {
        self.hash_parts(&[&[0x00], data])
    }

    /// `H(0x01 ‖ left ‖ right)` (tree nodes pass 32-byte hashes; any bytes hash).
    pub fn hash_children(self, left: &[u8], right: &[u8]) -> Hash {
        self.hash_parts(&[&[0x01], left, right])
    }

    /// `H(0x00 ‖ record)` of every record, into `out` (one hash per record). With BLAKE3,
    /// eight records share each compression (see `crate::lanes`).
    pub fn hash_leaves(self, records: &[&[u8]], out: &mut [Hash]) {
        self.hash_prefixed(0x00, records, out);
    }

    /// `H(0x01 ‖ left ‖ right)` of each consecutive pair of `children`, into `out` (one
    /// hash per pair).
    pub fn hash_pairs(self, children: &[Hash], out: &mut [Hash]) {
        let bodies: Vec<&[u8]> = children.chunks_exact(2).map(|p| p.as_flattened()).collect();
        self.hash_prefixed(0x01, &bodies, out);
    }

    /// The root of the empty tree, `H()`.
    pub fn empty_root(self) -> Hash {
        self.hash_parts(&[])
    }

    fn hash_prefixed(self, prefix: u8, bodies: &[&[u8]], out: &mut [Hash]) {
        assert_eq!(bodies.len(), out.len(), "one output per input");
        match self {
            HashAlg::Blake3 => crate::lanes::hash_prefixed(prefix, bodies, out),
            HashAlg::Sha256 => {
                for (body, hash) in bodies.iter().zip(out) {
                    *hash = self.hash_parts(&[&[prefix], body]);
                }
            }
        }
    }

    /// The hash of the concatenated `parts`.
    pub(super) fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlg::Blake3 => {
                let mut hasher = blake3::Hasher::new();
                for part in parts {
                    hasher.update(part);
                }
                *hasher.finalize().as_bytes()
            }
            HashAlg::Sha256 => {
                let mut hasher = sha2::Sha256::new();
                for part in parts {
                    hasher.update(part);
                }
                hasher.finalize().into()
            }
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake3_uses_prefixes() {
        let h = HashAlg::Blake3;
        assert_eq!(h.empty_root(), *blake3::hash(b"").as_bytes());
        assert_eq!(h.hash_leaf(b"abc"), *blake3::hash(b"\x00abc").as_bytes());
        let mut node = vec![1u8];
        node.extend_from_slice(&[7u8; 32]);
        node.extend_from_slice(&[9u8; 32]);
        assert_eq!(
            h.hash_children(&[7; 32], &[9; 32]),
            *blake3::hash(&node).as_bytes()
        );
    }

    #[test]
    fn many_at_once_equal_one_at_a_time() {
        let records: Vec<Vec<u8>> = (0..40usize).map(|i| vec![i as u8; i * 53]).collect();
        let records: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let children: Vec<Hash> = (0..40u8).map(|i| [i; 32]).collect();
        for alg in [HashAlg::Blake3, HashAlg::Sha256] {
            let mut leaves = vec![[0u8; 32]; records.len()];
            alg.hash_leaves(&records, &mut leaves);
            for (record, leaf) in records.iter().zip(&leaves) {
                assert_eq!(*leaf, alg.hash_leaf(record));
            }
            let mut nodes = vec![[0u8; 32]; children.len() / 2];
            alg.hash_pairs(&children, &mut nodes);
            for (pair, node) in children.chunks_exact(2).zip(&nodes) {
                assert_eq!(*node, alg.hash_children(&pair[0], &pair[1]));
            }
        }
    }

    #[test]
    fn codes_and_names_round_trip() {
        for alg in [HashAlg::Blake3, HashAlg::Sha256] {
            assert_eq!(HashAlg::from_code(alg.code()), Some(alg));
            assert_eq!(HashAlg::from_name(alg.name()), Some(alg));
        }
        assert_eq!(HashAlg::from_code(0), None);
        assert_eq!(HashAlg::from_name("md5"), None);
    }
}
