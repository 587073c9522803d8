//! `auditlogd --archive URL` against a real S3-compatible store (SeaweedFS on loopback):
//! segments sealed while events arrive over gRPC reach the bucket in the background, byte
//! for byte, each with its manifest entry; `/metrics` counts them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use auditlog_archive::testing::{BUCKET, KEYS_BUCKET, read_object, seaweedfs};
use auditlog_engine::{Log, LogConfig};
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, event, http_get_async};
use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

/// The value of metric `name` in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_sealed_while_serving_reach_the_archive() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        ..LogConfig::default()
    };
    drop(Log::create(&data, &config).unwrap());
    let url = s3.fresh_url(BUCKET, "server");
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(&data)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--archive", &url]);
    s3.env(&mut command);
    let server = Server::launch(command, true);
    let admin = server.admin_key.clone().expect("admin key");
    let mut client = IngestServiceClient::new(server.channel().await);
    for batch in 0..30u32 {
        let events = (batch * 100..batch * 100 + 100)
            .map(|i| {
                event(
                    i,
                    &format!("org_{}", i % 7),
                    &format!("usr_{}", i % 13),
                    "document.read",
                )
            })
            .collect();
        client
            .ingest(authed(pb::IngestRequest { events }, &admin))
            .await
            .expect("ingest");
    }
    // The archiver catches up in the background: every sealed segment, then nothing more.
    let store = s3.bucket(BUCKET);
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let sealed_on_disk = || {
        let mut bases: Vec<String> = std::fs::read_dir(data.join("segments"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".idx").map(str::to_owned))
            .collect();
        bases.sort();
        bases
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (entries, metrics) = loop {
        let folder = ObjectPath::from(format!("{prefix}/manifest"));
        let listed: Vec<_> = store.list(Some(&folder)).try_collect().await.expect("list");
        let metrics = http_get_async(&server.http, "/metrics".into(), Some(admin.clone()))
            .await
            .text();
        let sealed = sealed_on_disk();
        let counted = metric(&metrics, "auditlog_archive_segments_total");
        if !sealed.is_empty()
            && listed.len() == sealed.len()
            && counted == Some(listed.len() as u64)
        {
            break (listed, metrics);
        }
        assert!(
            Instant::now() < deadline,
            "archived {} of {} sealed segments after 60 s",
            listed.len(),
            sealed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        entries.len() >= 5,
        "several segments sealed: {}",
        entries.len()
    );
    let mut next = 0;
    let mut bases: Vec<_> = entries.iter().map(|m| m.location.clone()).collect();
    bases.sort();
    for location in bases {
        let bytes = read_object(store.as_ref(), &location).await;
        let entry: serde_json::Value = serde_json::from_slice(&bytes).expect("an entry");
        assert_eq!(entry["base_seq"].as_u64(), Some(next), "contiguous");
        next = entry["tree_size"].as_u64().unwrap();
        let name = entry["segment"]["object"].as_str().unwrap();
        let object = ObjectPath::from(format!("{prefix}/{name}"));
        let archived = read_object(store.as_ref(), &object).await;
        let local = std::fs::read(data.join(name)).expect("local segment");
        assert!(archived == local, "{name} is the local segment");
    }
    assert_eq!(
        metric(&metrics, "auditlog_archive_segments_total"),
        Some(entries.len() as u64),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "auditlog_archived_tree_size"), Some(next));
    assert_eq!(metric(&metrics, "auditlog_archive_failures_total"), Some(0));
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}

