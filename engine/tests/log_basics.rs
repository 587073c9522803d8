//! Appending, reading back, rolling segments, reopening, proving: the log as a user of
//! the library drives it.

mod common;

use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::{HashAlg, Log, LogConfig, OpenOptions, TimeRange, Timestamp};
use common::*;

#[test]
fn append_read_prove_across_segments_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = lines(5_000, 1);
    let log = Log::create(dir.path(), &small_segments(64 << 10)).expect("create");
    let acks = append_all(&log, &lines, 97);
    let mut next = 0;
    for ack in &acks {
        assert_eq!(ack.first_seq, next, "dense sequence numbers");
        next += ack.count;
        assert!(ack.tree_size >= next);
    }
    assert_eq!(log.tree_size(), 5_000);
    assert!(
        log.segment_count() > 10,
        "small segments roll: {}",
        log.segment_count()
    );
    assert_eq!(read_all(&log), lines);
    let earlier: Vec<_> = acks.iter().map(|a| (a.tree_size, a.root)).collect();
    check_proofs(&log, &earlier);
    let root = log.root();
    drop(log);

    let log = Log::open(dir.path()).expect("reopen");
    assert_eq!(log.tree_size(), 5_000);
    assert_eq!(log.root(), root);
    assert_eq!(
        log.recovery_report().replayed_leaves,
        0,
        "a clean close leaves nothing to replay"
    );
    assert_eq!(read_all(&log), lines);
    let more = lines_from(&log, 5_000..5_500);
    assert_eq!(
        read_all(&log),
        [lines, more].concat(),
        "appends after a reopen go on the log"
    );
    check_proofs(&log, &earlier);
    drop(log);
    // Checked as an auditor would: with the verifier key handed over beforehand.
    let key = std::fs::read_to_string(dir.path().join("keys/checkpoint.pub")).expect("key");
    let key = auditlog_engine::checkpoint::NoteVerifier::parse(&key).expect("key");
    let report = auditlog_engine::verify::verify_dir_with_key(dir.path(), Some(&key), &mut |_| {})
        .expect("verify");
    assert_eq!(report.records, 5_500);
    assert_eq!(report.checkpoints, 2, "one signed at each close");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

/// A record's stored payload hashes to its leaf, in sealed and active segments alike.
#[test]
fn a_record_payload_hashes_to_its_leaf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(16 << 10)).expect("create");
    append_all(&log, &lines(400, 3), 40);
    assert!(log.segment_count() > 2, "sealed segments and an active one");
    for seq in [0, 1, 150, 398, 399] {
        let payload = log.record_payload(seq).expect("read").expect("a record");
        let proof = log.prove_inclusion(seq, None).expect("proof");
        assert_eq!(
            log.alg().hash_leaf(&payload).to_vec(),
            proof.leaf_hash,
            "{seq}"
        );
    }
    assert_eq!(log.record_payload(400).expect("read"), None);
}

fn lines_from(log: &Log, range: std::ops::Range<u64>) -> Vec<String> {
    let extra = lines(range.end, 9).split_off(range.start as usize);
    append_all(log, &extra, 50);
    extra
}

#[test]
fn ack_root_is_the_root_at_its_tree_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &LogConfig::default()).expect("create");
    let lines = lines(300, 2);
    for ack in append_all(&log, &lines, 7) {
        assert_eq!(log.root_at(ack.tree_size).expect("root"), ack.root);
    }
}

#[test]
fn sha256_logs_record_their_algorithm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        hash: HashAlg::Sha256,
        ..small_segments(16 << 10)
    };
    let log = Log::create(dir.path(), &config).expect("create");
    append_all(&log, &lines(500, 3), 20);
    let proof = log.prove_inclusion(123, None).expect("proof");
    assert_eq!(proof.hash, HashAlg::Sha256);
    drop(log);
    let log = Log::open(dir.path()).expect("reopen");
    assert_eq!(log.alg(), HashAlg::Sha256);
    let bytes = std::fs::read(&segment_files(dir.path())[0]).expect("segment");
    assert_eq!(bytes[10], 2, "hash algorithm code in the header");
}

#[test]
fn reads_by_sequence_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(32 << 10)).expect("create");
    let lines = lines(2_000, 4);
    append_all(&log, &lines, 64);
    for (start, end) in [
        (0, 1),
        (10, 500),
        (777, 1_999),
        (1_500, 2_000),
        (1_999, 5_000),
        (2_000, 3_000),
    ] {
        let mut got = Vec::new();
        log.scan(start..end, TimeRange::default(), |seq, e| {
            got.push((seq, e.to_json()));
            Ok(true)
        })
        .expect("scan");
        let want: Vec<_> = (start..end.min(2_000))
            .map(|s| (s, lines[s as usize].clone()))
            .collect();
        assert_eq!(got, want, "{start}..{end}");
    }
    let mut first_three = Vec::new();
    log.scan(0..u64::MAX, TimeRange::default(), |seq, _| {
        first_three.push(seq);
        Ok(first_three.len() < 3)
    })
    .expect("scan");
    assert_eq!(first_three, vec![0, 1, 2], "the visitor stops the scan");
}

