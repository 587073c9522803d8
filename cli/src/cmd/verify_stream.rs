//! `auditlog verify-stream DIR --key VKEY`: checks what a webhook sink with proofs
//! delivered, as a receiver kept it (each batch's body, byte for byte, in a `.json` file
//! of DIR). Every batch is an evidence bundle in other clothes (its events with their
//! tenant links, the bundle's first and last lines as `proof`), checked as
//! `verify-bundle` checks one against the log's key, against a checkpoint that covers
//! the batch's whole range. Each batch then proves a stretch of the log complete (every
//! event of the sink's tenant, or every event, is in the stream): its range, or, for a
//! tenant, from just after the event its first event links to, up to the range's end
//! when the checkpoint's tenant heads close it, else through its last event. The
//! stretches of all batches are merged; what is proven is the run from the stream's
//! start (docs/SINKS.md, "Batches with proofs"). A stretch no batch proves is a missing
//! batch, unless a batch says its records were deleted past retention (the server's
//! word, reported apart). Exit 0 only when all of it holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::TenantLink;
use auditlog_engine::bundle::{BundleSummary, Completeness, event_line_link, verify_bundle};
use auditlog_engine::checkpoint::NoteVerifier;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The directory of received batches: one webhook body per `.json` file (a batch
    /// received twice may be kept twice).
    dir: PathBuf,
    /// The log's verifier key (text, or a file holding it).
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
    /// The tenant the stream should be of: refuse batches that select another (or all).
    #[arg(long, value_name = "ORG", conflicts_with = "all_tenants")]
    tenant: Option<String>,
    /// The stream should be of every tenant.
    #[arg(long)]
    all_tenants: bool,
    /// The first seq the stream should prove from (the sink's start).
    #[arg(long, value_name = "SEQ")]
    from_seq: Option<u64>,
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

/// One checked batch.
struct Batch {
    file: PathBuf,
    sink: String,
    from: u64,
    expired: Option<Gap>,
    summary: BundleSummary,
    /// The stretch it proves complete, if any.
    proves: Option<(u64, u64)>,
}

/// A stretch the stream is proven to hold every event of (the sink's tenant's, or every
/// one): `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
struct Claim {
    from: u64,
    to: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = super::checkpoint::read_key(&args.key)?;
    match check(&args, &key) {
        Ok(report) => {
            if args.json {
                say!("{}", serde_json::json!({"ok": true, "report": report}));
            } else {
                say!("ok: {}", report["text"].as_str().unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let fault = format!("{e:#}");
            if args.json {
                say!("{}", serde_json::json!({"ok": false, "fault": fault}));
            } else {
                say!("REJECTED: {fault}");
            }
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}

/// Checks every batch of the directory, then the stream they make.
fn check(args: &Args, key: &NoteVerifier) -> anyhow::Result<serde_json::Value> {
    let dir = &args.dir;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "{} holds no batch (.json)",
        dir.display()
    );
    let mut batches: Vec<Batch> = Vec::with_capacity(files.len());
    for file in &files {
        let batch = check_batch(file, key).with_context(|| file.display().to_string())?;
        if let Some(first) = batches.first() {
            anyhow::ensure!(
                first.sink == batch.sink,
                "{} is a batch of sink {}, {} of sink {}: one stream per directory",
                first.file.display(),
                first.sink,
                file.display(),
                batch.sink
            );
            anyhow::ensure!(
                first.summary.selection.tenant == batch.summary.selection.tenant,
                "{} selects tenant {:?}, {} tenant {:?}",
                first.file.display(),
                first.summary.selection.tenant,
                file.display(),
                batch.summary.selection.tenant
            );
        }
        batches.push(batch);
    }
    let any = &batches[0];
    let tenant = any.summary.selection.tenant.clone();
    if let Some(expected) = &args.tenant {
        anyhow::ensure!(
            tenant.as_ref() == Some(expected),
            "the stream selects tenant {tenant:?}, not {expected:?}"
        );
    }
    if args.all_tenants {
        anyhow::ensure!(
            tenant.is_none(),
            "the stream selects tenant {tenant:?}, not every tenant"
        );
    }
    let start = batches.iter().map(|b| b.from).min().unwrap_or(0);
    if let Some(expected) = args.from_seq {
        anyhow::ensure!(
            start == expected,
            "the stream starts at seq {start}, not {expected}"
        );
    }
    let proven: Vec<(u64, u64)> = batches.iter().filter_map(|b| b.proves).collect();
    let expired: Vec<(u64, u64)> = (batches.iter())
        .filter_map(|b| b.expired.map(|g| (g.from_seq, g.to_seq)))
        .collect();
    let claims = stream_claims(start, &proven, &expired)?;
    let events: u64 = batches.iter().map(|b| b.summary.events).sum();
    let checkpoints: std::collections::BTreeSet<u64> = (batches.iter())
        .map(|b| b.summary.checkpoint.tree_size)
        .collect();
    let whom = match &tenant {
        Some(t) => format!("tenant {t:?}"),
        None => "every tenant".to_owned(),
    };
    let mut said: Vec<String> = (claims.iter())
        .map(|c| format!("every event of {whom} in seq {}..{} is there", c.from, c.to))
        .collect();
    for (from, to) in &expired {
        said.push(format!(
            "NOT PROVEN: seq {from}..{to}, deleted past retention before delivery (the \
             server's word)"
        ));
    }
    let text = format!(
        "{} batches ({} files) of sink {}, {events} events, proven against {} checkpoints \
         signed by {}; {}",
        batches.len(),
        files.len(),
        any.sink,
        checkpoints.len(),
        any.summary.key,
        said.join("; ")
    );
    Ok(serde_json::json!({
        "text": text,
        "sink": any.sink,
        "tenant": tenant,
        "files": files.len(),
        "events": events,
        "checkpoints": checkpoints,
        "claims": claims,
        "expired": expired,
    }))
}

/// What a stream proves from `start`: the stretches its batches prove (`proven`),
/// merged. The first run must start at or before `start`; a hole between runs is a
/// missing batch, unless it lies within a range a batch says was deleted past retention
/// (`expired`), after which the claim restarts.
fn stream_claims(
    start: u64,
    proven: &[(u64, u64)],
    expired: &[(u64, u64)],
) -> anyhow::Result<Vec<Claim>> {
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
        anyhow::bail!("no batch proves any stretch of the stream: it holds no event");
    };
    anyhow::ensure!(
        first.from <= start,
        "no batch proves seq {start}..{}: a batch is missing",
        first.from
    );
    first.from = start;
    for pair in runs.windows(2) {
        let (hole_from, hole_to) = (pair[0].to, pair[1].from);
        let explained = (expired.iter()).any(|&(f, t)| f <= hole_from && hole_to <= t);
        anyhow::ensure!(
            explained,
            "no batch proves seq {hole_from}..{hole_to}: a batch is missing, or events \
             were left out of one"
        );
    }
    Ok(runs.into_iter().filter(|c| c.to > start).collect())
}

/// One batch file, checked as the bundle it carries.
fn check_batch(file: &Path, key: &NoteVerifier) -> anyhow::Result<Batch> {
    let text = std::fs::read_to_string(file)?;
    let body: Body<'_> = serde_json::from_str(&text).context("not a webhook batch")?;
    anyhow::ensure!(
        body.kind == "auditlog.events",
        "a batch of type {:?}",
        body.kind
    );
    let data = body.data;
    let proof = data
        .proof
        .context("the batch carries no proof: was the sink made with proofs?")?;
    let mut bundle = String::with_capacity(text.len());
    for line in std::iter::once(proof.header)
        .chain(data.events.iter().copied())
        .chain(std::iter::once(proof.trailer))
    {
        bundle.push_str(line.get());
        bundle.push('\n');
    }
    let summary = verify_bundle(&mut bundle.as_bytes(), Some(key))?;
    // The bundle proves its own selection: it must be the batch's range.
    let start = data.expired.map_or(data.from_seq, |gap| gap.to_seq);
    let selection = &summary.selection;
    anyhow::ensure!(
        selection.from_seq == start && selection.to_seq == Some(data.to_seq),
        "the proof selects seq {}..{:?}, the batch tells {}..{}",
        selection.from_seq,
        selection.to_seq,
        start,
        data.to_seq
    );
    anyhow::ensure!(
        selection.from.is_none() && selection.to.is_none(),
        "the proof selects by time"
    );
    anyhow::ensure!(
        data.from_seq < data.to_seq,
        "an empty range {}..{}",
        data.from_seq,
        data.to_seq
    );
    if let Some(gap) = data.expired {
        anyhow::ensure!(
            data.from_seq <= gap.from_seq
                && gap.from_seq <= gap.to_seq
                && gap.to_seq <= data.to_seq,
            "the expired range {}..{} is not in the batch's",
            gap.from_seq,
            gap.to_seq
        );
    }
    // A checkpoint below the range's end would prove only part of it.
    anyhow::ensure!(
        summary.checkpoint.tree_size >= data.to_seq,
        "the proof's checkpoint (size {}) does not cover the batch's range, which ends at {}",
        summary.checkpoint.tree_size,
        data.to_seq
    );
    let link = |raw: &RawValue| event_line_link(raw.get()).context("an event without its seq");
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
    };
    Ok(Batch {
        file: file.to_owned(),
        sink: data.sink,
        from: data.from_seq,
        expired: data.expired,
        summary,
        proves,
    })
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
    }
}
