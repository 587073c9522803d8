//! The subject key store (docs/FORMAT.md, "Subject key store"): keys survive a reopen
//! only under their KEK, a torn last entry is cut, any altered byte is caught, and an
//! erasure leaves no copy of the key in the file, whether or not the rewrite completes.

use std::path::Path;
use std::sync::Arc;

use auditlog_engine::Timestamp;
use auditlog_engine::privacy::{Kek, SUBJECT_KEYS_FILE, SubjectKeys};
use auditlog_engine::storage::{Fault, FaultyStorage, FsStorage, Storage};

fn fs() -> Arc<dyn Storage> {
    Arc::new(FsStorage::default())
}

/// Keys of `subjects` (made and flushed), with their bytes.
fn make(store: &mut SubjectKeys, subjects: &[&str]) -> Vec<(u64, [u8; 32])> {
    let keys = subjects
        .iter()
        .map(|s| {
            let key = store.key_for(s).unwrap();
            (key.id, *key.bytes())
        })
        .collect();
    store.flush().unwrap();
    keys
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A subject's key with the address last noted needs nothing written (the producers'
/// fast path); a new address is noted, and both stay searchable.
#[test]
fn a_known_subject_and_address_need_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    assert!(store.known("usr_1", None).is_none());
    let id = make(&mut store, &["usr_1"])[0].0;
    assert_eq!(store.known("usr_1", None).map(|k| k.id), Some(id));
    assert!(store.known("usr_1", Some("a@example.com")).is_none());
    store.note_email(id, "a@example.com").unwrap();
    assert!(store.has_pending());
    store.flush().unwrap();
    assert!(!store.has_pending());
    assert_eq!(
        store.known("usr_1", Some("a@example.com")).map(|k| k.id),
        Some(id)
    );
    // Noting the same address again writes nothing; a new one is written.
    store.note_email(id, "a@example.com").unwrap();
    assert!(!store.has_pending());
    store.note_email(id, "b@example.com").unwrap();
    assert!(store.has_pending());
    assert!(store.known("usr_1", Some("a@example.com")).is_none());
    store.flush().unwrap();
    assert_eq!(store.subjects_with_email("a@example.com"), ["usr_1"]);
    assert_eq!(store.subjects_with_email("b@example.com"), ["usr_1"]);
}

/// More new keys at once than may sit unsynced (64 KiB) are written in synced parts,
/// and all of them are there after a reopen.
#[test]
fn more_keys_than_one_unsynced_part_are_all_written() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let watching = FaultyStorage::new();
    let mut store = SubjectKeys::open(Arc::new(watching.clone()), dir.path(), &kek, false).unwrap();
    let subjects: Vec<String> = (0..3000).map(|i| format!("usr_{i:08}")).collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let keys = make(&mut store, &subjects);
    // A second round, written without a sync and then synced, as the log does.
    let more: Vec<(u64, [u8; 32])> = (0..3000)
        .map(|i| {
            let key = store.key_for(&format!("svc_{i:08}")).unwrap();
            (key.id, *key.bytes())
        })
        .collect();
    store.write().unwrap();
    // Written in parts, each synced before the next: never over 64 KiB on the page cache
    // alone, so a crash tears at most that much (what an open cuts as a torn tail).
    let (most, syncs) = (watching.most_unsynced(), watching.syncs());
    assert!(most > 60 << 10 && most <= 64 << 10, "{most} bytes unsynced");
    store.sync().unwrap();
    drop(store);

    let len = std::fs::metadata(dir.path().join(SUBJECT_KEYS_FILE))
        .unwrap()
        .len();
    assert!(len > 2 * (64 << 10), "{len} bytes");
    assert!(
        syncs >= (len / (64 << 10)) as usize,
        "{syncs} syncs of {len} bytes"
    );
    let store = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
    assert_eq!(store.torn_tail(), None);
    for (id, bytes) in keys.iter().chain(&more) {
        assert_eq!(store.key(*id).unwrap().bytes(), bytes);
    }
}

