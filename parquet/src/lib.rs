//! auditlog's events as Parquet (docs/FORMAT.md, "Parquet"): one row per event with its
//! `seq`, its leaf hash (so a row can be proven in the log) and every field, for
//! analytics engines (Spark, Trino, DuckDB) over exports and, later, the archive.
//!
//! The schema is [`SCHEMA`], stable: a new column is only ever added at the end, and
//! a column is never renamed or retyped. Rows are written a row group at a time
//! ([`ROWS_PER_GROUP`]), each sorted by tenant, time and seq, with Parquet's statistics
//! on, so that a reader skips whole row groups and pages by tenant or time. Written with
//! the `parquet` crate's low-level column writers: no Arrow, whose crates would double
//! the build for one writer.

mod export;
mod row;

pub use export::{ExportError, export_parquet};
pub use row::{EventWriter, FileFacts, ROWS_PER_GROUP, SCHEMA, SCHEMA_VERSION};
