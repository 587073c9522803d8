//! Tamper detection: on a log of several sealed segments, an active one and signed
//! checkpoints, each kind of tampering in turn, and `verify_dir` must name where it is:
//! the file and byte offset, or (for a log rebuilt from edited events with every hash
//! recomputed but no signing key) the checkpoint it contradicts.

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use auditlog_engine::verify::verify_segment;
use auditlog_engine::{CorruptionKind, Error, Log};
use common::{append_all, copy_dir, lines, segment_files, small_segments};

const FOOTER_BYTES: usize = 96;
const EVENTS: u64 = 3_000;

/// The pristine log, built once; each test tampers with its own copy.
fn pristine() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::create(dir.path(), &small_segments(64 << 10)).expect("create");
        let events = lines(EVENTS, 13);
        for part in events.chunks(1_000) {
            append_all(&log, part, 50);
            log.checkpoint().expect("checkpoint");
        }
        drop(log);
        dir
    })
    .path()
}

/// A fresh copy of the pristine log and its segment files (several sealed, one active).
fn copy() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(pristine(), dir.path());
    let files = segment_files(dir.path());
    assert!(
        files.len() >= 5,
        "several sealed segments and an active one"
    );
    (dir, files)
}

/// A sealed segment's layout: header length, frame starts, records end, file length.
struct Layout {
    header_len: usize,
    frames: Vec<usize>,
    records_end: usize,
    len: usize,
}

fn layout(path: &Path) -> Layout {
    let bytes = std::fs::read(path).expect("read");
    let len = bytes.len();
    let footer = &bytes[len - FOOTER_BYTES..];
    let count = u64::from_le_bytes(footer[16..24].try_into().expect("8 bytes")) as usize;
    let records_end = u64::from_le_bytes(footer[80..88].try_into().expect("8 bytes")) as usize;
    assert_eq!(records_end + 4 * count, len - FOOTER_BYTES);
    let frames = bytes[records_end..records_end + 4 * count]
        .chunks_exact(4)
        .map(|e| u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize)
        .collect();
    Layout {
        header_len: 36 + 32 * bytes[11] as usize,
        frames,
        records_end,
        len,
    }
}

impl Layout {
    fn frame(&self, i: usize) -> Range<usize> {
        self.frames[i]..self.frames.get(i + 1).copied().unwrap_or(self.records_end)
    }
}

/// The fault verify names.
fn fault(dir: &Path) -> (PathBuf, u64, CorruptionKind) {
    match auditlog_engine::verify::verify_dir(dir, &mut |_| {}) {
        Err(Error::Corruption(c)) => (c.file, c.offset, c.kind),
        other => panic!("tampering went unnoticed: {:?}", other.map(|r| r.records)),
    }
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("read");
    change(&mut bytes);
    std::fs::write(path, &bytes).expect("write");
}

