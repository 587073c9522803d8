//! `verify_dir` on a log of several sealed segments and an active one: damage in a record,
//! in a frame's length or in an offset table is named with its file and the offset of the
//! frame (or table) it is in.

mod common;

use std::path::{Path, PathBuf};

use auditlog_engine::checkpoint::NoteVerifier;
use auditlog_engine::verify::verify_dir_with_key;
use auditlog_engine::{CorruptionKind, Error, Log};
use common::{append_all, flip, lines, segment_files, small_segments};

const FOOTER_BYTES: usize = 96;

/// A closed log of 2,000 events in segments of 64 KiB, and its segment files.
fn sealed_log() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(64 << 10)).expect("create");
    append_all(&log, &lines(2_000, 5), 50);
    drop(log);
    let files = segment_files(dir.path());
    assert!(
        files.len() >= 4,
        "several sealed segments and an active one"
    );
    (dir, files)
}

/// The base sequence number a segment file is named after.
fn base(path: &Path) -> usize {
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
    stem.parse().expect("numeric name")
}

/// Where each record frame of a sealed segment starts, from its offset table, and where
/// the table starts.
fn frame_starts(path: &Path, records: usize) -> (Vec<usize>, usize) {
    let bytes = std::fs::read(path).expect("read");
    let table_at = bytes.len() - FOOTER_BYTES - 4 * records;
    let starts = bytes[table_at..bytes.len() - FOOTER_BYTES]
        .chunks_exact(4)
        .map(|e| u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize)
        .collect();
    (starts, table_at)
}

/// The file and offset `verify_dir` names.
fn fault(dir: &Path) -> (PathBuf, u64) {
    match auditlog_engine::verify::verify_dir(dir, &mut |_| {}) {
        Err(Error::Corruption(c)) => (c.file, c.offset),
        other => panic!("verify must fail: {:?}", other.map(|r| r.records)),
    }
}

#[test]
fn a_healthy_log_verifies() {
    let (dir, files) = sealed_log();
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verifies");
    assert_eq!(report.records, 2_000);
    assert_eq!(report.segments, files.len());
    assert_eq!(report.root, Log::open(dir.path()).expect("open").root());
}

#[test]
fn damage_in_a_sealed_record_is_named_at_its_frame() {
    let (dir, files) = sealed_log();
    let segment = &files[1];
    let records = base(&files[2]) - base(segment);
    let (starts, _) = frame_starts(segment, records);
    // A payload byte of record 10, then (on a fresh log) the length of record 20.
    flip(segment, starts[10] + 8 + 30, 0x10);
    assert_eq!(fault(dir.path()), (segment.clone(), starts[10] as u64));

    let (dir, files) = sealed_log();
    let segment = &files[2];
    let records = base(&files[3]) - base(segment);
    let (starts, _) = frame_starts(segment, records);
    flip(segment, starts[20] + 1, 0x10);
    assert_eq!(fault(dir.path()), (segment.clone(), starts[20] as u64));
}

#[test]
fn damage_in_an_offset_table_is_named_in_the_table() {
    let (dir, files) = sealed_log();
    let segment = &files[0];
    let records = base(&files[1]) - base(segment);
    let (_, table_at) = frame_starts(segment, records);
    flip(segment, table_at + 4 * 7 + 1, 0x10);
    let (file, offset) = fault(dir.path());
    assert_eq!(file, *segment);
    assert!(
        (table_at as u64..(table_at + 4 * records) as u64).contains(&offset),
        "offset {offset} is in the table at {table_at}"
    );
}

#[test]
fn damage_in_the_active_segment_is_named_at_its_frame() {
    let (dir, files) = sealed_log();
    let active = files.last().expect("active");
    let bytes = std::fs::read(active).expect("read");
    // Walk its frames by their lengths from the end of the header, 36 bytes plus 32 per
    // frontier hash (their count is byte 11; docs/FORMAT.md, "Segment header").
    let header_len = 36 + 32 * bytes[11] as usize;
    let mut at = header_len;
    let mut starts = Vec::new();
    while at < bytes.len() {
        starts.push(at);
        at += 8 + u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
            as usize;
    }
    assert_eq!(at, bytes.len(), "frames fill the active segment");
    let target = starts[starts.len() / 2];
    flip(active, target + 8 + 5, 0x10);
    assert_eq!(fault(dir.path()), (active.clone(), target as u64));
}

/// A closed log of 20,000 events: a sealed segment of many thousand records (verify checks
/// it in chunks, on several threads) and an active one.
fn large_segment_log() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(4 << 20)).expect("create");
    append_all(&log, &lines(20_000, 8), 1_000);
    drop(log);
    let files = segment_files(dir.path());
    assert!(
        base(&files[1]) > 3 * 4096,
        "the first segment spans several chunks"
    );
    (dir, files)
}