/// A sealing server, which holds its key-encryption key, archives each segment's Parquet
/// with personal fields sealed all the same (an erasure could not reach them there), and
/// an erasure reaches its key store's backup within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealing_servers_archive_keeps_personal_fields_sealed_and_its_key_backup_current() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kek = auditlog_engine::privacy::Kek::generate().unwrap();
    let kek_file = dir.path().join("kek");
    std::fs::write(&kek_file, kek.to_hex()).unwrap();
    let config = LogConfig {
        segment_bytes: 64 << 10,
        sealing: Some(auditlog_engine::Sealing::default()),
        ..LogConfig::default()
    };
    drop(
        auditlog_engine::OpenOptions::new()
            .kek(kek)
            .create(&data, &config)
            .unwrap(),
    );
    let url = s3.fresh_url(BUCKET, "server-sealed");
    let keys_url = s3.fresh_url(KEYS_BUCKET, "server-keys");
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(&data)
        .arg("--kek-file")
        .arg(&kek_file)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--archive", &url, "--archive-keys", &keys_url]);
    s3.env(&mut command);
    let server = Server::launch(command, true);
    let admin = server.admin_key.clone().expect("admin key");
    // Enough for a few 64 KiB segments (a batch is never split across two).
    let mut client = IngestServiceClient::new(server.channel().await);
    for batch in 0..20u32 {
        let events = (batch * 100..batch * 100 + 100)
            .map(|i| event(i, "org_a", &format!("usr_{}", i % 5), "document.read"))
            .collect();
        client
            .ingest(authed(pb::IngestRequest { events }, &admin))
            .await
            .expect("ingest");
    }
    // Each archived segment's Parquet: a row per record; the e-mail, IP address and
    // user agent of each ingested event `[sealed]`.
    let bucket = s3.bucket(BUCKET);
    let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
    let mut ingested = 0;
    for entry in entries(&bucket, prefix, 3).await {
        let object = entry["parquet"]["object"]
            .as_str()
            .expect("a Parquet object");
        let bytes = read_object(
            bucket.as_ref(),
            &ObjectPath::from(format!("{prefix}/{object}")),
        )
        .await;
        let rows = personal_fields(bytes);
        let records = entry["tree_size"].as_u64().unwrap() - entry["base_seq"].as_u64().unwrap();
        assert_eq!(rows.len() as u64, records);
        for (tenant, personal) in rows {
            if tenant == "org_a" {
                ingested += 1;
                assert_eq!(personal, [(); 3].map(|_| Some("[sealed]".to_owned())));
            }
        }
    }
    assert!(ingested > 100, "{ingested} events read");
    let store = s3.bucket(KEYS_BUCKET);
    let backup = ObjectPath::from(format!(
        "{}/subjects",
        keys_url
            .strip_prefix(&format!("s3://{KEYS_BUCKET}/"))
            .unwrap()
    ));
    let local = data.join("keys/subjects");
    // The backup catches up with the key store: once with the keys made, once after the
    // erasure.
    let caught_up = |what: &'static str| {
        let store = std::sync::Arc::clone(&store);
        let backup = backup.clone();
        let local = local.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let copy = match store.get(&backup).await {
                    Ok(got) => got.bytes().await.unwrap().to_vec(),
                    Err(_) => Vec::new(),
                };
                if copy == std::fs::read(&local).unwrap() {
                    return copy;
                }
                assert!(Instant::now() < deadline, "no copy {what} after 30 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let before = caught_up("of the keys").await;
    auditlog_proto::v1::admin_service_client::AdminServiceClient::new(server.channel().await)
        .erase(authed(
            pb::EraseRequest {
                subject: "usr_1".into(),
            },
            &admin,
        ))
        .await
        .expect("erase");
    let after = caught_up("after the erasure").await;
    assert_ne!(
        before, after,
        "the erasure changed the key store and its copy"
    );
    let metrics = http_get_async(&server.http, "/metrics".into(), Some(admin.clone()))
        .await
        .text();
    assert!(
        metric(&metrics, "auditlog_archive_key_store_copies_total") >= Some(2),
        "{metrics}"
    );
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}

/// The manifest entries under `prefix`, once there are `at_least` (within 60 s).
async fn entries(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: &str,
    at_least: usize,
) -> Vec<serde_json::Value> {
    let folder = ObjectPath::from(format!("{prefix}/manifest"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed: Vec<_> = store.list(Some(&folder)).try_collect().await.unwrap();
        if listed.len() >= at_least {
            let mut entries = Vec::new();
            for meta in listed {
                let bytes = read_object(store.as_ref(), &meta.location).await;
                entries.push(serde_json::from_slice(&bytes).expect("an entry"));
            }
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "{} segments archived after 60 s",
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tenant, and the e-mail, IP address and user agent, of each row of a Parquet
/// file.
fn personal_fields(bytes: Vec<u8>) -> Vec<(String, [Option<String>; 3])> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("a Parquet file");
    let field = |row: &parquet::record::Row, i| row.get_string(i).ok().cloned();
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("a row");
            let tenant = field(&row, 6).expect("a tenant");
            (tenant, [field(&row, 4), field(&row, 12), field(&row, 13)])
        })
        .collect()
}

#[test]
fn an_unusable_archive_url_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_auditlogd"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--archive", "ftp://somewhere/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("ftp://somewhere/x") && said.contains("unknown scheme"),
        "{said}"
    );
}

#[test]
fn the_aws_variables_alone_do_not_ask_for_an_archive() {
    // Many hosts set AWS_REGION and AWS_ENDPOINT_URL: without --archive they are ignored.
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    let server = Server::launch(command, true);
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}

