//! The client crate (`auditlog-client`) against the real `auditlogd`: events recorded
//! while the server is down wait in bounded memory (the oldest dropped and counted, or
//! the caller made to wait, by policy) and arrive once it is up; a busy server's retry
//! hint is honoured and a batch sent again is stored once; a refusal for good is
//! counted and kept.

mod common;

use std::process::Command;
use std::time::Duration;

use auditlog_client::{AuditEvent, Client, Config, Outcome, Overflow, RecordError};
use auditlog_proto::v1 as pb;
use common::{Server, count, create_key, create_limited_key};

fn event(i: u32) -> AuditEvent {
    AuditEvent::new("org_a", "usr_1", "document.read", Outcome::Success)
        .resource("document", &format!("doc_{i}"))
}

/// A server on `data` listening for gRPC on `grpc`.
fn start_at(data: &std::path::Path, grpc: &str, first: bool) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
    command
        .arg("--data")
        .arg(data)
        .args(["--grpc", grpc, "--http", "127.0.0.1:0"]);
    Server::launch(command, first)
}

/// A server's first start on `data` (which makes the admin key), then its end: the key
/// and the gRPC address it listened on, free again for `start_at`.
fn started_then_gone(data: &std::path::Path) -> (String, String) {
    let server = Server::start(data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let grpc = server.url.trim_start_matches("http://").to_owned();
    server.terminate();
    (admin, grpc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_while_the_server_is_down_arrive_once_it_is_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (admin, grpc) = started_then_gone(&data);
    let mut config = Config::new(&format!("http://{grpc}"), &admin);
    config.capacity = 20;
    config.overflow = Overflow::DropOldest;
    config.max_backoff = Duration::from_millis(200);
    // The first batch is taken after every event below is recorded, however slow the
    // machine: it is the newest 20.
    config.linger = Duration::from_secs(2);
    let client = Client::new(config).expect("client");
    for i in 0..50 {
        client.record(event(i)).await.expect("never waits");
    }
    let stats = client.stats();
    assert_eq!((stats.recorded, stats.dropped), (50, 30), "{stats:?}");
    assert!(stats.buffered <= 20, "bounded: {stats:?}");
    assert!(
        !client.flush(Duration::from_millis(300)).await,
        "nothing can be sent"
    );
    let invalid = client.record(AuditEvent::new("org_a", "usr_1", "Bad", Outcome::Success));
    assert!(matches!(invalid.await, Err(RecordError::Invalid(_))));

    // Up again on the same address: the newest 20 arrive, stored once each.
    let server = start_at(&data, &grpc, false);
    assert!(
        client.flush(Duration::from_secs(20)).await,
        "{:?}",
        client.stats()
    );
    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.dropped, stats.invalid),
        (20, 30, 1),
        "{stats:?}"
    );
    assert_eq!(count(&server, &admin, Some("org_a")).await, 20);
    let page = common::http_get(
        &server.http,
        "/v1/events?tenant=org_a&order=oldest",
        Some(&admin),
    );
    let ids: Vec<String> = page.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect();
    let newest: Vec<String> = (30..50).map(|i| format!("doc_{i}")).collect();
    assert_eq!(ids, newest);
    let stats = client.close(Duration::from_secs(5)).await;
    assert_eq!(stats.buffered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_block_a_full_buffer_makes_the_caller_wait_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (admin, grpc) = started_then_gone(&data);
    let mut config = Config::new(&format!("http://{grpc}"), &admin);
    config.capacity = 5;
    config.batch_size = 5;
    config.overflow = Overflow::Block;
    config.max_backoff = Duration::from_millis(200);
    let client = Client::new(config).expect("client");
    // Five fill the buffer; one more batch may be taken out and held by the sender.
    for i in 0..5 {
        client.record(event(i)).await.expect("room");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 5..10 {
        let _ = client.try_record(event(i));
    }
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.record(event(100)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the caller waits for room");
    let stats = client.stats();
    assert!(stats.buffered <= 5, "{stats:?}");

    let server = start_at(&data, &grpc, false);
    waiting
        .await
        .expect("task")
        .expect("recorded once there was room");
    assert!(client.flush(Duration::from_secs(20)).await);
    let stats = client.stats();
    assert_eq!(stats.sent + stats.dropped, stats.recorded, "{stats:?}");
    assert_eq!(count(&server, &admin, Some("org_a")).await, stats.sent);
    assert!(stats.sent >= 6, "{stats:?}");
    // The batch taken while the server was down was sent again until it was up.
    assert!(stats.retries > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_servers_retry_hint_is_honoured_and_refusals_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        ingest_tenants: vec!["org_a".into()],
        ..Default::default()
    };
    let limits = pb::KeyLimits {
        requests_per_second: None,
        events_per_second: Some(20),
    };
    let slow = create_limited_key(&server, &admin, "twenty a second", scope.clone(), limits).await;
    let mut config = Config::new(&server.url, &slow);
    config.batch_size = 10;
    config.linger = Duration::from_millis(1);
    let client = Client::new(config).expect("client");
    for i in 0..60 {
        client.record(event(i)).await.expect("room");
    }
    assert!(
        client.flush(Duration::from_secs(20)).await,
        "{:?}",
        client.stats()
    );
    let stats = client.stats();
    assert_eq!(stats.sent, 60, "{stats:?}");
    assert!(stats.retries > 0, "the server asked it to wait: {stats:?}");
    assert_eq!(
        count(&server, &admin, Some("org_a")).await,
        60,
        "each stored once"
    );

    // A tenant the key may not write, in one batch with three it may: that event is
    // refused for good, counted, the reason kept; the three others are stored.
    let key = create_key(&server, &admin, "org_a only", scope).await;
    let mut config = Config::new(&server.url, &key);
    config.linger = Duration::from_secs(1);
    let client = Client::new(config).expect("client");
    for i in 100..102 {
        client.record(event(i)).await.expect("recorded");
    }
    let other = AuditEvent::new("org_b", "usr_1", "document.read", Outcome::Success);
    client.record(other).await.expect("recorded");
    client.record(event(102)).await.expect("recorded");
    assert!(client.flush(Duration::from_secs(10)).await);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.rejected), (3, 1), "{stats:?}");
    assert_eq!(count(&server, &admin, Some("org_a")).await, 63);
    let error = client.last_error().expect("the refusal");
    assert_eq!(error.code(), tonic::Code::PermissionDenied);
}
