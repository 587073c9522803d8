//! `auditlog query`: one page of the events a filter selects, newest first by default,
//! as a table on a terminal and JSON otherwise (`{"events":[…],"next_cursor":…}`); the
//! cursor fetches the next page. `--count` counts instead, `--explain` shows the plan.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::Outcome;
use auditlog_engine::query::{Cursor, Query};

use super::DataDir;
use super::filters::{FilterArgs, OrderArg};
use crate::out::{raw, say};

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
    data: DataDir,
    #[command(flatten)]
    filters: FilterArgs,
    /// Newest (most recently appended) or oldest first.
    #[arg(long, value_enum, default_value = "newest")]
    order: OrderArg,
    /// Events per page.
    #[arg(long, default_value_t = 100)]
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
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let log = args.data.open_for_reading()?;
    let filter = args.filters.filter()?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    if args.count {
        let (counts, plan) = log.count(&filter).context("counting")?;
        if args.explain {
            raw(plan.to_string().as_bytes());
            return Ok(ExitCode::SUCCESS);
        }
        match format {
            Format::Json => {
                let by: serde_json::Map<String, serde_json::Value> = Outcome::ALL
                    .iter()
                    .map(|&o| (o.as_str().to_owned(), counts.of(o).into()))
                    .collect();
                say!(
                    "{}",
                    serde_json::json!({"count": counts.total, "by_outcome": by})
                );
            }
            Format::Table => {
                let by: Vec<String> = Outcome::ALL
                    .iter()
                    .map(|&o| format!("{} {}", o.as_str(), counts.of(o)))
                    .collect();
                say!("{} events ({})", counts.total, by.join(", "));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cursor = args.cursor.as_deref().map(Cursor::decode).transpose()?;
    let query = Query {
        filter,
        order: args.order.into(),
        limit: Some(args.limit),
        cursor,
    };
    let mut json = Vec::with_capacity(64 << 10);
    json.extend_from_slice(b"{\"events\":[");
    let mut rows: Vec<[String; 7]> = Vec::new();
    let page = log
        .query(&query, |seq, event| {
            if args.explain {
                return Ok(true);
            }
            match format {
                Format::Json => {
                    if json.last() != Some(&b'[') {
                        json.push(b',');
                    }
                    event.write_json(Some(seq), &mut json);
                }
                Format::Table => {
                    let resource = match (&event.resource_type, &event.resource_id) {
                        (Some(t), Some(i)) => format!("{t}:{i}"),
                        (Some(t), None) => t.to_string(),
                        (None, Some(i)) => i.to_string(),
                        (None, None) => String::new(),
                    };
                    rows.push([
                        seq.to_string(),
                        event.timestamp.to_rfc3339(),
                        event.tenant_id.to_string(),
                        event.actor_id.to_string(),
                        event.action.to_string(),
                        event.outcome.as_str().to_owned(),
                        resource,
                    ]);
                }
            }
            Ok(true)
        })
        .context("querying")?;
    if args.explain {
        raw(page.plan.to_string().as_bytes());
        return Ok(ExitCode::SUCCESS);
    }
    let next = page.next_cursor.map(|c| c.encode());
    match format {
        Format::Json => {
            json.extend_from_slice(b"],\"next_cursor\":");
            json.extend_from_slice(serde_json::to_string(&next)?.as_bytes());
            json.extend_from_slice(b"}\n");
            raw(&json);
        }
        Format::Table => {
            print_table(&rows);
            match next {
                Some(c) => say!("next page: --cursor {c}"),
                None => say!("({} events; no more)", page.returned),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[[String; 7]]) {
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
    raw(text.as_bytes());
}
