//! The chain verify rebuilds from the records: the tree and the tenant heads, grown a
//! chunk of records at a time, compared with the stored level files as they grow and with
//! each signed checkpoint when they reach its size.

use std::iter::Peekable;
use std::path::Path;
use std::slice;

use super::checkpoints::{CheckpointAt, check_checkpoint};
use super::frames::Places;
use super::links::{ChunkTenants, check_links};
use super::tree::StoredTree;
use crate::error::Result;
use crate::heads::TenantHeads;
use crate::merkle::{CompactRange, Hash, HashAlg};
use crate::storage::Storage;

/// The tree and tenant heads of the records checked so far.
pub(super) struct Chain<'a> {
    pub(super) compact: CompactRange,
    pub(super) stored: StoredTree<'a>,
    heads: TenantHeads,
    /// Tenants as the workers number them ([`super::links::Interner`]), and each one's
    /// number in `heads` once its first event is reached.
    head_ids: Vec<Option<u32>>,
    /// The checkpoints the tree has not reached yet, by size.
    pending: Peekable<slice::Iter<'a, CheckpointAt>>,
}

impl<'a> Chain<'a> {
    /// An empty tree, to be checked against the level files of the log in `dir` and
    /// against `checkpoints` (by size).
    pub(super) fn new(
        storage: &'a dyn Storage,
        dir: &'a Path,
        alg: HashAlg,
        checkpoints: &'a [CheckpointAt],
    ) -> Chain<'a> {
        Chain {
            compact: CompactRange::new(alg),
            stored: StoredTree::new(storage, dir, alg),
            heads: TenantHeads::new(alg),
            head_ids: Vec::new(),
            pending: checkpoints.iter().peekable(),
        }
    }

    /// Starts the chain at the first record kept after deletions past retention: the tree
    /// `at` it (the first segment's frontier, checked against the newest receipt) and the
    /// tenant heads kept with that receipt. The checkpoints of sizes below it are passed
    /// over (their signatures were checked; their roots cannot be): how many.
    pub(super) fn start_at(&mut self, at: CompactRange, heads: TenantHeads) -> usize {
        let floor = at.size();
        self.compact = at;
        self.heads = heads;
        self.pass_below(floor)
    }

    /// Passes over the checkpoints of sizes below `floor`: how many.
    pub(super) fn pass_below(&mut self, floor: u64) -> usize {
        let mut passed = 0;
        while self
            .pending
            .next_if(|at| at.signed.checkpoint.tree_size < floor)
            .is_some()
        {
            passed += 1;
        }
        passed
    }

    /// Grows the tree and the tenant heads over the next records (their leaf hashes and
    /// tenants, in the segment at `places`), stopping at each checkpoint's size to
    /// compare its root and tenant heads.
    pub(super) fn grow(
        &mut self,
        mut leaves: &[Hash],
        tenants: &ChunkTenants<'_>,
        places: &Places<'_>,
    ) -> Result<()> {
        let mut records = tenants.records.as_slice();
        loop {
            let size = self.compact.size();
            while let Some(at) = self
                .pending
                .next_if(|at| at.signed.checkpoint.tree_size <= size)
            {
                reach(at, &self.compact, &mut self.heads, &mut self.stored)?;
            }
            if leaves.is_empty() {
                return Ok(());
            }
            let next_stop = self
                .pending
                .peek()
                .map_or(u64::MAX, |at| at.signed.checkpoint.tree_size);
            let take =
                usize::try_from(next_stop - size).map_or(leaves.len(), |n| n.min(leaves.len()));
            let (now, later) = leaves.split_at(take);
            if records.len() < take {
                return Err(places.link_fault(size, "a verify thread lost records' tenants".into()));
            }
            let (linked, rest) = records.split_at(take);
            let mut result = Ok(());
            let stored = &mut self.stored;
            self.compact.extend(now, |level, first, row| {
                if result.is_ok() {
                    result = stored.check_row(level, first, row, places);
                }
            });
            result?;
            if let Err((seq, what)) =
                check_links(&mut self.heads, size, tenants, linked, &mut self.head_ids)
            {
                let fault = places.link_fault(seq, what);
                return Err(self.stored.first_fault(fault));
            }
            leaves = later;
            records = rest;
        }
    }

    /// At a sealed segment's end: a leaf found differing is the stored leaf's fault if the
    /// footer's tree head (computed from the records when they were sealed) agrees with
    /// the records, else the record's.
    pub(super) fn settle_at_seal(&mut self, sealed_root: &Hash) -> Result<()> {
        match self.stored.leaf_fault.take() {
            Some(fault) if *sealed_root == self.compact.root() => Err(fault.stored),
            Some(fault) => Err(fault.record),
            None => Ok(()),
        }
    }

    /// After the last record: the checkpoints of the whole tree, and any beyond the records
    /// (events lost; or, for a `prefix` of the log, such as an archive, the log's own
    /// checkpoints of events not in it: counted, not checked; a checkpoint the auditor
    /// holds must always be reached); then a leaf found differing that nothing
    /// contradicted is the stored leaf's fault. The checkpoints past the records.
    pub(super) fn finish(mut self, prefix: bool) -> Result<usize> {
        let end = self.compact.size();
        let mut past_end = 0;
        for at in self.pending {
            if prefix && !at.held && at.signed.checkpoint.tree_size > end {
                past_end += 1;
                continue;
            }
            reach(at, &self.compact, &mut self.heads, &mut self.stored)?;
        }
        match self.stored.leaf_fault.take() {
            Some(fault) => Err(fault.stored),
            None => Ok(past_end),
        }
    }
}

/// Compares the checkpoint `at` with the tree, which must have reached its size. A root
/// the records contradict blames a changed record held as a leaf fault; a root they make
/// blames the stored leaf instead.
fn reach(
    at: &CheckpointAt,
    compact: &CompactRange,
    heads: &mut TenantHeads,
    stored: &mut StoredTree<'_>,
) -> Result<()> {
    check_checkpoint(at, compact, heads).map_err(|e| stored.blame(e))?;
    match stored.leaf_fault.take() {
        Some(fault) => Err(fault.stored),
        None => Ok(()),
    }
}
