//! `auditlog export`: stream events as JSON Lines, each with its `"seq"`, by sequence
//! range and time range, in constant memory.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
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
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
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
