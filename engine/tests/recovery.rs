//! Crash recovery on the library: directory snapshots taken while a log is open stand in
//! for `kill -9` (every acknowledged write has reached the OS, the tree's durable size
//! lags), then torn tails are cut at every byte, and damage elsewhere is refused with the
//! file and offset named.

mod common;

use std::path::Path;

use auditlog_engine::{CorruptionKind, Error, Log, OpenOptions};
use common::*;

fn file_len(path: &Path) -> usize {
    std::fs::metadata(path).expect("metadata").len() as usize
}

/// A log with sealed segments and an active one, snapshotted while open (a crash image).
fn crash_image(
    events: u64,
    segment_bytes: u64,
) -> (tempfile::TempDir, Vec<String>, Vec<auditlog_engine::Ack>) {
    let live = tempfile::tempdir().expect("tempdir");
    let lines = lines(events, 21);
    let log = Log::create(live.path(), &small_segments(segment_bytes)).expect("create");
    let acks = append_all(&log, &lines, 10);
    let image = tempfile::tempdir().expect("tempdir");
    copy_dir(live.path(), image.path());
    drop(log);
    (image, lines, acks)
}

#[test]
fn a_crash_image_recovers_every_acknowledged_event() {
    let (image, lines, acks) = crash_image(1_500, 64 << 10);
    let log = Log::open(image.path()).expect("recover");
    assert_eq!(log.tree_size(), 1_500);
    assert!(
        log.recovery_report().replayed_leaves > 0,
        "the stored tree lagged and was caught up"
    );
    assert!(log.recovery_report().torn_tail.is_none());
    assert_eq!(read_all(&log), lines);
    check_proofs(
        &log,
        &acks
            .iter()
            .map(|a| (a.tree_size, a.root))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_and_reported() {
    let (image, lines, acks) = crash_image(300, 1 << 20);
    let active = segment_files(image.path()).pop().expect("active segment");
    let full = std::fs::read(&active).expect("read");
    // The last three records, cut at every byte.
    let last_records_start = full.len() - 3 * 300;
    for cut in (last_records_start..full.len()).rev().step_by(7) {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(image.path(), copy.path());
        let seg = segment_files(copy.path()).pop().expect("segment");
        std::fs::write(&seg, &full[..cut]).expect("truncate");
        let log = Log::open(copy.path()).expect("recovers");
        let size = log.tree_size();
        let kept = read_all(&log);
        assert_eq!(kept[..], lines[..size as usize]);
        if let Some(torn) = &log.recovery_report().torn_tail {
            assert_eq!(torn.path, seg);
            assert_eq!(torn.offset + torn.bytes_dropped, cut as u64);
        }
        // The tree is the tree of what was kept: consistent with every earlier ack.
        let earlier: Vec<_> = acks
            .iter()
            .filter(|a| a.tree_size <= size)
            .map(|a| (a.tree_size, a.root))
            .collect();
        check_proofs(&log, &earlier);
        // And the log goes on.
        append_all(&log, &lines[size as usize..size as usize + 1], 1);
        assert_eq!(log.tree_size(), size + 1);
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail() {
    let (image, lines, _) = crash_image(200, 1 << 20);
    let active = segment_files(image.path()).pop().expect("active");
    let mut bytes = std::fs::read(&active).expect("read");
    let good_len = bytes.len() as u64;
    bytes.extend_from_slice(&[0x55; 1000]);
    std::fs::write(&active, &bytes).expect("write");
    let log = Log::open(image.path()).expect("recovers");
    let torn = log.recovery_report().torn_tail.clone().expect("reported");
    assert_eq!((torn.offset, torn.bytes_dropped), (good_len, 1000));
    assert_eq!(read_all(&log), lines);
    assert_eq!(
        std::fs::metadata(&active).expect("meta").len(),
        good_len,
        "cut durably"
    );
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_refused_with_its_place() {
    let (image, _, _) = crash_image(2_000, 32 << 10);
    let sealed = segment_files(image.path())[1].clone();
    let at = 5_000;
    flip(&sealed, at, 0x10);
    // Opening checks headers, footers and offset tables; the full check finds the record.
    let report = auditlog_engine::verify::verify_dir(image.path(), &mut |_| {});
    match report {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, sealed);
            assert!(
                c.offset <= at as u64 && at as u64 - c.offset < 400,
                "fault at {} names the record at {}",
                at,
                c.offset
            );
        }
        other => panic!("verify must fail: {:?}", other.map(|_| ())),
    }
    // A writer reads every record at open (each tenant's next event links to its newest
    // one), so it refuses the damaged log rather than write links it cannot vouch for.
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => assert_eq!(c.file, sealed),
        other => panic!("a writer must refuse: {:?}", other.map(|_| ())),
    }
    // A reader checks structure (headers, footers, offset tables), not every record: the
    // damaged record is refused when read.
    let log = OpenOptions::new()
        .read_only(true)
        .open(image.path())
        .expect("structure is intact");
    match log.scan(0..u64::MAX, Default::default(), |_, _| Ok(true)) {
        Err(Error::Corruption(c)) => assert_eq!(c.file, sealed),
        other => panic!("reading must refuse: {other:?}"),
    }
}

#[test]
fn damaged_footer_of_an_earlier_segment_is_refused() {
    let (image, _, _) = crash_image(2_000, 32 << 10);
    let sealed = segment_files(image.path())[0].clone();
    let n = file_len(&sealed);
    flip(&sealed, n - 40, 1);
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, sealed);
            assert!(
                matches!(c.kind, CorruptionKind::ChecksumMismatch { .. }),
                "{:?}",
                c.kind
            );
            assert!(c.offset >= (n - 96) as u64);
        }
        other => panic!("open must refuse: {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_missing_segment_breaks_the_chain() {
    let (image, _, _) = crash_image(2_000, 32 << 10);
    let files = segment_files(image.path());
    std::fs::remove_file(&files[1]).expect("remove");
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => assert!(
            matches!(c.kind, CorruptionKind::BrokenChain(_)),
            "{:?}",
            c.kind
        ),
        other => panic!("open must refuse: {:?}", other.map(|_| ())),
    }
}

