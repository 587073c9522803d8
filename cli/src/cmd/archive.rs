//! `auditlog archive`: copies the sealed segments of a data directory that an archive
//! lacks (docs/OPERATIONS.md, "Archival"). Read-only on the log: it may run beside a
//! running auditlogd.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_archive::{
    Archive, DEFAULT_CACHE_BYTES, HotPolicy, KeyBackup, ReleaseReport, S3Options, TierConfig,
    TieredStorage, archive_log, check_apart, release_cold,
};

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
    /// The log's archive retention: archived segments are kept this many days after their
    /// newest event. Where the bucket has S3 Object Lock (which then requires it), each
    /// archived object is locked in COMPLIANCE mode until that date.
    #[arg(long, value_name = "DAYS")]
    retain_days: Option<u64>,
    /// Do not write each archived segment's events as Parquet beside it
    /// (`segments/<base>.parquet`, for Spark, Trino or DuckDB; docs/FORMAT.md).
    #[arg(long)]
    no_parquet: bool,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    tiers: TierArgs,
    /// A sealing log's key-encryption key, needed to release segments (the log is opened
    /// for writing).
    #[command(flatten)]
    kek: super::KekArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What stays on the local disk once archived (docs/OPERATIONS.md, "Tiers").
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TierArgs {
    /// Release archived segments whose newest event is older than this many days from
    /// the local disk (the archive then serves them). Needs the log open for writing.
    #[arg(long, value_name = "DAYS")]
    pub(crate) hot_days: Option<u64>,
    /// Release the oldest archived segments until the local sealed segments fit in this
    /// many bytes (the newest sealed segment always stays).
    #[arg(long, value_name = "BYTES")]
    pub(crate) hot_bytes: Option<u64>,
    /// The most bytes of released segments the local cache keeps
    /// (`DATA/archive-cache`; default 1 GiB).
    #[arg(long, value_name = "BYTES")]
    pub(crate) cache_bytes: Option<u64>,
}

impl TierArgs {
    pub(crate) fn policy(&self) -> HotPolicy {
        HotPolicy {
            keep_days: self.hot_days,
            keep_bytes: self.hot_bytes,
        }
    }
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
    let mut archive = Archive::open(&args.to, &args.s3.options())?;
    if let Some(days) = args.retain_days {
        archive = archive.with_retention_days(days);
    }
    if args.no_parquet {
        archive = archive.without_parquet();
    }
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
    let tree_size = log.tree_size();
    drop(log);
    let released = match args.tiers.policy().is_set() {
        true => Some(release(&args, archive.clone(), &runtime)?),
        false => None,
    };
    if json {
        let mut json = serde_json::to_value(&report)?;
        json["key_store_copied"] = keys_copied.into();
        if let Some(r) = released {
            json["released"] = r.released.into();
            json["bytes_freed"] = r.bytes_freed.into();
            json["already_released"] = r.already_released.into();
        }
        say!("{json}");
    } else {
        say!(
            "{} segments archived ({} bytes), {} already archived; the archive holds records \
             0..{} of {} at {}",
            report.segments_archived,
            report.bytes_archived,
            report.already_archived,
            report.archived_tree_size,
            tree_size,
            archive.url()
        );
        match &report.tiles_not_written {
            Some(why) => say!("the archive's tlog tiles were not written: {why}"),
            None if report.tiles_written > 0 => say!(
                "{} tlog-tiles objects written (the archive's `checkpoint` and its tiles)",
                report.tiles_written
            ),
            None => {}
        }
        if let Some(until) = &report.locked_until {
            say!(
                "{} objects locked in COMPLIANCE mode (S3 Object Lock), the newest until {until}",
                report.locked_objects
            );
        }
        if let Some(r) = released {
            say!(
                "{} segments released from the local disk ({} bytes freed), {} released before",
                r.released,
                r.bytes_freed,
                r.already_released
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records the archive as the log's tier (`archive.json`), then releases what the policy
/// lets go, from a read-write open.
fn release(
    args: &Args,
    archive: Archive,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<ReleaseReport> {
    let dir = &args.data.dir;
    let existing = TierConfig::load(dir)?;
    let cache_bytes = match (args.tiers.cache_bytes, &existing) {
        (Some(bytes), _) => bytes,
        (None, Some(config)) => config.cache_bytes,
        (None, None) => DEFAULT_CACHE_BYTES,
    };
    let config = TierConfig {
        url: args.to.clone(),
        cache_bytes,
    };
    if let Some(existing) = existing
        && existing.url != config.url
    {
        anyhow::bail!(
            "{}'s released segments are in {}, not {}: release to one archive only",
            dir.display(),
            existing.url,
            config.url
        );
    }
    config.save(dir)?;
    let storage = TieredStorage::open(dir, archive.clone(), cache_bytes)?;
    let mut options = auditlog_engine::OpenOptions::new().storage(std::sync::Arc::new(storage));
    if let Some(kek) = args.kek.load()? {
        options = options.kek(kek);
    }
    let log = options.open(dir).with_context(|| {
        format!(
            "opening {} for writing to release segments (a running auditlogd releases \
                 them itself: give it --hot-days or --hot-bytes)",
            dir.display()
        )
    })?;
    let policy = args.tiers.policy();
    let now = auditlog_engine::Timestamp::now();
    let report = runtime.block_on(release_cold(&log, &archive, policy, now));
    log.close();
    Ok(report?)
}
