//! Tiers against a real S3-compatible store (SeaweedFS on loopback): archived segments
//! released from the local disk only after their copies were read back, the log reopened
//! over their stubs answering as before through a bounded cache, proofs and skipped
//! segments never fetching, and a damaged copy refused both at release and at fetch.

mod common;

use std::path::Path;
use std::sync::Arc;

use auditlog_archive::testing::{BUCKET, local_segment_files, seaweedfs};
use auditlog_archive::{
    Archive, HotPolicy, ReleaseReport, TierConfig, TieredStorage, archive_log, release_cold,
};
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::{Log, OpenOptions, TimeRange, Timestamp};
use common::log_with;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

fn everything(log: &Log) -> Vec<String> {
    let mut out = Vec::new();
    log.scan(0..u64::MAX, TimeRange::default(), |seq, event| {
        out.push(format!("{seq} {}", event.to_json()));
        Ok(true)
    })
    .expect("scan");
    out
}

fn tenant_seqs(log: &Log, tenant: &str, time: TimeRange) -> Vec<u64> {
    let query = Query {
        filter: Filter {
            tenant: Some(tenant.to_owned()),
            time,
            ..Filter::default()
        },
        order: Order::NewestFirst,
        limit: None,
        cursor: None,
    };
    let mut out = Vec::new();
    log.query(&query, |seq, _| {
        out.push(seq);
        Ok(true)
    })
    .expect("query");
    out
}

fn object_of(url: &str, relative: &str) -> ObjectPath {
    let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).expect("url");
    ObjectPath::from(format!("{prefix}/{relative}"))
}

/// Releases what `--hot-bytes 0` lets go: every archived segment but the newest.
async fn release_all(log: &Log, archive: &Archive) -> auditlog_archive::Result<ReleaseReport> {
    let policy = HotPolicy {
        keep_bytes: Some(0),
        ..HotPolicy::default()
    };
    release_cold(log, archive, policy, Timestamp::now()).await
}

