//! Exports: every event a query selects, streamed to a writer as JSON Lines (the ingest
//! shape with a leading `"seq"`) or CSV (RFC 4180, CRLF line ends, the fixed header
//! [`CSV_HEADER`]), in constant memory. One writer makes them, [`ExportRun`], a chunk at
//! a time: the server takes the chunks as its client does, so that a client that reads
//! slowly holds no thread; [`export`] writes them one after the other (the CLI, to
//! stdout). Both get the same bytes.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::error::Error;
use crate::event::Event;
use crate::log::Log;
use crate::query::Query;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row, CRLF line ends.
    Csv,
}

/// The CSV columns, in order: the event fields in their JSON order, flattened. Absent
/// fields are empty; `metadata` is its JSON text.
pub const CSV_HEADER: [&str; 15] = [
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

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The log failed (a damaged record, an I/O error reading it).
    #[error(transparent)]
    Log(#[from] Error),
    /// The output failed (for a pipe closed by its reader: `BrokenPipe`).
    #[error("writing the export: {0}")]
    Output(#[source] io::Error),
}

/// The bytes [`export`] makes before writing them out: large enough that the query's
/// planning, once per chunk, costs nothing beside the reading.
const EXPORT_CHUNK_BYTES: usize = 1 << 20;

/// Writes every event `query` selects to `out`, a chunk of about 1 MiB at a time,
/// flushing at the end; returns how many were written. The bytes of an [`ExportRun`] of
/// the same query.
pub fn export(
    log: &Log,
    query: &Query,
    format: ExportFormat,
    mut out: impl Write,
) -> Result<u64, ExportError> {
    let mut run = ExportRun::new(log, query.clone(), format);
    let mut chunk = Vec::with_capacity(EXPORT_CHUNK_BYTES + (64 << 10));
    while !run.is_done() {
        chunk.clear();
        run.fill(log, &mut chunk, EXPORT_CHUNK_BYTES)?;
        out.write_all(&chunk).map_err(ExportError::Output)?;
    }
    out.flush().map_err(ExportError::Output)?;
    Ok(run.events())
}

/// An export taken a chunk at a time: each [`ExportRun::fill`] runs the query from where
/// the last one stopped (a cursor) and returns, so nothing is held between two chunks
/// but this value. The run reads the log as it was when it began: events appended
/// later are left out (the filter's sequence range ends at that tree size). Its chunks,
/// put end to end, are the bytes [`export`] writes for the same query.
#[derive(Debug)]
pub struct ExportRun {
    query: Query,
    format: ExportFormat,
    tree_size: u64,
    started: bool,
    done: bool,
    events: u64,
    bytes: u64,
}

/// The fewest and most events one [`ExportRun::fill`] asks a page for: a page has a
/// limit so that the query does not collect every match of a segment for a chunk.
const PAGE_EVENTS: std::ops::RangeInclusive<u64> = 16..=65_536;

impl ExportRun {
    /// A run of `query` (its limit and cursor are ignored) over the log as it is now.
    pub fn new(log: &Log, mut query: Query, format: ExportFormat) -> ExportRun {
        let tree_size = log.tree_size();
        let seqs = query.filter.seqs.take().unwrap_or(0..u64::MAX);
        query.filter.seqs = Some(seqs.start..seqs.end.min(tree_size));
        query.cursor = None;
        query.limit = None;
        ExportRun {
            query,
            format,
            tree_size,
            started: false,
            done: false,
            events: 0,
            bytes: 0,
        }
    }

    /// The tree size the run reads up to.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether every event has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Appends the next events to `out` until it has grown by at least `target` bytes
    /// (one event more may pass it) or the export is complete; returns how many it
    /// appended. Once [`is_done`](Self::is_done), appends nothing.
    pub fn fill(&mut self, log: &Log, out: &mut Vec<u8>, target: usize) -> Result<u64, Error> {
        let start = out.len();
        let goal = start.saturating_add(target.max(1));
        if !self.started {
            self.started = true;
            if self.format == ExportFormat::Csv {
                let mut csv = csv_writer(&mut *out);
                csv.write_record(CSV_HEADER)
                    .map_err(|e| csv_in_memory(&e))?;
                csv.flush()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            }
        }
        let mut appended = 0;
        while !self.done && out.len() < goal {
            // As many events as should fill the rest, from the sizes seen so far.
            let per_event = match self.events {
                0 => 256,
                n => (self.bytes / n).max(1),
            };
            let wanted = ((goal - out.len()) as u64 / per_event + 1)
                .clamp(*PAGE_EVENTS.start(), *PAGE_EVENTS.end());
            self.query.limit = Some(wanted);
            let before = out.len();
            let page = match self.format {
                ExportFormat::Jsonl => log.query_raw(&self.query, |seq, event| {
                    let written = event.write_json(Some(seq), out);
                    written.map_err(|e| log.damaged_record(seq, e))?;
                    out.push(b'\n');
                    Ok(out.len() < goal)
                })?,
                ExportFormat::Csv => {
                    let mut csv = csv_writer(&mut *out);
                    let page = log.query_raw(&self.query, |seq, event| {
                        let event = event.to_event().map_err(|e| log.damaged_record(seq, e))?;
                        write_csv(&mut csv, seq, &event).map_err(|e| csv_in_memory(&e))?;
                        // Into memory: the flush only moves the row, and makes the
                        // length below true.
                        csv.flush()
                            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                        Ok(csv.get_ref().len() < goal)
                    })?;
                    drop(csv);
                    page
                }
            };
            appended += page.returned;
            self.events += page.returned;
            self.bytes += (out.len() - before) as u64;
            self.query.cursor = page.next_cursor;
            self.done = self.query.cursor.is_none();
        }
        Ok(appended)
    }
}

fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .has_headers(false)
        .from_writer(out)
}

/// A CSV error writing into memory: only a field the writer cannot quote could cause
/// one, and it can quote anything.
fn csv_in_memory(e: &csv::Error) -> Error {
    Error::InvalidArgument(format!("writing CSV: {e}"))
}

/// One CSV row.
fn write_csv(csv: &mut csv::Writer<impl Write>, seq: u64, e: &Event<'_>) -> csv::Result<()> {
    fn opt<'a>(v: &'a Option<Cow<'_, str>>) -> &'a [u8] {
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
