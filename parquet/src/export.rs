//! `auditlog export --format parquet`: every event a query selects, as Parquet rows.

use std::io::Write;

use auditlog_engine::query::{PersonalFields, Query};
use auditlog_engine::{Hash, Log};
use parquet::errors::ParquetError;

use crate::row::{EventWriter, FileFacts};

/// Why a Parquet export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The log failed (a damaged record, an I/O error reading it).
    #[error(transparent)]
    Log(#[from] auditlog_engine::Error),
    /// Writing the Parquet failed (for a pipe closed by its reader, an I/O error).
    #[error("writing Parquet: {0}")]
    Parquet(#[from] ParquetError),
}

/// Events read per query page.
const PAGE_EVENTS: u64 = 65_536;

/// Leaf hashes read a block of [`LEAF_BLOCK`] at a time: an export reads them in order
/// (one read per block, not one per event).
#[derive(Default)]
struct LeafHashes {
    first: u64,
    hashes: Vec<Hash>,
}

const LEAF_BLOCK: u64 = 256;

impl LeafHashes {
    /// The leaf hash of `seq`, in a tree of `end` leaves.
    fn of(&mut self, log: &Log, seq: u64, end: u64) -> auditlog_engine::Result<Hash> {
        let at = |first: u64, hashes: &[Hash]| {
            let i = usize::try_from(seq.checked_sub(first)?).ok()?;
            hashes.get(i).copied()
        };
        if let Some(hash) = at(self.first, &self.hashes) {
            return Ok(hash);
        }
        // The block, from the first record kept past retention if it starts below.
        let first = (seq - seq % LEAF_BLOCK).max(log.first_kept()).min(seq);
        let last = (seq - seq % LEAF_BLOCK + LEAF_BLOCK).min(end).max(seq + 1);
        self.hashes = log.leaf_hashes(first, last - first)?;
        self.first = first;
        at(first, &self.hashes).map_or_else(|| log.leaf_hash(seq), Ok)
    }
}

/// Writes every event `query` selects (its limit and cursor ignored), as the log is now,
/// to `out` as Parquet, a sealing log's personal fields as `personal` says; returns how
/// many. Holds one row group in memory.
pub fn export_parquet<W: Write + Send>(
    log: &Log,
    query: &Query,
    personal: PersonalFields,
    out: W,
) -> Result<u64, ExportError> {
    let facts = FileFacts {
        origin: log.config().origin.clone(),
        hash: log.alg().name().to_owned(),
    };
    let mut writer = EventWriter::new(out, &facts)?;
    let mut query = query.clone();
    let end = log.tree_size();
    let seqs = query.filter.seqs.take().unwrap_or(0..u64::MAX);
    query.filter.seqs = Some(seqs.start..seqs.end.min(end));
    query.cursor = None;
    query.limit = Some(PAGE_EVENTS);
    let mut failed: Option<ParquetError> = None;
    let mut leaves = LeafHashes::default();
    loop {
        let page = log.query_raw_with(&query, personal, |seq, event| {
            // STRING columns hold UTF-8 only: a record that is not is damage, as for
            // the JSON export.
            event.to_event().map_err(|e| log.damaged_record(seq, e))?;
            let leaf = leaves.of(log, seq, end)?;
            if let Err(e) = writer.push(seq, leaf, &event) {
                failed = Some(e);
                return Ok(false);
            }
            Ok(true)
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        query.cursor = page.next_cursor;
        if query.cursor.is_none() {
            break;
        }
    }
    let (rows, mut out) = writer.finish()?;
    out.flush()
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    Ok(rows)
}