fn crc_of_frame(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

#[test]
fn the_pristine_log_verifies() {
    let (dir, files) = copy();
    let report = auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verifies");
    assert_eq!(report.records, EVENTS);
    assert_eq!(report.segments, files.len());
    assert_eq!(report.checkpoints, 3);
}

#[test]
fn a_bit_flipped_in_a_record() {
    let (dir, files) = copy();
    let segment = &files[1];
    let frame = layout(segment).frame(17);
    edit(segment, |b| b[frame.start + 8 + 40] ^= 0x04);
    let (file, offset, _) = fault(dir.path());
    assert_eq!((file, offset), (segment.clone(), frame.start as u64));
}

#[test]
fn a_bit_flipped_in_a_header() {
    let (dir, files) = copy();
    let segment = &files[2];
    let header_len = layout(segment).header_len;
    edit(segment, |b| b[20] ^= 0x01); // in base_seq
    let (file, offset, _) = fault(dir.path());
    assert_eq!(file, *segment);
    assert!(
        offset < header_len as u64,
        "offset {offset} is in the header"
    );
}

#[test]
fn a_bit_flipped_in_a_footer() {
    let (dir, files) = copy();
    let segment = &files[0];
    let len = layout(segment).len;
    edit(segment, |b| b[len - FOOTER_BYTES + 40] ^= 0x80); // in the root
    let (file, offset, _) = fault(dir.path());
    assert_eq!(file, *segment);
    assert!(
        offset >= (len - FOOTER_BYTES) as u64,
        "offset {offset} is in the footer"
    );
}

#[test]
fn a_bit_flipped_in_a_stored_interior_node() {
    let (dir, _) = copy();
    let level = dir.path().join("tree/level-04.hashes");
    edit(&level, |b| b[16 + 32 * 50 + 9] ^= 0x02);
    let (file, offset, kind) = fault(dir.path());
    assert_eq!((file, offset), (level, (16 + 32 * 50) as u64));
    assert!(matches!(kind, CorruptionKind::HashMismatch(_)));
}

#[test]
fn a_bit_flipped_in_a_stored_leaf_hash_is_blamed_on_the_level_file() {
    let (dir, files) = copy();
    let leaf = layout(&files[0]).frames.len() + 3; // in the second segment
    let level = dir.path().join("tree/level-00.hashes");
    edit(&level, |b| b[16 + 32 * leaf] ^= 0x02);
    let (file, offset, _) = fault(dir.path());
    assert_eq!((file, offset), (level, (16 + 32 * leaf) as u64));
}

#[test]
fn a_deleted_record() {
    let (dir, files) = copy();
    let segment = &files[2];
    let frame = layout(segment).frame(5);
    edit(segment, |b| {
        b.drain(frame.clone());
    });
    let (file, offset, _) = fault(dir.path());
    assert_eq!(file, *segment);
    assert!(
        offset >= frame.start as u64,
        "offset {offset}: at or after the gap"
    );
}

#[test]
fn two_records_swapped_with_the_offset_table_and_footer_rewritten() {
    // A careful forger: every frame CRC, the offset table, its CRC and the footer CRC are
    // right. Only the hashes can tell.
    let (dir, files) = copy();
    let segment = &files[1];
    let l = layout(segment);
    let (a, b) = (l.frame(8), l.frame(9));
    edit(segment, |bytes| {
        let first = bytes[a.clone()].to_vec();
        let second = bytes[b.clone()].to_vec();
        let mut swapped = second.clone();
        swapped.extend_from_slice(&first);
        bytes.splice(a.start..b.end, swapped);
        let new_b = a.start + second.len();
        let entry = l.records_end + 4 * 9;
        bytes[entry..entry + 4].copy_from_slice(&(new_b as u32).to_le_bytes());
        let table = &bytes[l.records_end..l.len - FOOTER_BYTES];
        let table_crc = crc32fast::hash(table);
        let footer = l.len - FOOTER_BYTES;
        bytes[footer + 88..footer + 92].copy_from_slice(&table_crc.to_le_bytes());
        let crc = crc32fast::hash(&bytes[footer..footer + 92]);
        bytes[footer + 92..footer + 96].copy_from_slice(&crc.to_le_bytes());
    });
    let (file, offset, kind) = fault(dir.path());
    assert_eq!((file, offset), (segment.clone(), a.start as u64));
    assert!(matches!(kind, CorruptionKind::HashMismatch(_)), "{kind}");
}

#[test]
fn a_forged_record_with_a_correct_crc_inserted() {
    let (dir, files) = copy();
    let segment = &files[3];
    let l = layout(segment);
    let at = l.frame(12).start;
    edit(segment, |bytes| {
        // A copy of record 11, edited, with its CRC recomputed.
        let mut forged = bytes[l.frame(11)].to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 0x01;
        let crc = crc_of_frame(&forged[8..]);
        forged[4..8].copy_from_slice(&crc.to_le_bytes());
        bytes.splice(at..at, forged);
    });
    let (file, offset, _) = fault(dir.path());
    assert_eq!(file, *segment);
    assert_eq!(offset, at as u64, "named where the forged record sits");
}

#[test]
fn a_truncated_sealed_segment() {
    let (dir, files) = copy();
    let segment = &files[1];
    let len = layout(segment).len;
    edit(segment, |b| b.truncate(len - 50));
    let (file, offset, kind) = fault(dir.path());
    assert_eq!(file, *segment);
    assert!(offset <= (len - 50) as u64);
    assert!(
        matches!(
            kind,
            CorruptionKind::Truncated(_) | CorruptionKind::BadMagic | CorruptionKind::BadField(_)
        ),
        "{kind}"
    );
}

#[test]
fn a_log_rebuilt_from_edited_events_without_the_key() {
    // Every record, hash, node, header and footer recomputed by a fresh log over the same
    // events but one; the original checkpoints and key files put back. Only the
    // signatures, which the forger cannot make, tell: the first checkpoint after the
    // edited event is named.
    let (dir, _) = copy();
    let rebuilt = tempfile::tempdir().expect("tempdir");
    let log = Log::create(rebuilt.path(), &small_segments(64 << 10)).expect("create");
    let mut events = lines(EVENTS, 13);
    let edited = events[1_500].replacen("\"timestamp\":\"2026-", "\"timestamp\":\"2025-", 1);
    assert_ne!(edited, events[1_500]);
    events[1_500] = edited;
    append_all(&log, &events, 50);
    drop(log);
    for part in ["segments", "tree"] {
        std::fs::remove_dir_all(dir.path().join(part)).expect("rm");
        copy_dir(&rebuilt.path().join(part), &dir.path().join(part));
    }
    let checkpoints = dir.path().join("checkpoints");
    let (file, offset, kind) = fault(dir.path());
    assert_eq!(file, checkpoints);
    assert!(matches!(kind, CorruptionKind::HashMismatch(_)), "{kind}");
    // Frames of 8 bytes plus the note, after a 16-byte header: the second checkpoint
    // (at 2,000 events) is the first that covers event 1,500.
    let bytes = std::fs::read(&checkpoints).expect("read");
    let first_len = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) as u64;
    assert_eq!(offset, 16 + 8 + first_len);
}

