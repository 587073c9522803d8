//! `auditlog expire --data DIR --retain-days N`: deletes the oldest whole segments whose
//! events are all older than the retention, up to the first holding an event of a tenant
//! under legal hold, and prints the signed retention receipt that covers the gap
//! (docs/OPERATIONS.md, "Retention, legal holds and S3 Object Lock"). The receipt is
//! durable, and recorded in the `_system` tenant, before any file is removed. With an
//! archive (`--archive URL`, or the one a tiered log's segments were released to), the
//! receipts are copied there and the deleted segments leave it too.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_archive::{Archive, TierConfig, expire_archive};
use auditlog_engine::Timestamp;
use auditlog_engine::system::SystemActor;

use super::archive::S3Args;
use super::{DataDir, KekArgs};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    kek: KekArgs,
    /// Keep each segment this many days after its newest event (e.g. 2555 for seven
    /// years); the same number as the archive's Object Lock retention.
    #[arg(long, value_name = "DAYS")]
    retain_days: u64,
    /// The archive to delete the same segments from (default: the one a tiered log's
    /// segments were released to, if any): `s3://bucket/prefix` or `file:///path`.
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.data.require_log()?;
    let dir = &args.data.dir;
    let mut options = args.data.open_options()?;
    if let Some(kek) = args.kek.load()? {
        options = options.kek(kek);
    }
    let log = options.open(dir).with_context(|| {
        format!(
            "opening {} to delete past retention (a running auditlogd holds it: stop it first)",
            dir.display()
        )
    })?;
    let expiry = log
        .expire(SystemActor::Cli, args.retain_days, Timestamp::now())
        .context("deleting past retention")?;
    let url = match &args.archive {
        Some(url) => Some(url.clone()),
        None => TierConfig::load(dir)?.map(|tier| tier.url),
    };
    let archived = match url {
        Some(url) => {
            let archive = Archive::open(&url, &args.s3.options())?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the archive's runtime")?;
            let done = runtime.block_on(expire_archive(&log, &archive));
            Some(done.with_context(|| {
                format!(
                    "deleting from {url} (the local deletion is done; run again to finish                      the archive's)"
                )
            }))
        }
        None => None,
    };
    log.close();
    let archived = archived.transpose()?;
    if args.json {
        let line = serde_json::json!({
            "deleted": expiry.expired.as_ref().map(|e| serde_json::json!({
                "first": e.receipt.deleted.start,
                "end": e.receipt.deleted.end,
                "segments": e.segments.len(),
                "bytes": e.bytes,
                "receipt": e.note,
            })),
            "kept_because": expiry.kept_because,
            "archive": archived,
        });
        say!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
    match &expiry.expired {
        Some(e) => {
            say!(
                "deleted records {}..{} ({} segments, {} bytes); receipt:",
                e.receipt.deleted.start,
                e.receipt.deleted.end,
                e.segments.len(),
                e.bytes
            );
            say!("{}", e.note.trim_end());
        }
        None => say!("nothing past a retention of {} days", args.retain_days),
    }
    say!("kept from there: {}", expiry.kept_because);
    if archived.as_ref().is_some_and(|a| !a.found) {
        say!("archive: no archive of this log there yet, nothing to delete");
    }
    if let Some(a) = archived.as_ref().filter(|a| a.found) {
        say!(
            "archive: {} segments deleted ({} bytes), {} receipt files copied; it keeps \
             records from {}",
            a.segments_deleted,
            a.bytes_deleted,
            a.receipts_copied,
            a.first_kept
        );
    }
    Ok(ExitCode::SUCCESS)
}
