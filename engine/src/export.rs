//! Exports: every event a query selects, streamed to a writer as JSON Lines (the ingest
//! shape with a leading `"seq"`) or CSV (RFC 4180, CRLF line ends, the fixed header
//! [`CSV_HEADER`]), in constant memory. The CLI writes them to stdout, the server to an
//! HTTP body; both get the same bytes.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::Error;
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

/// Writes every event `query` selects to `out` (unbuffered writers are slow: pass a
/// buffered one), flushing at the end; returns how many were written.
pub fn export(
    log: &Log,
    query: &Query,
    format: ExportFormat,
    out: impl Write,
) -> Result<u64, ExportError> {
    match format {
        ExportFormat::Jsonl => export_jsonl(log, query, out),
        ExportFormat::Csv => export_csv(log, query, out),
    }
}

/// Runs the query, handing each event to `write`, which answers a log error for a
/// damaged event (`Err`) or the output's result (`Ok`); stops at the first output
/// error.
fn export_with(
    log: &Log,
    query: &Query,
    mut write: impl FnMut(u64, crate::event::RawEvent<'_>) -> Result<io::Result<()>, Error>,
) -> Result<u64, ExportError> {
    let mut failed = None;
    let mut written = 0u64;
    log.query_raw(query, |seq, event| match write(seq, event)? {
        Ok(()) => {
            written += 1;
            Ok(true)
        }
        Err(e) => {
            failed = Some(e);
            Ok(false)
        }
    })?;
    match failed {
        Some(e) => Err(ExportError::Output(e)),
        None => Ok(written),
    }
}

fn export_jsonl(log: &Log, query: &Query, mut out: impl Write) -> Result<u64, ExportError> {
    let mut line = Vec::with_capacity(1024);
    let written = export_with(log, query, |seq, event| {
        line.clear();
        let encoded = event.write_json(Some(seq), &mut line);
        encoded.map_err(|e| log.damaged_record(seq, e))?;
        line.push(b'\n');
        Ok(out.write_all(&line))
    })?;
    out.flush().map_err(ExportError::Output)?;
    Ok(written)
}

fn export_csv(log: &Log, query: &Query, out: impl Write) -> Result<u64, ExportError> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    csv.write_record(CSV_HEADER).map_err(csv_output)?;
    let written = export_with(log, query, |seq, event| {
        let event = event.to_event().map_err(|e| log.damaged_record(seq, e))?;
        Ok(write_csv(&mut csv, seq, &event).map_err(csv_to_io))
    })?;
    csv.flush().map_err(ExportError::Output)?;
    Ok(written)
}

/// A CSV writer's error as the I/O error beneath it (so a closed pipe stays
/// recognisable as one).
fn csv_to_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn csv_output(e: csv::Error) -> ExportError {
    ExportError::Output(csv_to_io(e))
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
