//! Proofs from the stored-node generator checked against a slow reference written directly
//! from RFC 9162 §2.1 (MTH, PATH, SUBPROOF over leaf arrays), and against the verifier:
//! every proof verifies, and any change to path, index, size, leaf or root breaks it.

use auditlog_engine::merkle::{
    Hash, HashAlg, MemoryTree, consistency_path, inclusion_path, subtree_root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(alg: HashAlg, d: &[Hash]) -> Hash {
    match d.len() {
        0 => alg.empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            alg.hash_children(&mth(alg, &d[..k]), &mth(alg, &d[k..]))
        }
    }
}

fn path(alg: HashAlg, m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(alg, m, &d[..k]);
        p.push(mth(alg, &d[k..]));
        p
    } else {
        let mut p = path(alg, m - k, &d[k..]);
        p.push(mth(alg, &d[..k]));
        p
    }
}

fn subproof(alg: HashAlg, m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(alg, d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(alg, m, &d[..k], b);
        p.push(mth(alg, &d[k..]));
        p
    } else {
        let mut p = subproof(alg, m - k, &d[k..], false);
        p.push(mth(alg, &d[..k]));
        p
    }
}

fn leaves(alg: HashAlg, n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| alg.hash_leaf(&(i ^ salt).to_le_bytes()))
        .collect()
}

fn alg_strategy() -> impl Strategy<Value = HashAlg> {
    prop_oneof![Just(HashAlg::Blake3), Just(HashAlg::Sha256)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_matches_reference_and_verifies(alg in alg_strategy(), n in 1usize..300, pick in any::<u64>(), salt in any::<u64>()) {
        let d = leaves(alg, n, salt);
        let tree = MemoryTree::new(alg, &d);
        let size = 1 + (pick % n as u64) as usize;
        let root = mth(alg, &d[..size]);
        prop_assert_eq!(subtree_root(&tree, 0, size as u64).unwrap(), root);
        for m in [0, size / 2, size - 1, (pick as usize / 7) % size] {
            let generated = inclusion_path(&tree, m as u64, size as u64).unwrap();
            prop_assert_eq!(&generated, &path(alg, m, &d[..size]));
            prop_assert!(verify_inclusion(alg, m as u64, size as u64, &d[m], &generated, &root).is_ok());
        }
    }

    #[test]
    fn consistency_matches_reference_and_verifies(alg in alg_strategy(), n in 1usize..300, a in any::<u64>(), b in any::<u64>()) {
        let d = leaves(alg, n, a ^ b);
        let tree = MemoryTree::new(alg, &d);
        let size2 = 1 + (a % n as u64) as usize;
        let size1 = 1 + (b % size2 as u64) as usize;
        let generated = consistency_path(&tree, size1 as u64, size2 as u64).unwrap();
        prop_assert_eq!(&generated, &subproof(alg, size1, &d[..size2], true));
        let (r1, r2) = (mth(alg, &d[..size1]), mth(alg, &d[..size2]));
        prop_assert!(verify_consistency(alg, size1 as u64, size2 as u64, &r1, &r2, &generated).is_ok());
    }

    #[test]
    fn any_change_breaks_an_inclusion_proof(n in 2usize..200, pick in any::<u64>(), which in 0usize..6, bit in 0usize..256) {
        let alg = HashAlg::Blake3;
        let d = leaves(alg, n, 7);
        let tree = MemoryTree::new(alg, &d);
        let m = (pick % n as u64) as usize;
        let mut p = inclusion_path(&tree, m as u64, n as u64).unwrap();
        let (mut index, mut size, mut leaf, mut root) = (m as u64, n as u64, d[m], mth(alg, &d));
        let flip = |h: &mut Hash| h[bit / 8] ^= 1 << (bit % 8);
        match which {
            0 => flip(&mut leaf),
            1 => flip(&mut root),
            2 => { let i = bit % p.len(); flip(&mut p[i]) }
            3 => index = if index == 0 { 1 } else { index - 1 },
            // A size whose path has another length (a size with the same shape for this
            // leaf is indistinguishable by design: RFC 9162 proofs bind the root).
            4 => size = if bit % 2 == 0 { size * 2 } else { index },
            _ => { if p.len() > 1 && bit % 2 == 0 { p.pop(); } else { p.push(root); } }
        }
        prop_assert!(verify_inclusion(alg, index, size, &leaf, &p, &root).is_err());
    }

    #[test]
    fn any_change_breaks_a_consistency_proof(n in 3usize..200, a in any::<u64>(), which in 0usize..5, bit in 0usize..256) {
        let alg = HashAlg::Sha256;
        let d = leaves(alg, n, 11);
        let tree = MemoryTree::new(alg, &d);
        let size1 = 1 + (a % (n as u64 - 1));
        let size2 = n as u64;
        let mut p = consistency_path(&tree, size1, size2).unwrap();
        let (mut s1, mut s2, mut r1, mut r2) = (size1, size2, mth(alg, &d[..size1 as usize]), mth(alg, &d));
        let flip = |h: &mut Hash| h[bit / 8] ^= 1 << (bit % 8);
        match which {
            0 => flip(&mut r1),
            1 => flip(&mut r2),
            2 => { let i = bit % p.len(); flip(&mut p[i]) }
            3 => { if bit % 2 == 0 { s2 *= 2 } else { s1 = s2 + 1 } }
            _ => { if bit % 2 == 0 { p.pop(); } else { p.push(r1); } }
        }
        prop_assert!(verify_consistency(alg, s1, s2, &r1, &r2, &p).is_err());
    }
}

#[test]
fn equal_sizes_need_an_empty_path_and_equal_roots() {
    let alg = HashAlg::Blake3;
    let r = alg.hash_leaf(b"x");
    assert!(verify_consistency::<Hash>(alg, 5, 5, &r, &r, &[]).is_ok());
    assert!(verify_consistency(alg, 5, 5, &r, &r, &[r]).is_err());
    assert!(verify_consistency::<Hash>(alg, 5, 5, &r, &alg.empty_root(), &[]).is_err());
    assert!(verify_consistency::<Hash>(alg, 0, 5, &r, &r, &[]).is_err());
    assert!(verify_consistency::<Hash>(alg, 6, 5, &r, &r, &[]).is_err());
    assert!(verify_inclusion::<Hash>(alg, u64::MAX, u64::MAX, &r, &[], &r).is_err());
    assert!(verify_inclusion::<Hash>(alg, 0, 1, &r[..31], &[], &r).is_err());
}
