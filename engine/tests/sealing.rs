//! A log that seals personal data (docs/PRIVACY.md): each event's e-mail, IP address,
//! user agent and personal metadata fields are stored only in a kind 3 record's sealed
//! block, which opens with the subject's key and that event alone; nothing of them is
//! readable in any file of the data directory; proofs, verify and idempotent retries work
//! as for any log.

mod common;

use std::path::Path;
use std::sync::Arc;

use auditlog_engine::codec::{
    RECORD_KIND_LINKED_EVENT, RECORD_KIND_SEALED_EVENT, decode_record, sealed_part, split_frame,
};
use auditlog_engine::event::parse_json;
use auditlog_engine::privacy::{Kek, Personal, Sealed, SubjectKeys};
use auditlog_engine::segment::SegmentHeader;
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{Event, Log, LogConfig, OpenOptions, Sealing};
use common::{append_all, lines, small_segments};

const PERSONAL_METADATA: [&str; 2] = ["display_name", "reason"];

fn sealing() -> LogConfig {
    LogConfig {
        sealing: Some(Sealing {
            personal_metadata: PERSONAL_METADATA.map(str::to_owned).to_vec(),
        }),
        ..small_segments(16 << 10)
    }
}

/// A new sealing log in a temporary directory, with its KEK.
fn sealing_log() -> (tempfile::TempDir, Kek, Log) {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let log = OpenOptions::new()
        .kek(kek.clone())
        .create(dir.path(), &sealing())
        .unwrap();
    (dir, kek, log)
}

/// Every record payload of the log, in order, read from its segment files.
fn payloads(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let header = SegmentHeader::decode_from(&bytes).unwrap();
        let mut at = header.encoded_len();
        while let Ok(frame) = split_frame(&bytes[at..]) {
            if frame.check().is_err() {
                break;
            }
            out.push(frame.payload.to_vec());
            at += frame.total;
        }
    }
    out
}

