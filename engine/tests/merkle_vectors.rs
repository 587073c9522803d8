//! The published RFC 6962 / Certificate Transparency test vectors (SHA-256), carried in
//! `testdata/vectors/rfc6962_sha256.json` with the source of every entry
//! (transparency-dev/merkle, google/certificate-transparency,
//! google/certificate-transparency-go; see `testdata/vectors/README.md`).

use auditlog_engine::hex;
use auditlog_engine::merkle::{
    CompactRange, Hash, HashAlg, MemoryTree, consistency_path, inclusion_path, verify_consistency,
    verify_inclusion,
};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("../testdata/vectors/rfc6962_sha256.json");
    serde_json::from_str(text).expect("vector file parses")
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn path(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .expect("path array")
        .iter()
        .map(bytes)
        .collect()
}

fn main_tree(v: &Value) -> Vec<Hash> {
    v["leaves"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| HashAlg::Sha256.hash_leaf(&bytes(&l["data"])))
        .collect()
}

const ALG: HashAlg = HashAlg::Sha256;

#[test]
fn hasher_vectors() {
    let v = vectors();
    for case in v["hasher_vectors"].as_array().expect("hasher vectors") {
        let got = match case["kind"].as_str() {
            Some("empty") => ALG.empty_root(),
            Some("leaf") => ALG.hash_leaf(&bytes(&case["input"])),
            Some("node") => ALG.hash_children(&bytes(&case["left"]), &bytes(&case["right"])),
            other => panic!("unknown kind {other:?}"),
        };
        assert_eq!(
            hex::encode(&got),
            case["output"].as_str().expect("output"),
            "{}",
            case["id"]
        );
    }
}

#[test]
fn roots_of_the_eight_leaf_tree_for_sizes_0_to_8() {
    let v = vectors();
    let leaves = main_tree(&v);
    let roots = v["roots"].as_array().expect("roots");
    assert_eq!(roots.len(), 9);
    let mut range = CompactRange::new(ALG);
    for case in roots {
        let size = case["size"].as_u64().expect("size") as usize;
        while (range.size() as usize) < size {
            range.append(leaves[range.size() as usize], |_, _, _| {});
        }
        assert_eq!(
            hex::encode(&range.root()),
            case["root"].as_str().expect("root"),
            "size {size}"
        );
    }
}

#[test]
fn stored_node_hashes_match() {
    let v = vectors();
    let tree = MemoryTree::new(ALG, &main_tree(&v));
    use auditlog_engine::merkle::NodeSource;
    for case in v["node_hashes"].as_array().expect("node hashes") {
        let level = case["level"].as_u64().expect("level") as u32;
        let index = case["index"].as_u64().expect("index");
        let node = tree.node(level, index).expect("stored node");
        assert_eq!(
            hex::encode(&node),
            case["hash"].as_str().expect("hash"),
            "({level}, {index})"
        );
    }
}

fn expect_valid(case: &Value) -> bool {
    case["expect_valid"].as_bool().expect("expect_valid")
}

fn verify_inclusion_case(case: &Value) -> Result<(), auditlog_engine::merkle::ProofError> {
    verify_inclusion(
        ALG,
        case["leaf_index"].as_u64().expect("u64 index"),
        case["tree_size"].as_u64().expect("u64 size"),
        &bytes(&case["leaf_hash"]),
        &path(&case["path"]),
        &bytes(&case["root"]),
    )
}

fn verify_consistency_case(case: &Value) -> Result<(), auditlog_engine::merkle::ProofError> {
    verify_consistency(
        ALG,
        case["size1"].as_u64().expect("u64 size1"),
        case["size2"].as_u64().expect("u64 size2"),
        &bytes(&case["root1"]),
        &bytes(&case["root2"]),
        &path(&case["path"]),
    )
}

