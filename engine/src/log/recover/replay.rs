//! The tree grown from the records past what the stored level files hold, checking every
//! segment's frontier and footer tree head on the way. Run once to check (nodes kept in
//! memory by a reader, dropped by a writer) and, by a writer, again at apply to write
//! the nodes.

use std::path::Path;

use super::scan::{Scanned, corrupt};
use crate::error::{CorruptionKind, Result};
use crate::merkle::{CompactRange, Hash, HashAlg};
use crate::segment::SegmentHeader;
use crate::storage::Storage;
use crate::tree::{PendingNodes, TreeStore, nodes_at};

/// Where the replay starts: the durable tree size, unless a level file lacks nodes of
/// that tree (then the first record kept, `floor`: the whole tree is rebuilt, `true`).
pub(super) fn replay_start(tree: &TreeStore, durable: u64, floor: u64) -> Result<(u64, bool)> {
    for level in 0..64 {
        if tree.stored_nodes(level)? < nodes_at(durable, level) {
            return Ok((floor, true));
        }
    }
    if durable < floor {
        return Ok((floor, true));
    }
    Ok((durable, false))
}

/// What becomes of the nodes the replay computes.
pub(super) enum Nodes<'a> {
    /// Computed and dropped: a writer's check before anything is written.
    Dropped,
    /// Kept in memory, to be served in place of the stored ones (a reader).
    Kept(&'a mut PendingNodes),
    /// Written to the level files, a segment's nodes at a time.
    Written(&'a TreeStore),
}

/// The tree of every record, grown from the stored tree of `start` leaves over the
/// records of `scanned` past it, with every segment's frontier and footer tree head
/// checked; and its root at `checkpoint_size` if the replay passes that size. A replay
/// from the first record kept after a deletion past retention (`scanned.floor`) grows
/// from the first segment's frontier instead, checked against the receipt's tree head:
/// its nodes, which it writes too, are all of the deleted records' nodes that the kept
/// records' proofs need.
pub(super) fn replay(
    storage: &dyn Storage,
    tree: &TreeStore,
    alg: HashAlg,
    start: u64,
    scanned: &Scanned,
    checkpoint_size: Option<u64>,
    mut nodes: Nodes<'_>,
) -> Result<(CompactRange, Option<Hash>)> {
    let mut pending = PendingNodes::default();
    let compact = if start == 0 {
        CompactRange::new(alg)
    } else if start == scanned.floor {
        floor_frontier(scanned, &mut pending)?
    } else {
        tree.compact_range(start)?
    };
    let mut growth = Growth {
        compact,
        pending,
        root_at: None,
        alg,
        start,
        checkpoint_size,
    };
    // A checkpoint of the size the replay starts at: its root is the tree's now (after a
    // deletion past retention, one the level files may no longer give).
    if checkpoint_size == Some(start) {
        growth.root_at = Some(growth.compact.root());
    }
    let mut previous_root = scanned.floor_root;
    for segment in &scanned.sealed {
        check_frontier(
            &segment.path,
            &segment.header,
            previous_root,
            compact_if_at(&growth.compact, segment.base()),
        )?;
        if segment.end() > start {
            // Only a segment past the stored tree is read (fetched, if archived).
            let records = segment.records(storage)?;
            for seq in segment.base().max(start)..segment.end() {
                growth.grow(seq, records.payload(seq)?);
            }
        }
        if segment.end() > start && growth.compact.root() != segment.footer.root {
            return Err(corrupt(
                &segment.path,
                segment.file_len - crate::segment::FOOTER_BYTES as u64 + 32,
                CorruptionKind::HashMismatch(
                    "the footer's tree head differs from the records' tree".into(),
                ),
            ));
        }
        previous_root = Some(segment.footer.root);
        growth.segment_done(&mut nodes)?;
    }
    if let Some(a) = &scanned.active {
        let header = &a.segment.header;
        check_frontier(
            &a.segment.path,
            header,
            previous_root,
            compact_if_at(&growth.compact, header.base_seq),
        )?;
        for (i, &offset) in a.offsets.iter().enumerate() {
            let frame = a.contents.get(offset as usize..).unwrap_or_default();
            let (payload, _) = crate::codec::decode_frame(frame).map_err(|e| {
                corrupt(
                    &a.segment.path,
                    u64::from(offset),
                    CorruptionKind::BadField(e.to_string()),
                )
            })?;
            growth.grow(header.base_seq + i as u64, payload);
        }
        growth.segment_done(&mut nodes)?;
    }
    if let Nodes::Kept(kept) = nodes {
        *kept = growth.pending;
    }
    Ok((growth.compact, growth.root_at))
}

/// The tree as the replay grows it.
struct Growth {
    compact: CompactRange,
    /// Nodes computed and not yet written or dropped.
    pending: PendingNodes,
    /// The root at `checkpoint_size`, once passed.
    root_at: Option<Hash>,
    alg: HashAlg,
    start: u64,
    checkpoint_size: Option<u64>,
}

impl Growth {
    /// Appends record `seq` (its payload), if the stored tree does not hold it.
    fn grow(&mut self, seq: u64, payload: &[u8]) {
        if seq < self.start {
            return;
        }
        let pending = &mut self.pending;
        let leaf = self.alg.hash_leaf(payload);
        self.compact.append(leaf, |l, i, h| pending.push(l, i, h));
        if Some(self.compact.size()) == self.checkpoint_size {
            self.root_at = Some(self.compact.root());
        }
    }

    /// A segment's nodes are all computed: written, dropped, or kept for the end.
    fn segment_done(&mut self, nodes: &mut Nodes<'_>) -> Result<()> {
        match nodes {
            Nodes::Dropped => self.pending.clear(),
            Nodes::Kept(_) => {}
            Nodes::Written(tree) => self
                .pending
                .write_to(tree)
                .map_err(|e| crate::error::Error::io("writing tree nodes", e))?,
        }
        Ok(())
    }
}

/// The tree at the first record kept, from the first segment's header (checked against
/// the receipt's tree head by the replay), its nodes pushed to `pending`.
fn floor_frontier(scanned: &Scanned, pending: &mut PendingNodes) -> Result<CompactRange> {
    let Some((path, header)) = scanned.first_header() else {
        return Err(corrupt(
            &scanned.last_path,
            0,
            CorruptionKind::LostEvents(format!(
                "no segment holds record {}, the first kept after a deletion past retention",
                scanned.floor
            )),
        ));
    };
    let range = header.compact_range().ok_or_else(|| {
        corrupt(
            path,
            11,
            CorruptionKind::BadField("frontier length does not match the base".into()),
        )
    })?;
    let mut start = 0u64;
    let mut hashes = range.hashes().iter();
    for level in (0..64u32).rev() {
        if range.size() & (1 << level) != 0
            && let Some(hash) = hashes.next()
        {
            pending.push(level, start >> level, hash);
            start += 1 << level;
        }
    }
    Ok(range)
}

fn compact_if_at(compact: &CompactRange, size: u64) -> Option<&CompactRange> {
    (compact.size() == size).then_some(compact)
}

/// A segment's header frontier must be the tree at its base: equal to the running compact
/// range when we have it, and hash to the previous segment's footer root in any case.
fn check_frontier(
    path: &Path,
    header: &SegmentHeader,
    previous_root: Option<Hash>,
    running: Option<&CompactRange>,
) -> Result<()> {
    let Some(range) = header.compact_range() else {
        return Err(corrupt(
            path,
            11,
            CorruptionKind::BadField("frontier length does not match the base".into()),
        ));
    };
    if let Some(previous_root) = previous_root
        && range.root() != previous_root
    {
        return Err(corrupt(
            path,
            32,
            CorruptionKind::BrokenChain(
                "the header's frontier does not hash to the previous segment's tree head".into(),
            ),
        ));
    }
    if let Some(running) = running
        && running.hashes() != header.frontier.as_slice()
    {
        return Err(corrupt(
            path,
            32,
            CorruptionKind::BrokenChain(
                "the header's frontier differs from the tree of the records before it".into(),
            ),
        ));
    }
    Ok(())
}
