//! Deletion past retention reaches the archive (SeaweedFS): the receipts are copied, the
//! deleted segments' objects and entries go, the archive still verifies and restores from
//! the first kept record, a deletion cut short is finished by the next run, and a bucket
//! with S3 Object Lock refuses to delete a segment before its date.

mod common;

use std::sync::Arc;

use auditlog_archive::testing::{BUCKET, LOCKED_BUCKET, objects_under, seaweedfs};
use auditlog_archive::{Archive, ArchiveReader, RestoreKeys, archive_log, expire_archive, restore};
use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::merkle::Proof;
use auditlog_engine::storage::{FsStorage, Storage};
use auditlog_engine::system::SystemActor;
use auditlog_engine::verify::{VerifyOptions, VerifyReport};
use auditlog_engine::{Log, Timestamp};
use common::log_with;

const DAY: i64 = 86_400 * 1_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Deletes the oldest half of `log`'s sealed segments locally, for a retention of
/// `days`: the first record kept.
fn delete_half(log: &Log, days: u64) -> u64 {
    let sealed = log.sealed_segments();
    let newest = sealed[..sealed.len() / 2]
        .iter()
        .map(|s| s.max_timestamp.0)
        .max()
        .unwrap();
    let now = Timestamp(newest + 1 + days as i64 * DAY);
    let expiry = log.expire(SystemActor::Cli, days, now).unwrap();
    expiry
        .expired
        .expect("segments past retention")
        .receipt
        .deleted
        .end
}

/// `verify --archive`, as the command runs it.
fn verify_archive(
    archive: &Archive,
    dir: &std::path::Path,
) -> auditlog_engine::Result<VerifyReport> {
    let key = load_verifier(&FsStorage::default(), dir).unwrap().unwrap();
    let reader = Arc::new(ArchiveReader::open(archive.clone()).expect("the archive opens"));
    let storage: Arc<dyn Storage> = Arc::clone(&reader) as Arc<dyn Storage>;
    VerifyOptions::new()
        .storage(storage)
        .key(Some(&key))
        .prefix(true)
        .verify_dir(reader.root(), &mut |_| {})
}

#[test]
fn deleted_segments_leave_the_archive_which_still_verifies_and_restores() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 2_000, 21);
    let url = s3.fresh_url(BUCKET, "expire");
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let archive = Archive::open(&url, &s3.options()).unwrap();
    let rt = runtime();
    rt.block_on(archive_log(&log, &archive, |_| {})).unwrap();
    let sealed = log.sealed_segments();

    let end = delete_half(&log, 30);
    let report = rt.block_on(expire_archive(&log, &archive)).unwrap();
    let deleted: Vec<_> = sealed.iter().filter(|s| s.tree_size <= end).collect();
    assert_eq!(report.segments_deleted as usize, deleted.len());
    assert_eq!(report.receipts_copied, 2, "a receipt and its heads");
    assert_eq!(report.first_kept, end);
    let names: Vec<String> = rt
        .block_on(objects_under(s3.bucket(BUCKET).as_ref(), &prefix))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for s in &deleted {
        let base = format!("{:020}", s.base_seq);
        assert!(
            !names.iter().any(|n| n.contains(&base)),
            "{base} is gone: {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.ends_with(&format!("retention/{end:020}.receipt")))
    );
    let kept = format!("manifest/{:020}.json", end);
    assert!(names.iter().any(|n| n.ends_with(&kept)), "{names:?}");

    // The archive verifies from the first kept record, the gap covered by the receipt.
    let verified = verify_archive(&archive, dir.path()).expect("the archive verifies");
    assert!(
        verified
            .notes
            .iter()
            .any(|n| n.contains(&format!("records 0..{end} were deleted"))),
        "{:?}",
        verified.notes
    );
    // Again: nothing more to delete.
    let again = rt.block_on(expire_archive(&log, &archive)).unwrap();
    assert_eq!((again.segments_deleted, again.receipts_copied), (0, 0));

    // Restored after a lost disk, the log starts at the first kept record and goes on.
    let archived_end = sealed.last().unwrap().tree_size;
    let root = log.root_at(archived_end).unwrap();
    drop(log);
    let key = dir.path().join("keys/checkpoint.key");
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let reader = ArchiveReader::open(archive.clone()).unwrap();
    let keys = RestoreKeys {
        checkpoint_key: Some(&key),
        subject_keys: None,
    };
    let report = restore(&reader, &target, &keys).unwrap();
    assert_eq!(report.segments as usize, sealed.len() - deleted.len());
    let log = Log::open(&target).unwrap();
    assert_eq!(log.first_kept(), end);
    assert_eq!(log.tree_size(), archived_end);
    assert_eq!(log.root(), root, "the same root at the same size");
    Proof::Inclusion(log.prove_inclusion(end, None).unwrap())
        .verify()
        .unwrap();
    common::append(&log, 100, 22);
    drop(log);
    VerifyOptions::new()
        .verify_dir(&target, &mut |_| {})
        .expect("the restored log verifies");
}

#[test]
fn a_deletion_cut_short_is_finished_by_the_next_run() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 1_500, 23);
    let url = s3.fresh_url(BUCKET, "expire-cut");
    let archive = Archive::open(&url, &s3.options()).unwrap();
    let rt = runtime();
    rt.block_on(archive_log(&log, &archive, |_| {})).unwrap();
    let store = s3.bucket(BUCKET);
    let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
    let entry = object_store::path::Path::from(format!("{prefix}/manifest/{:020}.json", 0));
    let first_entry = rt.block_on(auditlog_archive::testing::read_object(
        store.as_ref(),
        &entry,
    ));
    delete_half(&log, 30);

    // Before the archive's run, it holds every segment and verifies as it was.
    verify_archive(&archive, dir.path()).expect("whole before the run");
    rt.block_on(expire_archive(&log, &archive)).unwrap();
    // As if a run had died between a segment's objects and its manifest entry: the entry
    // is there, its objects are not. Readers pass over it (below the receipts' end).
    rt.block_on(object_store::ObjectStoreExt::put(
        store.as_ref(),
        &entry,
        first_entry.into(),
    ))
    .unwrap();
    verify_archive(&archive, dir.path()).expect("an entry below the receipts is passed over");
    let report = rt.block_on(expire_archive(&log, &archive)).unwrap();
    assert_eq!(report.segments_deleted, 1, "{report:?}");
    let gone = rt.block_on(object_store::ObjectStoreExt::head(store.as_ref(), &entry));
    assert!(gone.is_err(), "the entry left is deleted");
    verify_archive(&archive, dir.path()).unwrap();
}

#[test]
fn object_lock_refuses_to_delete_a_segment_before_its_date() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 1_500, 25);
    let url = s3.fresh_url(LOCKED_BUCKET, "expire-locked");
    let sealed = log.sealed_segments();
    // Locked for a retention that reaches past now for every segment.
    let days = ((Timestamp::now().0 - sealed[0].max_timestamp.0) / DAY + 2) as u64;
    let archive = Archive::open(&url, &s3.options())
        .unwrap()
        .with_retention_days(days);
    let rt = runtime();
    rt.block_on(archive_log(&log, &archive, |_| {})).unwrap();
    // A deletion by a shorter policy than the lock's.
    let end = delete_half(&log, 1);
    let err = rt
        .block_on(expire_archive(&log, &archive))
        .expect_err("locked");
    let message = err.to_string();
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(message.contains("00000000000000000000.seg"), "{message}");
    // Nothing was lost: the archive still holds the segment and verifies.
    let report = verify_archive(&archive, dir.path()).expect("still verifies");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(&format!("0..{end}")))
    );
}
