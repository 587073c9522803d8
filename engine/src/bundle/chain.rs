//! A tenant's bundles across hand-overs (docs/PROOFS.md, "Tenant hand-over"): one bundle
//! per log the tenant was written in, in order, each checked on its own
//! ([`verify_bundle`](super::verify_bundle)); this checks that they join. Each but the
//! last must be proven complete through its end by its checkpoint's tenant heads and end
//! with the tenant's `handed_over` record naming the next bundle's log and key; each but
//! the first must open with the `taken_over` record naming that record (its seq and leaf
//! hash) and carrying a checkpoint of the previous log, signed by its key, that holds it;
//! and that record must start the tenant's chain in its log, or (a tenant back in a log
//! it left) link to the record with which it left that log, an earlier bundle's last.
//! Then the tenant's events are the bundles' events, in order, with no gap at a move.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{BundleSummary, Completeness};
use crate::checkpoint::{NoteVerifier, SignedCheckpoint};
use crate::codec::TenantLink;

/// Why a tenant's bundles do not join at a hand-over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bundles {before} and {after} do not join at a hand-over: {why}")]
pub struct ChainError {
    /// The earlier bundle's place in the chain (1 for the first).
    pub before: usize,
    /// The later one's.
    pub after: usize,
    /// What fails.
    pub why: String,
}

/// One checked hand-over between two logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    /// The log the tenant left (its origin) and the seq of its `handed_over` record.
    pub from: (String, u64),
    /// The log it moved to and the seq of its `taken_over` record.
    pub to: (String, u64),
}

/// The verifier key the bundle after `part` must be signed with: the one its
/// `handed_over` record names (the chain of trust runs from the first bundle's key).
pub fn successor_key(part: &BundleSummary) -> Option<String> {
    Some(part.ends.last.as_ref()?.handed_over()?.to_key)
}

/// Checks that `parts`, one tenant's bundles of consecutive logs, join at hand-overs.
pub fn check_handovers(parts: &[BundleSummary]) -> Result<Vec<HandOver>, ChainError> {
    (1..parts.len())
        .map(|i| {
            let (before, after) = (&parts[i - 1], &parts[i]);
            join(before, after)
                .and_then(|join| {
                    // Where the tenant last left the later bundle's log, if it was there
                    // before: the take-over must link to exactly that record.
                    let left = parts[..i - 1]
                        .iter()
                        .rev()
                        .find(|p| same_log(p, after))
                        .and_then(|p| p.ends.last.as_ref())
                        .map(|record| record.seq);
                    check_resumes(after, left)?;
                    Ok(join)
                })
                .map_err(|why| ChainError {
                    before: i,
                    after: i + 1,
                    why,
                })
        })
        .collect()
}

/// Whether two bundles are of the same log (origin and key).
fn same_log(a: &BundleSummary, b: &BundleSummary) -> bool {
    a.checkpoint.origin == b.checkpoint.origin && same_key(&a.key, &b.key)
}

/// Whether two verifier keys in text are the same key.
fn same_key(a: &str, b: &str) -> bool {
    match (NoteVerifier::parse(a), NoteVerifier::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The later bundle's `taken_over` record starts the tenant's chain in its log (`left`
/// is `None`), or links to `left`, the record with which the tenant left that log before:
/// so no event of the tenant in that log is outside the chain of bundles.
fn check_resumes(after: &BundleSummary, left: Option<u64>) -> Result<(), String> {
    let first = after.ends.first.as_ref().ok_or("no taken_over record")?;
    match (first.link, left) {
        (TenantLink::First, None) => Ok(()),
        (TenantLink::Previous(p), Some(left)) if p == left => Ok(()),
        (link, left) => Err(format!(
            "the taken_over record (seq {}) links to {}, where the tenant's chain in its \
             log must {}: events of the tenant in that log are outside the bundles",
            first.seq,
            match link {
                TenantLink::Previous(p) => format!("event {p}"),
                TenantLink::First => "nothing (the tenant's first event there)".into(),
                TenantLink::Unlinked => "nothing (an unlinked record)".into(),
            },
            match left {
                Some(seq) => format!("resume at seq {seq}, where an earlier bundle left it"),
                None => "start (no earlier bundle is of that log)".into(),
            }
        )),
    }
}

fn join(before: &BundleSummary, after: &BundleSummary) -> Result<HandOver, String> {
    let tenant = before.selection.tenant.as_deref();
    if tenant.is_none() || after.selection.tenant.as_deref() != tenant {
        return Err(format!(
            "both must select the same tenant (they select {:?} and {:?})",
            before.selection.tenant, after.selection.tenant
        ));
    }
    let out = before
        .ends
        .last
        .as_ref()
        .ok_or("the earlier one does not end with the tenant's handed_over record")?;
    let to = out
        .handed_over()
        .ok_or("the earlier one does not end with a readable handed_over record")?;
    // The tenant heads close the earlier bundle: no event of the tenant after the
    // record, in that log, up to its checkpoint.
    if !matches!(before.completeness, Completeness::Tenant { .. }) {
        return Err(format!(
            "the earlier one is not proven complete through its end ({}): prove it \
             against a checkpoint with tenant heads, at or after the hand-over",
            before.completeness
        ));
    }
    if to.to_origin != after.checkpoint.origin || !same_key(&to.to_key, &after.key) {
        return Err(format!(
            "the handed_over record (seq {}) names the log {} with key {}, the later \
             bundle is of {} with key {}",
            out.seq, to.to_origin, to.to_key, after.checkpoint.origin, after.key
        ));
    }
    let first = after
        .ends
        .first
        .as_ref()
        .ok_or("the later one does not open with the tenant's taken_over record")?;
    let from = first
        .taken_over()
        .ok_or("the later one does not open with a readable taken_over record")?;
    if matches!(
        after.completeness,
        Completeness::None | Completeness::Range { .. }
    ) {
        return Err(format!(
            "the later one proves no tenant chain from its start ({})",
            after.completeness
        ));
    }
    if from.from_origin != before.checkpoint.origin
        || !same_key(&from.from_key, &before.key)
        || from.from_seq != out.seq
        || from.from_leaf != BASE64.encode(out.leaf)
    {
        return Err(format!(
            "the taken_over record (seq {}) continues {} seq {} (leaf {}), not the \
             earlier bundle's handed_over record ({} seq {}, leaf {})",
            first.seq,
            from.from_origin,
            from.from_seq,
            from.from_leaf,
            before.checkpoint.origin,
            out.seq,
            BASE64.encode(out.leaf)
        ));
    }
    let key = NoteVerifier::parse(&before.key).map_err(|e| format!("the earlier key: {e}"))?;
    let signed = SignedCheckpoint::open(from.from_checkpoint.as_bytes(), &key)
        .map_err(|e| format!("the checkpoint in the taken_over record: {e}"))?;
    if signed.checkpoint.origin != before.checkpoint.origin
        || signed.checkpoint.tree_size <= out.seq
    {
        return Err(format!(
            "the checkpoint in the taken_over record ({} at size {}) does not hold the \
             handed_over record ({} seq {})",
            signed.checkpoint.origin,
            signed.checkpoint.tree_size,
            before.checkpoint.origin,
            out.seq
        ));
    }
    Ok(HandOver {
        from: (before.checkpoint.origin.clone(), out.seq),
        to: (after.checkpoint.origin.clone(), first.seq),
    })
}
