//! `auditlog export`: stream every event a filter selects, each with its `"seq"`, as
//! JSON Lines or CSV (RFC 4180, fixed header), in constant memory; or, with `--bundle
//! FILE`, write an evidence bundle of them (events, one shared inclusion proof, the
//! signed checkpoint it is against, the public key) for `auditlog verify-bundle`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::Timestamp;
use auditlog_engine::bundle::{Selection, write_bundle};
use auditlog_engine::export::{ExportError, ExportFormat, export};
use auditlog_engine::query::Query;

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
    let format = match args.format {
        Format::Jsonl => ExportFormat::Jsonl,
        Format::Csv => ExportFormat::Csv,
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    match export(&log, &query, format, out) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) ends an export quietly.
        Err(ExportError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(ExitCode::SUCCESS)
        }
        Err(ExportError::Output(e)) => Err(e).context("writing to stdout"),
        Err(ExportError::Log(e)) => Err(e).context("exporting"),
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
