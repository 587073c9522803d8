//! The proof JSON of the design brief, as printed by `auditlog prove` and read by
//! `auditlog proof verify`. Hashes are hex; a hash of the wrong length parses (so the
//! verifier can call the proof invalid) but non-hex text does not.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::verify::{ProofError, verify_consistency, verify_inclusion};
use super::{Hash, HashAlg};

/// A proof that a leaf is in a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The tree's hash algorithm.
    pub hash: HashAlg,
    /// Leaves in the tree.
    pub tree_size: u64,
    /// The leaf's position, from 0.
    pub leaf_index: u64,
    /// `H(0x00 ‖ record)`.
    #[serde(with = "hex_bytes")]
    pub leaf_hash: Vec<u8>,
    /// Sibling hashes, leaf first.
    #[serde(with = "hex_list")]
    pub path: Vec<Vec<u8>>,
    /// The tree head.
    #[serde(with = "hex_bytes")]
    pub root: Vec<u8>,
}

/// A proof that a tree extends an older one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The tree's hash algorithm.
    pub hash: HashAlg,
    /// Leaves in the older tree.
    pub size1: u64,
    /// Leaves in the newer tree.
    pub size2: u64,
    /// The older tree head.
    #[serde(with = "hex_bytes")]
    pub root1: Vec<u8>,
    /// The newer tree head.
    #[serde(with = "hex_bytes")]
    pub root2: Vec<u8>,
    /// The RFC 9162 consistency path.
    #[serde(with = "hex_list")]
    pub path: Vec<Vec<u8>>,
}

/// Either proof, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Proof {
    /// `{"type":"inclusion",…}`
    Inclusion(InclusionProof),
    /// `{"type":"consistency",…}`
    Consistency(ConsistencyProof),
}

/// Proof JSON that cannot be used at all (as opposed to a proof that does not verify).
#[derive(Debug, thiserror::Error)]
#[error("unusable proof JSON: {0}")]
pub struct ProofParseError(#[from] serde_json::Error);

impl Proof {
    /// Parses proof JSON.
    pub fn from_json(text: &[u8]) -> Result<Proof, ProofParseError> {
        Ok(serde_json::from_slice(text)?)
    }

    /// The proof as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of integers, strings and byte lists cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Verifies the proof against the roots it carries.
    pub fn verify(&self) -> Result<(), ProofError> {
        match self {
            Proof::Inclusion(p) => verify_inclusion(
                p.hash,
                p.leaf_index,
                p.tree_size,
                &p.leaf_hash,
                &p.path,
                &p.root,
            ),
            Proof::Consistency(p) => {
                verify_consistency(p.hash, p.size1, p.size2, &p.root1, &p.root2, &p.path)
            }
        }
    }
}

impl InclusionProof {
    /// Builds the JSON form from fixed-size hashes.
    pub fn new(
        hash: HashAlg,
        tree_size: u64,
        leaf_index: u64,
        leaf_hash: Hash,
        path: &[Hash],
        root: Hash,
    ) -> InclusionProof {
        InclusionProof {
            hash,
            tree_size,
            leaf_index,
            leaf_hash: leaf_hash.to_vec(),
            path: path.iter().map(|h| h.to_vec()).collect(),
            root: root.to_vec(),
        }
    }
}

impl ConsistencyProof {
    /// Builds the JSON form from fixed-size hashes.
    pub fn new(
        hash: HashAlg,
        size1: u64,
        size2: u64,
        root1: Hash,
        root2: Hash,
        path: &[Hash],
    ) -> ConsistencyProof {
        ConsistencyProof {
            hash,
            size1,
            size2,
            root1: root1.to_vec(),
            root2: root2.to_vec(),
            path: path.iter().map(|h| h.to_vec()).collect(),
        }
    }
}

mod hex_bytes {
    use super::*;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        crate::hex::decode(&text).ok_or_else(|| serde::de::Error::custom("not a hex string"))
    }
}

mod hex_list {
    use super::*;

    pub(super) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|h| crate::hex::encode(h)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<std::borrow::Cow<str>>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                crate::hex::decode(t).ok_or_else(|| serde::de::Error::custom("not a hex string"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_the_design_brief() {
        let p = Proof::Inclusion(InclusionProof::new(
            HashAlg::Blake3,
            2,
            1,
            [1; 32],
            &[[2; 32]],
            [3; 32],
        ));
        let json = p.to_json();
        assert!(json.starts_with(
            r#"{"type":"inclusion","hash":"blake3","tree_size":2,"leaf_index":1,"leaf_hash":"0101"#
        ));
        assert_eq!(Proof::from_json(json.as_bytes()).ok(), Some(p));
        let c = Proof::Consistency(ConsistencyProof::new(
            HashAlg::Sha256,
            1,
            2,
            [1; 32],
            [2; 32],
            &[],
        ));
        assert!(
            c.to_json().starts_with(
                r#"{"type":"consistency","hash":"sha256","size1":1,"size2":2,"root1":"#
            )
        );
    }

    #[test]
    fn unusable_json_is_an_error() {
        for bad in [
            &b"{"[..],
            br#"{"type":"inclusion"}"#,
            br#"{"type":"inclusion","hash":"md5","tree_size":1,"leaf_index":0,"leaf_hash":"","path":[],"root":""}"#,
            br#"{"type":"inclusion","hash":"blake3","tree_size":18446744073709551616,"leaf_index":0,"leaf_hash":"","path":[],"root":""}"#,
            br#"{"type":"inclusion","hash":"blake3","tree_size":-1,"leaf_index":0,"leaf_hash":"","path":[],"root":""}"#,
            br#"{"type":"inclusion","hash":"blake3","tree_size":1,"leaf_index":0,"leaf_hash":"xy","path":[],"root":""}"#,
        ] {
            assert!(Proof::from_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