/// The lines of an HTTP export of `query` (JSON Lines).
async fn exported(server: &common::Server, admin: &str, query: &str) -> Vec<String> {
    let path = format!("/v1/export?format=jsonl{query}");
    let response = http_get_async(&server.http, path, Some(admin.to_owned())).await;
    response.text().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_segments_are_served_from_the_archive() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        ..LogConfig::default()
    };
    drop(Log::create(&data, &config).unwrap());
    let url = s3.fresh_url(BUCKET, "server-tiers");
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(&data)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args([
            "--archive",
            &url,
            "--hot-bytes",
            "0",
            "--cache-bytes",
            "200000",
        ]);
    s3.env(&mut command);
    let server = Server::launch(command, true);
    let admin = server.admin_key.clone().expect("admin key");
    let mut client = IngestServiceClient::new(server.channel().await);
    for batch in 0..30u32 {
        let events = (batch * 100..batch * 100 + 100)
            .map(|i| event(i, &format!("org_{}", i % 7), "usr_1", "document.read"))
            .collect();
        client
            .ingest(authed(pb::IngestRequest { events }, &admin))
            .await
            .expect("ingest");
    }
    let local_segments = || auditlog_archive::testing::local_segment_files(&data);
    // The archiver archives, then releases every segment but the newest sealed one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let released = loop {
        let metrics = http_get_async(&server.http, "/metrics".into(), Some(admin.clone()))
            .await
            .text();
        let released = metric(&metrics, "auditlog_released_segments_total").unwrap_or(0);
        if released >= 4 && local_segments() == 2 {
            break released;
        }
        assert!(
            Instant::now() < deadline,
            "released {released}, {} local segments after 60 s",
            local_segments()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let org_3 = exported(&server, &admin, "&tenant=org_3").await;
    assert_eq!(org_3.len(), (0..3000).filter(|i| i % 7 == 3).count());
    let all = exported(&server, &admin, "").await;
    assert!(
        all.len() > 3000,
        "the events and the server's own: {}",
        all.len()
    );
    let metrics = http_get_async(&server.http, "/metrics".into(), Some(admin.clone()))
        .await
        .text();
    let fetches = metric(&metrics, "auditlog_archive_cache_fetches_total").unwrap_or(0);
    assert!(fetches >= released, "{metrics}");
    assert!(metric(&metrics, "auditlog_archive_cache_bytes").unwrap_or(u64::MAX) <= 200_000);
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_deletes_past_retention_locally_and_in_the_archive() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        ..LogConfig::default()
    };
    // Events of March 2026, archived: past a retention of 30 days.
    let log = Log::create(&data, &config).unwrap();
    for batch in 0..30 {
        let lines: Vec<String> = (batch * 100..batch * 100 + 100)
            .map(|i| {
                format!(
                    r#"{{"timestamp":"2026-03-01T{:02}:{:02}:00Z","actor":{{"user_id":"usr_{}"}},"organization":{{"id":"org_{}"}},"action":"document.read","outcome":"success"}}"#,
                    i / 60 % 24,
                    i % 60,
                    i % 13,
                    i % 7
                )
            })
            .collect();
        let events: Vec<_> = lines
            .iter()
            .map(|l| auditlog_engine::event::parse_json(l.as_bytes()).unwrap())
            .collect();
        log.append(&events).unwrap();
    }
    log.seal().unwrap();
    log.checkpoint().unwrap();
    let sealed = log.sealed_segments();
    assert!(sealed.len() >= 3, "{}", sealed.len());
    let url = s3.fresh_url(BUCKET, "server-expire");
    let archive = auditlog_archive::Archive::open(&url, &s3.options()).unwrap();
    auditlog_archive::archive_log(&log, &archive, |_| {})
        .await
        .unwrap();
    drop(log);

    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(&data)
        .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--archive", &url, "--retain-days", "30", "--expire"]);
    s3.env(&mut command);
    let server = Server::launch(command, true);
    let admin = server.admin_key.clone().expect("admin key");
    let store = s3.bucket(BUCKET);
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let end = sealed.last().unwrap().tree_size;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = http_get_async(&server.http, "/metrics".into(), Some(admin.clone()))
            .await
            .text();
        let folder = ObjectPath::from(format!("{prefix}/manifest"));
        let entries: Vec<_> = store.list(Some(&folder)).try_collect().await.expect("list");
        if metric(&metrics, "auditlog_first_kept_record") == Some(end) && entries.is_empty() {
            assert_eq!(
                metric(&metrics, "auditlog_retention_deleted_segments_total"),
                Some(sealed.len() as u64),
                "{metrics}"
            );
            assert_eq!(
                metric(&metrics, "auditlog_retention_deleted_records_total"),
                Some(end)
            );
            assert_eq!(
                metric(&metrics, "auditlog_retention_failures_total"),
                Some(0)
            );
            break;
        }
        if Instant::now() >= deadline {
            let stderr = server.stop_for_stderr();
            panic!(
                "not deleted after 60 s: {} entries left; {metrics}\n{stderr}",
                entries.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
    for segment in &sealed {
        assert!(!segment.path.exists(), "{}", segment.path.display());
    }

    // The deletion is on record, done by the server, and both copies verify.
    let out = Command::new(common::auditlog_bin())
        .args(["export", "--tenant", "_system", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let system = String::from_utf8_lossy(&out.stdout).into_owned();
    let deletion = system
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["action"] == "auditlog.retention.delete")
        .unwrap_or_else(|| panic!("no deletion among {system}"));
    assert_eq!(deletion["actor"]["user_id"], "auditlogd");
    assert_eq!(deletion["resource"]["id"], format!("0..{end}"));
    let mut verify = Command::new(common::auditlog_bin());
    verify.args(["verify", "--archive", &url]);
    s3.env(&mut verify);
    for mut command in [verify, {
        let mut local = Command::new(common::auditlog_bin());
        local.arg("verify").arg("--data").arg(&data);
        local
    }] {
        let out = command.output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command:?}: {said}");
        assert!(
            said.contains(&format!("records 0..{end} were deleted")),
            "{said}"
        );
    }
}
