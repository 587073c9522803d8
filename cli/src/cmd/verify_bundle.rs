//! `auditlog verify-bundle FILE…`: check an evidence bundle offline: the checkpoint's
//! signature, every event against the selection, the shared proof against the
//! checkpoint's root, and (for a sequence range, or a tenant's events) that no event is
//! missing; with `--witness`, that enough witnesses cosigned the checkpoint. Several
//! files are one tenant's bundles of the logs it moved through, in order: each is checked,
//! and each two must join at a hand-over (docs/PROOFS.md, "Tenant hand-over"), the key of
//! each next log taken from the record that handed the tenant to it. Exit 0 only when all
//! of it holds.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::bundle::{
    BundleSummary, Completeness, Selection, check_handovers, successor_key, verify_bundle,
};
use auditlog_engine::checkpoint::{NoteVerifier, WitnessPolicy};
use auditlog_engine::handover::TakenOver;
use auditlog_engine::hex;

use super::witnesses::Met;
use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle (`-` for stdin); several: one tenant's bundles of the logs it moved
    /// through, oldest first.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The verifier key you were given (text, or a file holding it); without it the
    /// bundle's own key is used, which proves only that the bundle is self-consistent.
    /// With several bundles, the first one's: each next log's key is the one the
    /// previous bundle's hand-over record names.
    #[arg(long, value_name = "VKEY")]
    key: Option<String>,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
    /// The tenant you asked for: refuse a bundle that selects another (or none).
    #[arg(long, value_name = "ORG")]
    tenant: Option<String>,
    /// The first seq you asked for: refuse a bundle whose selection starts elsewhere (the
    /// first, of several).
    #[arg(long, value_name = "SEQ")]
    from_seq: Option<u64>,
    /// The end seq you asked for: refuse a bundle whose selection ends elsewhere (the
    /// last, of several).
    #[arg(long, value_name = "SEQ")]
    to_seq: Option<u64>,
    #[command(flatten)]
    witnesses: super::witnesses::WitnessArgs,
}