/// The log's key store, opened read-only.
fn read_keys(dir: &Path, kek: &Kek) -> SubjectKeys {
    SubjectKeys::open(Arc::new(FsStorage::default()), &dir.join("keys"), kek, true).unwrap()
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The workload, and events whose metadata holds personal fields among others.
fn events() -> Vec<String> {
    let mut all = lines(400, 17);
    for i in 0..20 {
        all.push(format!(
            r#"{{"timestamp":"2026-02-01T10:00:{i:02}Z","actor":{{"user_id":"usr_meta{}","email":"meta{i}@example.org"}},"organization":{{"id":"org_meta"}},"action":"user.update","outcome":"success","metadata":{{"role":"admin","display_name":"Person Number{i}","reason":null}},"event_id":"evt-meta-{i}"}}"#,
            i % 3
        ));
    }
    all
}

/// What a sealing log takes out of `event`, and the event that is left.
fn expected(event: &Event<'_>) -> (Personal, Option<String>) {
    let names = PERSONAL_METADATA.map(str::to_owned);
    let (clear, sealed) = match &event.metadata {
        Some(text) => auditlog_engine::privacy::split_metadata(text, &names).unwrap(),
        None => (None, Vec::new()),
    };
    let owned = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().map(str::to_owned);
    let personal = Personal {
        email: owned(&event.actor_email),
        ip_address: owned(&event.ip_address),
        user_agent: owned(&event.user_agent),
        metadata: sealed,
    };
    (personal, clear.map(std::borrow::Cow::into_owned))
}

#[test]
fn personal_fields_are_stored_only_sealed_and_open_with_their_subject_key() {
    let (dir, kek, log) = sealing_log();
    let all = events();
    // Batches of 150: blocks are sealed in groups of 64 as events are pushed, the
    // rest when the batch is submitted.
    append_all(&log, &all, 150);
    let root = log.root();
    log.close();
    drop(log);

    let keys = read_keys(dir.path(), &kek);
    let stored = payloads(dir.path());
    assert_eq!(stored.len(), all.len());
    let mut sealed_count = 0;
    for (line, payload) in all.iter().zip(&stored) {
        let event = parse_json(line.as_bytes()).unwrap();
        let (personal, clear_metadata) = expected(&event);
        let record = decode_record(payload).unwrap();
        // The clear part is the event without its personal fields.
        let clear = Event {
            actor_email: None,
            ip_address: None,
            user_agent: None,
            metadata: clear_metadata.map(Into::into),
            ..event.clone()
        };
        if personal.is_empty() {
            assert_eq!(payload[0], RECORD_KIND_LINKED_EVENT);
            assert_eq!(record.event, event);
            continue;
        }
        sealed_count += 1;
        assert_eq!(payload[0], RECORD_KIND_SEALED_EVENT);
        assert_eq!(record.event, clear);
        let part = sealed_part(payload).unwrap().unwrap();
        let sealed = Sealed::decode_from(part.block).unwrap();
        let key = keys.key(sealed.key_id).expect("the subject's key");
        assert_eq!(key.subject, event.actor_id);
        assert_eq!(sealed.open(key, part.aad).unwrap(), personal);
        // Sealed many at a time, it is the block sealing it alone gives.
        let mut alone = Vec::new();
        Sealed::seal(key, part.aad, &personal)
            .unwrap()
            .encode_into(&mut alone);
        assert_eq!(alone, part.block);
        if let Some(email) = &event.actor_email {
            assert!(keys.subjects_with_email(email).contains(&&*event.actor_id));
        }
    }
    assert!(sealed_count > all.len() / 2, "{sealed_count}");

    // No file holds a personal field in the clear; the ids are there (the search works).
    let bytes = all_bytes(dir.path());
    for line in &all {
        let event = parse_json(line.as_bytes()).unwrap();
        let (personal, _) = expected(&event);
        for field in [&personal.email, &personal.ip_address, &personal.user_agent]
            .into_iter()
            .flatten()
            .filter(|f| f.len() >= 6)
        {
            assert!(!contains(&bytes, field), "{field} readable");
        }
        for (_, value) in &personal.metadata {
            if value.len() >= 6 {
                assert!(!contains(&bytes, value), "{value} readable");
            }
        }
        assert!(contains(&bytes, &event.actor_id));
    }

    // The log checks out, and a reader without the KEK sees the clear events.
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(report.records, all.len() as u64);
    let reader = OpenOptions::new().read_only(true).open(dir.path()).unwrap();
    assert_eq!(reader.root(), root);
    drop(reader);
    let refused = Log::open(dir.path()).unwrap_err();
    assert!(
        refused.to_string().contains("key-encryption key"),
        "{refused}"
    );
}

#[test]
fn a_retried_batch_of_sealed_events_is_stored_once() {
    let (dir, kek, log) = sealing_log();
    let all = events();
    let with_ids: Vec<Event<'_>> = all[400..]
        .iter()
        .map(|l| parse_json(l.as_bytes()).unwrap())
        .collect();
    let first = log.append(&with_ids).unwrap();
    let again = log.append(&with_ids).unwrap();
    assert!(again.replayed());
    assert_eq!(
        again.seqs().collect::<Vec<_>>(),
        first.seqs().collect::<Vec<_>>()
    );
    assert_eq!(log.tree_size(), with_ids.len() as u64);
    // Across a restart too: the same events seal to the same bytes.
    log.close();
    drop(log);
    let log = OpenOptions::new().kek(kek).open(dir.path()).unwrap();
    let after = log.append(&with_ids).unwrap();
    assert!(after.replayed());
    assert_eq!(log.tree_size(), with_ids.len() as u64);
}

#[test]
fn a_batch_not_made_by_a_sealing_log_is_refused() {
    let (_dir, _kek, log) = sealing_log();
    let line = &events()[0];
    let mut batch = auditlog_engine::PreparedBatch::new(log.alg());
    batch.push(&parse_json(line.as_bytes()).unwrap()).unwrap();
    let refused = log.append_batch(batch).unwrap_err();
    assert!(
        refused.to_string().contains("seals personal data"),
        "{refused}"
    );
    assert_eq!(log.tree_size(), 0);
}

/// Every event of the log, oldest first, as a reader opened with `kek` (or without)
/// shows it: each as a JSON value.
fn read_all(dir: &Path, kek: Option<&Kek>) -> Vec<serde_json::Value> {
    let mut options = OpenOptions::new().read_only(true);
    if let Some(kek) = kek {
        options = options.kek(kek.clone());
    }
    let log = options.open(dir).unwrap();
    let query = auditlog_engine::query::Query {
        order: auditlog_engine::query::Order::OldestFirst,
        ..Default::default()
    };
    let mut out = Vec::new();
    auditlog_engine::export::export(
        &log,
        &query,
        auditlog_engine::export::ExportFormat::Jsonl,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("seq");
            value
        })
        .collect()
}

