//! Backpressure and limits on the real `auditlogd`: a key's rates answer
//! RESOURCE_EXHAUSTED over gRPC and 429 over HTTP, each with the time to wait; a request
//! over the size limit is refused; a flood of large batches is refused beyond the
//! in-flight budget rather than buffered, and what was refused is not stored.

mod common;

use std::time::Duration;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{Server, authed, count, create_limited_key, event, http_get};
use tonic::Code;
use tonic_types::StatusExt;

fn batch(first: u32, n: u32, tenant: &str, padding: usize) -> pb::IngestRequest {
    let events = (first..first + n)
        .map(|i| {
            let mut e = event(i, tenant, "usr_1", "document.read");
            if padding > 0 {
                e.metadata_json = Some(format!(r#"{{"i":{i},"pad":"{}"}}"#, "x".repeat(padding)));
            }
            e
        })
        .collect();
    pb::IngestRequest { events }
}

fn retry_delay(status: &tonic::Status) -> Duration {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_else(|| panic!("a RetryInfo detail: {status:?}"))
}

/// Peak and current resident memory of process `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_rates_are_enforced_over_grpc_and_http_with_a_retry_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let everything = pb::Scope {
        ingest_all_tenants: true,
        read_all_tenants: true,
        ..Default::default()
    };
    let slow_reader = create_limited_key(
        &server,
        &admin,
        "two requests a second",
        everything.clone(),
        pb::KeyLimits {
            requests_per_second: Some(2),
            events_per_second: None,
        },
    )
    .await;
    let writer = create_limited_key(
        &server,
        &admin,
        "a hundred events a second",
        everything,
        pb::KeyLimits {
            requests_per_second: None,
            events_per_second: Some(100),
        },
    )
    .await;

    // Two requests pass; the third, within the same second, is told to wait.
    let mut query = QueryServiceClient::new(server.channel().await);
    for _ in 0..2 {
        let request = authed(pb::CountRequest::default(), &slow_reader);
        query.count(request).await.expect("within the rate");
    }
    let request = authed(pb::CountRequest::default(), &slow_reader);
    let refused = query.count(request).await.expect_err("over the rate");
    let wait = retry_delay(&refused);
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(500),
        "{wait:?}"
    );
    assert!(refused.message().contains("2 requests/s"), "{refused:?}");
    // The same bucket over HTTP: 429, Retry-After in whole seconds, the JSON error.
    let answer = http_get(&server.http, "/v1/events/count", Some(&slow_reader));
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.json()["error"]["code"], "RESOURCE_EXHAUSTED");
    // After the wait it passes again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let request = authed(pb::CountRequest::default(), &slow_reader);
    query.count(request).await.expect("after the wait");

    // Events: a hundred pass, the next batch is refused and not stored.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let acked = ingest
        .ingest(authed(batch(0, 100, "org_a", 0), &writer))
        .await
        .expect("within the rate")
        .into_inner();
    assert_eq!(acked.seqs.len(), 100);
    let refused = ingest
        .ingest(authed(batch(100, 50, "org_a", 0), &writer))
        .await
        .expect_err("over the rate");
    let wait = retry_delay(&refused);
    assert!(
        wait > Duration::from_millis(300),
        "{wait:?}: half a second's worth"
    );
    assert_eq!(
        count(&server, &admin, Some("org_a")).await,
        100,
        "nothing of the refused batch"
    );
    tokio::time::sleep(wait).await;
    ingest
        .ingest(authed(batch(100, 50, "org_a", 0), &writer))
        .await
        .expect("after the wait");
    assert_eq!(count(&server, &admin, Some("org_a")).await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &["--max-request-mib", "1"]);
    let admin = server.admin_key.clone().expect("admin key");
    let mut ingest = IngestServiceClient::new(server.channel().await);
    // About 2 MiB encoded.
    let big = batch(0, 200, "org_a", 10_000);
    let refused = ingest
        .ingest(authed(big, &admin))
        .await
        .expect_err("over 1 MiB");
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");
    let fits = batch(0, 50, "org_a", 10_000);
    ingest
        .ingest(authed(fits, &admin))
        .await
        .expect("under 1 MiB");
    assert_eq!(count(&server, &admin, Some("org_a")).await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_beyond_the_budget_not_buffered() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Acknowledgements come every 100 ms, so admitted batches hold the budget a while.
    let args = ["--max-in-flight-mib", "4", "--durability", "interval:100"];
    let server = Server::start(&dir.path().join("data"), true, &args);
    let admin = server.admin_key.clone().expect("admin key");
    let pid = server.pid();
    let (_, before) = memory_kib(pid);

    // 64 clients at once over 4 connections, each sending three batches of about 512 KiB:
    // 32 MiB offered at a time against a budget of 4.
    let mut tasks = Vec::new();
    for c in 0..4 {
        let channel = server.channel().await;
        for t in 0..16u32 {
            let mut client = IngestServiceClient::new(channel.clone());
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                let (mut acked, mut refused) = (0u64, Vec::new());
                for round in 0..3u32 {
                    let first = ((c * 16 + t) * 3 + round) * 100;
                    let request = authed(batch(first, 100, "org_a", 5_000), &admin);
                    match client.ingest(request).await {
                        Ok(ack) => acked += ack.into_inner().seqs.len() as u64,
                        Err(status) => refused.push(status),
                    }
                }
                (acked, refused)
            }));
        }
    }
    let (mut acked, mut refused) = (0, Vec::new());
    for task in tasks {
        let (a, r) = task.await.expect("client task");
        acked += a;
        refused.extend(r);
    }
    assert!(
        !refused.is_empty(),
        "32 MiB at once must overrun a 4 MiB budget"
    );
    for status in &refused {
        let wait = retry_delay(status);
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }
    assert!(acked > 0, "the budget admits some");
    assert_eq!(
        count(&server, &admin, Some("org_a")).await,
        acked,
        "refused batches are not stored"
    );
    // The server held the budget plus the requests being decoded (at most the 64 sent
    // at once, twice over as bytes and as messages), never the flood: its peak grew by
    // far less than the 96 MiB sent.
    let (peak, _) = memory_kib(pid);
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "peak resident memory grew by {grown_mib} MiB; {} batches refused",
        refused.len()
    );
    assert!(
        grown_mib < 72,
        "peak resident memory grew by {grown_mib} MiB"
    );
}
