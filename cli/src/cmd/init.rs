//! `auditlog init`: create a log.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_SEGMENT_BYTES, Durability, HashAlg, Log, LogConfig,
};

use super::DataDir;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Tree hash: blake3 (default) or sha256 (Certificate Transparency compatible).
    #[arg(long, default_value = "blake3", value_parser = parse_hash)]
    hash: HashAlg,
    /// Checkpoint origin: a name for this log, e.g. `audit.example.com/prod`.
    #[arg(long, default_value = "auditlog.local/log")]
    origin: String,
    /// Roll to a new segment past this many bytes.
    #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES)]
    segment_bytes: u64,
    /// When appends are acknowledged: always, interval:<ms>, or none.
    #[arg(long, default_value = "always")]
    durability: Durability,
    /// Sign a checkpoint this often (seconds) while the tree grows; 0: only on demand
    /// (`auditlog checkpoint issue`) and when the log closes.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CHECKPOINT_INTERVAL.as_secs())]
    checkpoint_every: u64,
}

pub(crate) fn parse_hash(s: &str) -> Result<HashAlg, String> {
    HashAlg::from_name(s).ok_or_else(|| format!("`{s}` is not blake3 or sha256"))
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = LogConfig {
        hash: args.hash,
        origin: args.origin,
        segment_bytes: args.segment_bytes,
        durability: args.durability,
        checkpoint_interval: Duration::from_secs(args.checkpoint_every),
    };
    let log = Log::create(&args.data.dir, &config)
        .with_context(|| format!("creating a log in {}", args.data.dir.display()))?;
    say!(
        "created log in {} (hash {}, origin {}, segments of {} bytes, durability {})",
        log.dir().display(),
        config.hash,
        config.origin,
        config.segment_bytes,
        config.durability
    );
    // The private key stays in keys/checkpoint.key (owner-only); the public one is printed
    // for whoever will audit this log.
    if let Some(key) = load_verifier(&FsStorage::default(), log.dir())? {
        say!("checkpoint verifier key: {}", key.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
