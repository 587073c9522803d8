//! `auditlog archive`: copies the sealed segments of a data directory that an archive
//! lacks (docs/OPERATIONS.md, "Archival"). Read-only on the log: it may run beside a
//! running auditlogd.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_archive::{Archive, KeyBackup, S3Options, archive_log, check_apart};

use super::DataDir;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Where to: `s3://bucket/prefix` (credentials from the AWS environment variables) or
    /// `file:///path`.
    #[arg(long, value_name = "URL")]
    to: String,
    /// A sealing log: also back up its key store (replaced whenever it changed) to this
    /// location, which must lie apart from `--to` (docs/PRIVACY.md, "Backups of the key
    /// store").
    #[arg(long, value_name = "URL")]
    keys_to: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// S3 settings, each also taken from its usual AWS environment variable.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct S3Args {
    /// The S3 endpoint of a store other than AWS, e.g. `http://127.0.0.1:8333`.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    endpoint: Option<String>,
    /// The S3 region.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
}

impl S3Args {
    pub(crate) fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            ..S3Options::default()
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
    let archive = Archive::open(&args.to, &args.s3.options())?;
    let keys = match &args.keys_to {
        Some(url) => {
            check_apart(&args.to, url)?;
            Some(Archive::open(url, &args.s3.options())?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the archive's runtime")?;
    let json = args.json;
    let report = runtime.block_on(archive_log(&log, &archive, |entry| {
        if !json {
            eprintln!(
                "archived records {}..{} ({} bytes) as {}",
                entry.base_seq, entry.tree_size, entry.segment.bytes, entry.segment.object
            );
        }
    }))?;
    let keys_copied = match &keys {
        Some(keys) => runtime.block_on(KeyBackup::default().back_up(&log, keys))?,
        None => false,
    };
    if json {
        let mut json = serde_json::to_value(&report)?;
        json["key_store_copied"] = keys_copied.into();
        say!("{json}");
    } else {
        say!(
            "{} segments archived ({} bytes), {} already archived; the archive holds records \
             0..{} of {} at {}",
            report.segments_archived,
            report.bytes_archived,
            report.already_archived,
            report.archived_tree_size,
            log.tree_size(),
            archive.url()
        );
    }
    Ok(ExitCode::SUCCESS)
}
