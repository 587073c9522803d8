//! Archive runs against a real S3-compatible store (SeaweedFS on loopback, started by
//! `scripts/seaweedfs.sh`) and a directory: what reaches the bucket is byte for byte the
//! sealed segments, named by manifest entries that match them; runs resume and never
//! copy twice; bad credentials and another log's archive are refused clearly.

mod common;

use std::sync::Arc;

use auditlog_archive::testing::{BUCKET, read_object, seaweedfs};
use auditlog_archive::{Archive, ArchiveReport, LogIdentity, ManifestEntry, archive_log};
use auditlog_engine::{Log, hex};
use common::{append, log_with};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// The store and prefix behind an `s3://auditlog-test/...` URL, read directly.
fn bucket(url: &str) -> (Arc<dyn ObjectStore>, ObjectPath) {
    let rest = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .expect("test URL");
    (seaweedfs().bucket(BUCKET), ObjectPath::from(rest))
}

async fn get(store: &dyn ObjectStore, prefix: &ObjectPath, relative: &str) -> Vec<u8> {
    read_object(store, &ObjectPath::from(format!("{prefix}/{relative}"))).await
}

async fn entries(store: &dyn ObjectStore, prefix: &ObjectPath) -> Vec<ManifestEntry> {
    let folder = ObjectPath::from(format!("{prefix}/manifest"));
    let mut listed: Vec<_> = store.list(Some(&folder)).try_collect().await.expect("list");
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in listed {
        let bytes = read_object(store, &meta.location).await;
        out.push(serde_json::from_slice(&bytes).expect("an entry"));
    }
    out
}

/// Checks that the bucket holds exactly `log`'s sealed segments, each entry matching its
/// local segment and index file byte for byte, the entries contiguous from 0.
async fn assert_archived(log: &Log, url: &str) {
    let (store, prefix) = bucket(url);
    let sealed = log.sealed_segments();
    let entries = entries(store.as_ref(), &prefix).await;
    assert_eq!(entries.len(), sealed.len(), "one entry per sealed segment");
    let mut next = 0;
    for (entry, local) in entries.iter().zip(&sealed) {
        assert_eq!(entry.base_seq, next, "no gap, no duplicate");
        next = entry.tree_size;
        assert_eq!(entry.base_seq, local.base_seq);
        assert_eq!(entry.tree_size, local.tree_size);
        assert_eq!(entry.root, hex::encode(&local.root));
        assert_eq!(entry.min_timestamp, local.min_timestamp.to_rfc3339());
        assert_eq!(entry.max_timestamp, local.max_timestamp.to_rfc3339());
        let bytes = std::fs::read(&local.path).expect("segment");
        assert_eq!(entry.segment.bytes, bytes.len() as u64);
        assert_eq!(
            entry.segment.blake3,
            blake3::hash(&bytes).to_hex().to_string()
        );
        assert!(
            get(store.as_ref(), &prefix, &entry.segment.object).await == bytes,
            "{}",
            entry.segment.object
        );
        let index = entry
            .index
            .as_ref()
            .expect("sealed segments have index files");
        let idx = std::fs::read(&local.index_path).expect("index");
        assert_eq!(index.blake3, blake3::hash(&idx).to_hex().to_string());
        assert!(get(store.as_ref(), &prefix, &index.object).await == idx);
    }
    let identity: LogIdentity =
        serde_json::from_slice(&get(store.as_ref(), &prefix, "log.json").await).expect("identity");
    assert_eq!(identity.origin, log.config().origin);
    assert_eq!(identity.hash, log.alg().name());
    assert!(
        identity
            .verifier_key
            .is_some_and(|k| k.starts_with(&log.config().origin))
    );
    let checkpoints = std::fs::read(log.dir().join("checkpoints")).expect("checkpoints");
    assert!(get(store.as_ref(), &prefix, "checkpoints").await == checkpoints);
}

async fn run(log: &Log, url: &str) -> ArchiveReport {
    let archive = Archive::open(url, &seaweedfs().options()).expect("archive");
    let mut seen = Vec::new();
    let report = archive_log(log, &archive, |e| seen.push(e.base_seq))
        .await
        .expect("archive run");
    assert_eq!(seen.len() as u64, report.segments_archived);
    report
}

#[tokio::test]
async fn sealed_segments_reach_s3_checked_and_runs_copy_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 32 << 10, 3000, 1);
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 5, "several segments: {}", sealed.len());
    let url = seaweedfs().fresh_url(BUCKET, "runs");
    let first = run(&log, &url).await;
    assert_eq!(first.segments_archived, sealed.len() as u64);
    assert_eq!(
        first.read_back, 0,
        "S3 confirms every upload by its MD5 ETag"
    );
    assert_eq!(first.already_archived, 0);
    assert_eq!(first.archived_tree_size, log.tree_size());
    assert_archived(&log, &url).await;
    let again = run(&log, &url).await;
    assert_eq!((again.segments_archived, again.bytes_archived), (0, 0));
    assert_eq!(again.already_archived, sealed.len() as u64);
    append(&log, 1000, 2);
    let more = log.sealed_segments().len() - sealed.len();
    assert!(more > 0);
    let third = run(&log, &url).await;
    assert_eq!(third.segments_archived, more as u64);
    assert_eq!(third.archived_tree_size, log.tree_size());
    assert_archived(&log, &url).await;
}

