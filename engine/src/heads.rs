//! Tenant heads: the newest event of each tenant. The log keeps them to give each event
//! its tenant link, and commits to all of them in every checkpoint it signs: a Merkle
//! tree (RFC 9162 shape) whose leaves are the tenants in the order of their first events,
//! each with its newest seq. With it a bundle proves a tenant's newest event at the
//! checkpoint, so no event of the tenant after the bundle's last can have been left out
//! (docs/PROOFS.md, "Tenant completeness"; docs/FORMAT.md, "Tenant heads").

use std::collections::HashMap;

use crate::codec::TenantLink;
use crate::merkle::{Hash, HashAlg, MemoryTree, NodeSource, inclusion_path};

/// A checkpoint's commitment to every tenant's newest event at its tree size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadsCommitment {
    /// Tenants with at least one event below the tree size.
    pub count: u64,
    /// The root of their heads tree.
    pub root: Hash,
}

/// Where one tenant's head sits in a heads tree, and the path that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadProof {
    /// The tenant's place in the tree: how many tenants had an event before its first.
    pub index: u64,
    /// The seq of its newest event.
    pub head: u64,
    /// The inclusion path of its leaf, leaf first.
    pub path: Vec<Hash>,
}

/// The leaf of one tenant in a heads tree:
/// `H(0x00 ‖ u16 length of the tenant id ‖ tenant id ‖ u64 seq of its newest event)`,
/// integers little-endian.
pub fn head_leaf(alg: HashAlg, tenant: &str, head: u64) -> Hash {
    leaf_of(alg, tenant.as_bytes(), head)
}

fn leaf_of(alg: HashAlg, tenant: &[u8], head: u64) -> Hash {
    let mut bytes = Vec::with_capacity(2 + tenant.len() + 8);
    bytes.extend_from_slice(
        &u16::try_from(tenant.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    bytes.extend_from_slice(tenant);
    bytes.extend_from_slice(&head.to_le_bytes());
    alg.hash_leaf(&bytes)
}

/// No event yet.
const NONE: u64 = u64::MAX;

/// Every tenant's newest seq, in the order of the tenants' first events, and the heads tree
/// over them, brought up to date when a commitment is asked for (only the tenants that
/// wrote since the last one are hashed again).
#[derive(Debug, Clone)]
pub struct TenantHeads {
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    /// Tenant ids (UTF-8 when they come from events; bytes as read when from a file).
    names: Vec<Box<[u8]>>,
    newest: Vec<u64>,
    tree: MemoryTree,
    /// Tenants already in `tree` whose head changed since it was brought up to date.
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
}

impl TenantHeads {
    /// No tenant yet, for a log hashing with `alg`.
    pub fn new(alg: HashAlg) -> TenantHeads {
        TenantHeads {
            ids: HashMap::default(),
            names: Vec::new(),
            newest: Vec::new(),
            tree: MemoryTree::new(alg, &[]),
            dirty: Vec::new(),
            is_dirty: Vec::new(),
        }
    }

    /// The tenant's number (its place in first-event order), numbering it if it is new.
    /// Number a tenant only when its first event is advanced to next.
    pub fn id(&mut self, tenant: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(tenant) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(tenant.into(), id);
        self.names.push(tenant.into());
        self.newest.push(NONE);
        self.is_dirty.push(false);
        id
    }

    /// Makes `seq` the newest event of tenant `id`; returns the link to the one before.
    pub fn advance_id(&mut self, id: u32, seq: u64) -> TenantLink {
        let Some(newest) = self.newest.get_mut(id as usize) else {
            return TenantLink::First;
        };
        let before = std::mem::replace(newest, seq);
        if u64::from(id) < self.tree.len() && !self.is_dirty[id as usize] {
            self.is_dirty[id as usize] = true;
            self.dirty.push(id);
        }
        match before {
            NONE => TenantLink::First,
            seq => TenantLink::Previous(seq),
        }
    }

    /// Makes `seq` the newest event of `tenant`; returns the link to the one before.
    pub fn advance(&mut self, tenant: &str, seq: u64) -> TenantLink {
        let id = self.id(tenant.as_bytes());
        self.advance_id(id, seq)
    }

    /// The newest seq of `tenant`, if it has an event.
    pub fn get(&self, tenant: &str) -> Option<u64> {
        let id = *self.ids.get(tenant.as_bytes())?;
        self.newest.get(id as usize).copied().filter(|&s| s != NONE)
    }

    /// Every tenant with an event and its newest seq, in first-event order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.names
            .iter()
            .zip(&self.newest)
            .filter(|(_, seq)| **seq != NONE)
            .map(|(name, seq)| (&name[..], *seq))
    }

    fn bring_up_to_date(&mut self) {
        let alg = self.tree.alg();
        for id in std::mem::take(&mut self.dirty) {
            let i = id as usize;
            self.is_dirty[i] = false;
            self.tree
                .set(u64::from(id), leaf_of(alg, &self.names[i], self.newest[i]));
        }
        for i in self.tree.len() as usize..self.names.len() {
            self.tree.push(leaf_of(alg, &self.names[i], self.newest[i]));
        }
    }

    /// The commitment to every tenant's head as they stand.
    pub fn commitment(&mut self) -> HeadsCommitment {
        self.bring_up_to_date();
        HeadsCommitment {
            count: self.tree.len(),
            root: self.tree.root(),
        }
    }

    /// The proof of `tenant`'s head in the tree of [`TenantHeads::commitment`], if it has
    /// an event.
    pub fn proof(&mut self, tenant: &str) -> Option<HeadProof> {
        self.bring_up_to_date();
        let id = *self.ids.get(tenant.as_bytes())?;
        let index = u64::from(id);
        let path = inclusion_path(&self.tree, index, self.tree.len()).ok()?;
        Some(HeadProof {
            index,
            head: self.newest[id as usize],
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::verify_inclusion;

    #[test]
    fn links_follow_each_tenant_and_the_tree_is_rebuilt_only_where_it_changed() {
        let alg = HashAlg::Sha256;
        let mut heads = TenantHeads::new(alg);
        assert_eq!(heads.commitment().root, alg.empty_root());
        let tenants = ["a", "b", "a", "c", "b", "a"];
        let mut links = Vec::new();
        for (seq, t) in tenants.iter().enumerate() {
            links.push(heads.advance(t, seq as u64));
            if seq == 2 {
                heads.commitment();
            }
        }
        use TenantLink::{First, Previous};
        assert_eq!(
            links,
            [First, First, Previous(0), First, Previous(1), Previous(2)]
        );
        // First-event order a, b, c; heads 5, 4, 3.
        let leaves = [
            head_leaf(alg, "a", 5),
            head_leaf(alg, "b", 4),
            head_leaf(alg, "c", 3),
        ];
        let commitment = heads.commitment();
        assert_eq!(commitment.count, 3);
        assert_eq!(commitment.root, MemoryTree::new(alg, &leaves).root());
        let proof = heads.proof("b").expect("b has events");
        assert_eq!((proof.index, proof.head), (1, 4));
        verify_inclusion(alg, 1, 3, &leaves[1], &proof.path, &commitment.root).expect("valid");
        assert_eq!(heads.proof("z"), None);
        assert_eq!((heads.get("c"), heads.get("z")), (Some(3), None));
    }
}
