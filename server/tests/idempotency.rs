//! Idempotent ingest on the real `auditlogd`: a client sends batches whose events carry
//! ids, the server is killed (SIGKILL) while batches are in flight, and the client,
//! knowing only which acks it got, sends every batch again to the restarted server. Each
//! event is then stored exactly once, and each batch acknowledged before the kill is
//! acknowledged again with its original sequence numbers.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, count, event};
use tonic::Code;

const BATCHES: u32 = 40;
const EVENTS: u32 = 250;

fn batch(b: u32) -> pb::IngestRequest {
    let events = (0..EVENTS)
        .map(|i| {
            let mut e = event(b * EVENTS + i, "org_a", "usr_1", "document.read");
            e.event_id = Some(format!("b{b}-e{i}"));
            e
        })
        .collect();
    pb::IngestRequest { events }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_retrying_after_a_kill_stores_each_event_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &["--durability", "always"]);
    let admin = server.admin_key.clone().expect("admin key");

    // Eight clients send the batches; the server dies after the fifth ack.
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = IngestServiceClient::new(server.channel().await);
        let (next, acked, admin) = (Arc::clone(&next), Arc::clone(&acked), admin.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = BTreeMap::new();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed) as u32;
                if b >= BATCHES {
                    return answers;
                }
                match client.ingest(authed(batch(b), &admin)).await {
                    Ok(ack) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                        answers.insert(b, ack.into_inner().seqs);
                    }
                    // The server is gone: this batch may or may not be stored.
                    Err(_) => return answers,
                }
            }
        }));
    }
    while acked.load(Ordering::Relaxed) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    drop(server); // SIGKILL
    let mut before = BTreeMap::new();
    for task in tasks {
        before.extend(task.await.expect("client task"));
    }
    assert!(
        before.len() >= 5 && before.len() < BATCHES as usize,
        "{}",
        before.len()
    );

    // The retry: every batch again, to the restarted server.
    let server = Server::start(&data, false, &[]);
    let mut client = IngestServiceClient::new(server.channel().await);
    let mut replayed = 0;
    let mut numbers = std::collections::BTreeSet::new();
    for b in 0..BATCHES {
        let ack = client
            .ingest(authed(batch(b), &admin))
            .await
            .expect("the retry is answered")
            .into_inner();
        assert_eq!(ack.seqs.len(), EVENTS as usize);
        if let Some(original) = before.get(&b) {
            assert!(ack.replayed, "batch {b} was acknowledged before the kill");
            assert_eq!(&ack.seqs, original, "batch {b}: the original numbers");
        }
        replayed += usize::from(ack.replayed);
        numbers.extend(ack.seqs);
    }
    assert!(replayed >= before.len());
    assert_eq!(
        numbers.len(),
        (BATCHES * EVENTS) as usize,
        "no number given twice"
    );
    let counted = count(&server, &admin, Some("org_a")).await;
    assert_eq!(
        counted,
        u64::from(BATCHES * EVENTS),
        "every event exactly once"
    );

    // Re-batched after the failure: stored and new events mixed are refused whole.
    let mut mixed = batch(0);
    mixed
        .events
        .push(event(0, "org_a", "usr_1", "document.read"));
    let refused = client
        .ingest(authed(mixed, &admin))
        .await
        .expect_err("mixed");
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
}
