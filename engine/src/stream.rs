//! Streams of proven batches: what a webhook sink with proofs delivers (docs/SINKS.md,
//! "Batches with proofs"), checked from what a receiver kept. Every batch is an evidence
//! bundle in other clothes (its events with their tenant links, the bundle's first and
//! last lines as `proof`), checked as [`verify_bundle`] checks one, against a checkpoint
//! that covers the batch's whole range. Each batch then proves a stretch of the log
//! complete (every event of the sink's tenant, or every event, is in the stream): its
//! range, or, for a tenant, from just after the event its first event links to, up to
//! the range's end when the checkpoint's tenant heads close it, else through its last
//! event. [`stream_claims`] merges the stretches of all batches: a stretch no batch
//! proves is a missing batch, unless a batch says its records were deleted past
//! retention (the server's word, which the caller reports apart).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::bundle::{BundleSummary, Completeness, event_line_link, verify_bundle};
use crate::checkpoint::NoteVerifier;
use crate::codec::TenantLink;

/// Why a batch or a stream is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(String);

fn fault(what: impl Into<String>) -> StreamError {
    StreamError(what.into())
}

fn ensure(holds: bool, what: impl FnOnce() -> String) -> Result<(), StreamError> {
    if holds {
        Ok(())
    } else {
        Err(StreamError(what()))
    }
}

/// One batch, checked.
#[derive(Debug, Clone)]
pub struct ProvenBatch {
    /// The sink that sent it.
    pub sink: String,
    /// The range it tells: `from..to`.
    pub from: u64,
    /// See `from`.
    pub to: u64,
    /// Records of the range deleted past retention before delivery (the server's word).
    pub expired: Option<(u64, u64)>,
    /// The bundle it carries, checked.
    pub summary: BundleSummary,
    /// The stretch it proves complete, if any.
    pub proves: Option<(u64, u64)>,
}

/// A stretch a stream is proven to hold every event of (the sink's tenant's, or every
/// one): `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    /// First sequence number.
    pub from: u64,
    /// Sequence number after the last.
    pub to: u64,
}

/// A webhook body, as much of it as is checked.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Data<'a> {
    sink: String,
    from_seq: u64,
    to_seq: u64,
    #[serde(default)]
    expired: Option<Gap>,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    proof: Option<Proof<'a>>,
}

#[derive(Deserialize, Clone, Copy)]
struct Gap {
    from_seq: u64,
    to_seq: u64,
}

#[derive(Deserialize)]
struct Proof<'a> {
    #[serde(borrow)]
    header: &'a RawValue,
    #[serde(borrow)]
    trailer: &'a RawValue,
}

/// One batch's body, checked as the bundle it carries against `key` (or, without one,
/// the bundle's own key, which proves only that the batch is self-consistent).
pub fn check_batch(text: &str, key: Option<&NoteVerifier>) -> Result<ProvenBatch, StreamError> {
    let body: Body<'_> =
        serde_json::from_str(text).map_err(|e| fault(format!("not a webhook batch: {e}")))?;
    ensure(body.kind == "auditlog.events", || {
        format!("a batch of type {:?}", body.kind)
    })?;
    let data = body.data;
    let proof = data
        .proof
        .ok_or_else(|| fault("the batch carries no proof: was the sink made with proofs?"))?;
    let mut bundle = String::with_capacity(text.len());
    for line in std::iter::once(proof.header)
        .chain(data.events.iter().copied())
        .chain(std::iter::once(proof.trailer))
    {
        bundle.push_str(line.get());
        bundle.push('\n');
    }
    let summary = verify_bundle(&mut bundle.as_bytes(), key).map_err(|e| fault(e.to_string()))?;
    // The bundle proves its own selection: it must be the batch's range.
    let start = data.expired.map_or(data.from_seq, |gap| gap.to_seq);
    let selection = &summary.selection;
    ensure(
        selection.from_seq == start && selection.to_seq == Some(data.to_seq),
        || {
            format!(
                "the proof selects seq {}..{:?}, the batch tells {}..{}",
                selection.from_seq, selection.to_seq, start, data.to_seq
            )
        },
    )?;
    ensure(selection.from.is_none() && selection.to.is_none(), || {
        "the proof selects by time".to_owned()
    })?;
    ensure(data.from_seq < data.to_seq, || {
        format!("an empty range {}..{}", data.from_seq, data.to_seq)
    })?;
    if let Some(gap) = data.expired {
        ensure(
            data.from_seq <= gap.from_seq
                && gap.from_seq <= gap.to_seq
                && gap.to_seq <= data.to_seq,
            || {
                format!(
                    "the expired range {}..{} is not in the batch's",
                    gap.from_seq, gap.to_seq
                )
            },
        )?;
    }
    // A checkpoint below the range's end would prove only part of it.
    ensure(summary.checkpoint.tree_size >= data.to_seq, || {
        format!(
            "the proof's checkpoint (size {}) does not cover the batch's range, which ends at {}",
            summary.checkpoint.tree_size, data.to_seq
        )
    })?;
    let link = |raw: &RawValue| {
        event_line_link(raw.get()).ok_or_else(|| fault("an event without its seq"))
    };
    let first = data.events.first().map(|e| link(e)).transpose()?;
    // The stretch proven: for a tenant, from after the event its first event links to
    // (the link says none of the tenant's lies between), through its last event, or to
    // the range's end when the tenant heads close it.
    let after_link = match first {
        Some((_, TenantLink::First)) => Some(0),
        Some((_, TenantLink::Previous(p))) => Some(p + 1),
        Some((_, TenantLink::Unlinked)) => None,
        None => Some(start),
    };
    let proves = match summary.completeness {
        Completeness::Range { from, to } => Some((from, to)),
        Completeness::Tenant { to, .. } => after_link.map(|from| (from, to)),
        Completeness::TenantChain {
            through: Some(last),
            ..
        } => after_link.map(|from| (from, last + 1)),
        Completeness::TenantChain { through: None, .. } | Completeness::None => None,
    }
    .filter(|(from, to)| from < to);
    Ok(ProvenBatch {
        sink: data.sink,
        from: data.from_seq,
        to: data.to_seq,
        expired: data.expired.map(|g| (g.from_seq, g.to_seq)),
        summary,
        proves,
    })
}

