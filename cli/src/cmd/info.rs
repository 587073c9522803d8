//! `auditlog info`: the log at a glance.

use std::process::ExitCode;

use auditlog_engine::hex;

use super::DataDir;

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
    let info = serde_json::json!({
        "tree_size": log.tree_size(),
        "root": hex::encode(&log.root()),
        "hash": config.hash.name(),
        "origin": config.origin,
        "segments": log.segment_count(),
        "segment_bytes": config.segment_bytes,
        "durability": config.durability.to_string(),
    });
    if args.json {
        println!("{info}");
    } else {
        println!("tree size   {}", log.tree_size());
        println!("root        {}", hex::encode(&log.root()));
        println!("hash        {}", config.hash);
        println!("origin      {}", config.origin);
        println!("segments    {}", log.segment_count());
        println!("durability  {}", config.durability);
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