#[test]
fn of_two_damaged_records_the_first_in_the_file_is_named() {
    let (dir, files) = large_segment_log();
    let segment = &files[0];
    let records = base(&files[1]);
    let (starts, _) = frame_starts(segment, records);
    let (early, late) = (records / 3, records - 10);
    flip(segment, starts[late] + 8 + 20, 0x01);
    flip(segment, starts[early] + 8 + 20, 0x01);
    assert_eq!(fault(dir.path()), (segment.clone(), starts[early] as u64));
}

#[test]
fn a_damaged_stored_tree_node_is_named_in_its_level_file() {
    let (dir, files) = large_segment_log();
    // Level files have a 16-byte header, then 32 bytes per node (docs/FORMAT.md).
    let tree = dir.path().join("tree");
    let leaf = base(&files[1]) - 7;
    flip(&tree.join("level-00.hashes"), 16 + 32 * leaf + 3, 0x40);
    assert_eq!(
        fault(dir.path()),
        (tree.join("level-00.hashes"), (16 + 32 * leaf) as u64)
    );

    let (dir, _) = large_segment_log();
    let tree = dir.path().join("tree");
    let node = 3_000;
    flip(&tree.join("level-02.hashes"), 16 + 32 * node, 0x40);
    assert_eq!(
        fault(dir.path()),
        (tree.join("level-02.hashes"), (16 + 32 * node) as u64)
    );
}

/// The offset of each checkpoint frame in a checkpoint log (16-byte header, then frames of
/// an 8-byte header and the note).
fn checkpoint_offsets(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).expect("read");
    let mut at = 16;
    let mut offsets = Vec::new();
    while at < bytes.len() {
        offsets.push(at);
        at += 8 + u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
            as usize;
    }
    offsets
}

/// A log of 600 events with checkpoints at 200, 400 and 600 (the last one at close).
fn checkpointed_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(16 << 10)).expect("create");
    let events = lines(600, 9);
    for part in events.chunks(200) {
        append_all(&log, part, 100);
        log.checkpoint().expect("checkpoint");
    }
    drop(log);
    dir
}

