//! `auditlog query`: one page of the events a filter selects, newest first by default,
//! as a table on a terminal and JSON otherwise (`{"events":[…],"next_cursor":…}`); the
//! cursor fetches the next page. `--count` counts instead, `--explain` shows the plan.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use auditlog_archive::{S3Options, TierConfig, TieredStorage};
use auditlog_engine::query::{Cursor, Filter, Query};
use auditlog_engine::{Event, Log, Outcome};
use auditlog_proto::convert::{event_from_proto, order_to_proto};
use auditlog_proto::v1 as pb;

use super::filters::{FilterArgs, OrderArg};
use super::{KekArgs, LogSource, Reader};
use crate::out::raw;
use crate::remote::Remote;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON object.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    source: LogSource,
    #[command(flatten)]
    kek: KekArgs,
    #[command(flatten)]
    filters: FilterArgs,
    /// Newest (most recently appended) or oldest first.
    #[arg(long, value_enum, default_value = "newest")]
    order: OrderArg,
    /// Events per page (at least 1; a server refuses more than 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    /// The `next_cursor` of the previous page (same filters and order).
    #[arg(long)]
    cursor: Option<String>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Count the matching events (in all and by outcome) instead of listing them.
    #[arg(long)]
    count: bool,
    /// Print how the query was carried out, segment by segment, instead of its result.
    #[arg(long)]
    explain: bool,
    /// Run the query this many times in this process and report its latency (p50, p99)
    /// on stderr: for benchmarks.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: u32,
    /// With `--repeat`: also write each run's latency in microseconds to FILE, one per
    /// line, in run order (for benchmark scripts that pool runs).
    #[arg(long, value_name = "FILE")]
    timings: Option<std::path::PathBuf>,
    /// With `--repeat`, on a data directory whose segments were released to an archive:
    /// empty the local cache of them before each run, to time reads that fetch.
    #[arg(long, requires = "repeat")]
    cold_cache: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tiers = match args.cold_cache {
        true => Some(tiered_storage(&args.source.data.dir)?),
        false => None,
    };
    let reader = match &tiers {
        Some(tiers) => {
            let mut options = auditlog_engine::OpenOptions::new()
                .storage(Arc::clone(tiers) as Arc<dyn auditlog_engine::storage::Storage>)
                .read_only(true);
            if let Some(kek) = args.kek.load()? {
                options = options.kek(kek);
            }
            Reader::Local(options.open(&args.source.data.dir)?)
        }
        None => args.source.open_showing_personal(&args.kek)?,
    };
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut output = answer(&reader, &args, format)?;
    if args.repeat > 1 {
        // Latency of the whole answer, output text included, in this open process.
        let mut took = Vec::with_capacity(args.repeat as usize);
        for _ in 0..args.repeat {
            if let Some(tiers) = &tiers {
                tiers.clear_cache();
            }
            let started = Instant::now();
            output = answer(&reader, &args, format)?;
            took.push(started.elapsed());
        }
        if let Some(path) = &args.timings {
            let lines: String = took
                .iter()
                .map(|t| format!("{}\n", t.as_micros()))
                .collect();
            std::fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
        }
        took.sort_unstable();
        let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
        eprintln!(
            "{} runs: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
            took.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    raw(&output);
    Ok(ExitCode::SUCCESS)
}

/// The storage of a data directory whose segments were released to an archive.
fn tiered_storage(dir: &std::path::Path) -> anyhow::Result<Arc<TieredStorage>> {
    let config = TierConfig::load(dir)?
        .with_context(|| format!("{} has released no segment to an archive", dir.display()))?;
    Ok(Arc::new(config.open_storage(dir, &S3Options::default())?))
}

/// Everything the command prints, for one run of the query.
fn answer(reader: &Reader, args: &Args, format: Format) -> anyhow::Result<Vec<u8>> {
    let mut filter = args.filters.filter_on(reader)?;
    let cursor = args.cursor.as_deref().map(Cursor::decode).transpose()?;
    if args.filters.is_relative()
        && let Some(c) = &cursor
    {
        // `--since` counts back from the first page's time, not from each page's.
        filter.time.from = c.time_from();
    }
    match reader {
        Reader::Local(log) => answer_local(log, args, format, filter, cursor),
        Reader::Remote(remote) => answer_remote(remote, args, format, filter),
    }
}

fn answer_local(
    log: &Log,
    args: &Args,
    format: Format,
    filter: Filter,
    cursor: Option<Cursor>,
) -> anyhow::Result<Vec<u8>> {
    if args.count {
        let (counts, plan) = log.count(&filter).context("counting")?;
        if args.explain {
            return Ok(plan.to_string().into_bytes());
        }
        return Ok(count_text(counts.total, |o| counts.of(o), format));
    }
    let query = Query {
        filter,
        order: args.order.into(),
        limit: Some(args.limit),
        cursor,
    };
    let mut page_out = PageText::new(format);
    let page = match format {
        _ if args.explain => log.query_raw(&query, |_, _| Ok(true)),
        Format::Json => log.query_raw(&query, |seq, event| {
            let json = page_out.next_json();
            let written = event.write_json(Some(seq), json);
            written.map_err(|e| log.damaged_record(seq, e))?;
            Ok(true)
        }),
        Format::Table => log.query(&query, |seq, event| {
            page_out.rows.push(row(seq, &event));
            Ok(true)
        }),
    }
    .context("querying")?;
    if args.explain {
        return Ok(page.plan.to_string().into_bytes());
    }
    let next = page.next_cursor.map(|c| c.encode());
    Ok(page_out.finish(next, page.returned))
}

/// The same answer from a server: one page (or a count) over gRPC, printed as a local
/// one is.
fn answer_remote(
    remote: &Remote,
    args: &Args,
    format: Format,
    filter: Filter,
) -> anyhow::Result<Vec<u8>> {
    if args.explain {
        anyhow::bail!("--explain shows how a data directory is read: not with --server");
    }
    if args.count {
        let c = remote.count(args.filters.to_proto(&filter))?;
        let of = |o| match o {
            Outcome::Success => c.success,
            Outcome::Failure => c.failure,
            Outcome::Denied => c.denied,
            Outcome::Error => c.error,
        };
        return Ok(count_text(c.count, of, format));
    }
    let page = remote.query_page(pb::QueryRequest {
        filter: Some(args.filters.to_proto(&filter)),
        order: order_to_proto(args.order.into()).into(),
        page_size: u32::try_from(args.limit).unwrap_or(u32::MAX),
        max_pages: 1,
        cursor: args.cursor.clone(),
    })?;
    let mut page_out = PageText::new(format);
    for stored in &page.events {
        let event = stored
            .event
            .as_ref()
            .context("the server sent a numbered event without the event")?;
        let event = event_from_proto(event).map_err(|bad| {
            anyhow::anyhow!(
                "the server sent event {} whose {} {}",
                stored.seq,
                bad.field,
                bad.message
            )
        })?;
        match format {
            Format::Json => event.write_json(Some(stored.seq), page_out.next_json()),
            Format::Table => page_out.rows.push(row(stored.seq, &event)),
        }
    }
    Ok(page_out.finish(page.next_cursor, page.events.len() as u64))
}

/// `--count`'s output: the total and the count of each outcome.
fn count_text(total: u64, of: impl Fn(Outcome) -> u64, format: Format) -> Vec<u8> {
    let text = match format {
        Format::Json => {
            let by: serde_json::Map<String, serde_json::Value> = Outcome::ALL
                .iter()
                .map(|&o| (o.as_str().to_owned(), of(o).into()))
                .collect();
            serde_json::json!({"count": total, "by_outcome": by}).to_string()
        }
        Format::Table => {
            let by: Vec<String> = Outcome::ALL
                .iter()
                .map(|&o| format!("{} {}", o.as_str(), of(o)))
                .collect();
            format!("{total} events ({})", by.join(", "))
        }
    };
    format!("{text}\n").into_bytes()
}

/// A page's output as it is built: JSON text, or the rows of a table.
struct PageText {
    format: Format,
    json: Vec<u8>,
    rows: Vec<[String; 7]>,
}

impl PageText {
    fn new(format: Format) -> PageText {
        let mut json = Vec::new();
        if format == Format::Json {
            json.reserve(128 << 10);
            json.extend_from_slice(b"{\"events\":[");
        }
        PageText {
            format,
            json,
            rows: Vec::new(),
        }
    }

    /// The buffer the next event's JSON goes to, after a comma if it is not the first.
    fn next_json(&mut self) -> &mut Vec<u8> {
        if self.json.last() != Some(&b'[') {
            self.json.push(b',');
        }
        &mut self.json
    }

    fn finish(mut self, next: Option<String>, returned: u64) -> Vec<u8> {
        match self.format {
            Format::Json => {
                self.json.extend_from_slice(b"],\"next_cursor\":");
                let next = serde_json::Value::from(next).to_string();
                self.json.extend_from_slice(next.as_bytes());
                self.json.extend_from_slice(b"}\n");
                self.json
            }
            Format::Table => {
                let mut text = table(&self.rows);
                match next {
                    Some(c) => text.push_str(&format!("next page: --cursor {c}\n")),
                    None => text.push_str(&format!("({returned} events; no more)\n")),
                }
                text.into_bytes()
            }
        }
    }
}

fn row(seq: u64, event: &Event<'_>) -> [String; 7] {
    let resource = match (&event.resource_type, &event.resource_id) {
        (Some(t), Some(i)) => format!("{t}:{i}"),
        (Some(t), None) => t.to_string(),
        (None, Some(i)) => i.to_string(),
        (None, None) => String::new(),
    };
    [
        seq.to_string(),
        event.timestamp.to_rfc3339(),
        event.tenant_id.to_string(),
        event.actor_id.to_string(),
        event.action.to_string(),
        event.outcome.as_str().to_owned(),
        resource,
    ]
}

fn table(rows: &[[String; 7]]) -> String {
    const HEADER: [&str; 7] = [
        "SEQ",
        "TIMESTAMP",
        "TENANT",
        "ACTOR",
        "ACTION",
        "OUTCOME",
        "RESOURCE",
    ];
    let mut widths = HEADER.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        text.push_str(parts.join("  ").trim_end());
        text.push('\n');
    };
    line(&mut HEADER.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    text
}