/// Whether the bundle's own selection is the one the auditor asked for: a bundle proves
/// only what it selects, and it names its selection itself.
fn unexpected(args: &Args, selection: &Selection, first: bool, last: bool) -> Option<String> {
    if let Some(tenant) = &args.tenant
        && selection.tenant.as_ref() != Some(tenant)
    {
        return Some(format!(
            "the bundle selects tenant {:?}, not {tenant:?}",
            selection.tenant
        ));
    }
    if let Some(from) = args.from_seq.filter(|_| first)
        && selection.from_seq != from
    {
        return Some(format!(
            "the bundle's selection starts at seq {}, not {from}",
            selection.from_seq
        ));
    }
    if let Some(to) = args.to_seq.filter(|_| last)
        && selection.to_seq != Some(to)
    {
        return Some(format!(
            "the bundle's selection ends at {:?}, not seq {to}",
            selection.to_seq
        ));
    }
    None
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(super::checkpoint::read_key)
        .transpose()?;
    let policy = args.witnesses.policy()?;
    let mut parts: Vec<(BundleSummary, Option<Met>)> = Vec::new();
    let mut fault = None;
    for (i, file) in args.files.iter().enumerate() {
        // The chain of trust: the first bundle's key is the one given, each next one the
        // key the previous bundle's handed_over record names.
        let part_key = match i {
            0 => key.clone(),
            _ => match successor_key(&parts[i - 1].0).map(|k| NoteVerifier::parse(&k)) {
                Some(Ok(next)) => Some(next),
                _ => {
                    fault = Some(format!(
                        "bundle {i} does not end with its tenant's handed_over record naming \
                         the log of bundle {}",
                        i + 1
                    ));
                    break;
                }
            },
        };
        match check_part(&args, i, file, part_key.as_ref(), policy.as_ref())? {
            Ok(part) => parts.push(part),
            Err(why) => {
                fault = Some(match args.files.len() {
                    1 => why,
                    _ => format!("bundle {} ({}): {why}", i + 1, file.display()),
                });
                break;
            }
        }
    }
    let handovers = match fault {
        None => {
            let summaries: Vec<BundleSummary> = parts.iter().map(|(s, _)| s.clone()).collect();
            check_handovers(&summaries).map_err(|e| e.to_string())
        }
        Some(why) => Err(why),
    };
    let handovers = match handovers {
        Ok(handovers) => handovers,
        Err(e) => {
            if args.json {
                say!("{}", serde_json::json!({"ok": false, "fault": e}));
            } else {
                say!("REJECTED: {e}");
            }
            return Ok(ExitCode::from(CHECK_FAILED));
        }
    };
    if args.json {
        let mut reports: Vec<serde_json::Value> = parts
            .iter()
            .map(|(s, witnessed)| part_json(s, witnessed.as_ref(), key.is_some()))
            .collect();
        let json = match reports.len() {
            1 => reports.remove(0),
            _ => {
                let joins: Vec<serde_json::Value> = handovers
                    .iter()
                    .map(|h| {
                        serde_json::json!({
                            "from": {"origin": h.from.0, "seq": h.from.1},
                            "to": {"origin": h.to.0, "seq": h.to.1},
                        })
                    })
                    .collect();
                serde_json::json!({"ok": true, "parts": reports, "handovers": joins})
            }
        };
        say!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    for (s, witnessed) in &parts {
        let c = &s.checkpoint;
        say!(
            "ok: {} events of {} are in its signed tree of size {} (root {}); {}",
            s.events,
            c.origin,
            c.tree_size,
            hex::encode(&c.root),
            s.completeness
        );
        say!(
            "selection: {}",
            serde_json::to_string(&s.selection).unwrap_or_default()
        );
        if let Some(witnessed) = witnessed {
            say!("witnessed: {}", witnessed.said);
        }
    }
    for h in &handovers {
        say!(
            "hand-over: {} seq {} -> {} seq {}: the tenant's events continue there, with none left out",
            h.from.0,
            h.from.1,
            h.to.0,
            h.to.1
        );
    }
    if let Some(from) = came_from(&parts[0].0) {
        say!(
            "note: the tenant came to this log from {} (its handed_over record there: seq {}); \
             its events before are in that log, not in these bundles",
            from.from_origin,
            from.from_seq
        );
    }
    if key.is_none() {
        say!(
            "note: checked with the bundle's own key {}; give the key you were handed with --key",
            parts[0].0.key
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the tenant came from, if the bundle opens with its `taken_over` record.
fn came_from(s: &BundleSummary) -> Option<TakenOver> {
    s.ends.first.as_ref()?.taken_over()
}

/// Checks the bundle `file`, the chain's `index`th, with `key`: its summary and what the
/// witness policy found, or why it fails.
fn check_part(
    args: &Args,
    index: usize,
    file: &Path,
    key: Option<&NoteVerifier>,
    policy: Option<&WitnessPolicy>,
) -> anyhow::Result<Result<(BundleSummary, Option<Met>), String>> {
    let result = if file.as_os_str() == "-" {
        verify_bundle(&mut std::io::stdin().lock(), key)
    } else {
        let opened =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        verify_bundle(&mut BufReader::with_capacity(1 << 20, opened), key)
    };
    let last = index + 1 == args.files.len();
    Ok(result
        .map_err(|e| e.to_string())
        .and_then(|s| match unexpected(args, &s.selection, index == 0, last) {
            Some(why) => Err(why),
            None => Ok(s),
        })
        .and_then(|s| {
            let witnessed = policy
                .map(|policy| super::witnesses::check(policy, &s.note))
                .transpose()?;
            Ok((s, witnessed))
        }))
}

/// The JSON report of one checked bundle.
fn part_json(s: &BundleSummary, witnessed: Option<&Met>, key_given: bool) -> serde_json::Value {
    let c = &s.checkpoint;
    serde_json::json!({
        "ok": true,
        "events": s.events,
        "origin": c.origin,
        "tree_size": c.tree_size,
        "root": hex::encode(&c.root),
        "key": s.key,
        "key_given": key_given,
        "complete": matches!(s.completeness, Completeness::Range { .. }),
        "completeness": s.completeness.to_json(),
        "selection": s.selection,
        "proof_nodes": s.proof_nodes,
        "bytes": s.bytes,
        "witnessed": witnessed,
        "came_from": came_from(s).map(|f| serde_json::json!({
            "origin": f.from_origin, "seq": f.from_seq,
        })),
    })
}