#[test]
fn deleted_tree_files_are_rebuilt() {
    let (image, lines, acks) = crash_image(1_000, 32 << 10);
    let root = acks.last().expect("acks").root;
    std::fs::remove_dir_all(image.path().join("tree")).expect("remove tree");
    std::fs::create_dir(image.path().join("tree")).expect("mkdir");
    let log = Log::open(image.path()).expect("rebuilds");
    assert_eq!(log.recovery_report().replayed_leaves, 1_000);
    assert_eq!(log.root(), root);
    assert_eq!(read_all(&log), lines);
    check_proofs(&log, &[(500, log.root_at(500).expect("root"))]);
}

#[test]
fn fewer_records_than_were_made_durable_is_lost_data() {
    let (image, _, _) = crash_image(2_000, 32 << 10);
    // Remove the active segment and the last two sealed ones: acknowledged leaves the
    // tree state names durable are gone. (The state covers at least the next-to-last
    // seal: the seal thread finishes one seal's tree sync before it takes the next.)
    let mut files = segment_files(image.path());
    for _ in 0..3 {
        std::fs::remove_file(files.pop().expect("a segment")).expect("rm");
    }
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => assert!(
            matches!(c.kind, CorruptionKind::LostEvents(_)),
            "{:?}",
            c.kind
        ),
        other => panic!("open must refuse: {:?}", other.map(|_| ())),
    }
}

#[test]
fn verify_accepts_a_healthy_log_and_names_a_stored_node_that_lies() {
    let (image, _, _) = crash_image(1_000, 32 << 10);
    drop(Log::open(image.path()).expect("recover and close cleanly"));
    let report = auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}).expect("healthy");
    assert_eq!(report.records, 1_000);
    assert_eq!(
        report.nodes_checked,
        1000 + 500 + 250 + 125 + 62 + 31 + 15 + 7 + 3 + 1
    );
    let level1 = image.path().join("tree/level-01.hashes");
    flip(&level1, 16 + 32 * 100 + 3, 0x80);
    match auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, level1);
            assert_eq!(c.offset, 16 + 32 * 100);
        }
        other => panic!("verify must fail: {:?}", other.map(|_| ())),
    }
}