/// The personal fields of `event` (a JSON value): e-mail, IP address, user agent, and the
/// personal metadata fields, as JSON values.
fn personal_values(event: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut values = vec![
        event["actor"]["email"].clone(),
        event["ip_address"].clone(),
        event["user_agent"].clone(),
    ];
    for name in PERSONAL_METADATA {
        values.push(event["metadata"][name].clone());
    }
    values
}

#[test]
fn reads_open_personal_fields_with_the_kek_and_show_them_sealed_or_erased_otherwise() {
    let (dir, kek, log) = sealing_log();
    let all = events();
    append_all(&log, &all, 64);
    log.close();
    drop(log);
    let originals: Vec<serde_json::Value> = all
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // With the KEK every event reads exactly as it was sent.
    assert_eq!(read_all(dir.path(), Some(&kek)), originals);

    // Without it, each personal field present reads as sealed; the rest as sent.
    let marked = |original: &serde_json::Value, marker: &str| {
        let mut event = original.clone();
        for (value, path) in personal_values(original).iter().zip([
            "/actor/email",
            "/ip_address",
            "/user_agent",
            "/metadata/display_name",
            "/metadata/reason",
        ]) {
            if !value.is_null() || event.pointer(path).is_some() {
                *event.pointer_mut(path).unwrap() = serde_json::Value::from(marker);
            }
        }
        event
    };
    let sealed = read_all(dir.path(), None);
    for (shown, original) in sealed.iter().zip(&originals) {
        assert_eq!(shown, &marked(original, auditlog_engine::privacy::SEALED));
    }

    // After one subject's key is erased, its events show every personal field erased
    // (ids, actions, the rest unchanged); every other subject's open as sent.
    let erased_subject = "usr_meta1";
    let mut keys = SubjectKeys::open(
        Arc::new(FsStorage::default()),
        &dir.path().join("keys"),
        &kek,
        false,
    )
    .unwrap();
    let erasure = keys
        .erase(erased_subject, auditlog_engine::Timestamp::now(), 0)
        .unwrap();
    assert!(erasure.is_some());
    drop(keys);
    let after = read_all(dir.path(), Some(&kek));
    let mut erased_events = 0;
    for (shown, original) in after.iter().zip(&originals) {
        if original["actor"]["user_id"] == erased_subject {
            erased_events += 1;
            assert_eq!(shown, &marked(original, auditlog_engine::privacy::ERASED));
            assert_ne!(shown, original);
        } else {
            assert_eq!(shown, original);
        }
    }
    assert!(erased_events >= 6, "{erased_events}");

    // Without the key store (say, a power cut lost it before the records), no key is
    // erased and none is there: every personal field reads as unavailable.
    std::fs::remove_file(
        dir.path()
            .join("keys")
            .join(auditlog_engine::privacy::SUBJECT_KEYS_FILE),
    )
    .unwrap();
    let lost = read_all(dir.path(), Some(&kek));
    for (shown, original) in lost.iter().zip(&originals) {
        assert_eq!(
            shown,
            &marked(original, auditlog_engine::privacy::UNAVAILABLE)
        );
    }
}