#[tokio::test]
async fn a_segment_past_one_part_is_uploaded_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 24 << 20, 60_000, 3);
    let sealed = log.sealed_segments();
    assert!(
        sealed[0].bytes > 8 << 20,
        "past one part: {}",
        sealed[0].bytes
    );
    let url = seaweedfs().fresh_url(BUCKET, "parts");
    let report = run(&log, &url).await;
    assert_eq!(
        report.read_back, 0,
        "the multipart ETag matches the parts' MD5s"
    );
    assert_archived(&log, &url).await;
    // S3 names a multipart object's ETag by its part count: `"<md5 of md5s>-<parts>"`.
    let (store, prefix) = bucket(&url);
    let meta = store
        .head(&ObjectPath::from(format!(
            "{prefix}/segments/00000000000000000000.seg"
        )))
        .await
        .expect("head");
    let etag = meta.e_tag.expect("an ETag");
    assert!(
        etag.trim_matches('"').contains('-'),
        "a multipart upload: {etag}"
    );
}

#[tokio::test]
async fn a_run_cut_short_resumes_without_gap_or_duplicate() {
    // What a run killed mid-segment leaves: the segment objects of the next segments
    // (one whole, one half written) with no manifest entry for them. The next run copies
    // them again, whole, and enters them once.
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 32 << 10, 3000, 4);
    let url = seaweedfs().fresh_url(BUCKET, "cut");
    run(&log, &url).await;
    let (store, prefix) = bucket(&url);
    let entries = entries(store.as_ref(), &prefix).await;
    for entry in &entries[entries.len() - 2..] {
        let object = ObjectPath::from(format!("{prefix}/manifest/{:020}.json", entry.base_seq));
        store.delete(&object).await.expect("delete entry");
    }
    let half = &entries[entries.len() - 1].segment;
    let object = ObjectPath::from(format!("{prefix}/{}", half.object));
    let bytes = get(store.as_ref(), &prefix, &half.object).await;
    store
        .put(&object, bytes[..bytes.len() / 2].to_vec().into())
        .await
        .expect("half");
    let resumed = run(&log, &url).await;
    assert_eq!(resumed.segments_archived, 2);
    assert_eq!(resumed.already_archived, entries.len() as u64 - 2);
    assert_archived(&log, &url).await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 500, 5);
    let url = seaweedfs().fresh_url(BUCKET, "creds");
    let mut options = seaweedfs().options();
    options.secret_access_key = Some("not-the-secret".into());
    let archive = Archive::open(&url, &options).expect("archive");
    let err = archive_log(&log, &archive, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{url}/log.json")), "{err}");
    assert!(err.contains("refused the credentials"), "{err}");
    let (store, prefix) = bucket(&url);
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    assert!(listed.is_empty(), "nothing written: {listed:?}");
}

#[tokio::test]
async fn an_archive_of_another_log_is_refused() {
    let url = seaweedfs().fresh_url(BUCKET, "other");
    let one = tempfile::tempdir().unwrap();
    run(&log_with(one.path(), 64 << 10, 500, 6), &url).await;
    let two = tempfile::tempdir().unwrap();
    let other = log_with(two.path(), 64 << 10, 500, 7);
    let archive = Archive::open(&url, &seaweedfs().options()).unwrap();
    let err = archive_log(&other, &archive, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds another log"), "{err}");
}

#[tokio::test]
async fn file_urls_archive_to_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 2000, 8);
    let target = tempfile::tempdir().unwrap();
    let url = format!("file://{}/archive", target.path().display());
    let archive = Archive::open(&url, &Default::default()).unwrap();
    let report = archive_log(&log, &archive, |_| {}).await.unwrap();
    assert_eq!(report.segments_archived, log.sealed_segments().len() as u64);
    // A directory gives no MD5 ETag: every object is read back whole instead (each
    // segment, index file and Parquet, the checkpoint log and the settings).
    let objects = 3 * report.segments_archived + 2;
    assert_eq!(report.read_back, objects);
    for segment in log.sealed_segments() {
        let name = segment.path.file_name().unwrap();
        let copy = target.path().join("archive/segments").join(name);
        assert_eq!(
            std::fs::read(copy).unwrap(),
            std::fs::read(&segment.path).unwrap()
        );
        let entry = target
            .path()
            .join(format!("archive/manifest/{:020}.json", segment.base_seq));
        let entry: ManifestEntry = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
        assert_eq!(entry.tree_size, segment.tree_size);
    }
}
