//! Index files are derived data: deleted or damaged ones are rebuilt (at a read-write
//! open, or in memory for a reader), `verify` compares each with its segment, and a query
//! never opens the index of a segment its time range rules out.

mod common;

use std::path::{Path, PathBuf};

use auditlog_engine::query::{Access, Filter, IndexSource, Order, Query};
use auditlog_engine::{Log, OpenOptions, TimeRange, Timestamp};
use common::{append_all, lines, segment_files, small_segments};

fn index_files(dir: &Path) -> Vec<PathBuf> {
    segment_files(dir)
        .iter()
        .map(|s| s.with_extension("idx"))
        .filter(|p| p.exists())
        .collect()
}

/// A closed log of 3000 workload events over several segments.
fn log_with_segments(dir: &Path) -> Vec<String> {
    let events = lines(3_000, 17);
    let log = Log::create(dir, &small_segments(256 << 10)).expect("create");
    append_all(&log, &events, 100);
    assert!(log.segment_count() >= 4, "{}", log.segment_count());
    events
}

fn all_seqs(log: &Log, filter: &Filter) -> Vec<u64> {
    let query = Query {
        filter: filter.clone(),
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let mut seqs = Vec::new();
    log.query(&query, |seq, _| {
        seqs.push(seq);
        Ok(true)
    })
    .expect("query");
    seqs
}

fn tenant_of(line: &str) -> String {
    common::parse(line).tenant_id.into_owned()
}

#[test]
fn deleted_indexes_are_rebuilt_identically_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = log_with_segments(dir.path());
    let files = index_files(dir.path());
    assert_eq!(
        files.len(),
        segment_files(dir.path()).len() - 1,
        "one per sealed segment"
    );
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    let filter = Filter {
        tenant: Some(tenant_of(&events[0])),
        ..Filter::default()
    };
    let expected = all_seqs(&Log::open(dir.path()).expect("open"), &filter);
    assert!(!expected.is_empty());
    for f in &files {
        std::fs::remove_file(f).expect("remove");
    }
    let log = Log::open(dir.path()).expect("reopen");
    assert_eq!(log.recovery_report().rebuilt_indexes, files.len() as u64);
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("rebuilt"))
        .collect();
    assert_eq!(before, after, "the encoding is deterministic");
    assert_eq!(all_seqs(&log, &filter), expected);
    drop(log);
    let log = Log::open(dir.path()).expect("reopen");
    assert_eq!(log.recovery_report().rebuilt_indexes, 0);
}

#[test]
fn a_damaged_index_is_rebuilt_and_never_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = log_with_segments(dir.path());
    let filter = Filter {
        tenant: Some(tenant_of(&events[1])),
        ..Filter::default()
    };
    let expected = all_seqs(&Log::open(dir.path()).expect("open"), &filter);
    let victim = index_files(dir.path())[1].clone();
    let len = std::fs::metadata(&victim).expect("meta").len() as usize;
    common::flip(&victim, len / 2, 0x10);
    // A reader rebuilds it in memory and leaves the file alone.
    let reader = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    assert_eq!(all_seqs(&reader, &filter), expected);
    let query = Query {
        filter: filter.clone(),
        limit: None,
        ..Query::default()
    };
    let page = reader.query(&query, |_, _| Ok(true)).expect("query");
    let entry = page
        .plan
        .segments
        .iter()
        .find(|s| s.path.with_extension("idx") == victim)
        .expect("segment planned");
    assert_eq!(entry.index, Some(IndexSource::Rebuilt));
    let damaged = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {})
        .expect_err("verify names the damage");
    assert!(
        damaged.to_string().contains(&victim.display().to_string()),
        "{damaged}"
    );
    drop(reader);
    // A writer rebuilds the file.
    let log = Log::open(dir.path()).expect("open");
    assert_eq!(log.recovery_report().rebuilt_indexes, 1);
    assert_eq!(all_seqs(&log, &filter), expected);
    drop(log);
    auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verify after rebuild");
}

/// Writes `bytes` as the index file `victim` with its CRC made right, and returns the fault
/// `verify` finds in the log at `dir`.
fn verify_fault_with_crc_fixed(dir: &Path, victim: &Path, bytes: &mut [u8]) -> String {
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(victim, &bytes).expect("write");
    let err = auditlog_engine::verify::verify_dir(dir, &mut |_| {}).expect_err("caught");
    err.to_string()
}

#[test]
fn verify_catches_an_index_edited_with_a_valid_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with_segments(dir.path());
    let victim = index_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&victim).expect("read");
    // A timestamp in the column after the 64-byte header, CRC recomputed.
    bytes[64 + 8 * 10] ^= 0x01;
    let text = verify_fault_with_crc_fixed(dir.path(), &victim, &mut bytes);
    assert!(text.contains(&victim.display().to_string()), "{text}");
    assert!(text.contains(&format!("byte {}", 64 + 8 * 10)), "{text}");
    assert!(text.contains("record 10's timestamp"), "{text}");
    // Another record's actor: an ordinal of another actor in the column, CRC recomputed.
    bytes[64 + 8 * 10] ^= 0x01;
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let n = u32_at(&bytes, 12);
    let tenants = 64 + 9 * n;
    let (keys, width) = (u32_at(&bytes, tenants), u32_at(&bytes, tenants + 4));
    let actors = tenants
        + 16
        + n * width
        + keys * 12
        + u32_at(&bytes, tenants + 8)
        + u32_at(&bytes, tenants + 12);
    assert!(u32_at(&bytes, actors) > 2, "several actors");
    let at = actors + 16 + 7 * u32_at(&bytes, actors + 4);
    bytes[at] ^= 0x01;
    let text = verify_fault_with_crc_fixed(dir.path(), &victim, &mut bytes);
    assert!(text.contains(&format!("byte {at}")), "{text}");
    assert!(text.contains("record 7's actor"), "{text}");
    // A missing index is no fault, only a note.
    std::fs::remove_file(&victim).expect("remove");
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verify");
    assert!(
        report.notes.iter().any(|n| n.contains("missing")),
        "{:?}",
        report.notes
    );
}

#[test]
fn segments_outside_the_time_range_are_not_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = log_with_segments(dir.path());
    // Damage the first segment's index: a query that needs it would have to rebuild it.
    let first_index = index_files(dir.path())[0].clone();
    std::fs::write(&first_index, b"garbage").expect("write");
    let reader = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    // The workload's timestamps rise: from the last event's time on, only the newest
    // segments can match.
    let last = common::parse(events.last().expect("events")).timestamp;
    let query = Query {
        filter: Filter {
            time: TimeRange {
                from: Some(last),
                to: Some(Timestamp(last.0 + 1)),
            },
            ..Filter::default()
        },
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let page = reader
        .query(&query, |_, e| {
            assert_eq!(e.timestamp, last);
            Ok(true)
        })
        .expect("query");
    assert!(page.returned >= 1);
    let first = &page.plan.segments[0];
    assert_eq!(first.access, Access::SkippedByTime);
    assert_eq!(first.index, None, "its index was not opened");
    assert_eq!(std::fs::read(&first_index).expect("read"), b"garbage");
}