/// Releases every archived segment but the newest in a blocking thread (the log's
/// storage runs its own runtime).
async fn archive_and_release(data: &Path, url: &str) -> (usize, u64) {
    let log = OpenOptions::new().open(data).expect("open");
    let archive = Archive::open(url, &seaweedfs().options()).expect("archive");
    archive_log(&log, &archive, |_| {}).await.expect("archive");
    let report = release_all(&log, &archive).await.expect("release");
    (report.released, report.bytes_freed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_segments_are_fetched_on_demand_into_a_bounded_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let url = seaweedfs().fresh_url(BUCKET, "tier");
    let (all, tenant, root, size, sealed) = {
        let log = log_with(&data, 64 << 10, 2_000, 5);
        let mut tenant = String::new();
        log.scan(0..1, TimeRange::default(), |_, e| {
            tenant = e.tenant_id.to_string();
            Ok(false)
        })
        .expect("scan");
        let sealed = log.sealed_segments();
        (
            everything(&log),
            tenant,
            log.root(),
            log.tree_size(),
            sealed,
        )
    };
    assert!(sealed.len() >= 6, "{}", sealed.len());
    let (released, freed) = archive_and_release(&data, &url).await;
    assert_eq!(released, sealed.len() - 1);
    assert_eq!(
        freed,
        sealed[..released].iter().map(|s| s.bytes).sum::<u64>()
    );
    assert_eq!(
        local_segment_files(&data),
        2,
        "the newest sealed segment and the active one"
    );

    // A cache that holds two segments at most.
    let largest = sealed.iter().map(|s| s.bytes).max().expect("some");
    let cap = 2 * largest;
    let data_at = data.clone();
    let url_at = url.clone();
    tokio::task::spawn_blocking(move || {
        let archive = Archive::open(&url_at, &seaweedfs().options()).expect("archive");
        let storage = Arc::new(TieredStorage::open(&data_at, archive, cap).expect("storage"));
        let log = OpenOptions::new()
            .storage(storage.clone())
            .open(&data_at)
            .expect("reopen over stubs");
        assert_eq!((log.root(), log.tree_size()), (root, size));
        for seq in [0, size / 4, size / 2] {
            log.prove_inclusion(seq, None).expect("inclusion");
        }
        log.prove_consistency(size / 3, size).expect("consistency");
        let newest = sealed.last().expect("sealed").min_timestamp;
        let late = TimeRange {
            from: Some(newest),
            to: None,
        };
        let recent = tenant_seqs(&log, &tenant, late);
        assert!(
            !recent.is_empty(),
            "the tenant has events in the local segment"
        );
        assert!(
            recent
                .iter()
                .all(|&s| s >= sealed.last().expect("sealed").base_seq)
        );
        assert!(tenant_seqs(&log, "no-such-tenant", TimeRange::default()).is_empty());
        assert_eq!(
            storage.stats().fetches,
            0,
            "proofs and skipped segments fetch nothing"
        );

        assert_eq!(everything(&log), all, "every event as before");
        let stats = storage.stats();
        assert_eq!(stats.fetches, released as u64);
        assert!(stats.evictions > 0);
        assert!(stats.cached_bytes <= cap, "{stats:?}");
        let cached: u64 = std::fs::read_dir(data_at.join("archive-cache"))
            .expect("cache")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum();
        assert!(cached <= cap, "{cached} bytes cached over {cap}");
        // Warm: the newest released segment is read from the cache.
        let last = sealed[released - 1].base_seq;
        log.scan(last..last + 1, TimeRange::default(), |_, _| Ok(false))
            .expect("scan");
        assert_eq!(storage.stats().fetches, released as u64);
        assert!(storage.stats().hits > 0);
        let report = auditlog_engine::verify::VerifyOptions::new()
            .storage(storage.clone())
            .verify_dir(&data_at, &mut |_| {})
            .expect("verifies through the archive");
        assert_eq!(report.records, size);
        drop(log);

        // A copy a process left in the cache is used only if it is the segment: a
        // damaged one is fetched again.
        let copies: Vec<_> = std::fs::read_dir(data_at.join("archive-cache"))
            .expect("cache")
            .map(|e| e.expect("entry").path())
            .collect();
        assert!(!copies.is_empty());
        for copy in &copies {
            let mut bytes = std::fs::read(copy).expect("read");
            let at = bytes.len() / 2;
            bytes[at] ^= 1;
            std::fs::write(copy, bytes).expect("damage");
        }
        let again = Arc::new(
            TieredStorage::open(&data_at, storage.archive().clone(), cap).expect("storage"),
        );
        let log = OpenOptions::new()
            .storage(again.clone())
            .open(&data_at)
            .expect("reopen");
        assert_eq!(everything(&log), all, "every event as before");
        assert_eq!(
            again.stats().fetches,
            released as u64,
            "the damaged copies fetched again"
        );
    })
    .await
    .expect("reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_copy_is_never_released_and_never_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let url = seaweedfs().fresh_url(BUCKET, "tier-damaged");
    drop(log_with(&data, 64 << 10, 800, 5));
    let store = seaweedfs().bucket(BUCKET);
    {
        let log = OpenOptions::new().open(&data).expect("open");
        let archive = Archive::open(&url, &seaweedfs().options()).expect("archive");
        archive_log(&log, &archive, |_| {}).await.expect("archive");
        // The first segment's copy is damaged in the bucket: nothing is released.
        let first = object_of(&url, "segments/00000000000000000000.seg");
        let mut bytes = store
            .get(&first)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
            .to_vec();
        let good = bytes.clone();
        bytes[100] ^= 1;
        store
            .put(&first, PutPayload::from(bytes))
            .await
            .expect("put");
        let before = local_segment_files(&data);
        let err = release_all(&log, &archive).await.expect_err("damaged");
        assert!(
            err.to_string().contains("00000000000000000000.seg"),
            "{err}"
        );
        assert_eq!(local_segment_files(&data), before, "nothing released");
        // Mended, it is released; then damaged again, a read names it.
        store
            .put(&first, PutPayload::from(good.clone()))
            .await
            .expect("put");
        let report = release_all(&log, &archive).await.expect("release");
        assert!(report.released > 0);
        let mut bad = good;
        bad[200] ^= 1;
        store.put(&first, PutPayload::from(bad)).await.expect("put");
        TierConfig {
            url: url.clone(),
            cache_bytes: 1 << 20,
        }
        .save(&data)
        .expect("save");
    }
    let data_at = data.clone();
    tokio::task::spawn_blocking(move || {
        let storage =
            auditlog_archive::storage_for(&data_at, &seaweedfs().options()).expect("storage");
        let log = OpenOptions::new()
            .storage(storage)
            .open(&data_at)
            .expect("opens from stubs");
        let err = log
            .scan(0..1, TimeRange::default(), |_, _| Ok(true))
            .expect_err("the copy is damaged");
        let text = format!("{err:#}");
        assert!(
            text.contains("00000000000000000000.seg") && text.contains("stub"),
            "{text}"
        );
        assert!(
            !data_at
                .join("archive-cache/00000000000000000000.seg")
                .exists()
        );
    })
    .await
    .expect("reads");
}
