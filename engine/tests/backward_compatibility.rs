//! Every format version this build reads, from a data directory written by the last build
//! of that version (`engine/testdata/format-v*`, each with a README saying how): each
//! opens, verifies, answers a query and proofs, and goes on appending linked events under
//! its old checkpoint key. A new format version adds its fixture here.

mod common;

use std::path::{Path, PathBuf};

use auditlog_engine::checkpoint::{NoteVerifier, SignedCheckpoint};
use auditlog_engine::codec::TenantLink;
use auditlog_engine::privacy::Kek;
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::{Error, Log, OpenOptions};
use common::{append_all, check_proofs, copy_dir};

fn testdata(fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(fixture)
}

fn verifier(dir: &Path) -> NoteVerifier {
    let text = std::fs::read_to_string(dir.join("keys/checkpoint.pub")).expect("public key");
    NoteVerifier::parse(&text).expect("verifier key")
}

/// A copy of `testdata/<fixture>`: tests never open a fixture in place.
fn copy_of(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&testdata(fixture), dir.path());
    dir
}

/// The key-encryption key of a sealing fixture (a test key made for it and nothing else).
fn fixture_kek(file: &str) -> Kek {
    let text = std::fs::read_to_string(testdata(file)).expect("kek file");
    Kek::parse(text.trim()).expect("kek")
}

/// A query by the busiest tenant, oldest first, answers exactly the events a scan of the
/// whole log finds for it; returns how many.
fn query_answers_like_a_scan(log: &Log) -> usize {
    let mut tenants = Vec::new();
    log.scan(0..log.tree_size(), Default::default(), |_, event| {
        tenants.push(event.tenant_id.to_string());
        Ok(true)
    })
    .expect("scan");
    let mut counts = std::collections::BTreeMap::new();
    for tenant in &tenants {
        *counts.entry(tenant.clone()).or_insert(0) += 1;
    }
    let (tenant, _) = counts.into_iter().max_by_key(|&(_, n)| n).expect("events");
    let want: Vec<u64> = (0..tenants.len() as u64)
        .filter(|&seq| tenants[seq as usize] == tenant)
        .collect();
    let query = Query {
        filter: Filter {
            tenant: Some(tenant),
            ..Filter::default()
        },
        order: Order::OldestFirst,
        ..Query::default()
    };
    let mut got = Vec::new();
    log.query(&query, |seq, _| {
        got.push(seq);
        Ok(true)
    })
    .expect("query");
    assert_eq!(got, want);
    assert!(got.len() > 1, "the tenant has several events");
    got.len()
}

/// Appends the first five events again: each links (kind 2 or 3) to its tenant's newest
/// event, the old format's included.
fn appends_linked_to_the_old_events(log: &Log) {
    let size = log.tree_size();
    let mut again = Vec::new();
    log.scan(0..5, Default::default(), |_, event| {
        again.push(event.to_json());
        Ok(true)
    })
    .expect("scan");
    let tenant = common::parse(&again[0]).tenant_id.to_string();
    let head = log.tenant_head(&tenant).expect("the tenant has events");
    assert!(head < size);
    append_all(log, &again, 5);
    log.scan_records(size..size + 1, Default::default(), |_, record| {
        assert_eq!(record.tenant_link, TenantLink::Previous(head));
        Ok(true)
    })
    .expect("scan");
}

/// An old data directory: where it is, what it holds, and how to open it.
struct Fixture {
    dir: &'static str,
    /// The checkpoint verifier key it was written with.
    key: &'static str,
    /// Its tree head (hex).
    root: &'static str,
    events: u64,
    /// The sizes of its signed checkpoints.
    checkpoints: &'static [u64],
    /// The key-encryption key file of a sealing log.
    kek: Option<&'static str>,
}

