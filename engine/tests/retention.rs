//! Deletion past retention: whole segments go, a signed receipt covers the gap they
//! leave, and the log opens, answers, proves, appends and verifies from the first record
//! kept; a gap without a valid receipt still fails; a legal hold keeps its tenant's
//! segments; a deletion cut short is finished at the next open; a tree lost after a
//! deletion is grown again from the first kept segment's frontier.

mod common;

use std::path::{Path, PathBuf};

use auditlog_engine::merkle::Proof;
use auditlog_engine::query::{ActionPattern, Filter, Order, Query};
use auditlog_engine::retention::{RETENTION_DIR, RetentionReceipt};
use auditlog_engine::system::{SYSTEM_TENANT, SystemActor};
use auditlog_engine::verify::VerifyOptions;
use auditlog_engine::{Error, Log, RETENTION_DELETE, SealedSegmentInfo, Timestamp};
use common::{append_all, lines, parse, small_segments};

const RETAIN_DAYS: u64 = 30;
const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A closed log of many small segments, a checkpoint signed every 500 events, and the
/// workload lines in it.
fn log_of_segments(dir: &Path) -> Vec<String> {
    let events = lines(3_000, 7);
    let log = Log::create(dir, &small_segments(64 * 1024)).unwrap();
    for chunk in events.chunks(500) {
        append_all(&log, chunk, 100);
        log.checkpoint().unwrap();
    }
    drop(log);
    events
}

/// `now` for a retention of [`RETAIN_DAYS`] that reaches the events of the first `n`
/// sealed segments, and how many of the oldest segments it deletes (a segment goes only
/// if every event in it, and in each one before it, is past retention).
fn now_reaching(sealed: &[SealedSegmentInfo], n: usize) -> (Timestamp, usize) {
    let cutoff = sealed[..n].iter().map(|s| s.max_timestamp.0).max().unwrap() + 1;
    let deleted = sealed
        .iter()
        .take_while(|s| s.max_timestamp.0 < cutoff)
        .count();
    (Timestamp(cutoff + RETAIN_DAYS as i64 * DAY_MICROS), deleted)
}

fn verify(dir: &Path) -> auditlog_engine::Result<auditlog_engine::verify::VerifyReport> {
    VerifyOptions::new().verify_dir(dir, &mut |_| {})
}

fn receipts(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join(RETENTION_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "receipt"))
        .collect();
    found.sort();
    found
}

/// Deletes the oldest third of the segments of the log in `dir`: the receipt's end.
fn delete_a_third(dir: &Path) -> u64 {
    let log = Log::open(dir).unwrap();
    let sealed = log.sealed_segments();
    let (now, _) = now_reaching(&sealed, sealed.len() / 3);
    let expiry = log.expire(SystemActor::Cli, RETAIN_DAYS, now).unwrap();
    expiry
        .expired
        .expect("segments past retention")
        .receipt
        .deleted
        .end
}

#[test]
fn a_deletion_past_retention_leaves_a_log_that_answers_proves_appends_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let events = log_of_segments(dir.path());
    let log = Log::open(dir.path()).unwrap();
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 6, "{} segments", sealed.len());
    let (now, expected) = now_reaching(&sealed, sealed.len() / 2);
    assert!(expected > 0 && expected < sealed.len());
    let size_before = log.tree_size();
    let root_at_end = log.root_at(sealed[expected - 1].tree_size).unwrap();

    let expiry = log.expire(SystemActor::Cli, RETAIN_DAYS, now).unwrap();
    let expired = expiry.expired.expect("segments past retention");
    let end = sealed[expected - 1].tree_size;
    assert_eq!(expired.segments.len(), expected);
    assert_eq!(expired.receipt.deleted, 0..end);
    assert_eq!(expired.receipt.end_root, root_at_end);
    assert_eq!(expired.receipt.retain_days, RETAIN_DAYS);
    assert!(expired.receipt.checkpoint_size >= size_before);
    assert!(expired.bytes > 0);
    let why = expiry.kept_because;
    assert!(why.contains("within the retention"), "{why}");
    for s in &sealed[..expected] {
        assert!(!s.path.exists(), "{} deleted", s.path.display());
        assert!(!s.index_path.exists(), "{} deleted", s.index_path.display());
    }
    assert!(sealed[expected].path.exists());

    // The receipt is on disk and in the `_system` tenant, signed by the log's key.
    let receipt_files = receipts(dir.path());
    assert_eq!(receipt_files.len(), 1);
    let key = auditlog_engine::checkpoint::load_verifier(
        &auditlog_engine::storage::FsStorage::default(),
        dir.path(),
    )
    .unwrap()
    .unwrap();
    let on_disk = std::fs::read(&receipt_files[0]).unwrap();
    assert_eq!(
        RetentionReceipt::verify(&on_disk, &key).unwrap(),
        expired.receipt
    );
    let recorded = system_deletions(&log);
    assert_eq!(recorded.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&recorded[0]).unwrap();
    assert_eq!(details["receipt"].as_str().unwrap().as_bytes(), on_disk);

    // The log reads from the first record kept; kept records prove, deleted ones do not.
    assert_eq!(log.first_kept(), end);
    let mut seen = Vec::new();
    log.scan(0..u64::MAX, Default::default(), |seq, event| {
        seen.push((seq, event.to_json()));
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen[0].0, end);
    for (seq, json) in seen.iter().take(events.len() - end as usize) {
        assert_eq!(*json, parse(&events[*seq as usize]).to_json());
    }
    let proof = log.prove_inclusion(end, None).unwrap();
    Proof::Inclusion(proof).verify().unwrap();
    let last = log.tree_size() - 1;
    Proof::Inclusion(log.prove_inclusion(last, None).unwrap())
        .verify()
        .unwrap();
    assert!(matches!(
        log.prove_inclusion(end - 1, None),
        Err(Error::InvalidArgument(m)) if m.contains("retention")
    ));
    assert!(log.prove_consistency(end - 1, log.tree_size()).is_err());
    Proof::Consistency(log.prove_consistency(end, log.tree_size()).unwrap())
        .verify()
        .unwrap();
    drop(log);

    // Opened again, it goes on appending, and verifies with the gap covered.
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.first_kept(), end);
    append_all(&log, &lines(200, 8), 50);
    log.checkpoint().unwrap();
    drop(log);
    let report = verify(dir.path()).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(&format!("records 0..{end} were deleted past retention"))),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("checkpoints sign tree sizes below")),
        "{:?}",
        report.notes
    );

    // A second deletion chains on from the first.
    let second = delete_a_third(dir.path());
    assert!(second > end, "{second} > {end}");
    assert_eq!(receipts(dir.path()).len(), 2);
    verify(dir.path()).unwrap();
    Log::open(dir.path()).unwrap();
}