/// An erasure while the subject's events keep arriving: nothing is lost or refused;
/// every event acknowledged before the erasure (below the receipt's tree size) reads as
/// erased; later ones read as erased (sealed in flight under the destroyed key) up to
/// the first sealed under the subject's new key, and open from there on.
#[test]
fn an_erasure_amid_the_subjects_events_loses_nothing_and_erases_all_before_it() {
    let (dir, kek, log) = sealing_log();
    let log = Arc::new(log);
    let email = "busy.person@example.org";
    let sender = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..600u32 {
                let line = format!(
                    r#"{{"timestamp":"2026-03-01T00:{:02}:{:02}Z","actor":{{"user_id":"usr_busy","email":"{email}"}},"organization":{{"id":"org_busy"}},"action":"doc.read","outcome":"success","ip_address":"198.51.100.{}"}}"#,
                    i / 60 % 60,
                    i % 60,
                    i % 250
                );
                log.append(&[parse_json(line.as_bytes()).unwrap()])
                    .expect("appended");
            }
        })
    };
    while log.tree_size() < 100 {
        std::thread::yield_now();
    }
    let erased = log
        .erase("usr_busy")
        .unwrap()
        .expect("the subject has a key");
    sender.join().unwrap();
    let below = erased.receipt.erasure.tree_size;
    assert!(below >= 100);

    let query = auditlog_engine::query::Query {
        filter: auditlog_engine::query::Filter {
            actor: Some("usr_busy".into()),
            ..Default::default()
        },
        order: auditlog_engine::query::Order::OldestFirst,
        ..Default::default()
    };
    let mut shown = Vec::new();
    log.query(&query, |seq, event| {
        shown.push((seq, event.actor_email.as_deref().map(str::to_owned)));
        Ok(true)
    })
    .unwrap();
    assert_eq!(shown.len(), 600, "every event stored");
    let first_open = shown
        .iter()
        .position(|(_, e)| e.as_deref() == Some(email))
        .unwrap_or(shown.len());
    for (i, (seq, e)) in shown.iter().enumerate() {
        let expected = if i < first_open { "[erased]" } else { email };
        assert_eq!(e.as_deref(), Some(expected), "event {seq}");
        if *seq < below {
            assert!(
                i < first_open,
                "event {seq}, acknowledged before the erasure, opens"
            );
        }
    }
    eprintln!("erased at tree size {below}; the new key seals from event {first_open} on");
    log.close();
    drop(log);
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).unwrap();
    assert_eq!(report.records, 600);
    let keys = read_keys(dir.path(), &kek);
    let erasure = keys.last_erasure("usr_busy").expect("recorded");
    assert_eq!(erasure.key_id, erased.receipt.erasure.key_id);
    assert!(keys.key(erasure.key_id).is_none());
}

#[test]
fn an_address_narrows_a_filter_to_its_one_subject_in_scope() {
    use auditlog_engine::query::{EmailNarrowing, Filter};
    let (_dir, _kek, log) = sealing_log();
    // One address, two subjects in two tenants; another address, one subject.
    let event = |i: u32, user: &str, email: &str, org: &str| {
        format!(
            r#"{{"timestamp":"2026-02-01T10:00:{i:02}Z","actor":{{"user_id":"{user}","email":"{email}"}},"organization":{{"id":"{org}"}},"action":"user.login","outcome":"success"}}"#
        )
    };
    let events = vec![
        event(0, "usr_a", "shared@x.test", "org_a"),
        event(1, "usr_b", "shared@x.test", "org_b"),
        event(2, "usr_c", "own@x.test", "org_a"),
    ];
    append_all(&log, &events, 3);
    let narrowed = |filter: Filter, email: &str| {
        let mut filter = filter;
        let said = log.narrow_to_email(&mut filter, email).unwrap();
        (said, filter)
    };
    let in_tenant = |tenant: &str| Filter {
        tenant: Some(tenant.into()),
        ..Filter::default()
    };
    // In one tenant's scope the shared address is that tenant's subject alone.
    let (said, filter) = narrowed(in_tenant("org_b"), "shared@x.test");
    assert_eq!(said, EmailNarrowing::Narrowed);
    assert_eq!(filter.actor.as_deref(), Some("usr_b"));
    assert_eq!(log.count(&filter).unwrap().0.total, 1);
    // Across tenants it is ambiguous, and the filter is left as it was.
    let (said, filter) = narrowed(Filter::default(), "shared@x.test");
    let EmailNarrowing::Several(mut subjects) = said else {
        panic!("two subjects: {said:?}")
    };
    subjects.sort();
    assert_eq!(subjects, ["usr_a", "usr_b"]);
    assert_eq!(filter, Filter::default());
    // An address of one subject narrows even out of its scope (to nothing there); an
    // unknown address selects nothing.
    let (said, filter) = narrowed(in_tenant("org_b"), "own@x.test");
    assert_eq!(said, EmailNarrowing::Narrowed);
    assert_eq!(log.count(&filter).unwrap().0.total, 0);
    let (_, filter) = narrowed(Filter::default(), "nobody@x.test");
    assert_eq!(log.count(&filter).unwrap().0.total, 0);
}

