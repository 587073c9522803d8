//! `auditlog verify-stream DIR --key VKEY`: checks what a webhook sink with proofs
//! delivered, as a receiver kept it (each batch's body, byte for byte, in a `.json` file
//! of DIR): every batch against the log's key, then the stream they make, as
//! `auditlog_engine::stream` does (docs/SINKS.md, "Batches with proofs"); the batches
//! must be of one sink and one selection, the one asked for. Exit 0 only when all of it
//! holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::checkpoint::NoteVerifier;
use auditlog_engine::stream::{ProvenBatch, check_batch, stream_claims};

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

/// One batch file, checked.
struct Batch {
    file: PathBuf,
    batch: ProvenBatch,
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
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let batch = check_batch(&text, Some(key)).with_context(|| file.display().to_string())?;
        if let Some(first) = batches.first() {
            anyhow::ensure!(
                first.batch.sink == batch.sink,
                "{} is a batch of sink {}, {} of sink {}: one stream per directory",
                first.file.display(),
                first.batch.sink,
                file.display(),
                batch.sink
            );
            anyhow::ensure!(
                first.batch.summary.selection.tenant == batch.summary.selection.tenant,
                "{} selects tenant {:?}, {} tenant {:?}",
                first.file.display(),
                first.batch.summary.selection.tenant,
                file.display(),
                batch.summary.selection.tenant
            );
        }
        batches.push(Batch {
            file: file.clone(),
            batch,
        });
    }
    let batches: Vec<ProvenBatch> = batches.into_iter().map(|b| b.batch).collect();
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
    // What the server says holds nothing it could deliver: from a batch's start to the
    // end of the records it says were deleted.
    let expired: Vec<(u64, u64)> = (batches.iter())
        .filter_map(|b| b.expired.map(|(_, to)| (b.from, to)))
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
