//! `auditlog info`: the log at a glance, from a data directory or a server.

use std::process::ExitCode;

use auditlog_engine::hex;

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

/// What `info` reports, from either source.
struct Summary {
    tree_size: u64,
    root: String,
    hash: String,
    origin: String,
    segments: u64,
    segment_bytes: u64,
    durability: String,
    checkpoint_interval_ms: u64,
    latest_checkpoint_size: Option<u64>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = match args.source.open()? {
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
            let config = log.config();
            let latest_checkpoint_size = log.latest_checkpoint().map(|c| c.checkpoint.tree_size);
            let (tree_size, root) = log.head();
            Summary {
                tree_size,
                root: hex::encode(&root),
                hash: config.hash.name().to_owned(),
                origin: config.origin.clone(),
                segments: log.segment_count() as u64,
                segment_bytes: config.segment_bytes,
                durability: config.durability.to_string(),
                checkpoint_interval_ms: u64::try_from(config.checkpoint_interval.as_millis())
                    .unwrap_or(u64::MAX),
                latest_checkpoint_size,
            }
        }
        Reader::Remote(remote) => {
            let info = remote.info()?;
            Summary {
                tree_size: info.tree_size,
                root: hex::encode(&info.root),
                hash: info.hash,
                origin: info.origin,
                segments: info.segments,
                segment_bytes: info.segment_bytes,
                durability: info.durability,
                checkpoint_interval_ms: info.checkpoint_interval_ms,
                latest_checkpoint_size: info.latest_checkpoint_size,
            }
        }
    };
    summary.print(args.json);
    Ok(ExitCode::SUCCESS)
}

impl Summary {
    fn print(&self, json: bool) {
        if json {
            let info = serde_json::json!({
                "latest_checkpoint_size": self.latest_checkpoint_size,
                "checkpoint_interval_ms": self.checkpoint_interval_ms,
                "tree_size": self.tree_size,
                "root": self.root,
                "hash": self.hash,
                "origin": self.origin,
                "segments": self.segments,
                "segment_bytes": self.segment_bytes,
                "durability": self.durability,
            });
            say!("{info}");
            return;
        }
        let signed = match self.latest_checkpoint_size {
            Some(size) if size == self.tree_size => format!("at tree size {size} (all events)"),
            Some(size) => format!(
                "at tree size {size} ({} events after it not signed yet)",
                self.tree_size.saturating_sub(size)
            ),
            None => "none yet".to_owned(),
        };
        say!("tree size   {}", self.tree_size);
        say!("root        {}", self.root);
        say!("hash        {}", self.hash);
        say!("origin      {}", self.origin);
        say!("segments    {}", self.segments);
        say!("durability  {}", self.durability);
        say!("checkpoint  {signed}");
    }
}
