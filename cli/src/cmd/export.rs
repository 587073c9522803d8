//! `auditlog export`: stream events as JSON Lines, each with its `"seq"`, by sequence
//! range, time range and tenant, in constant memory; or, with `--bundle FILE`, write an
//! evidence bundle of them (events, one shared inclusion proof, the signed checkpoint it
//! is against, the public key) for `auditlog verify-bundle`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::bundle::{Selection, write_bundle};
use auditlog_engine::{TimeRange, Timestamp};

use super::DataDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// First sequence number (inclusive).
    #[arg(long, default_value_t = 0)]
    from_seq: u64,
    /// Last sequence number (exclusive).
    #[arg(long)]
    to_seq: Option<u64>,
    /// Events at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// Events before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// Events of this tenant (`organization.id`) only.
    #[arg(long)]
    tenant: Option<String>,
    /// Write an evidence bundle to FILE instead of JSON Lines to stdout.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
    if let Some(path) = &args.bundle {
        return bundle(&log, &args, path);
    }
    let Format::Jsonl = args.format;
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(1024);
    let time = TimeRange {
        from: args.from,
        to: args.to,
    };
    let result = log.scan(
        args.from_seq..args.to_seq.unwrap_or(u64::MAX),
        time,
        |seq, event| {
            if args.tenant.as_deref().is_some_and(|t| event.tenant_id != t) {
                return Ok(true);
            }
            line.clear();
            event.write_json(Some(seq), &mut line);
            line.push(b'\n');
            match out.write_all(&line) {
                Ok(()) => Ok(true),
                // A closed pipe (`| head`) ends the export quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
                Err(e) => Err(auditlog_engine::Error::io("writing to stdout", e)),
            }
        },
    );
    result.context("exporting")?;
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing to stdout")?
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn bundle(log: &auditlog_engine::Log, args: &Args, path: &PathBuf) -> anyhow::Result<ExitCode> {
    let rfc3339 = |t: Timestamp| {
        let mut text = String::new();
        t.format(&mut text);
        text
    };
    let selection = Selection {
        from_seq: args.from_seq,
        to_seq: args.to_seq,
        from: args.from.map(rfc3339),
        to: args.to.map(rfc3339),
        tenant: args.tenant.clone(),
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