/// The details of every deletion recorded in the `_system` tenant.
fn system_deletions(log: &Log) -> Vec<String> {
    let query = Query {
        filter: Filter {
            tenant: Some(SYSTEM_TENANT.to_owned()),
            actions: vec![ActionPattern::Exact(RETENTION_DELETE.to_owned())],
            ..Filter::default()
        },
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let mut found = Vec::new();
    log.query(&query, |_, event| {
        found.push(event.metadata.unwrap_or_default().into_owned());
        Ok(true)
    })
    .unwrap();
    found
}

#[test]
fn a_gap_without_a_valid_receipt_fails_to_open_and_to_verify() {
    let dir = tempfile::tempdir().unwrap();
    log_of_segments(dir.path());
    let end = delete_a_third(dir.path());
    verify(dir.path()).unwrap();
    let receipt = receipts(dir.path()).remove(0);
    let signed = std::fs::read(&receipt).unwrap();
    let text = String::from_utf8(signed.clone()).unwrap();

    // The receipt removed: a gap like any other.
    std::fs::remove_file(&receipt).unwrap();
    let fault = verify(dir.path()).unwrap_err().to_string();
    assert!(fault.contains("broken chain"), "{fault}");
    assert!(Log::open(dir.path()).is_err());

    // Edited: the signature no longer checks (a range widened, a root changed).
    for (from, to) in [
        (format!("deleted 0 {end}"), format!("deleted 0 {}", end + 1)),
        (
            "policy retain-days 30".to_owned(),
            "policy retain-days 3".to_owned(),
        ),
    ] {
        let forged = text.replacen(&from, &to, 1);
        assert_ne!(forged, text);
        std::fs::write(&receipt, forged).unwrap();
        let fault = verify(dir.path()).unwrap_err().to_string();
        assert!(fault.contains("signature"), "{fault}");
        let Err(open) = Log::open(dir.path()) else {
            panic!("a forged receipt was taken")
        };
        let open = open.to_string();
        assert!(open.contains("signature"), "{open}");
    }

    // Signed by another key: refused too.
    let parsed = RetentionReceipt::parse(&text[..text.find("\n\n").unwrap() + 1]).unwrap();
    let other = auditlog_engine::checkpoint::NoteSigner::generate(&parsed.origin).unwrap();
    std::fs::write(&receipt, parsed.sign(&other).unwrap().to_text()).unwrap();
    assert!(verify(dir.path()).is_err());
    assert!(Log::open(dir.path()).is_err());

    // The heads beside it edited: refused, though the receipt is sound.
    std::fs::write(&receipt, &signed).unwrap();
    verify(dir.path()).unwrap();
    let heads = receipt.with_extension("heads");
    let edited = std::fs::read_to_string(&heads)
        .unwrap()
        .replacen(',', ",1", 1);
    std::fs::write(&heads, edited).unwrap();
    assert!(verify(dir.path()).is_err());
    assert!(Log::open(dir.path()).is_err());
}

#[test]
fn a_legal_hold_keeps_every_segment_from_the_first_with_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    log_of_segments(dir.path());
    let log = Log::open(dir.path()).unwrap();
    let sealed = log.sealed_segments();
    let (now, reach) = now_reaching(&sealed, sealed.len() / 2);
    assert!(reach >= 2);
    // A tenant whose first event is in the second segment, not in the first.
    let mut first_segment_tenants = std::collections::HashSet::new();
    let mut held = None;
    log.scan(0..sealed[1].tree_size, Default::default(), |seq, event| {
        if seq < sealed[0].tree_size {
            first_segment_tenants.insert(event.tenant_id.to_string());
        } else if !first_segment_tenants.contains(event.tenant_id.as_ref()) {
            held = Some(event.tenant_id.to_string());
            return Ok(false);
        }
        Ok(true)
    })
    .unwrap();
    let held = held.expect("a tenant first seen in the second segment");
    log.place_hold(SystemActor::Cli, &held, "litigation")
        .unwrap();
    let expiry = log.expire(SystemActor::Cli, RETAIN_DAYS, now).unwrap();
    let expired = expiry.expired.expect("the first segment goes");
    assert_eq!(expired.segments, vec![sealed[0].base_seq]);
    assert_eq!(expired.receipt.holds, vec![held.clone()]);
    let why = expiry.kept_because;
    assert!(why.contains(&held) && why.contains("legal hold"), "{why}");
    assert!(sealed[1].path.exists());

    // Lifted, the rest past retention goes.
    log.lift_hold(SystemActor::Cli, &held, "settled").unwrap();
    let expired = log
        .expire(SystemActor::Cli, RETAIN_DAYS, now)
        .unwrap()
        .expired
        .unwrap();
    assert_eq!(expired.receipt.deleted.start, sealed[0].tree_size);
    assert_eq!(expired.receipt.deleted.end, sealed[reach - 1].tree_size);
    drop(log);
    verify(dir.path()).unwrap();
}

