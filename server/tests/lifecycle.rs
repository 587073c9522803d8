//! SIGTERM under load: the real `auditlogd` stops taking requests, finishes the batches
//! in flight, acknowledges what is durable and exits 0; after a restart every event it
//! acknowledged is there, and nothing beyond the batches that were in flight.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, event, http_get};

const CLIENTS: usize = 8;
const EVENTS: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_acknowledges_what_is_durable_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &["--durability", "always"]);
    let admin = server.admin_key.clone().expect("admin key");

    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS as u32 {
        let mut client = IngestServiceClient::new(server.channel().await);
        let (acked, admin) = (Arc::clone(&acked), admin.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for b in 0u32.. {
                let events = (0..EVENTS)
                    .map(|i| {
                        event(
                            (c * 1000 + b) * EVENTS + i,
                            "org_a",
                            "usr_1",
                            "document.read",
                        )
                    })
                    .collect();
                match client
                    .ingest(authed(pb::IngestRequest { events }, &admin))
                    .await
                {
                    Ok(ack) => {
                        seqs.extend(ack.into_inner().seqs);
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    // Refused (the server is stopping) or cut: this batch is not acked.
                    Err(_) => break,
                }
            }
            seqs
        }));
    }
    while acked.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let (status, stdout) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminated");
    assert!(status.success(), "{status:?}");
    assert_eq!(stdout, "");
    let mut acknowledged = BTreeSet::new();
    for task in tasks {
        acknowledged.extend(task.await.expect("client task"));
    }
    assert!(acknowledged.len() >= 10 * EVENTS as usize);

    let server = Server::start(&data, false, &[]);
    let mut stored = BTreeSet::new();
    let mut path = "/v1/events?tenant=org_a&order=oldest&limit=1000".to_owned();
    loop {
        let page = http_get(&server.http, &path, Some(&admin));
        assert_eq!(page.status, 200, "{}", page.text());
        let body = page.json();
        for e in body["events"].as_array().expect("events") {
            stored.insert(e["seq"].as_u64().expect("seq"));
        }
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/events?tenant=org_a&order=oldest&limit=1000&cursor={c}"),
            None => break,
        }
    }
    assert!(
        acknowledged.is_subset(&stored),
        "{} acknowledged events missing",
        acknowledged.difference(&stored).count()
    );
    // Beyond them, at most the batches that were in flight when the signal came.
    let unacknowledged = stored.len() - acknowledged.len();
    assert!(
        unacknowledged <= CLIENTS * EVENTS as usize,
        "{unacknowledged}"
    );
}
