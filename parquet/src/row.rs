//! The Parquet schema of an event and the writer of its rows.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use auditlog_engine::event::RawEvent;
use auditlog_engine::merkle::Hash;
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::data_type::Int64Type;
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// The schema of every Parquet file auditlog writes (docs/FORMAT.md, "Parquet"). The
/// columns are the event's fields as `auditlog export --format csv` names them, after
/// `seq` and `leaf_hash`; `timestamp` is UTC microseconds, as stored.
pub const SCHEMA: &str = "message auditlog_event {
  required int64 seq;
  required fixed_len_byte_array(32) leaf_hash;
  required int64 timestamp (TIMESTAMP(MICROS,true));
  required binary actor_id (STRING);
  optional binary actor_email (STRING);
  optional binary actor_kind (STRING);
  required binary tenant_id (STRING);
  optional binary tenant_name (STRING);
  required binary action (STRING);
  optional binary resource_type (STRING);
  optional binary resource_id (STRING);
  required binary outcome (STRING);
  optional binary ip_address (STRING);
  optional binary user_agent (STRING);
  optional binary metadata (STRING);
  optional binary event_id (STRING);
}";

/// The version of [`SCHEMA`], in the file's key-value metadata as `auditlog.schema`.
pub const SCHEMA_VERSION: &str = "1";

/// Rows per row group: large enough for good compression and statistics, small enough
/// to buffer (some 30 MB of typical events).
pub const ROWS_PER_GROUP: usize = 65_536;

/// A row group is written early once its strings pass this many bytes (events of up to
/// 64 KiB would otherwise buffer 4 GiB).
const GROUP_BYTES: usize = 256 << 20;

/// The string columns after `timestamp`, in schema order.
const STRINGS: usize = 13;

/// `seq`, `leaf_hash`, `timestamp`, then the strings.
const COLUMNS: usize = 3 + STRINGS;

/// One event buffered until its row group is written, its strings copied into the
/// group's one buffer (one copy, no allocation per field).
struct Row {
    seq: u64,
    leaf_hash: Hash,
    timestamp: i64,
    /// Where each string is in the buffer, in schema order; `None` for an absent
    /// optional field.
    strings: [Option<Range<usize>>; STRINGS],
}

impl Row {
    fn new(seq: u64, leaf_hash: Hash, e: &RawEvent<'_>, buffer: &mut Vec<u8>) -> Row {
        let mut keep = |b: Option<&[u8]>| {
            b.map(|b| {
                let start = buffer.len();
                buffer.extend_from_slice(b);
                start..buffer.len()
            })
        };
        Row {
            seq,
            leaf_hash,
            timestamp: e.timestamp.0,
            strings: [
                keep(Some(e.actor_id)),
                keep(e.actor_email),
                keep(e.actor_kind),
                keep(Some(e.tenant_id)),
                keep(e.tenant_name),
                keep(Some(e.action)),
                keep(e.resource_type),
                keep(e.resource_id),
                keep(Some(e.outcome.as_str().as_bytes())),
                keep(e.ip_address),
                keep(e.user_agent),
                keep(e.metadata),
                keep(e.event_id),
            ],
        }
    }

    /// The tenant's bytes (always present).
    fn tenant<'b>(&self, buffer: &'b [u8]) -> &'b [u8] {
        self.strings[3].clone().map_or(&[][..], |r| &buffer[r])
    }
}

/// What a file says of the log it came from, in its key-value metadata.
#[derive(Debug, Clone)]
pub struct FileFacts {
    /// The log's origin (`auditlog.origin`).
    pub origin: String,
    /// The log's hash algorithm, which made `leaf_hash` (`auditlog.hash`).
    pub hash: String,
}

/// Writes events as Parquet rows to `W`, a row group at a time.
pub struct EventWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    rows: Vec<Row>,
    /// The strings of `rows`.
    buffer: Vec<u8>,
    rows_per_group: usize,
    written: u64,
}

impl<W: Write + Send> std::fmt::Debug for EventWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventWriter({} rows written)", self.written)
    }
}