#[test]
fn keys_survive_a_reopen_and_only_their_kek_opens_them() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    let keys = make(&mut store, &["usr_1", "usr_2", "usr_3"]);
    // The same subject keeps its key; ids differ between subjects.
    assert_eq!(store.key_for("usr_2").unwrap().id, keys[1].0);
    assert_ne!(keys[0].0, keys[1].0);
    store.note_email(keys[0].0, "Alice@Example.com").unwrap();
    store.flush().unwrap();
    drop(store);

    let store = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
    for (id, bytes) in &keys {
        assert_eq!(store.key(*id).unwrap().bytes(), bytes);
    }
    assert_eq!(store.subjects_with_email(" alice@example.COM "), ["usr_1"]);
    assert!(store.subjects_with_email("bob@example.com").is_empty());

    // The file holds neither a key nor the address in the clear.
    let file = std::fs::read(dir.path().join(SUBJECT_KEYS_FILE)).unwrap();
    for (_, bytes) in &keys {
        assert!(!contains(&file, bytes));
    }
    assert!(!contains(&file, b"example.com"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join(SUBJECT_KEYS_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    let other = Kek::generate().unwrap();
    let refused = SubjectKeys::open(fs(), dir.path(), &other, true).unwrap_err();
    assert!(
        refused.to_string().contains("not the one this key store"),
        "{refused}"
    );
}

#[test]
fn a_torn_last_entry_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    let keys = make(&mut store, &["usr_1", "usr_2"]);
    drop(store);
    let path = dir.path().join(SUBJECT_KEYS_FILE);
    let whole = std::fs::read(&path).unwrap();
    for cut in 1..60 {
        std::fs::write(&path, &whole[..whole.len() - cut]).unwrap();
        let store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
        assert!(store.torn_tail().is_some(), "cut {cut}");
        assert_eq!(store.key(keys[0].0).unwrap().bytes(), &keys[0].1);
        assert!(store.key(keys[1].0).is_none(), "cut {cut}");
        // Cut on disk too: a reopen finds a clean file.
        drop(store);
        let again = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
        assert_eq!(again.torn_tail(), None);
    }
}

#[test]
fn an_altered_byte_never_yields_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    let keys = make(&mut store, &["usr_1", "usr_2"]);
    store.note_email(keys[1].0, "b@example.com").unwrap();
    store.flush().unwrap();
    store.erase("usr_1", Timestamp(1), 10).unwrap();
    let _ = make(&mut store, &["usr_3"]);
    drop(store);
    let path = dir.path().join(SUBJECT_KEYS_FILE);
    let whole = std::fs::read(&path).unwrap();
    let copy = tempfile::tempdir().unwrap();
    let altered_path = copy.path().join(SUBJECT_KEYS_FILE);
    for at in 0..whole.len() {
        let mut altered = whole.clone();
        altered[at] ^= 0x01;
        std::fs::write(&altered_path, &altered).unwrap();
        match SubjectKeys::open(fs(), copy.path(), &kek, true) {
            Err(_) => {}
            // Only a tail that looks torn may be dropped; a key that is read is right.
            Ok(store) => {
                assert!(store.torn_tail().is_some(), "byte {at} altered unnoticed");
                if let Some(key) = store.key(keys[1].0) {
                    assert_eq!(key.bytes(), &keys[1].1);
                }
            }
        }
    }
}

#[test]
fn erasure_destroys_the_key_and_its_blind_index_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    let keys = make(&mut store, &["usr_1", "usr_2"]);
    store.note_email(keys[0].0, "a@example.com").unwrap();
    store.note_email(keys[1].0, "b@example.com").unwrap();
    store.flush().unwrap();
    let erased = store
        .erase("usr_1", Timestamp(1_700_000_000_000_000), 42)
        .unwrap()
        .expect("usr_1 had a key");
    assert_eq!((erased.key_id, erased.tree_size), (keys[0].0, 42));
    assert!(store.erase("usr_9", Timestamp(1), 42).unwrap().is_none());
    assert!(store.key(keys[0].0).is_none());
    assert!(store.subjects_with_email("a@example.com").is_empty());
    assert_eq!(store.subjects_with_email("b@example.com"), ["usr_2"]);
    // A later event of the subject gets a new key, never the old id.
    let fresh = store.key_for("usr_1").unwrap().id;
    assert_ne!(fresh, keys[0].0);
    store.flush().unwrap();
    drop(store);

    let store = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
    assert!(store.key(keys[0].0).is_none());
    assert_eq!(store.key(keys[1].0).unwrap().bytes(), &keys[1].1);
    assert_eq!(store.key(fresh).unwrap().subject, "usr_1");
    assert_eq!(store.erasures(), [erased]);
    // Neither key is in the file in the clear; the erased one's entry is gone whole.
    let file = std::fs::read(dir.path().join(SUBJECT_KEYS_FILE)).unwrap();
    assert!(!contains(&file, &keys[0].1));
    assert!(!contains(&file, &keys[1].1));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [SUBJECT_KEYS_FILE], "no temporary file is left");
}

