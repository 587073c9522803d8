//! `auditlog verify-bundle FILE`: check an evidence bundle offline: the checkpoint's
//! signature, every event against the selection, the shared proof against the
//! checkpoint's root, and (for a sequence range, or a tenant's events) that no event is
//! missing. Exit 0 only
//! when all of it holds.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::bundle::{Completeness, verify_bundle};
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
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = args
        .key
        .as_deref()
        .map(super::checkpoint::read_key)
        .transpose()?;
    let result = if args.file.as_os_str() == "-" {
        verify_bundle(&mut std::io::stdin().lock(), key.as_ref())
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        verify_bundle(&mut BufReader::with_capacity(1 << 20, file), key.as_ref())
    };
    match result {
        Ok(s) => {
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
                    "proof_nodes": s.proof_nodes,
                    "bytes": s.bytes,
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
                say!(
                    "{}",
                    serde_json::json!({"ok": false, "fault": e.to_string()})
                );
            } else {
                say!("REJECTED: {e}");
            }
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}
