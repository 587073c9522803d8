//! `auditlog export`: stream every event a filter selects, each with its `"seq"`, as
//! JSON Lines or CSV (RFC 4180, fixed header), in constant memory; or, with `--bundle
//! FILE`, write an evidence bundle of them (events, one shared inclusion proof, the
//! signed checkpoint it is against, the public key) for `auditlog verify-bundle`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::bundle::{Selection, write_bundle};
use auditlog_engine::event::RawEvent;
use auditlog_engine::query::Query;
use auditlog_engine::{Event, Timestamp};

use super::DataDir;
use super::filters::{FilterArgs, OrderArg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row, CRLF line ends.
    Csv,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
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

/// The CSV columns, in order: the event fields in their JSON order, flattened.
pub(crate) const CSV_HEADER: [&str; 15] = [
    "seq",
    "timestamp",
    "actor_id",
    "actor_email",
    "actor_kind",
    "tenant_id",
    "tenant_name",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "ip_address",
    "user_agent",
    "metadata",
    "event_id",
];

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
    if let Some(path) = &args.bundle {
        if args.filters.beyond_bundle() || args.format != Format::Jsonl {
            anyhow::bail!(
                "a bundle selects by --tenant, --from/--to and --from-seq/--to-seq only (and \
                 is JSON)"
            );
        }
        return bundle(&log, &args, path);
    }
    let query = Query {
        filter: args.filters.filter()?,
        order: args.order.into(),
        limit: None,
        cursor: None,
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match args.format {
        Format::Jsonl => export_jsonl(&log, &query, out)?,
        Format::Csv => export_csv(&log, &query, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

type Out<'a> = std::io::BufWriter<std::io::StdoutLock<'a>>;

/// Runs the export, handing each event's stored fields to `write`, which answers an
/// engine error for a damaged one (`Err`) or the output's result (`Ok`); answers the
/// first output error.
fn export_with(
    log: &auditlog_engine::Log,
    query: &Query,
    mut write: impl FnMut(u64, RawEvent<'_>) -> Result<std::io::Result<()>, auditlog_engine::Error>,
) -> anyhow::Result<std::io::Result<()>> {
    let mut failed = None;
    log.query_raw(query, |seq, event| match write(seq, event)? {
        Ok(()) => Ok(true),
        Err(e) => {
            failed = Some(e);
            Ok(false)
        }
    })
    .context("exporting")?;
    Ok(failed.map_or(Ok(()), Err))
}

/// A closed pipe (`| head`) ends an export quietly; any other output error is one.
fn output_result(written: std::io::Result<()>) -> anyhow::Result<()> {
    match written {
        Err(e) if !is_broken_pipe(&e) => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

fn export_jsonl(log: &auditlog_engine::Log, query: &Query, mut out: Out<'_>) -> anyhow::Result<()> {
    let mut line = Vec::with_capacity(1024);
    let written = export_with(log, query, |seq, event| {
        line.clear();
        let encoded = event.write_json(Some(seq), &mut line);
        encoded.map_err(|e| log.damaged_record(seq, e))?;
        line.push(b'\n');
        Ok(out.write_all(&line))
    })?;
    output_result(written.and_then(|()| out.flush()))
}

fn export_csv(log: &auditlog_engine::Log, query: &Query, out: Out<'_>) -> anyhow::Result<()> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    if let Err(e) = csv.write_record(CSV_HEADER) {
        return output_result(Err(e.into()));
    }
    let written = export_with(log, query, |seq, event| {
        let event = event.to_event().map_err(|e| log.damaged_record(seq, e))?;
        Ok(write_csv(&mut csv, seq, &event).map_err(std::io::Error::from))
    })?;
    output_result(written.and_then(|()| csv.flush()))
}

/// Whether `e` is a closed pipe, also when wrapped in a CSV writer's error (its `flush`
/// and every `csv::Error` turned into an I/O error wrap it).
fn is_broken_pipe(e: &std::io::Error) -> bool {
    let wrapped = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<csv::Error>())
        .is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe));
    e.kind() == std::io::ErrorKind::BrokenPipe || wrapped
}

/// One CSV row: absent fields are empty, metadata is its JSON text.
fn write_csv(csv: &mut csv::Writer<impl Write>, seq: u64, e: &Event<'_>) -> csv::Result<()> {
    fn opt<'a>(v: &'a Option<std::borrow::Cow<'_, str>>) -> &'a [u8] {
        v.as_deref().map_or(&b""[..], str::as_bytes)
    }
    let seq = seq.to_string();
    let timestamp = e.timestamp.to_rfc3339();
    csv.write_record([
        seq.as_bytes(),
        timestamp.as_bytes(),
        e.actor_id.as_bytes(),
        opt(&e.actor_email),
        opt(&e.actor_kind),
        e.tenant_id.as_bytes(),
        opt(&e.tenant_name),
        e.action.as_bytes(),
        opt(&e.resource_type),
        opt(&e.resource_id),
        e.outcome.as_str().as_bytes(),
        opt(&e.ip_address),
        opt(&e.user_agent),
        opt(&e.metadata),
        opt(&e.event_id),
    ])
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