/// Opens a copy of `fixture`: it verifies against its own key, holds what the README
/// says, answers a query and inclusion and consistency proofs (against each of its
/// checkpoints), appends linked events, signs a checkpoint, and verifies as a whole
/// against the old key. Returns the copy, closed.
fn an_old_directory_opens_and_goes_on(fixture: &Fixture) -> tempfile::TempDir {
    let dir = copy_of(fixture.dir);
    let verifier = verifier(dir.path());
    assert_eq!(verifier.to_text(), fixture.key);
    let report =
        auditlog_engine::verify::verify_dir_with_key(dir.path(), Some(&verifier), &mut |_| {})
            .expect("the fixture verifies as it is");
    assert_eq!(report.records, fixture.events);
    assert_eq!(report.checkpoints, fixture.checkpoints.len());

    let mut options = OpenOptions::new();
    if let Some(kek) = fixture.kek {
        options = options.kek(fixture_kek(kek));
    }
    let log = options.open(dir.path()).expect("open");
    assert_eq!(log.tree_size(), fixture.events);
    assert_eq!(auditlog_engine::hex::encode(&log.root()), fixture.root);
    let signed: Vec<(u64, auditlog_engine::Hash)> = log
        .checkpoints()
        .expect("checkpoints")
        .iter()
        .map(|c| (c.checkpoint.tree_size, c.checkpoint.root))
        .collect();
    let sizes: Vec<u64> = signed.iter().map(|&(size, _)| size).collect();
    assert_eq!(sizes, fixture.checkpoints);
    query_answers_like_a_scan(&log);
    check_proofs(&log, &signed);

    appends_linked_to_the_old_events(&log);
    let grown = fixture.events + 5;
    let checkpoint = log.checkpoint().expect("checkpoint");
    assert_eq!(checkpoint.checkpoint.tree_size, grown);
    check_proofs(&log, &signed);
    drop(log);
    SignedCheckpoint::open(checkpoint.to_text().as_bytes(), &verifier).expect("signed");
    // The old checkpoints and the new one verify against the tree, with the old key.
    let report =
        auditlog_engine::verify::verify_dir_with_key(dir.path(), Some(&verifier), &mut |_| {})
            .expect("verifies");
    assert_eq!(
        (report.records, report.checkpoints),
        (grown, fixture.checkpoints.len() + 1)
    );
    dir
}

#[test]
fn a_format_1_directory_opens_and_gets_a_key() {
    // engine/testdata/format-v1: 60 events in 6 segments, no checkpoint key yet (format 1
    // had none).
    let dir = copy_of("format-v1");
    let root = "ed4ff745ebf342cabb55f0c9f23f7a6bdcd2424ec93950510537ee4a71f6ab0a";
    let log = Log::open(dir.path()).expect("open");
    assert_eq!(log.tree_size(), 60);
    assert_eq!(auditlog_engine::hex::encode(&log.root()), root);
    assert_eq!(log.latest_checkpoint(), None);
    query_answers_like_a_scan(&log);
    check_proofs(&log, &[(30, log.root_at(30).expect("root at 30"))]);
    // Format 1 records carry no tenant link; the events appended now link to each
    // tenant's newest event, format 1 ones included.
    let mut newest = std::collections::HashMap::new();
    let mut again = Vec::new();
    log.scan_records(0..60, Default::default(), |seq, record| {
        assert_eq!(record.tenant_link, TenantLink::Unlinked);
        newest.insert(record.event.tenant_id.to_string(), seq);
        if seq % 6 == 0 {
            again.push(record.event.to_json());
        }
        Ok(true)
    })
    .expect("scan");
    append_all(&log, &again, 10);
    let mut linked_back = 0;
    log.scan_records(60..70, Default::default(), |seq, record| {
        let tenant = record.event.tenant_id.to_string();
        let want = match newest.insert(tenant, seq) {
            Some(prev) => {
                linked_back += u32::from(prev < 60);
                TenantLink::Previous(prev)
            }
            None => TenantLink::First,
        };
        assert_eq!(record.tenant_link, want, "event {seq}");
        Ok(true)
    })
    .expect("scan");
    assert!(linked_back > 0, "some tenant wrote in both formats");
    let signed = log.checkpoint().expect("checkpoint");
    assert_eq!(signed.checkpoint.tree_size, 70);
    assert_eq!(signed.checkpoint.origin, "auditlog.test/format-v1");
    drop(log);
    SignedCheckpoint::open(signed.to_text().as_bytes(), &verifier(dir.path())).expect("signed");
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verifies");
    assert_eq!(report.records, 70);
}

#[test]
fn a_format_1_origin_with_a_space_opens_read_only() {
    let dir = copy_of("format-v1");
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("auditlog.test/format-v1", "auditlog test"),
    )
    .expect("write");
    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("read-only open");
    assert_eq!(log.tree_size(), 60);
    drop(log);
    match Log::open(dir.path()) {
        Err(Error::InvalidArgument(why)) => {
            assert!(why.contains("cannot name a checkpoint key"), "{why}")
        }
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }
    assert!(!dir.path().join("keys").exists(), "no half-made key pair");
}