/// A crash image whose last segment was just sealed, with the next segment's creation
/// interrupted: `next` is what is left of the new segment file (None: not created).
fn image_after_seal(next: Option<usize>) -> (tempfile::TempDir, Vec<String>) {
    let live = tempfile::tempdir().expect("tempdir");
    let lines = lines(300, 23);
    let log = Log::create(live.path(), &small_segments(1 << 20)).expect("create");
    append_all(&log, &lines, 30);
    log.seal().expect("seal");
    let image = tempfile::tempdir().expect("tempdir");
    copy_dir(live.path(), image.path());
    drop(log);
    let new_segment = segment_files(image.path())
        .pop()
        .expect("new active segment");
    match next {
        None => std::fs::remove_file(&new_segment).expect("remove"),
        Some(len) => {
            let bytes = std::fs::read(&new_segment).expect("read");
            std::fs::write(&new_segment, &bytes[..len.min(bytes.len())]).expect("cut");
        }
    }
    (image, lines)
}

#[test]
fn an_interrupted_segment_creation_is_started_again() {
    for cut in [None, Some(0), Some(10), Some(35)] {
        let (image, lines) = image_after_seal(cut);
        if cut.is_some() {
            // verify, read-only, names the half-made segment and says what mends it...
            match auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}) {
                Err(Error::Corruption(c)) => {
                    assert_eq!(Some(&c.file), segment_files(image.path()).last());
                    assert!(
                        c.to_string().contains("creation a crash interrupted"),
                        "{c}"
                    );
                }
                other => panic!("verify must fail: {:?}", other.map(|_| ())),
            }
        }
        // ...and a writer removes it.
        let log = Log::open(image.path()).expect("recovers");
        assert_eq!(
            log.recovery_report().discarded_segment.is_some(),
            cut.is_some(),
            "{cut:?}"
        );
        assert_eq!(read_all(&log), lines);
        append_all(&log, &lines[..5], 5);
        assert_eq!(log.tree_size(), 305);
        drop(log);
        let report = auditlog_engine::verify::verify_dir(image.path(), &mut |_| {})
            .expect("verifies once recovered");
        assert_eq!(report.records, 305);
    }
}

#[test]
fn a_damaged_seal_of_the_last_segment_is_reported_then_rebuilt() {
    let (image, lines) = image_after_seal(None);
    let sealed = segment_files(image.path()).pop().expect("sealed");
    let n = file_len(&sealed);
    flip(&sealed, n - 50, 0x04);
    // verify names the damage...
    match auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => assert_eq!(c.file, sealed),
        other => panic!("verify must fail: {:?}", other.map(|_| ())),
    }
    // ...and a writer cuts the table and footer (records intact) and seals again later.
    let log = Log::open(image.path()).expect("recovers");
    let torn = log.recovery_report().torn_tail.clone().expect("reported");
    assert_eq!(torn.bytes_dropped, 300 * 4 + 96);
    assert_eq!(read_all(&log), lines);
    log.seal().expect("seal again");
    drop(log);
    auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}).expect("verifies");
}

#[test]
fn an_empty_or_damaged_level_file_is_rebuilt() {
    let (image, lines, acks) = crash_image(2_000, 32 << 10);
    std::fs::write(image.path().join("tree/level-03.hashes"), b"").expect("empty level file");
    let mut bytes = std::fs::read(image.path().join("tree/level-01.hashes")).expect("read");
    bytes[0] = b'X';
    std::fs::write(image.path().join("tree/level-01.hashes"), &bytes).expect("damage header");
    let log = Log::open(image.path()).expect("rebuilds");
    assert!(log.recovery_report().rebuilt_tree);
    assert_eq!(log.root(), acks.last().expect("acks").root);
    assert_eq!(read_all(&log), lines);
    check_proofs(&log, &[(300, log.root_at(300).expect("root"))]);
    drop(log);
    auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}).expect("verifies");
}

