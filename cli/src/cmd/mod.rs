//! The subcommands, one file each, and the argument definitions they share.

mod archive;
mod bench_ingest;
mod catalog;
mod checkpoint;
mod demo;
mod erase;
mod expire;
mod export;
mod filters;
mod generate;
mod hold;
mod info;
mod ingest;
mod init;
mod key;
mod proof;
mod prove;
mod query;
mod restore;
mod sink;
mod verify;
mod verify_bundle;
mod verify_receipt;
mod verify_report;
mod verify_stream;
mod witnesses;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::{Log, OpenOptions};
use clap::{Parser, Subcommand};

use crate::remote::{Remote, ServerArgs};

/// auditlog: a tamper-evident, Merkle-tree audit-log store.
#[derive(Debug, Parser)]
#[command(name = "auditlog", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a log (and its data directory).
    Init(init::Args),
    /// Append events from a JSON Lines file (or `-` for stdin), durably.
    Ingest(ingest::Args),
    /// Write synthetic audit events as JSON Lines to stdout.
    Generate(generate::Args),
    /// Print an inclusion or consistency proof as JSON.
    Prove(prove::Args),
    /// Check proofs.
    Proof(proof::Args),
    /// Check every byte of a data directory offline.
    Verify(verify::Args),
    /// One page of the events a filter selects (or their count, or the query plan).
    Query(query::Args),
    /// Stream every event a filter selects as JSON Lines or CSV (or an evidence bundle).
    Export(export::Args),
    /// Print the log's size, tree head and segments.
    Info(info::Args),
    /// Print, issue or check signed checkpoints (C2SP signed notes of the tree head).
    Checkpoint(checkpoint::Args),
    /// Print the log's public verifier key.
    Key(key::Args),
    /// Check an evidence bundle (`auditlog export --bundle`) offline.
    VerifyBundle(verify_bundle::Args),
    /// Check the batches a webhook sink with proofs delivered (a receiver's directory).
    VerifyStream(verify_stream::Args),
    /// Erase a data subject's personal data (destroy their key); print the signed receipt.
    Erase(erase::Args),
    /// Check an erasure receipt (`auditlog erase`) offline.
    VerifyReceipt(verify_receipt::Args),
    /// Check a tenant report (`GET /v1/reports`) against the log's key: signed, unedited.
    VerifyReport(verify_report::Args),
    /// Generate a workload into a fresh data directory, ingest, prove and verify it.
    Demo(demo::Args),
    /// Copy the sealed segments an archive (S3 or a directory) lacks, checked, to it.
    Archive(archive::Args),
    /// Rebuild a data directory from an archive after its disk was lost.
    Restore(restore::Args),
    /// Place, lift or list legal holds by tenant (recorded in the log's `_system` tenant).
    Hold(hold::Args),
    /// Keep the action catalog (schemas, expectations) and report coverage gaps.
    Catalog(catalog::Args),
    /// Stream the log to receivers: create, list, pause, resume, replay, delete sinks
    /// of a running auditlogd.
    Sink(sink::Args),
    /// Delete the oldest segments past retention (not held); print the signed receipt.
    Expire(expire::Args),
    /// Load a running auditlogd with batches over gRPC; print events/s and ack latency.
    BenchIngest(bench_ingest::Args),
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Prove(args) => prove::run(args),
        Command::Proof(args) => proof::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Query(args) => query::run(args),
        Command::Export(args) => export::run(args),
        Command::Info(args) => info::run(args),
        Command::Checkpoint(args) => checkpoint::run(args),
        Command::Key(args) => key::run(args),
        Command::VerifyBundle(args) => verify_bundle::run(args),
        Command::VerifyStream(args) => verify_stream::run(args),
        Command::Erase(args) => erase::run(args),
        Command::VerifyReceipt(args) => verify_receipt::run(args),
        Command::VerifyReport(args) => verify_report::run(args),
        Command::Demo(args) => demo::run(args),
        Command::BenchIngest(args) => bench_ingest::run(args),
        Command::Archive(args) => archive::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Hold(args) => hold::run(args),
        Command::Catalog(args) => catalog::run(args),
        Command::Sink(args) => sink::run(args),
        Command::Expire(args) => expire::run(args),
    }
}

/// The bytes of `file`, or of stdin for `-`.
pub(crate) fn read_file_or_stdin(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("reading stdin")?;
        return Ok(bytes);
    }
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// `--data DIR`, shared by every verb that reads or writes a log.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataDir {
    /// The data directory.
    #[arg(long = "data", value_name = "DIR", default_value = "auditlog-data")]
    pub(crate) dir: PathBuf,
}

impl DataDir {
    /// Fails with a hint when the directory holds no log.
    pub(crate) fn require_log(&self) -> anyhow::Result<()> {
        if !self.dir.join(auditlog_engine::CONFIG_FILE).exists() {
            anyhow::bail!(
                "{} holds no log (create one with `auditlog init --data {}`)",
                self.dir.display(),
                self.dir.display()
            );
        }
        Ok(())
    }

