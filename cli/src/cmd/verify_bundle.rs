//! `auditlog verify-bundle FILE`: check an evidence bundle offline: the checkpoint's
//! signature, every event against the selection, the shared proof against the
//! checkpoint's root, and (for a sequence range, or a tenant's events) that no event is
//! missing; with `--witness`, that enough witnesses cosigned the checkpoint. Exit 0 only
//! when all of it holds.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::bundle::{Completeness, Selection, verify_bundle};
use auditlog_engine::hex;

use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle (`-` for stdin).
    file: PathBuf,
    /// The verifier key you were given (text, or a file holding it); without it the
    /// bundle's own key is used, which proves only that the bundle is self-consistent.
    #[arg(long, value_name = "VKEY")]
    key: Option<String>,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
    /// The tenant you asked for: refuse a bundle that selects another (or none).
    #[arg(long, value_name = "ORG")]
    tenant: Option<String>,
    /// The first seq you asked for: refuse a bundle whose selection starts elsewhere.
    #[arg(long, value_name = "SEQ")]
    from_seq: Option<u64>,
    /// The end seq you asked for: refuse a bundle whose selection ends elsewhere.
    #[arg(long, value_name = "SEQ")]
    to_seq: Option<u64>,
    #[command(flatten)]
    witnesses: super::witnesses::WitnessArgs,
}

/// Whether the bundle's own selection is the one the auditor asked for: a bundle proves
/// only what it selects, and it names its selection itself.
fn unexpected(args: &Args, selection: &Selection) -> Option<String> {
    if let Some(tenant) = &args.tenant
        && selection.tenant.as_ref() != Some(tenant)
    {
        return Some(format!(
            "the bundle selects tenant {:?}, not {tenant:?}",
            selection.tenant
        ));
    }
    if let Some(from) = args.from_seq
        && selection.from_seq != from
    {
        return Some(format!(
            "the bundle's selection starts at seq {}, not {from}",
            selection.from_seq
        ));
    }
    if let Some(to) = args.to_seq
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
    let result = if args.file.as_os_str() == "-" {
        verify_bundle(&mut std::io::stdin().lock(), key.as_ref())
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        verify_bundle(&mut BufReader::with_capacity(1 << 20, file), key.as_ref())
    };
    let result = result
        .map_err(|e| e.to_string())
        .and_then(|s| match unexpected(&args, &s.selection) {
            Some(why) => Err(why),
            None => Ok(s),
        })
        .and_then(|s| {
            let witnessed = policy
                .as_ref()
                .map(|policy| super::witnesses::check(policy, &s.note))
                .transpose()?;
            Ok((s, witnessed))
        });
    match result {
        Ok((s, witnessed)) => {
            let c = &s.checkpoint;
            if args.json {
                let json = serde_json::json!({
                    "ok": true,
                    "events": s.events,
                    "origin": c.origin,
                    "tree_size": c.tree_size,
                    "root": hex::encode(&c.root),
                    "key": s.key,
                    "key_given": key.is_some(),
                    "complete": matches!(s.completeness, Completeness::Range { .. }),
                    "completeness": s.completeness.to_json(),
                    "selection": s.selection,
                    "proof_nodes": s.proof_nodes,
                    "bytes": s.bytes,
                    "witnessed": witnessed,
                });
                say!("{json}");
            } else {
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
                if let Some(witnessed) = &witnessed {
                    say!("witnessed: {}", witnessed.said);
                }
                if key.is_none() {
                    say!(
                        "note: checked with the bundle's own key {}; give the key you were handed with --key",
                        s.key
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if args.json {
                say!("{}", serde_json::json!({"ok": false, "fault": e}));
            } else {
                say!("REJECTED: {e}");
            }
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}