/// A store in `dir` with keys for `usr_1` and `usr_2`, reopened on storage where `fault`
/// is armed; the keys made.
fn two_keys_reopened_failing(
    dir: &Path,
    kek: &Kek,
    fault: Fault,
) -> (Vec<(u64, [u8; 32])>, SubjectKeys) {
    let mut store = SubjectKeys::open(fs(), dir, kek, false).unwrap();
    let keys = make(&mut store, &["usr_1", "usr_2"]);
    drop(store);
    let storage = FaultyStorage::new();
    storage.arm(fault);
    let store = SubjectKeys::open(Arc::new(storage), dir, kek, false).unwrap();
    (keys, store)
}

#[test]
fn an_erasure_cut_short_before_its_rename_keeps_the_key_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let (keys, mut store) = two_keys_reopened_failing(dir.path(), &kek, Fault::RenameEio);
    assert!(store.erase("usr_1", Timestamp(1), 5).is_err());
    // Nothing changed on disk, so the store goes on: the key is there, new keys are made.
    assert_eq!(store.key(keys[0].0).unwrap().bytes(), &keys[0].1);
    let new = make(&mut store, &["usr_7"]);
    drop(store);
    let store = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
    assert_eq!(store.key(keys[0].0).unwrap().bytes(), &keys[0].1);
    assert_eq!(store.key(new[0].0).unwrap().bytes(), &new[0].1);
    assert!(store.erasures().is_empty());
}

#[test]
fn an_erasure_cut_short_after_its_rename_is_not_acknowledged_and_the_key_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let (keys, mut store) = two_keys_reopened_failing(dir.path(), &kek, Fault::SyncDirEio);
    assert!(store.erase("usr_1", Timestamp(1), 5).is_err());
    // The key is gone from memory as from the file system's view; the store stops, not
    // knowing what the disk holds.
    assert!(store.key(keys[0].0).is_none());
    assert!(store.known("usr_1", None).is_none());
    assert!(store.key_for("usr_7").is_err());
    drop(store);
    let store = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap();
    assert!(store.key(keys[0].0).is_none());
    assert_eq!(store.key(keys[1].0).unwrap().bytes(), &keys[1].1);
    assert_eq!(
        store.last_erasure("usr_1").map(|e| e.key_id),
        Some(keys[0].0)
    );
}

#[test]
fn an_entry_taken_out_of_the_middle_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let mut store = SubjectKeys::open(fs(), dir.path(), &kek, false).unwrap();
    make(&mut store, &["usr_1", "usr_2", "usr_3"]);
    drop(store);
    let path = dir.path().join(SUBJECT_KEYS_FILE);
    let whole = std::fs::read(&path).unwrap();
    // The header, then three frames: drop the second.
    let first = auditlog_engine::codec::split_frame(&whole[32..])
        .unwrap()
        .total;
    let second = auditlog_engine::codec::split_frame(&whole[32 + first..])
        .unwrap()
        .total;
    let mut without = whole[..32 + first].to_vec();
    without.extend_from_slice(&whole[32 + first + second..]);
    std::fs::write(&path, &without).unwrap();
    let refused = SubjectKeys::open(fs(), dir.path(), &kek, true).unwrap_err();
    assert!(refused.to_string().contains("MAC"), "{refused}");
    // Entries in another order are refused as well.
    let mut swapped = whole[..32].to_vec();
    swapped.extend_from_slice(&whole[32 + first..32 + first + second]);
    swapped.extend_from_slice(&whole[32..32 + first]);
    swapped.extend_from_slice(&whole[32 + first + second..]);
    std::fs::write(&path, &swapped).unwrap();
    assert!(SubjectKeys::open(fs(), dir.path(), &kek, true).is_err());
}
