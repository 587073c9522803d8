//! `auditlog info`: the log at a glance, from a data directory or a server.

use std::process::ExitCode;

use auditlog_engine::hex;
use auditlog_proto::convert::log_info;
use auditlog_proto::v1::LogInfo;

use super::{LogSource, Reader};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    source: LogSource,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let info = match args.source.open()? {
        Reader::Local(log) => {
            if let Some(torn) = &log.recovery_report().torn_tail {
                eprintln!(
                    "note: a torn tail of {} bytes at byte {} of {} is ignored ({}); the next \
                     writer cuts it",
                    torn.bytes_dropped,
                    torn.offset,
                    torn.path.display(),
                    torn.reason
                );
            }
            log_info(&log)
        }
        Reader::Remote(remote) => remote.info()?,
    };
    print(&info, args.json);
    Ok(ExitCode::SUCCESS)
}

fn print(info: &LogInfo, json: bool) {
    let root = hex::encode(&info.root);
    if json {
        let line = serde_json::json!({
            "latest_checkpoint_size": info.latest_checkpoint_size,
            "checkpoint_interval_ms": info.checkpoint_interval_ms,
            "tree_size": info.tree_size,
            "root": root,
            "hash": info.hash,
            "origin": info.origin,
            "segments": info.segments,
            "segment_bytes": info.segment_bytes,
            "durability": info.durability,
        });
        say!("{line}");
        return;
    }
    let signed = match info.latest_checkpoint_size {
        Some(size) if size == info.tree_size => format!("at tree size {size} (all events)"),
        Some(size) => format!(
            "at tree size {size} ({} events after it not signed yet)",
            info.tree_size.saturating_sub(size)
        ),
        None => "none yet".to_owned(),
    };
    say!("tree size   {}", info.tree_size);
    say!("root        {root}");
    say!("hash        {}", info.hash);
    say!("origin      {}", info.origin);
    say!("segments    {}", info.segments);
    say!("durability  {}", info.durability);
    say!("checkpoint  {signed}");
}