#[test]
fn checkpoints_are_checked_against_the_key_and_the_tree() {
    let dir = checkpointed_log();
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verifies");
    assert_eq!(report.checkpoints, 3);
    let key_text = std::fs::read_to_string(dir.path().join("keys/checkpoint.pub")).expect("key");
    let key = NoteVerifier::parse(&key_text).expect("key");
    let report = verify_dir_with_key(dir.path(), Some(&key), &mut |_| {}).expect("verifies");
    assert_eq!(report.checkpoints, 3);

    // Another key (say, the one an auditor was given for another log) finds no signature.
    let other = auditlog_engine::checkpoint::NoteSigner::generate(key.name())
        .expect("key")
        .verifier();
    let path = dir.path().join("checkpoints");
    let offsets = checkpoint_offsets(&path);
    match verify_dir_with_key(dir.path(), Some(&other), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            assert_eq!((c.file, c.offset), (path.clone(), offsets[0] as u64));
            assert!(matches!(c.kind, CorruptionKind::BadSignature(_)));
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
}

#[test]
fn an_edited_checkpoint_is_named_in_the_checkpoint_log() {
    let dir = checkpointed_log();
    let path = dir.path().join("checkpoints");
    let offsets = checkpoint_offsets(&path);
    // The second checkpoint's size line, "400" -> "500", with its frame CRC recomputed:
    // only the signature can tell.
    let mut bytes = std::fs::read(&path).expect("read");
    let start = offsets[1];
    let end = offsets[2];
    let note = std::str::from_utf8(&bytes[start + 8..end])
        .expect("utf-8")
        .replacen("\n400\n", "\n500\n", 1);
    assert_eq!(note.len(), end - start - 8);
    bytes[start + 8..end].copy_from_slice(note.as_bytes());
    let len = (end - start - 8) as u32;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(note.as_bytes());
    bytes[start + 4..start + 8].copy_from_slice(&hasher.finalize().to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    match auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            assert_eq!((&c.file, c.offset), (&path, start as u64));
            assert!(matches!(c.kind, CorruptionKind::BadSignature(_)), "{c}");
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
}

#[test]
fn a_checkpoint_signing_other_tenant_heads_is_named_and_stops_a_writer() {
    // Signed with the log's own key, at the right size and root, but committing to tenant
    // heads the records do not make: what a buggy or dishonest signer would leave.
    let dir = checkpointed_log();
    let storage: std::sync::Arc<dyn auditlog_engine::storage::Storage> =
        std::sync::Arc::new(auditlog_engine::storage::FsStorage::default());
    let (size, root) = {
        let log = auditlog_engine::OpenOptions::new()
            .read_only(true)
            .open(dir.path())
            .expect("open");
        (log.tree_size(), log.root())
    };
    let signer = auditlog_engine::checkpoint::load_signer(storage.as_ref(), dir.path())
        .expect("load")
        .expect("a key");
    let path = dir.path().join("checkpoints");
    let mut store = auditlog_engine::checkpoint::CheckpointLog::open(
        std::sync::Arc::clone(&storage),
        dir.path(),
        signer.name(),
        false,
    )
    .expect("open");
    let mut checkpoint = store.latest().expect("a checkpoint").checkpoint.clone();
    assert_eq!((checkpoint.tree_size, checkpoint.root), (size, root));
    let heads = checkpoint.tenant_heads.expect("tenant heads");
    checkpoint.tenant_heads = Some(auditlog_engine::heads::HeadsCommitment {
        count: heads.count - 1,
        root: heads.root,
    });
    let at = std::fs::metadata(&path).expect("stat").len();
    store
        .append(
            auditlog_engine::checkpoint::SignedCheckpoint::sign(checkpoint, &signer).expect("sign"),
        )
        .expect("append");
    drop(store);
    match auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            assert!(c.to_string().contains("tenant heads"), "{c}");
            assert_eq!((c.file, c.offset), (path.clone(), at));
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
    // A writer would link new events on from heads no checkpoint can vouch for: it stops.
    match Log::open(dir.path()) {
        Err(Error::Corruption(c)) => assert_eq!(c.file, path),
        other => panic!("a writer must refuse: {:?}", other.map(|l| l.tree_size())),
    }
}

#[test]
fn a_record_linked_to_the_wrong_event_is_named_at_its_frame() {
    // A writer that linked an event past its tenant's previous one, with every hash made
    // to agree and nothing signed: only the links can tell.
    let (dir, files) = sealed_log();
    std::fs::remove_file(dir.path().join("checkpoints")).expect("no checkpoints");
    for level in std::fs::read_dir(dir.path().join("tree")).expect("tree") {
        let path = level.expect("entry").path();
        if path.extension().is_some_and(|e| e == "hashes") {
            std::fs::remove_file(path).expect("remove");
        }
    }
    let active = files.last().expect("active");
    let mut bytes = std::fs::read(active).expect("read");
    let header_len = 36 + 32 * bytes[11] as usize;
    let base = base(active) as u64;
    // The first record of the active segment that links to an earlier event of its
    // tenant: make it link to the event before that one's seq.
    let mut at = header_len;
    let mut seq = base;
    let (start, end) = loop {
        assert!(at < bytes.len(), "a linked record");
        let len =
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let end = at + 8 + len;
        let link = u64::from_le_bytes(bytes[end - 8..end].try_into().expect("8 bytes"));
        if link != u64::MAX && link > 0 && link < seq {
            break (at, end);
        }
        at = end;
        seq += 1;
    };
    let link = u64::from_le_bytes(bytes[end - 8..end].try_into().expect("8 bytes"));
    bytes[end - 8..end].copy_from_slice(&(link - 1).to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[start..start + 4]);
    hasher.update(&bytes[start + 8..end]);
    bytes[start + 4..start + 8].copy_from_slice(&hasher.finalize().to_le_bytes());
    std::fs::write(active, &bytes).expect("write");
    match auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            let said = c.to_string();
            assert!(
                said.contains(&format!("record {seq}'s tenant link")),
                "{said}"
            );
            assert_eq!((c.file, c.offset), (active.clone(), start as u64));
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
}

#[test]
fn an_unreadable_byte_is_named_with_its_file_and_the_bytes_read() {
    // Verify reads through the storage it is given: a bad sector in the active segment,
    // then in a level file, injected through FaultyStorage, is an I/O error that names
    // the file and the bytes whose read failed, and nothing else is reported first.
    use auditlog_engine::storage::FaultyStorage;
    use auditlog_engine::verify::VerifyOptions;
    let (dir, files) = sealed_log();
    let storage = FaultyStorage::new();
    let options = VerifyOptions::new().storage(std::sync::Arc::new(storage.clone()));
    let healthy = options
        .verify_dir(dir.path(), &mut |_| {})
        .expect("verifies");
    assert_eq!(healthy.records, 2_000);

    let active = files.last().expect("active segment");
    let len = std::fs::metadata(active).expect("stat").len();
    let level = dir.path().join("tree/level-00.hashes");
    for (file, at) in [(active.clone(), len - 7), (level, 16 + 32 * 1_500)] {
        storage.fail_reads_at(&file, at);
        match options.verify_dir(dir.path(), &mut |_| {}) {
            Err(Error::Io { context, source }) => {
                assert_eq!(source.raw_os_error(), Some(5), "{context}");
                let range = context
                    .strip_prefix("reading bytes ")
                    .and_then(|rest| rest.strip_suffix(&format!(" of {}", file.display())))
                    .unwrap_or_else(|| panic!("names the file and the bytes: {context}"));
                let (start, end) = range.split_once("..").expect("a range");
                let (start, end): (u64, u64) =
                    (start.parse().expect("start"), end.parse().expect("end"));
                assert!((start..end).contains(&at), "{context} holds byte {at}");
            }
            other => panic!("an I/O error: {:?}", other.map(|r| r.records)),
        }
    }
}
