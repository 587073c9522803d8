//! `auditlog info`: the log at a glance.

use std::process::ExitCode;

use auditlog_engine::hex;

use super::DataDir;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
    let config = log.config();
    let latest = log.latest_checkpoint().map(|c| c.checkpoint.tree_size);
    let signed = match latest {
        Some(size) if size == log.tree_size() => format!("at tree size {size} (all events)"),
        Some(size) => format!(
            "at tree size {size} ({} events after it not signed yet)",
            log.tree_size() - size
        ),
        None => "none yet".to_owned(),
    };
    let info = serde_json::json!({
        "latest_checkpoint_size": latest,
        "checkpoint_interval_ms": u64::try_from(config.checkpoint_interval.as_millis()).unwrap_or(u64::MAX),
        "tree_size": log.tree_size(),
        "root": hex::encode(&log.root()),
        "hash": config.hash.name(),
        "origin": config.origin,
        "segments": log.segment_count(),
        "segment_bytes": config.segment_bytes,
        "durability": config.durability.to_string(),
    });
    if args.json {
        say!("{info}");
    } else {
        say!("tree size   {}", log.tree_size());
        say!("root        {}", hex::encode(&log.root()));
        say!("hash        {}", config.hash);
        say!("origin      {}", config.origin);
        say!("segments    {}", log.segment_count());
        say!("durability  {}", config.durability);
        say!("checkpoint  {signed}");
    }
    if let Some(torn) = &log.recovery_report().torn_tail {
        eprintln!(
            "note: a torn tail of {} bytes at byte {} of {} is ignored ({}); the next writer cuts it",
            torn.bytes_dropped,
            torn.offset,
            torn.path.display(),
            torn.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}