impl<W: Write + Send> EventWriter<W> {
    /// A writer of [`ROWS_PER_GROUP`] rows per group.
    pub fn new(out: W, facts: &FileFacts) -> Result<EventWriter<W>, ParquetError> {
        EventWriter::with_rows_per_group(out, facts, ROWS_PER_GROUP)
    }

    /// A writer of `rows_per_group` rows per group (at least 1).
    pub fn with_rows_per_group(
        out: W,
        facts: &FileFacts,
        rows_per_group: usize,
    ) -> Result<EventWriter<W>, ParquetError> {
        let schema = Arc::new(parse_message_type(SCHEMA)?);
        if schema.get_fields().len() != COLUMNS {
            return Err(ParquetError::General(
                "the schema and the row disagree".into(),
            ));
        }
        let metadata = [
            ("auditlog.schema", SCHEMA_VERSION),
            ("auditlog.origin", facts.origin.as_str()),
            ("auditlog.hash", facts.hash.as_str()),
        ]
        .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_owned()))
        .to_vec();
        // Each row group is sorted by tenant_id (column 6), timestamp (2), seq (0).
        let sorted = [6, 2, 0].map(|column_idx| SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        });
        let properties = WriterProperties::builder()
            .set_sorting_columns(Some(sorted.to_vec()))
            .set_created_by(format!("auditlog {}", env!("CARGO_PKG_VERSION")))
            .set_compression(Compression::SNAPPY)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_size(rows_per_group.max(1))
            .set_key_value_metadata(Some(metadata))
            .build();
        Ok(EventWriter {
            file: SerializedFileWriter::new(out, schema, Arc::new(properties))?,
            rows: Vec::new(),
            buffer: Vec::new(),
            rows_per_group: rows_per_group.max(1),
            written: 0,
        })
    }

    /// Adds event `seq`, of leaf hash `leaf_hash`; a full row group is written out.
    pub fn push(
        &mut self,
        seq: u64,
        leaf_hash: Hash,
        event: &RawEvent<'_>,
    ) -> Result<(), ParquetError> {
        self.rows
            .push(Row::new(seq, leaf_hash, event, &mut self.buffer));
        if self.rows.len() >= self.rows_per_group || self.buffer.len() >= GROUP_BYTES {
            self.write_group()?;
        }
        Ok(())
    }

    /// Writes the last row group and the footer; returns the rows written and the output.
    pub fn finish(mut self) -> Result<(u64, W), ParquetError> {
        if !self.rows.is_empty() {
            self.write_group()?;
        }
        let written = self.written;
        Ok((written, self.file.into_inner()?))
    }

    /// Sorts the buffered rows by tenant, time and seq and writes them as one row group.
    fn write_group(&mut self) -> Result<(), ParquetError> {
        let mut rows = std::mem::take(&mut self.rows);
        let buffer = Bytes::from(std::mem::take(&mut self.buffer));
        rows.sort_unstable_by(|a, b| {
            (a.tenant(&buffer), a.timestamp, a.seq).cmp(&(b.tenant(&buffer), b.timestamp, b.seq))
        });
        let mut group = self.file.next_row_group()?;
        let mut column = 0;
        while let Some(mut writer) = group.next_column()? {
            match column {
                0 => {
                    let seqs = rows
                        .iter()
                        .map(|r| i64::try_from(r.seq))
                        .collect::<Result<Vec<i64>, _>>()
                        .map_err(|_| ParquetError::General("a seq past 2^63".into()))?;
                    writer.typed::<Int64Type>().write_batch(&seqs, None, None)?;
                }
                1 => {
                    let hashes: Vec<FixedLenByteArray> = rows
                        .iter()
                        .map(|r| FixedLenByteArray::from(r.leaf_hash.to_vec()))
                        .collect();
                    writer
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(&hashes, None, None)?;
                }
                2 => {
                    let times: Vec<i64> = rows.iter().map(|r| r.timestamp).collect();
                    writer
                        .typed::<Int64Type>()
                        .write_batch(&times, None, None)?;
                }
                n => {
                    let i = n - 3;
                    let values: Vec<ByteArray> = rows
                        .iter()
                        .filter_map(|r| r.strings[i].clone())
                        .map(|at| ByteArray::from(buffer.slice(at)))
                        .collect();
                    let levels: Vec<i16> = rows
                        .iter()
                        .map(|r| i16::from(r.strings[i].is_some()))
                        .collect();
                    let required = writer
                        .typed::<ByteArrayType>()
                        .get_descriptor()
                        .max_def_level()
                        == 0;
                    let levels = (!required).then_some(&levels[..]);
                    writer
                        .typed::<ByteArrayType>()
                        .write_batch(&values, levels, None)?;
                }
            }
            writer.close()?;
            column += 1;
        }
        group.close()?;
        self.written += rows.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditlog_engine::Outcome;
    use auditlog_engine::event::Timestamp;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;

    fn event<'a>(tenant: &'a str, time: i64, email: Option<&'a str>) -> RawEvent<'a> {
        RawEvent {
            timestamp: Timestamp(time),
            actor_id: b"usr_1",
            actor_email: email.map(str::as_bytes),
            actor_kind: None,
            tenant_id: tenant.as_bytes(),
            tenant_name: None,
            action: b"doc.read",
            resource_type: None,
            resource_id: Some(b"doc_9"),
            outcome: Outcome::Denied,
            ip_address: None,
            user_agent: None,
            metadata: Some(br#"{"k":1}"#),
            event_id: None,
        }
    }

    #[test]
    fn row_groups_are_sorted_by_tenant_and_time_with_statistics() {
        let facts = FileFacts {
            origin: "example.com/log".into(),
            hash: "sha256".into(),
        };
        let mut writer = EventWriter::with_rows_per_group(Vec::new(), &facts, 4).expect("writer");
        let tenants = [
            "org_c", "org_a", "org_b", "org_a", "org_c", "org_a", "org_b", "org_a", "org_b",
            "org_a",
        ];
        for (seq, tenant) in tenants.iter().enumerate() {
            let email = (seq % 2 == 0).then_some("a@example.com");
            let time = 1_000 - seq as i64;
            writer
                .push(seq as u64, [seq as u8; 32], &event(tenant, time, email))
                .expect("pushed");
        }
        let (rows, bytes) = writer.finish().expect("finished");
        assert_eq!(rows, 10);

        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a Parquet file");
        let metadata = reader.metadata();
        assert_eq!(metadata.num_row_groups(), 3, "4, 4 and 2 rows");
        let kv = metadata
            .file_metadata()
            .key_value_metadata()
            .expect("key-value metadata");
        assert!(
            kv.iter()
                .any(|k| k.key == "auditlog.schema" && k.value.as_deref() == Some("1"))
        );
        for group in metadata.row_groups() {
            for column in group.columns() {
                assert!(column.statistics().is_some(), "{}", column.column_path());
            }
        }
        let mut read = Vec::new();
        for row in reader.get_row_iter(None).expect("rows") {
            let row = row.expect("a row");
            read.push((
                row.get_long(0).expect("seq"),
                row.get_string(6).expect("tenant").clone(),
                row.get_timestamp_micros(2).expect("time"),
                row.get_string(4).ok().cloned(),
            ));
        }
        // Group by group (seqs 0..4, 4..8, 8..10), by tenant, then time.
        let tenant_of = |seq: i64| tenants[seq as usize];
        for group in [&read[0..4], &read[4..8], &read[8..10]] {
            let keys: Vec<_> = group
                .iter()
                .map(|(s, t, time, _)| (t.clone(), *time, *s))
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
        }
        for (seq, tenant, time, email) in &read {
            assert_eq!(tenant, tenant_of(*seq));
            assert_eq!(*time, 1_000 - seq);
            assert_eq!(email.is_some(), seq % 2 == 0, "seq {seq}");
        }
    }
}
