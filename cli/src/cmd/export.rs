//! `auditlog export`: stream every event a filter selects, each with its `"seq"`, as
//! JSON Lines or CSV (RFC 4180, fixed header), in constant memory; or, with `--bundle
//! FILE`, write an evidence bundle of them (events, one shared inclusion proof, the
//! signed checkpoint it is against, the public key) for `auditlog verify-bundle`. With
//! `--server` the server writes the same bytes (and records the export as its own event).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::Timestamp;
use auditlog_engine::bundle::{Selection, write_bundle};
use auditlog_engine::export::{ExportError, ExportFormat, export};
use auditlog_engine::query::{PersonalFields, Query};
use auditlog_proto::convert::order_to_proto;
use auditlog_proto::v1 as pb;

use super::filters::{FilterArgs, OrderArg};
use super::{KekArgs, LogSource, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row, CRLF line ends.
    Csv,
    /// Apache Parquet, one row per event with its seq and leaf hash (docs/FORMAT.md,
    /// "Parquet"); from a data directory, to a file or a pipe.
    Parquet,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    source: LogSource,
    #[command(flatten)]
    kek: KekArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    #[command(flatten)]
    filters: FilterArgs,
    /// Oldest (first appended) or newest first.
    #[arg(long, value_enum, default_value = "oldest")]
    order: OrderArg,
    /// Write an evidence bundle to FILE instead of events to stdout (selects by tenant,
    /// time and sequence range only).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The server's export streams chunks, and a Parquet file's footer comes last.
    if args.format == Format::Parquet && args.source.server.server.is_some() {
        anyhow::bail!("Parquet is written from a data directory (--data), not --server");
    }
    let reader = args.source.open_showing_personal(&args.kek)?;
    if let Some(path) = &args.bundle {
        if args.filters.beyond_bundle() || args.format != Format::Jsonl {
            anyhow::bail!(
                "a bundle selects by --tenant, --from/--to and --from-seq/--to-seq only (and \
                 is JSON)"
            );
        }
        let Reader::Local(log) = &reader else {
            anyhow::bail!("an evidence bundle is written from a data directory, not --server");
        };
        return bundle(log, &args, path);
    }
    let filter = args.filters.filter_on(&reader)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match reader {
        Reader::Local(log) => {
            let query = Query {
                filter,
                order: args.order.into(),
                limit: None,
                cursor: None,
            };
            let format = match args.format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Csv => ExportFormat::Csv,
                Format::Parquet => return parquet(&log, &query),
            };
            match export(&log, &query, format, out) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(ExportError::Output(e)) => output_failed(e),
                Err(ExportError::Log(e)) => Err(e).context("exporting"),
            }
        }
        Reader::Remote(remote) => {
            let format = match args.format {
                Format::Jsonl => pb::ExportFormat::Jsonl,
                Format::Csv => pb::ExportFormat::Csv,
                Format::Parquet => unreachable!("refused before connecting"),
            };
            let chunks = remote.export(pb::ExportRequest {
                filter: Some(args.filters.to_proto(&filter)),
                order: Some(order_to_proto(args.order.into()).into()),
                format: format.into(),
            })?;
            for chunk in chunks {
                if let Err(e) = out.write_all(&chunk.context("exporting")?) {
                    return output_failed(e);
                }
            }
            match out.flush() {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => output_failed(e),
            }
        }
    }
}

/// `--format parquet`: the rows to stdout, which must not be a terminal.
fn parquet(log: &auditlog_engine::Log, query: &Query) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        anyhow::bail!("Parquet is binary: redirect stdout to a file (> events.parquet)");
    }
    // The writer needs a `Send` output, and binary bytes no line buffering: a file of
    // stdout's descriptor.
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(fd));
    let rows = auditlog_parquet::export_parquet(log, query, PersonalFields::Opened, out)
        .context("exporting")?;
    eprintln!("{rows} events written as Parquet");
    Ok(ExitCode::SUCCESS)
}

/// A closed pipe (`| head`) ends an export quietly; other output errors fail it.
fn output_failed(e: std::io::Error) -> anyhow::Result<ExitCode> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(e).context("writing to stdout")
    }
}

fn bundle(log: &auditlog_engine::Log, args: &Args, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let rfc3339 = |t: Timestamp| {
        let mut text = String::new();
        t.format(&mut text);
        text
    };
    let (from_seq, to_seq) = args.filters.seq_range();
    let (from, to) = args.filters.time();
    let selection = Selection {
        from_seq,
        to_seq,
        from: from.map(rfc3339),
        to: to.map(rfc3339),
        tenant: args.filters.tenant().map(str::to_owned),
    };
    // Written aside and renamed when complete, so a failed export leaves no bundle that
    // looks whole.
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let written = write_bundle(log, &selection, &mut out)
        .context("writing the bundle")
        .and_then(|summary| {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(summary)
        });
    let summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    let per_event = summary.bytes as f64 / (summary.events.max(1)) as f64;
    eprintln!(
        "bundle {}: {} events proven against the checkpoint of tree size {}, {} shared proof nodes, {} bytes ({per_event:.0} bytes per event)",
        path.display(),
        summary.events,
        summary.checkpoint.tree_size,
        summary.proof_nodes,
        summary.bytes
    );
    eprintln!("completeness: {}", summary.completeness);
    Ok(ExitCode::SUCCESS)
}
