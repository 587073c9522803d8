//! `auditlog restore`: a data directory rebuilt from an archive after its disk was lost
//! (docs/OPERATIONS.md, "Restore after a lost disk").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_archive::{
    Archive, ArchiveError, ArchiveReader, RestoreKeys, fetch_key_store, restore,
};
use auditlog_engine::{OpenOptions, hex};

use super::KekArgs;
use super::archive::S3Args;
use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The archive: `s3://bucket/prefix` or `file:///path`.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The data directory to write (must not exist, or be empty).
    #[arg(long = "data", value_name = "DIR")]
    dir: PathBuf,
    /// The log's private checkpoint key, from your backup of `keys/checkpoint.key`:
    /// without it the restored log can be read, not appended to.
    #[arg(long, value_name = "FILE")]
    checkpoint_key: Option<PathBuf>,
    /// A sealing log's key store, from your backup of `keys/subjects` (with --kek-file
    /// or AUDITLOG_KEK).
    #[arg(long, value_name = "FILE", conflicts_with = "key_store_from")]
    key_store: Option<PathBuf>,
    /// A sealing log's key store, from where `auditlog archive --keys-to URL` (or
    /// `auditlogd --archive-keys URL`) backed it up.
    #[arg(long, value_name = "URL")]
    key_store_from: Option<String>,
    #[command(flatten)]
    kek: KekArgs,
    #[command(flatten)]
    s3: S3Args,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let archive = Archive::open(&args.from, &args.s3.options())?;
    let reader = match ArchiveReader::open(archive) {
        Ok(reader) => reader,
        Err(ArchiveError::Mismatch { object, why }) => {
            say!("FAILED: {object}: {why}");
            return Ok(ExitCode::from(CHECK_FAILED));
        }
        Err(e) => return Err(e.into()),
    };
    let subject_keys = match (&args.key_store, &args.key_store_from) {
        (Some(path), _) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        (None, Some(url)) => {
            let keys = Archive::open(url, &args.s3.options())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting a runtime")?;
            Some(runtime.block_on(fetch_key_store(&keys))?)
        }
        (None, None) => None,
    };
    let keys = RestoreKeys {
        checkpoint_key: args.checkpoint_key.as_deref(),
        subject_keys,
    };
    let report = match restore(&reader, &args.dir, &keys) {
        Ok(report) => report,
        Err(ArchiveError::Mismatch { object, why }) => {
            say!("FAILED: {object}: {why}");
            return Ok(ExitCode::from(CHECK_FAILED));
        }
        Err(e) => return Err(e.into()),
    };
    // A writer's open rebuilds the tree, the tree state and anything derived, and checks
    // the records against the newest checkpoint kept.
    let mut options = OpenOptions::new().read_only(!report.writable);
    if let Some(kek) = args.kek.load()? {
        options = options.kek(kek);
    }
    let log = options
        .open(&args.dir)
        .with_context(|| format!("opening the restored log in {}", args.dir.display()))?;
    let root = hex::encode(&log.root());
    let tree_size = log.tree_size();
    drop(log);
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["root"] = root.into();
        say!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "restored {} segments ({} bytes) into {}: tree size {tree_size}, root {root}, {} checkpoints",
        report.segments,
        report.bytes,
        args.dir.display(),
        report.checkpoints
    );
    if let Some(&largest) = report.dropped_checkpoints.iter().max() {
        say!(
            "warning: {} checkpoints signed past the archive's end were dropped (the largest at \
             tree size {largest}): events {tree_size}..{largest} were lost with the disk, and \
             whoever holds one of those checkpoints will see this log fork from it",
            report.dropped_checkpoints.len()
        );
    }
    if !report.writable {
        say!("note: read-only until its private key is restored (--checkpoint-key)");
    }
    Ok(ExitCode::SUCCESS)
}
