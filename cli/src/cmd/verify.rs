//! `auditlog verify`: recompute every checksum, leaf hash, stored tree node and segment
//! chain link of a data directory, offline. Exit 0 only when everything holds; otherwise
//! exit 1 naming the file and byte offset of the first fault.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use auditlog_engine::{Error, hex, verify::verify_dir_with_key};

use super::DataDir;
use crate::exit::CHECK_FAILED;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
    /// Check the checkpoints' signatures with this verifier key (text, or a file holding
    /// it) instead of the data directory's own `keys/checkpoint.pub`.
    #[arg(long, value_name = "VKEY")]
    key: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let mut last_shown = Instant::now();
    let mut progress = |bytes: u64| {
        if show_progress && last_shown.elapsed().as_millis() >= 200 {
            last_shown = Instant::now();
            eprint!("\rverified {:.1} MB", bytes as f64 / 1e6);
        }
    };
    let key = args
        .key
        .as_deref()
        .map(super::checkpoint::read_key)
        .transpose()?;
    let result = verify_dir_with_key(&args.data.dir, key.as_ref(), &mut progress);
    if show_progress {
        eprint!("\r\x1b[K");
    }
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(report) => {
            let gbps = report.bytes as f64 / seconds.max(1e-9) / 1e9;
            if args.json {
                let json = serde_json::json!({
                    "ok": true,
                    "segments": report.segments,
                    "records": report.records,
                    "bytes": report.bytes,
                    "nodes_checked": report.nodes_checked,
                    "checkpoints": report.checkpoints,
                    "hash": report.alg.name(),
                    "root": hex::encode(&report.root),
                    "seconds": seconds,
                    "notes": report.notes,
                });
                println!("{json}");
            } else {
                println!(
                    "ok: {} records in {} segments, {} bytes, {} checkpoints, tree head {} ({:.3}s, {gbps:.2} GB/s)",
                    report.records,
                    report.segments,
                    report.bytes,
                    report.checkpoints,
                    hex::encode(&report.root),
                    seconds
                );
                for note in &report.notes {
                    println!("note: {note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Corruption(c)) => {
            if args.json {
                let json = serde_json::json!({
                    "ok": false,
                    "file": c.file.display().to_string(),
                    "offset": c.offset,
                    "fault": c.kind.to_string(),
                });
                println!("{json}");
            } else {
                println!(
                    "FAILED: {} at byte {}: {}",
                    c.file.display(),
                    c.offset,
                    c.kind
                );
            }
            Ok(ExitCode::from(CHECK_FAILED))
        }
        Err(e) => Err(e.into()),
    }
}