#[test]
fn time_ranges_return_exactly_the_events_inside_even_out_of_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(4 << 10)).expect("create");
    // Timestamps jump back and forth, across segments.
    let stamps: Vec<i64> = (0..400).map(|i| ((i * 7919) % 400) as i64).collect();
    let lines: Vec<String> = stamps
        .iter()
        .map(|t| {
            let ts = Timestamp::from_unix_seconds(1_770_000_000 + t * 60).to_rfc3339();
            format!(r#"{{"timestamp":"{ts}","actor":{{"user_id":"u"}},"organization":{{"id":"o"}},"action":"a.b","outcome":"success"}}"#)
        })
        .collect();
    append_all(&log, &lines, 13);
    assert!(log.segment_count() > 3);
    let from = Timestamp::from_unix_seconds(1_770_000_000 + 100 * 60);
    let to = Timestamp::from_unix_seconds(1_770_000_000 + 150 * 60);
    let mut got = Vec::new();
    log.scan(
        0..u64::MAX,
        TimeRange {
            from: Some(from),
            to: Some(to),
        },
        |seq, e| {
            assert!(e.timestamp >= from && e.timestamp < to);
            got.push(seq);
            Ok(true)
        },
    )
    .expect("scan");
    let want: Vec<u64> = stamps
        .iter()
        .enumerate()
        .filter(|(_, t)| (100..150).contains(*t))
        .map(|(i, _)| i as u64)
        .collect();
    assert_eq!(got, want, "every event inside, in sequence order");
}

#[test]
fn read_only_open_sees_the_log_and_refuses_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &LogConfig::default()).expect("create");
    append_all(&log, &lines(100, 5), 10);
    let reader = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("read-only open beside the writer");
    assert_eq!(reader.tree_size(), 100);
    assert!(reader.append(&[]).is_err());
    assert!(Log::open(dir.path()).is_err(), "a second writer is refused");
}

#[test]
fn a_reader_beside_the_writer_reads_durable_and_newer_records_alike() {
    // A reader maps the active segment only up to what was durable when it opened (the
    // tree state, written at a seal and at close); newer records it reads with `pread`.
    let dir = tempfile::tempdir().expect("tempdir");
    let events = lines(600, 8);
    let log = Log::create(dir.path(), &small_segments(1 << 20)).expect("create");
    append_all(&log, &events[..300], 25);
    drop(log);
    let log = Log::open(dir.path()).expect("reopen");
    append_all(&log, &events[300..], 25);
    assert_eq!(
        log.segment_count(),
        1,
        "all in the active segment: durable up to 300"
    );
    let reader = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("read-only open beside the writer");
    let want: Vec<String> = events.iter().map(|l| parse(l).to_json()).collect();
    assert_eq!(read_all(&reader), want, "a scan of every record");
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let query = Query {
            filter: Filter::default(),
            order,
            limit: None,
            cursor: None,
        };
        let mut got = Vec::new();
        reader
            .query(&query, |seq, event| {
                got.push((seq, event.to_json()));
                Ok(true)
            })
            .expect("query");
        if order == Order::NewestFirst {
            got.reverse();
        }
        let expected: Vec<(u64, String)> = want
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, j)| (i as u64, j))
            .collect();
        assert_eq!(got, expected, "{order:?}");
    }
}

#[test]
fn create_refuses_an_existing_log_and_bad_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Log::create(dir.path(), &LogConfig::default()).expect("create"));
    assert!(Log::create(dir.path(), &LogConfig::default()).is_err());
    let other = tempfile::tempdir().expect("tempdir");
    assert!(Log::create(other.path(), &small_segments(10)).is_err());
    assert!(
        Log::create(
            other.path(),
            &LogConfig {
                origin: "two\nlines".into(),
                ..LogConfig::default()
            }
        )
        .is_err()
    );
}

#[test]
fn proofs_against_older_tree_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(16 << 10)).expect("create");
    let acks = append_all(&log, &lines(1_000, 6), 33);
    for ack in acks.iter().step_by(5) {
        let proof = log
            .prove_inclusion(ack.first_seq, Some(ack.tree_size))
            .expect("proof");
        assert_eq!(proof.root, ack.root.to_vec());
        auditlog_engine::merkle::Proof::Inclusion(proof)
            .verify()
            .expect("verifies");
    }
    assert!(log.prove_inclusion(1_000, None).is_err());
    assert!(log.prove_inclusion(5, Some(1_001)).is_err());
    assert!(log.prove_consistency(0, 10).is_err());
    assert!(log.prove_consistency(11, 10).is_err());
}

#[test]
fn readers_open_safely_while_a_writer_appends_and_seals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(4 << 10)).expect("create");
    let lines = lines(3_000, 12);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| append_all(&log, &lines, 10));
        let mut opens = 0;
        while !writer.is_finished() {
            let reader = OpenOptions::new()
                .read_only(true)
                .open(dir.path())
                .expect("read-only open during writes");
            let size = reader.tree_size();
            if size > 0 {
                let proof = reader.prove_inclusion(size - 1, None).expect("proof");
                auditlog_engine::merkle::Proof::Inclusion(proof)
                    .verify()
                    .expect("valid");
            }
            opens += 1;
        }
        assert!(opens > 3, "the reader ran alongside the writer");
    });
}

#[test]
fn a_second_open_to_write_is_already_open_and_a_reader_still_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &LogConfig::default()).expect("create");
    append_all(&log, &lines(10, 1), 10);
    match Log::open(dir.path()) {
        Err(auditlog_engine::Error::AlreadyOpen { dir: locked }) => {
            assert_eq!(locked, dir.path())
        }
        other => panic!("must be AlreadyOpen: {:?}", other.map(|l| l.tree_size())),
    }
    let reader = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("a reader takes no lock");
    assert_eq!(reader.tree_size(), 10);
    drop(log);
    let again = Log::open(dir.path()).expect("the lock goes with the writer");
    assert_eq!(again.tree_size(), 10);
}