#[test]
fn every_vector_gets_the_expected_answer() {
    let v = vectors();
    type Check = fn(&Value) -> Result<(), auditlog_engine::merkle::ProofError>;
    let kinds: [([&str; 2], Check); 2] = [
        (
            ["inclusion_proofs", "inclusion_negative"],
            verify_inclusion_case,
        ),
        (
            ["consistency_proofs", "consistency_negative"],
            verify_consistency_case,
        ),
    ];
    for (tables, check) in kinds {
        let mut negatives = 0;
        for table in tables {
            for case in v[table].as_array().expect("table") {
                let result = check(case);
                assert_eq!(
                    result.is_ok(),
                    expect_valid(case),
                    "{}: {result:?}",
                    case["id"]
                );
                negatives += usize::from(!expect_valid(case));
            }
        }
        assert!(negatives > 50, "{tables:?}");
    }
}

#[test]
fn generated_proofs_equal_the_published_ones() {
    let v = vectors();
    let tree = MemoryTree::new(ALG, &main_tree(&v));
    let main = |table: &str| {
        v[table]
            .as_array()
            .expect("table")
            .iter()
            .filter(|c| c["tree"] == "main")
            .cloned()
            .collect::<Vec<_>>()
    };
    let as_vecs = |p: Vec<Hash>| p.iter().map(|h| h.to_vec()).collect::<Vec<_>>();
    let inclusion = main("inclusion_proofs");
    assert!(inclusion.len() >= 7);
    for case in inclusion {
        let (index, size) = (
            case["leaf_index"].as_u64().expect("i"),
            case["tree_size"].as_u64().expect("n"),
        );
        let generated = inclusion_path(&tree, index, size).expect("proof");
        assert_eq!(as_vecs(generated), path(&case["path"]), "{}", case["id"]);
    }
    let consistency = main("consistency_proofs");
    assert!(consistency.len() >= 5);
    for case in consistency {
        let (size1, size2) = (
            case["size1"].as_u64().expect("m"),
            case["size2"].as_u64().expect("n"),
        );
        let generated = consistency_path(&tree, size1, size2).expect("proof");
        assert_eq!(as_vecs(generated), path(&case["path"]), "{}", case["id"]);
    }
}

#[test]
fn proof_layouts_cover_the_documented_leaf_ranges() {
    let v = vectors();
    // Build a tree whose leaf i hashes to a value encoding i, then check which leaves
    // each generated proof element covers by recomputing the subtree roots.
    let leaves: Vec<Hash> = (0..128u64)
        .map(|i| ALG.hash_leaf(&i.to_le_bytes()))
        .collect();
    let tree = MemoryTree::new(ALG, &leaves);
    let root_of = |lo: usize, hi: usize| {
        let sub = MemoryTree::new(ALG, &leaves[lo..hi]);
        auditlog_engine::merkle::subtree_root(&sub, 0, (hi - lo) as u64).expect("root")
    };
    let check = |what: String, proof: Vec<Hash>, ranges: &Value| {
        let ranges = ranges.as_array().expect("ranges");
        assert_eq!(proof.len(), ranges.len(), "{what}");
        for (element, range) in proof.iter().zip(ranges) {
            let (lo, hi) = (
                range[0].as_u64().expect("lo") as usize,
                range[1].as_u64().expect("hi") as usize,
            );
            assert_eq!(
                *element,
                root_of(lo, hi),
                "{what}: element over [{lo}, {hi})"
            );
        }
    };
    for case in v["proof_layouts"]["inclusion"].as_array().expect("layouts") {
        let (index, size) = (
            case["leaf_index"].as_u64().expect("i"),
            case["tree_size"].as_u64().expect("n"),
        );
        let result = inclusion_path(&tree, index, size);
        if case["expect_error"].as_bool() == Some(true) {
            assert!(result.is_err(), "({index}, {size})");
            continue;
        }
        check(
            format!("inclusion ({index}, {size})"),
            result.expect("proof"),
            &case["element_leaf_ranges"],
        );
    }
    for case in v["proof_layouts"]["consistency"]
        .as_array()
        .expect("layouts")
    {
        let (size1, size2) = (
            case["size1"].as_u64().expect("m"),
            case["size2"].as_u64().expect("n"),
        );
        let result = consistency_path(&tree, size1, size2);
        if case["expect_error"].as_bool() == Some(true) {
            assert!(result.is_err(), "consistency ({size1}, {size2})");
            continue;
        }
        check(
            format!("consistency ({size1}, {size2})"),
            result.expect("proof"),
            &case["element_leaf_ranges"],
        );
    }
}