#[test]
fn a_wrong_kek_is_refused_before_an_open_changes_anything() {
    // A sealing log left with a torn tail (bytes of an interrupted append) is opened to
    // write with another KEK: refused, and its files are as they were (the tail not cut,
    // no tree rebuilt). With its own KEK the open goes on and cuts the tail.
    let (dir, kek, log) = sealing_log();
    append_all(&log, &events(), 64);
    drop(log);
    let active = common::segment_files(dir.path()).pop().expect("active");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .expect("open");
    std::io::Write::write_all(&mut file, &[0x55; 40]).expect("garbage");
    drop(file);
    let before = common::snapshot(dir.path());
    let other = Kek::generate().unwrap();
    match OpenOptions::new().kek(other).open(dir.path()) {
        Err(auditlog_engine::Error::InvalidArgument(why)) => {
            assert!(why.contains("key-encryption key"), "{why}")
        }
        other => panic!(
            "a wrong KEK must be refused: {:?}",
            other.map(|l| l.tree_size())
        ),
    }
    assert_eq!(
        common::snapshot(dir.path()),
        before,
        "the refused open changed files"
    );
    let log = OpenOptions::new().kek(kek).open(dir.path()).expect("open");
    assert!(log.recovery_report().torn_tail.is_some());
}

#[test]
fn a_damaged_key_store_is_refused_before_an_open_changes_anything() {
    // A sealing log whose key store was damaged far from its end (not a torn flush), left
    // with a torn segment tail and a torn checkpoint append: the open refuses it as
    // corruption of the key store, and every file is as it was (the key store is read
    // whole before the plan, which alone cuts tails).
    let (dir, kek, log) = sealing_log();
    append_all(&log, &lines(6000, 23), 500);
    drop(log);
    let keys = dir
        .path()
        .join("keys")
        .join(auditlog_engine::privacy::SUBJECT_KEYS_FILE);
    let mut bytes = std::fs::read(&keys).expect("key store");
    assert!(
        bytes.len() > 80 << 10,
        "a key store past one flush: {}",
        bytes.len()
    );
    bytes[40] ^= 0x10;
    std::fs::write(&keys, &bytes).expect("write");
    // A torn append to each: garbage after the active segment's records, the first
    // bytes of a checkpoint frame after the checkpoint log's.
    let checkpoints = dir.path().join("checkpoints");
    let first_frame = std::fs::read(&checkpoints).expect("checkpoints")[16..40].to_vec();
    for (path, tail) in [
        (
            common::segment_files(dir.path()).pop().expect("active"),
            vec![0x55; 40],
        ),
        (checkpoints, first_frame),
    ] {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, &tail).expect("torn append");
    }
    let before = common::snapshot(dir.path());
    match OpenOptions::new().kek(kek).open(dir.path()) {
        Err(auditlog_engine::Error::Corruption(c)) => {
            assert_eq!(c.file, keys, "{c}");
        }
        other => panic!(
            "a damaged key store must be refused: {:?}",
            other.map(|l| l.tree_size())
        ),
    }
    assert_eq!(
        common::snapshot(dir.path()),
        before,
        "the refused open changed files"
    );
}

#[test]
fn a_torn_key_store_entry_is_cut_by_the_plan_and_reported() {
    let (dir, kek, log) = sealing_log();
    append_all(&log, &events(), 64);
    drop(log);
    let keys = dir
        .path()
        .join("keys")
        .join(auditlog_engine::privacy::SUBJECT_KEYS_FILE);
    let len = std::fs::metadata(&keys).expect("key store").len();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&keys)
        .expect("open");
    std::io::Write::write_all(&mut file, &[0x55; 21]).expect("garbage");
    drop(file);
    let read_only = OpenOptions::new()
        .kek(kek.clone())
        .read_only(true)
        .open(dir.path())
        .expect("read-only open");
    assert_eq!(read_only.recovery_report().torn_key_store_bytes, Some(21));
    drop(read_only);
    assert_eq!(
        std::fs::metadata(&keys).unwrap().len(),
        len + 21,
        "read-only cuts nothing"
    );
    let log = OpenOptions::new().kek(kek).open(dir.path()).expect("open");
    assert_eq!(log.recovery_report().torn_key_store_bytes, Some(21));
    assert_eq!(
        std::fs::metadata(&keys).unwrap().len(),
        len,
        "the writer cut the tail"
    );
}