#[test]
fn a_deletion_cut_short_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    log_of_segments(dir.path());
    let before = common::snapshot(dir.path());
    let end = delete_a_third(dir.path());
    // As if the process died after the receipt and before removing the files.
    let mut put_back = 0;
    for (file, bytes) in &before {
        let path = dir.path().join(file);
        if file.starts_with("segments") && !path.exists() {
            std::fs::write(&path, bytes).unwrap();
            put_back += 1;
        }
    }
    assert!(put_back >= 2, "{put_back}");
    let report = verify(dir.path()).unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("cut short")),
        "{:?}",
        report.notes
    );
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.first_kept(), end);
    for file in before.keys() {
        let path = dir.path().join(file);
        if file.starts_with("segments") {
            let base: u64 = file
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .unwrap();
            assert_eq!(path.exists(), base >= end, "{}", path.display());
        }
    }
    drop(log);
    verify(dir.path()).unwrap();
}

#[test]
fn a_tree_lost_after_a_deletion_is_grown_again_from_the_first_kept_frontier() {
    let dir = tempfile::tempdir().unwrap();
    log_of_segments(dir.path());
    let end = delete_a_third(dir.path());
    let (size, root) = {
        let log = Log::open(dir.path()).unwrap();
        (log.tree_size(), log.root())
    };
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert!(log.recovery_report().rebuilt_tree);
    assert_eq!((log.tree_size(), log.root()), (size, root));
    for seq in [end, end + 1, size / 2, size - 1] {
        let proof = log.prove_inclusion(seq, None).unwrap();
        assert_eq!(proof.root, root.to_vec());
        Proof::Inclusion(proof).verify().unwrap();
    }
    append_all(&log, &lines(50, 9), 25);
    log.checkpoint().unwrap();
    drop(log);
    verify(dir.path()).unwrap();
}

#[test]
fn a_crash_after_deleting_everything_sealed_leaves_a_log_that_opens_without_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    log_of_segments(dir.path());
    let log = Log::open(dir.path()).unwrap();
    log.seal().unwrap();
    let sealed = log.sealed_segments();
    let (now, deleted) = now_reaching(&sealed, sealed.len());
    assert_eq!(deleted, sealed.len());
    let expired = log
        .expire(SystemActor::Cli, RETAIN_DAYS, now)
        .unwrap()
        .expired
        .unwrap();
    // The checkpoint the deletion was taken against is the tree at the first kept record.
    let end = expired.receipt.deleted.end;
    assert_eq!(expired.receipt.checkpoint_size, end);
    // What a kill -9 now would leave, and then the tree's files lost too.
    let crashed = tempfile::tempdir().unwrap();
    common::copy_dir(dir.path(), crashed.path());
    drop(log);
    std::fs::remove_dir_all(crashed.path().join("tree")).unwrap();
    std::fs::create_dir(crashed.path().join("tree")).unwrap();
    let log = Log::open(crashed.path()).unwrap();
    assert_eq!(log.first_kept(), end);
    assert!(log.tree_size() > end, "the deletion's own event is kept");
    append_all(&log, &lines(20, 3), 10);
    drop(log);
    verify(crashed.path()).unwrap();
}
