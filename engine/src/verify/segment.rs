//! One segment file checked alone, against the chain data it carries (for archived
//! copies, `auditlog verify --segment`).

use std::path::Path;

use super::corrupt;
use super::footer::check_footer;
use super::frames::{locate_footer, place_frames};
use super::links::{ChunkTenants, Interner};
use super::records::{Failed, RecordChecks, check_records, settle};
use crate::error::{CorruptionKind, Result};
use crate::merkle::{Hash, HashAlg};
use crate::segment::SegmentHeader;
use crate::storage::{Storage, read_file};

/// What checking one segment file alone covered.
#[derive(Debug, Clone, PartialEq, Eq)]

pub struct SegmentReport {
    /// The sequence number of its first record.
    pub base_seq: u64,
    /// Records checked.
    pub records: u64,
    /// The tree size after its last record.
    pub tree_size: u64,
    /// The tree head at `tree_size`, recomputed from the header's frontier and the records.
    pub root: Hash,
    /// The hash algorithm.
    pub alg: HashAlg,
    /// Whether it has a footer (an archived copy should).
    pub sealed: bool,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a sealed segment's header and footer claim, read without checking the records:
/// the name an archive's manifest gives it is compared with this before the records are
/// verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedClaims {
    /// The header's base sequence number.
    pub base_seq: u64,
    /// The footer's tree size.
    pub tree_size: u64,
    /// The footer's tree head.
    pub root: Hash,
}

/// Reads [`SealedClaims`] from the bytes of the sealed segment at `path` (header and
/// footer decoded and their CRCs checked; a segment without a footer is refused).
pub fn sealed_claims(path: &Path, bytes: &[u8]) -> Result<SealedClaims> {
    let header = SegmentHeader::decode_from(bytes).map_err(|(o, k)| corrupt(path, o, k))?;
    let (_, footer) = locate_footer(path, bytes, header.encoded_len(), false)?;
    let (_, footer) = footer.ok_or_else(|| {
        corrupt(
            path,
            bytes.len() as u64,
            CorruptionKind::Truncated("sealed segment: no footer"),
        )
    })?;
    Ok(SealedClaims {
        base_seq: header.base_seq,
        tree_size: footer.tree_size,
        root: footer.root,
    })
}

/// Checks one segment file alone, against the chain data it carries (for archived
/// copies): its header, every frame's CRC and timestamp, and the tree grown from the
/// header's frontier (the tree of every record before it) over its records, which must
/// give the footer's counts and tree head; then the footer's offset table, time bounds
/// and CRCs. Nothing else is read: the report's tree head can then be compared with a
/// signed checkpoint of that size, or with the next segment's frontier. A segment without
/// a footer is checked up to its end and reported unsealed.
pub(super) fn check_segment_alone(storage: &dyn Storage, path: &Path) -> Result<SegmentReport> {
    let bytes = read_file(storage, path)?;
    let header = SegmentHeader::decode_from(&bytes).map_err(|(o, k)| corrupt(path, o, k))?;
    let mut compact = header
        .compact_range()
        .ok_or_else(|| corrupt(path, 11, CorruptionKind::BadField("bad frontier".into())))?;
    let header_len = header.encoded_len();
    let (records_end, footer) = locate_footer(path, &bytes, header_len, true)?;
    let mut frames = Vec::new();
    let walk_error = place_frames(&bytes, &header, records_end, footer.as_ref(), &mut frames);
    // A segment alone: its records' links name events before it too, so they are
    // checked with the whole log (`verify_dir`), not here.
    let grow = |leaves: &[Hash], _: &ChunkTenants<'_>| {
        compact.extend(leaves, |_, _, _| {});
        Ok(())
    };
    let checks = RecordChecks {
        path,
        alg: header.alg,
        interner: &Interner::default(),
        index: None,
    };
    let checked = check_records(&bytes, &frames, header.base_seq, &checks, None, grow);
    let (min_ts, max_ts) = match settle(checked, walk_error, path, footer.is_none()) {
        Ok(bounds) => (bounds.min, bounds.max),
        Err(Failed::Tree(e) | Failed::Frame(e)) => return Err(e),
    };
    if let Some((footer_at, f)) = &footer {
        check_footer(
            path,
            &bytes,
            *footer_at,
            f,
            &header,
            &frames,
            records_end,
            &compact,
            min_ts,
            max_ts,
        )?;
    }
    Ok(SegmentReport {
        base_seq: header.base_seq,
        records: frames.len() as u64,
        tree_size: compact.size(),
        root: compact.root(),
        alg: header.alg,
        sealed: footer.is_some(),
        bytes: bytes.len() as u64,
    })
}