#[test]
fn one_segment_alone_checks_against_the_chain_data_it_carries() {
    let (dir, files) = copy();
    let log = auditlog_engine::OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    for (i, file) in files.iter().enumerate() {
        let report = verify_segment(file).expect("a healthy segment verifies alone");
        assert_eq!(report.sealed, i + 1 < files.len());
        assert_eq!(report.root, log.root_at(report.tree_size).expect("root"));
        if let Some(next) = files.get(i + 1) {
            let next = verify_segment(next).expect("next");
            assert_eq!(report.tree_size, next.base_seq);
        }
    }
    drop(log);

    // A forged frontier (header CRC recomputed) makes another tree head than the footer's.
    let segment = &files[2];
    let header_len = layout(segment).header_len;
    edit(segment, |b| {
        b[40] ^= 0x01;
        let crc = crc32fast::hash(&b[..header_len - 4]);
        b[header_len - 4..header_len].copy_from_slice(&crc.to_le_bytes());
    });
    match verify_segment(segment) {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, *segment);
            assert!(
                c.offset >= layout(segment).len as u64 - FOOTER_BYTES as u64,
                "{c}"
            );
            assert!(matches!(c.kind, CorruptionKind::HashMismatch(_)), "{c}");
        }
        other => panic!("must fail: {other:?}"),
    }
    // A bit flipped in a record is named at its frame.
    let segment = &files[1];
    let frame = layout(segment).frame(3);
    edit(segment, |b| b[frame.start + 20] ^= 0x01);
    match verify_segment(segment) {
        Err(Error::Corruption(c)) => {
            assert_eq!((c.file, c.offset), (segment.clone(), frame.start as u64))
        }
        other => panic!("must fail: {other:?}"),
    }
}

#[test]
fn a_stored_leaf_of_the_active_segment_is_blamed_on_the_level_file() {
    // No footer there: the checkpoint at 3,000, which the records still make, decides.
    let (dir, files) = copy();
    let active = files.last().expect("active");
    let base: usize = active
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("base");
    let leaf = base + 5;
    let level = dir.path().join("tree/level-00.hashes");
    edit(&level, |b| b[16 + 32 * leaf] ^= 0x02);
    let (file, offset, _) = fault(dir.path());
    assert_eq!((file, offset), (level, (16 + 32 * leaf) as u64));
}

#[test]
fn a_forged_record_before_a_damaged_one_is_named_first() {
    // Both in the same chunk of frames: the forged one (valid CRC, same length) is first
    // in the file, so it is the one named, though the damaged CRC is found first.
    let (dir, files) = copy();
    let segment = &files[2];
    let l = layout(segment);
    let (forged, damaged) = (l.frame(10), l.frame(20));
    edit(segment, |b| {
        let last = forged.end - 1;
        b[last] ^= 0x01;
        let crc = crc_of_frame(&b[forged.start + 8..forged.end]);
        b[forged.start + 4..forged.start + 8].copy_from_slice(&crc.to_le_bytes());
        b[damaged.start + 8 + 30] ^= 0x01;
    });
    let (file, offset, kind) = fault(dir.path());
    assert_eq!((file, offset), (segment.clone(), forged.start as u64));
    assert!(matches!(kind, CorruptionKind::HashMismatch(_)), "{kind}");
}

#[test]
fn a_checkpoint_the_auditor_holds_catches_a_shortened_log_without_checkpoints() {
    // The auditor kept the newest checkpoint note and the key. The operator replaces the
    // log with one of its first 2,500 events and no checkpoint log at all: every file is
    // consistent and verify with the key alone finds nothing signed to contradict.
    let (dir, _) = copy();
    let held = auditlog_engine::OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open")
        .latest_checkpoint()
        .expect("a checkpoint");
    let key_text = std::fs::read_to_string(dir.path().join("keys/checkpoint.pub")).expect("key");
    let key = auditlog_engine::checkpoint::NoteVerifier::parse(&key_text).expect("key");
    let note = dir.path().join("held-checkpoint.txt");
    std::fs::write(&note, held.to_text()).expect("write");

    // Rebuilt under the same name: a log of another origin is refused before its events.
    let shorter = tempfile::tempdir().expect("tempdir");
    let config = auditlog_engine::LogConfig {
        origin: held.checkpoint.origin.clone(),
        ..small_segments(64 << 10)
    };
    let log = Log::create(shorter.path(), &config).expect("create");
    append_all(&log, &lines(EVENTS, 13)[..2_500], 50);
    drop(log);
    std::fs::remove_file(shorter.path().join("checkpoints")).expect("rm");
    let report =
        auditlog_engine::verify::verify_dir_with_key(shorter.path(), Some(&key), &mut |_| {})
            .expect("nothing signed to contradict");
    assert_eq!(report.checkpoints, 0);
    assert!(!report.notes.is_empty(), "but it says so");

    let bytes = std::fs::read(&note).expect("read");
    match auditlog_engine::verify::verify_dir_against(
        shorter.path(),
        Some(&key),
        &[(note.clone(), bytes)],
        &mut |_| {},
    ) {
        Err(Error::Corruption(c)) => {
            assert_eq!((c.file, c.offset), (note, 0));
            assert!(
                matches!(c.kind, CorruptionKind::LostEvents(_)),
                "{}",
                c.kind
            );
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
}