/// What a stream proves from `start`: the stretches its batches prove (`proven`),
/// merged. The first run must start at or before `start`; a hole before it or between
/// runs is a missing batch, unless it lies within a range a batch tells whose records,
/// it says, were deleted past retention before delivery (`expired`: from the batch's
/// start to the end of its deleted records), after which the claim restarts.
pub fn stream_claims(
    start: u64,
    proven: &[(u64, u64)],
    expired: &[(u64, u64)],
) -> Result<Vec<Claim>, StreamError> {
    let mut stretches: Vec<(u64, u64)> = proven.iter().copied().filter(|(f, t)| f < t).collect();
    stretches.sort_unstable();
    let mut runs: Vec<Claim> = Vec::new();
    for (from, to) in stretches {
        match runs.last_mut() {
            Some(run) if from <= run.to => run.to = run.to.max(to),
            _ => runs.push(Claim { from, to }),
        }
    }
    let Some(first) = runs.first_mut() else {
        return Err(fault(
            "no batch proves any stretch of the stream: it holds no event",
        ));
    };
    let covers = |from: u64, to: u64| (expired.iter()).any(|&(f, t)| f <= from && to <= t);
    ensure(first.from <= start || covers(start, first.from), || {
        format!(
            "no batch proves seq {start}..{}: a batch is missing",
            first.from
        )
    })?;
    first.from = first.from.max(start);
    for pair in runs.windows(2) {
        let (hole_from, hole_to) = (pair[0].to, pair[1].from);
        ensure(covers(hole_from, hole_to), || {
            format!(
                "no batch proves seq {hole_from}..{hole_to}: a batch is missing, or events \
             were left out of one"
            )
        })?;
    }
    Ok(runs.into_iter().filter(|c| c.to > start).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_that_meet_prove_the_stream_from_its_start() {
        // Batches 0..10 and 10..25; a replay resent 5..12.
        let claims = stream_claims(0, &[(0, 10), (10, 25), (5, 12)], &[]).expect("proven");
        assert_eq!(claims, [Claim { from: 0, to: 25 }]);
        // A tenant's first batch links to an event before the stream's start.
        let claims = stream_claims(40, &[(31, 60)], &[]).expect("proven");
        assert_eq!(claims, [Claim { from: 40, to: 60 }]);
    }

    #[test]
    fn a_hole_is_a_missing_batch_unless_the_records_were_deleted() {
        // The tail of the first batch dropped (proven through 7 only), the next batch
        // empty and closed by the heads from 10: 8..10 is proven by no one.
        let fault = stream_claims(0, &[(0, 8), (10, 20)], &[]).expect_err("a hole");
        assert!(fault.to_string().contains("seq 8..10"), "{fault}");
        let fault = stream_claims(0, &[(3, 9)], &[]).expect_err("a late start");
        assert!(fault.to_string().contains("seq 0..3"), "{fault}");
        assert!(stream_claims(0, &[], &[]).is_err());
        // Deleted past retention: the claim restarts after the gap.
        let claims = stream_claims(0, &[(0, 8), (12, 20)], &[(8, 12)]).expect("explained");
        assert_eq!(
            claims,
            [Claim { from: 0, to: 8 }, Claim { from: 12, to: 20 }]
        );
        // A stream whose first batch says its start was deleted: the claim starts after.
        let claims = stream_claims(0, &[(5, 20)], &[(0, 5)]).expect("explained");
        assert_eq!(claims, [Claim { from: 5, to: 20 }]);
        // A gap that covers only part of a hole explains nothing.
        assert!(stream_claims(0, &[(0, 8), (12, 20)], &[(9, 12)]).is_err());
    }
}