#[test]
fn a_format_2_directory_opens_and_links_on() {
    // 60 events in 6 segments with checkpoints at 40 and 60 (see its README).
    an_old_directory_opens_and_goes_on(&Fixture {
        dir: "format-v2",
        key: "auditlog.test/format-v2+7fbb1c88+AaCDI3ry8uR3OqpHHWa/7+6pAX00lvR/bfhjPhjEMFus",
        root: "0a7a30709f696436a0947c5c761873fc74e6ecefd1e4ceb7c057f8cde69f5313",
        events: 60,
        checkpoints: &[40, 60],
        kek: None,
    });
}

#[test]
fn a_format_3_directory_opens_and_goes_on() {
    // The same shape with index files (see its README).
    an_old_directory_opens_and_goes_on(&Fixture {
        dir: "format-v3",
        key: "auditlog.test/format-v3+c5e37d8c+AfQvDcRoxJnw3+Dn8CSBuVaKX3C7sPPEZ99HTr5CGktT",
        root: "b55f1ca17634c434f0f98717261aea0a5ef4927a191a93f2cb631609a0287163",
        events: 60,
        checkpoints: &[40, 60],
        kek: None,
    });
}

#[test]
fn a_format_4_directory_opens_and_goes_on() {
    // A plain log of the current version (see engine/testdata/format-v4/README.md).
    an_old_directory_opens_and_goes_on(&Fixture {
        dir: "format-v4/plain",
        key: "auditlog.test/format-v4+39ab3a2e+ARFHXWhsKiKyStYofl+q4nEV/824hXayPBHnpYgMh/Vx",
        root: "6ab2118193ad370673d660d4bf367ae1e5bc0b285e3073ec9098235aecc697a4",
        events: 60,
        checkpoints: &[40, 60],
        kek: None,
    });
}

/// The subject erased in `format-v4/sealing`.
const ERASED_SUBJECT: &str = "usr_gkhknr0hxd";

/// Each event of the log in `dir` (opened read-only, with `kek` or without) as
/// (actor, actor e-mail as shown).
fn actors_and_emails(dir: &Path, kek: Option<Kek>) -> Vec<(String, Option<String>)> {
    let mut options = OpenOptions::new().read_only(true);
    if let Some(kek) = kek {
        options = options.kek(kek);
    }
    let log = options.open(dir).expect("read-only open");
    let query = Query {
        order: Order::OldestFirst,
        ..Query::default()
    };
    let mut out = Vec::new();
    log.query(&query, |_, event| {
        let actor = event.actor_id.to_string();
        out.push((actor, event.actor_email.as_deref().map(str::to_owned)));
        Ok(true)
    })
    .expect("query");
    out
}

#[test]
fn a_format_4_sealing_directory_opens_with_its_erasure_and_goes_on() {
    // A sealing log of the current version with one subject erased (see its README):
    // its erasure receipt checks, the erased subject's e-mail reads as erased, every
    // other one opens with the KEK and reads sealed without it; then it goes on.
    let receipt = std::fs::read(testdata("format-v4/sealing-erasure.receipt")).expect("receipt");
    let key = verifier(&testdata("format-v4/sealing"));
    let receipt = auditlog_engine::privacy::ErasureReceipt::verify(&receipt, &key)
        .expect("the receipt checks with the log's key");
    assert_eq!(receipt.erasure.subject, ERASED_SUBJECT);
    assert_eq!(receipt.erasure.tree_size, 60);

    let dir = an_old_directory_opens_and_goes_on(&Fixture {
        dir: "format-v4/sealing",
        key: "auditlog.test/format-v4-sealing+a9aa81d1+AcLkONGFPh7TYQ936sSQyPl3yL7A4F0mhKqs6dZ0sgsW",
        root: "7d1a55737c045cbd98c83159e5c4cd7f8b652df0dcc37fd296bfaefb83308321",
        events: 60,
        checkpoints: &[40, 60],
        kek: Some("format-v4/sealing.kek"),
    });
    let opened = actors_and_emails(dir.path(), Some(fixture_kek("format-v4/sealing.kek")));
    let sealed = actors_and_emails(dir.path(), None);
    assert_eq!(opened.len(), 65);
    let (mut erased, mut clear) = (0, 0);
    for ((actor, email), (_, without_kek)) in opened.iter().zip(&sealed) {
        let Some(email) = email else { continue };
        if actor == ERASED_SUBJECT {
            assert_eq!(email, auditlog_engine::privacy::ERASED);
            erased += 1;
        } else {
            assert!(email.contains('@'), "{actor}: {email}");
            assert_eq!(
                without_kek.as_deref(),
                Some(auditlog_engine::privacy::SEALED)
            );
            clear += 1;
        }
    }
    assert!(erased >= 4 && clear > 40, "{erased} erased, {clear} clear");
}