    /// How to open the log: through its archive's cache when some of its segments were
    /// released to an archive (`archive.json`, docs/OPERATIONS.md, "Tiers"; the store's
    /// endpoint, region and credentials from the AWS environment variables).
    pub(crate) fn open_options(&self) -> anyhow::Result<OpenOptions> {
        Ok(OpenOptions::new().storage(self.storage()?))
    }

    /// The storage the log is read through (see [`open_options`](Self::open_options)).
    pub(crate) fn storage(
        &self,
    ) -> anyhow::Result<std::sync::Arc<dyn auditlog_engine::storage::Storage>> {
        auditlog_archive::storage_for(&self.dir, &auditlog_archive::S3Options::default())
            .with_context(|| format!("opening the archive of {}", self.dir.display()))
    }

    /// Opens the log to read it, read-only: nothing of the log changes, even after a crash
    /// (a torn tail is ignored rather than cut), and a running writer is no obstacle. (A
    /// tiered log's reads may fill its cache of released segments, `archive-cache/`.)
    pub(crate) fn open_for_reading(&self) -> anyhow::Result<Log> {
        self.open_for_reading_with(None)
    }

    /// [`open_for_reading`](Self::open_for_reading), with the key-encryption key that
    /// opens a sealing log's personal fields (without it they read as sealed).
    pub(crate) fn open_for_reading_with(
        &self,
        kek: Option<auditlog_engine::privacy::Kek>,
    ) -> anyhow::Result<Log> {
        self.require_log()?;
        let mut options = self.open_options()?.read_only(true);
        if let Some(kek) = kek {
            options = options.kek(kek);
        }
        options
            .open(&self.dir)
            .with_context(|| format!("opening {}", self.dir.display()))
    }
}

/// `--kek-file FILE`, or the `AUDITLOG_KEK` environment variable: the key-encryption key
/// of a log that seals personal data (docs/PRIVACY.md). Never taken as an argument, where
/// `ps` would show it.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct KekArgs {
    /// The key-encryption key of a log that seals personal data: a file holding its 64
    /// hex digits (keep it outside the data directory). Or set AUDITLOG_KEK to the digits.
    #[arg(long, value_name = "FILE")]
    kek_file: Option<PathBuf>,
}

impl KekArgs {
    /// Opens `data` to write (`doing`, for the error: "to record the hold"), with this
    /// KEK if given: not while auditlogd runs on it.
    pub(crate) fn open_to_write(&self, data: &DataDir, doing: &str) -> anyhow::Result<Log> {
        data.require_log()?;
        let mut options = data.open_options()?;
        if let Some(kek) = self.load()? {
            options = options.kek(kek);
        }
        options.open(&data.dir).with_context(|| {
            format!(
                "opening {} {doing} (a running auditlogd holds it: use --server, or stop it \
                 first)",
                data.dir.display()
            )
        })
    }

    /// The KEK given, if any.
    pub(crate) fn load(&self) -> anyhow::Result<Option<auditlog_engine::privacy::Kek>> {
        use auditlog_engine::privacy::Kek;
        if let Some(path) = &self.kek_file {
            return Ok(Some(Kek::from_file(path)?));
        }
        match std::env::var("AUDITLOG_KEK") {
            Ok(hex) => Ok(Some(Kek::parse(&hex).context("AUDITLOG_KEK")?)),
            Err(_) => Ok(None),
        }
    }

    /// The file given, if any.
    pub(crate) fn file(&self) -> Option<&std::path::Path> {
        self.kek_file.as_deref()
    }
}

/// Where a verb that reads a log reads it: a data directory (`--data`, the default) or a
/// running auditlogd (`--server URL --key KEY`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LogSource {
    #[command(flatten)]
    pub(crate) data: DataDir,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

/// An open source of a log.
pub(crate) enum Reader {
    Local(Log),
    Remote(Remote),
}

impl LogSource {
    pub(crate) fn open(&self) -> anyhow::Result<Reader> {
        match self.server.server {
            Some(_) => Ok(Reader::Remote(Remote::connect(&self.server)?)),
            None => Ok(Reader::Local(self.data.open_for_reading()?)),
        }
    }

    /// [`open`](Self::open) for a verb that shows events: with a data directory, `kek`
    /// opens a sealing log's personal fields. A server opens them with its own KEK.
    pub(crate) fn open_showing_personal(&self, kek: &KekArgs) -> anyhow::Result<Reader> {
        match self.server.server {
            Some(_) if kek.file().is_some() => anyhow::bail!(
                "--kek-file is for reading a data directory: a server opens sealed fields \
                 with its own key-encryption key (auditlogd --kek-file)"
            ),
            Some(_) => Ok(Reader::Remote(Remote::connect(&self.server)?)),
            None => Ok(Reader::Local(self.data.open_for_reading_with(kek.load()?)?)),
        }
    }
}