#[test]
fn events_of_the_largest_size_fill_batches_without_passing_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &auditlog_engine::LogConfig::default()).expect("create");
    let metadata = format!(r#"{{"blob":"{}"}}"#, "x".repeat(16 * 1024 - 20));
    let line = format!(
        r#"{{"timestamp":"2026-01-01T00:00:00Z","actor":{{"user_id":"u"}},"organization":{{"id":"o"}},"action":"a.b","outcome":"success","metadata":{metadata}}}"#
    );
    let event = parse(&line);
    let mut batch = log.batch();
    while batch.byte_len() + 17_000 < auditlog_engine::MAX_BATCH_BYTES {
        batch.push(&event).expect("push");
    }
    let n = batch.len() as u64;
    assert_eq!(log.append_batch(batch).expect("append").count, n);
    let mut too_big = log.batch();
    while too_big.byte_len() <= auditlog_engine::MAX_BATCH_BYTES {
        too_big.push(&event).expect("push");
    }
    assert!(matches!(
        log.append_batch(too_big),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_damaged_header_of_a_segment_with_records_is_refused_not_discarded() {
    let (image, _, _) = crash_image(300, 1 << 20);
    let active = segment_files(image.path()).pop().expect("active");
    let bytes = flip(&active, 20, 0x01);
    assert!(matches!(Log::open(image.path()), Err(Error::Corruption(_))));
    assert_eq!(
        std::fs::read(&active).expect("still there"),
        bytes,
        "nothing was deleted"
    );
}

#[test]
fn a_torn_seal_not_yet_covered_by_the_tree_state_is_cut_and_sealed_again() {
    let (image, lines) = image_after_seal(None);
    let sealed = segment_files(image.path()).pop().expect("sealed");
    let n = file_len(&sealed);
    flip(&sealed, n - 50, 0x04);
    // Without the tree state the seal might not have completed: a tear, not damage.
    std::fs::remove_file(image.path().join("tree/state")).expect("remove state");
    let log = Log::open(image.path()).expect("recovers");
    assert_eq!(
        log.recovery_report()
            .torn_tail
            .as_ref()
            .map(|t| t.bytes_dropped),
        Some(300 * 4 + 96)
    );
    assert_eq!(read_all(&log), lines);
}

#[test]
fn read_only_proofs_use_recomputed_nodes_not_stale_ones() {
    let (image, _, acks) = crash_image(3_000, 64 << 10);
    let root = acks.last().expect("acks").root;
    // Zero a leaf node past the durable size, as a power loss could leave it.
    let level0 = image.path().join("tree/level-00.hashes");
    let mut bytes = std::fs::read(&level0).expect("read");
    let index = 2_990usize;
    bytes[16 + 32 * index..16 + 32 * (index + 1)].fill(0);
    std::fs::write(&level0, &bytes).expect("write");
    let reader = auditlog_engine::OpenOptions::new()
        .read_only(true)
        .open(image.path())
        .expect("read-only");
    assert_eq!(reader.root(), root);
    for leaf in [index as u64, index as u64 - 1, 5] {
        let proof = reader.prove_inclusion(leaf, None).expect("proof");
        assert_eq!(proof.root, root.to_vec());
        auditlog_engine::merkle::Proof::Inclusion(proof)
            .verify()
            .expect("valid");
    }
    assert_eq!(
        std::fs::read(&level0).expect("read"),
        bytes,
        "a reader writes nothing"
    );
}

#[test]
fn verify_checks_level_file_headers_and_a_missing_level_is_rebuilt() {
    let (image, _, acks) = crash_image(2_000, 32 << 10);
    drop(Log::open(image.path()).expect("recover"));
    let level2 = image.path().join("tree/level-02.hashes");
    let mut bytes = std::fs::read(&level2).expect("read");
    bytes[1] = b'X';
    std::fs::write(&level2, &bytes).expect("write");
    match auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => assert_eq!((c.file, c.offset), (level2.clone(), 0)),
        other => panic!("verify must fail: {:?}", other.map(|_| ())),
    }
    std::fs::remove_file(&level2).expect("remove");
    let log = Log::open(image.path()).expect("opens and rebuilds");
    assert!(log.recovery_report().rebuilt_tree);
    assert_eq!(log.root(), acks.last().expect("acks").root);
    drop(log);
    auditlog_engine::verify::verify_dir(image.path(), &mut |_| {}).expect("verifies");
}

#[test]
fn a_record_edited_after_the_newest_checkpoint_stops_a_writer() {
    // Records between the newest checkpoint and the durable tree size are hashed by
    // nothing at open, yet the next links and the next signed tenant heads rest on them:
    // one edited there (a valid CRC) must stop a writer, not be built upon and signed.
    let live = tempfile::tempdir().expect("tempdir");
    let config = auditlog_engine::LogConfig {
        checkpoint_interval: std::time::Duration::ZERO,
        ..small_segments(32 << 10)
    };
    let log = Log::create(live.path(), &config).expect("create");
    let events = lines(2_000, 31);
    append_all(&log, &events[..1_000], 100);
    log.checkpoint().expect("checkpoint");
    append_all(&log, &events[1_000..], 100);
    log.seal().expect("seal"); // the tree state now says 2,000 are durable
    let image = tempfile::tempdir().expect("tempdir");
    copy_dir(live.path(), image.path());
    drop(log);
    let files = segment_files(image.path());
    let sealed = files[files.len() - 2].clone();
    let mut bytes = std::fs::read(&sealed).expect("read");
    let len = bytes.len();
    let count = u64::from_le_bytes(bytes[len - 80..len - 72].try_into().expect("8")) as usize;
    let records_end = u64::from_le_bytes(bytes[len - 16..len - 8].try_into().expect("8")) as usize;
    let entry = records_end + 4 * (count / 2);
    let start = u32::from_le_bytes(bytes[entry..entry + 4].try_into().expect("4")) as usize;
    let payload_len = u32::from_le_bytes(bytes[start..start + 4].try_into().expect("4")) as usize;
    // The first letter of the actor id (after the kind byte, the 9-byte timestamp and
    // the id's length byte), to another letter: the record still decodes.
    let at = start + 8 + 1 + 9 + 1;
    assert!(bytes[at].is_ascii_lowercase(), "{}", bytes[at]);
    bytes[at] = if bytes[at] == b'z' {
        b'y'
    } else {
        bytes[at] + 1
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[start..start + 4]);
    crc.update(&bytes[start + 8..start + 8 + payload_len]);
    bytes[start + 4..start + 8].copy_from_slice(&crc.finalize().to_le_bytes());
    std::fs::write(&sealed, &bytes).expect("write");
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => {
            assert!(matches!(c.kind, CorruptionKind::HashMismatch(_)), "{c}");
            assert_eq!((c.file, c.offset), (sealed.clone(), start as u64));
        }
        other => panic!("a writer must refuse: {:?}", other.map(|l| l.tree_size())),
    }
}

#[test]
fn an_open_that_fails_a_check_changes_no_file() {
    // A log closed cleanly (its checkpoint covers every record), then a record of the
    // active segment forged with a valid CRC and the level files from level 1 up lost:
    // the open must rebuild the tree, cut nothing, remove nothing, and finds the records
    // contradict the signed checkpoint. It refuses, and every file is as it was: the
    // level files were not truncated or rewritten, no level was removed.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(64 << 10)).expect("create");
    append_all(&log, &lines(2_000, 3), 50);
    drop(log);
    let active = segment_files(dir.path()).pop().expect("active segment");
    let mut bytes = std::fs::read(&active).expect("read");
    let header = auditlog_engine::segment::SegmentHeader::decode_from(&bytes)
        .expect("header")
        .encoded_len();
    let frame = auditlog_engine::codec::split_frame(&bytes[header..]).expect("a frame");
    let payload_at = header + auditlog_engine::codec::FRAME_HEADER_BYTES;
    let payload_len = frame.payload.len();
    bytes[payload_at + payload_len / 2] ^= 0x20;
    let forged = auditlog_engine::codec::decode_frame(&bytes[header..]).is_err();
    assert!(forged, "the flip breaks the CRC before it is mended");
    let mut mended = Vec::new();
    auditlog_engine::codec::encode_frame_into(
        &bytes[payload_at..payload_at + payload_len],
        &mut mended,
    )
    .expect("frame");
    bytes[header..header + mended.len()].copy_from_slice(&mended);
    std::fs::write(&active, &bytes).expect("write");
    std::fs::remove_file(dir.path().join("tree/level-01.hashes")).expect("rm");
    let before = snapshot(dir.path());
    assert!(before.keys().any(|p| p.ends_with("level-02.hashes")));

    match Log::open(dir.path()) {
        Err(Error::Corruption(c)) => {
            assert!(matches!(c.kind, CorruptionKind::HashMismatch(_)), "{c}")
        }
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }
    assert_eq!(snapshot(dir.path()), before, "a refused open changed files");
}
