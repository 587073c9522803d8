//! S3 Object Lock against SeaweedFS's bucket with Object Lock: every archived segment,
//! index file and manifest entry is locked in COMPLIANCE mode until its retention date
//! (its newest event plus the log's retention), an early delete of it is refused by the
//! store, a locked bucket without a retention is refused before anything is written, and
//! a bucket without Object Lock locks nothing.

mod common;

use auditlog_archive::testing::{BUCKET, LOCKED_BUCKET, objects_under, read_object, seaweedfs};
use auditlog_archive::{Archive, archive_log};
use auditlog_engine::Timestamp;
use common::log_with;

const DAY: i64 = 86_400 * 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_objects_are_locked_until_their_retention_date() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 64 << 10, 1_500, 9);
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 3, "{}", sealed.len());
    let url = s3.fresh_url(LOCKED_BUCKET, "locked");
    let prefix = url
        .strip_prefix(&format!("s3://{LOCKED_BUCKET}/"))
        .unwrap()
        .to_owned();
    let store = s3.bucket(LOCKED_BUCKET);

    let archive = Archive::open(&url, &s3.options()).unwrap();
    let err = archive_log(&log, &archive, |_| {})
        .await
        .expect_err("a locked bucket needs a retention");
    assert!(err.to_string().contains("Object Lock"), "{err}");
    assert!(objects_under(store.as_ref(), &prefix).await.is_empty());

    // A retention that reaches past now for every segment.
    let oldest = sealed[0].max_timestamp;
    let days = ((Timestamp::now().0 - oldest.0) / DAY + 2) as u64;
    let archive = archive.with_retention_days(days);
    let report = archive_log(&log, &archive, |_| {}).await.expect("archive");
    assert_eq!(report.segments_archived as usize, sealed.len());
    assert_eq!(
        report.locked_objects as usize,
        4 * sealed.len(),
        "{report:?}"
    );
    for segment in &sealed {
        let name = format!("{:020}", segment.base_seq);
        let due = segment.max_timestamp.0 + days as i64 * DAY;
        for relative in [
            format!("segments/{name}.seg"),
            format!("segments/{name}.idx"),
            format!("segments/{name}.parquet"),
            format!("manifest/{name}.json"),
        ] {
            let retention = archive
                .retention_of(&relative)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{relative} is not locked"));
            assert_eq!(retention.mode, "COMPLIANCE", "{relative}");
            let until = Timestamp::parse(&retention.retain_until).expect("a date");
            assert!(
                until.0 >= due && until.0 <= due + 1_000_000,
                "{relative} locked until {}, due {}",
                retention.retain_until,
                Timestamp(due)
            );
        }
    }

    // Not even the archive's own credentials delete a locked object early.
    let first = "segments/00000000000000000000.seg";
    let err = archive
        .delete_current_version(first)
        .await
        .expect_err("locked");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    let kept = read_object(
        store.as_ref(),
        &object_store::path::Path::from(format!("{prefix}/{first}")),
    )
    .await;
    assert!(kept == std::fs::read(&sealed[0].path).unwrap());

    // A bucket without Object Lock: the retention locks nothing.
    let plain = Archive::open(&s3.fresh_url(BUCKET, "unlocked"), &s3.options())
        .unwrap()
        .with_retention_days(days);
    let report = archive_log(&log, &plain, |_| {}).await.expect("archive");
    assert_eq!(report.locked_objects, 0);
    assert_eq!(plain.retention_of(first).await.unwrap(), None);
}
