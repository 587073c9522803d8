//! Sinks against a real receiver on loopback: a Python webhook receiver that verifies
//! every delivery with the Standard Webhooks reference library. Events arrive signed,
//! in batches naming their sequence range, only the sink's tenants, at least once
//! across a failing receiver, a pause, a restart and a replay.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::sink_service_client::SinkServiceClient;
use common::{Server, authed, event};
use serde_json::Value;

/// Events received, by seq: the event and how many times it came.
type Received = BTreeMap<u64, (Value, usize)>;

/// The Python receiver, killed when dropped.
struct Receiver {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Receiver {
    /// Starts a receiver keeping batches in `dir`, verifying with the secret in
    /// `secret_file`, answering 503 to its first `fail` deliveries.
    fn start(dir: &Path, secret_file: &Path, fail: u32) -> Receiver {
        std::fs::create_dir_all(dir).expect("receiver dir");
        let mut child = Command::new(common::python())
            .arg(common::root().join("server/tests/python/webhook_receiver.py"))
            .arg(dir)
            .arg(secret_file)
            .args(["--fail", &fail.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver says its port");
        let port: Value = serde_json::from_str(&line).expect("a JSON line");
        Receiver {
            child,
            url: format!("http://127.0.0.1:{}/hooks/audit", port["port"]),
            dir: dir.to_owned(),
        }
    }

    /// Every event of every verified batch, by seq, with how many times each came; and
    /// the batches' ranges.
    fn received(&self) -> (Received, Vec<(u64, u64)>) {
        let mut events = Received::new();
        let mut ranges = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("receiver dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("batch")).expect("JSON");
            assert_eq!(body["type"], "auditlog.events");
            let data = &body["data"];
            let range = (
                data["from_seq"].as_u64().expect("from_seq"),
                data["to_seq"].as_u64().expect("to_seq"),
            );
            ranges.push(range);
            for e in data["events"].as_array().expect("events") {
                let seq = e["seq"].as_u64().expect("seq");
                assert!(range.0 <= seq && seq < range.1, "{seq} outside {range:?}");
                events.entry(seq).or_insert((e.clone(), 0)).1 += 1;
            }
        }
        ranges.sort_unstable();
        (events, ranges)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to a minute) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn ingest(server: &Server, key: &str, events: Vec<pb::Event>) -> Vec<u64> {
    let mut client = IngestServiceClient::new(server.channel().await);
    let answer = client
        .ingest(authed(pb::IngestRequest { events }, key))
        .await
        .expect("ingested");
    answer.into_inner().seqs
}

async fn sink(server: &Server, key: &str, id: &str) -> pb::SinkInfo {
    let mut client = SinkServiceClient::new(server.channel().await);
    let answer = client
        .list_sinks(authed(pb::ListSinksRequest {}, key))
        .await;
    let sinks = answer.expect("listed").into_inner().sinks;
    sinks.into_iter().find(|s| s.id == id).expect("the sink")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sink_delivers_its_tenants_events_signed_and_at_least_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let secret_file = dir.path().join("secret");
    // The receiver fails its first three deliveries: the sink retries the same batch.
    let receiver = Receiver::start(&dir.path().join("received"), &secret_file, 3);
    let before = ingest(
        &server,
        &admin,
        (0..5)
            .map(|i| event(i, "org_a", "usr_1", "document.read"))
            .collect(),
    )
    .await;

    // A sink of org_a from the log's start, batches of 7.
    let spec = pb::SinkSpec {
        name: "org_a's SIEM".into(),
        scope: Some(pb::SinkScope {
            tenants: vec!["org_a".into()],
            all_tenants: false,
        }),
        filter: None,
        destination: Some(pb::sink_spec::Destination::Webhook(
            pb::WebhookDestination {
                url: receiver.url.clone(),
            },
        )),
        batch_size: 7,
    };
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let request = pb::CreateSinkRequest {
        spec: Some(spec.clone()),
        from_seq: Some(0),
    };
    let created = sinks
        .create_sink(authed(request.clone(), &admin))
        .await
        .expect("created")
        .into_inner();
    let id = created.sink.expect("sink").id;
    assert!(created.secret.starts_with("whsec_"));
    // Only admin keys manage sinks; a bad destination is refused.
    let reader = common::reader_of(&server, &admin, "org_a").await;
    let refused = sinks.create_sink(authed(request.clone(), &reader)).await;
    assert_eq!(
        refused.expect_err("refused").code(),
        tonic::Code::PermissionDenied
    );
    let mut bad = request.clone();
    bad.spec.as_mut().expect("spec").destination = Some(pb::sink_spec::Destination::Webhook(
        pb::WebhookDestination {
            url: "ftp://127.0.0.1/x".into(),
        },
    ));
    let refused = sinks.create_sink(authed(bad, &admin)).await;
    assert_eq!(
        refused.expect_err("refused").code(),
        tonic::Code::InvalidArgument
    );

    // The secret is stored sealed, never in the clear.
    let stored = std::fs::read_to_string(data.join("server/sinks.json")).expect("sinks.json");
    assert!(!stored.contains(&created.secret) && stored.contains(&id));
    std::fs::write(&secret_file, &created.secret).expect("secret");

    let mut org_a = before.clone();
    for round in 0..3u32 {
        let events = (0..20)
            .map(|i| {
                let tenant = if i % 2 == 0 { "org_a" } else { "org_b" };
                event(100 * (round + 1) + i, tenant, "usr_2", "invoice.approve")
            })
            .collect();
        let seqs = ingest(&server, &admin, events).await;
        org_a.extend(seqs.iter().step_by(2));
    }
    wait_for("every org_a event", || {
        receiver.received().0.len() == org_a.len()
    });
    let (events, ranges) = receiver.received();
    assert_eq!(events.keys().copied().collect::<Vec<_>>(), org_a);
    // As sent, seq included; no other tenant's; none twice once acknowledged.
    for (seq, (event, times)) in &events {
        assert_eq!(event["organization"]["id"], "org_a", "{seq}");
        assert_eq!(*times, 1, "{seq} came {times} times");
    }
    assert!(ranges.iter().all(|(from, to)| from < to));
    assert!(receiver.log("rejected.log").is_empty());
    // The three failures were retries of the first batch, under its webhook-id.
    let attempts = receiver.log("attempts.log");
    let first: Vec<&str> = attempts.lines().take(4).collect();
    assert!(first.iter().all(|m| *m == first[0]), "{first:?}");
    let info = sink(&server, &admin, &id).await;
    assert_eq!(info.failures, 0);
    assert_eq!(info.delivered, org_a.len() as u64);
    let metrics = common::http_get(&server.http, "/metrics", Some(&admin)).text();
    let delivered = format!(
        "auditlog_sink_delivered_events_total{{sink=\"{id}\"}} {}",
        org_a.len()
    );
    assert!(metrics.contains(&delivered), "{metrics}");
    assert!(metrics.contains(&format!("auditlog_sink_failing{{sink=\"{id}\"}} 0")));

    // Paused, nothing is delivered; resumed, it is.
    let pause = pb::SinkRequest { id: id.clone() };
    sinks
        .pause_sink(authed(pause.clone(), &admin))
        .await
        .expect("paused");
    let more = ingest(
        &server,
        &admin,
        vec![event(900, "org_a", "usr_3", "user.update")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!receiver.received().0.contains_key(&more[0]));
    assert_eq!(sink(&server, &admin, &id).await.state, "paused");
    sinks
        .resume_sink(authed(pause.clone(), &admin))
        .await
        .expect("resumed");
    wait_for("the event after the pause", || {
        receiver.received().0.contains_key(&more[0])
    });

    // A restart resends nothing acknowledged; new events still come.
    wait_for("the cursor at the end", || {
        std::fs::read_to_string(data.join(format!("server/sinks/{id}.cursor")))
            .is_ok_and(|c| c.split(' ').next().and_then(|c| c.parse::<u64>().ok()) > Some(more[0]))
    });
    let _ = server.terminate();
    let server = Server::start(&data, false, &[]);
    let after = ingest(
        &server,
        &admin,
        vec![event(901, "org_a", "usr_3", "user.update")],
    )
    .await;
    wait_for("the event after the restart", || {
        receiver.received().0.contains_key(&after[0])
    });
    let (events, _) = receiver.received();
    assert!(events.values().all(|(_, times)| *times == 1));

    // Replayed from the start: everything comes again.
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let replay = pb::ReplaySinkRequest {
        id: id.clone(),
        from: Some(pb::replay_sink_request::From::Seq(0)),
    };
    sinks
        .replay_sink(authed(replay, &admin))
        .await
        .expect("replayed");
    wait_for("every event twice", || {
        receiver.received().0.values().all(|(_, times)| *times == 2)
    });

    // The changes are in the log's own tenant.
    let system = common::query_pages(
        &server,
        &admin,
        pb::QueryRequest {
            filter: Some(pb::Filter {
                tenant: Some("_system".into()),
                actions: vec!["auditlog.sink.*".into()],
                ..Default::default()
            }),
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(system.len(), 4, "create, pause, resume, replay");

    // Deleted: gone, with its cursor.
    sinks
        .delete_sink(authed(pb::SinkRequest { id: id.clone() }, &admin))
        .await
        .expect("deleted");
    let listed = sinks
        .list_sinks(authed(pb::ListSinksRequest {}, &admin))
        .await
        .expect("listed");
    assert!(listed.into_inner().sinks.is_empty());
    assert!(!data.join(format!("server/sinks/{id}.cursor")).exists());
}

/// A receiver that keeps failing makes the sink failing (recorded, in the metrics), and
/// its place is kept: once the receiver recovers, every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_whose_receiver_keeps_failing_is_marked_and_keeps_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let secret_file = dir.path().join("secret");
    let received = dir.path().join("received");
    let receiver = Receiver::start(&received, &secret_file, 0);
    std::fs::write(received.join("failing"), b"").expect("failing");
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let spec = pb::SinkSpec {
        name: "everything".into(),
        scope: Some(pb::SinkScope {
            tenants: Vec::new(),
            all_tenants: true,
        }),
        filter: Some(pb::Filter {
            actions: vec!["invoice.*".into()],
            ..Default::default()
        }),
        destination: Some(pb::sink_spec::Destination::Webhook(
            pb::WebhookDestination {
                url: receiver.url.clone(),
            },
        )),
        batch_size: 0,
    };
    let created = sinks
        .create_sink(authed(
            pb::CreateSinkRequest {
                spec: Some(spec),
                from_seq: None,
            },
            &admin,
        ))
        .await
        .expect("created")
        .into_inner();
    let id = created.sink.expect("sink").id;
    std::fs::write(&secret_file, &created.secret).expect("secret");
    let events: Vec<pb::Event> = (0..30)
        .map(|i| {
            let action = if i % 3 == 0 {
                "invoice.pay"
            } else {
                "document.read"
            };
            event(i, &format!("org_{}", i % 4), "usr_1", action)
        })
        .collect();
    let seqs = ingest(&server, &admin, events).await;
    let wanted: Vec<u64> = seqs.iter().copied().step_by(3).collect();
    wait_for("the sink to be failing", || {
        let text = common::http_get(&server.http, "/metrics", Some(&admin)).text();
        text.contains(&format!("auditlog_sink_failing{{sink=\"{id}\"}} 1"))
    });
    let info = sink(&server, &admin, &id).await;
    assert_eq!(info.state, "failing");
    assert!(info.failures >= 5);
    assert!(
        info.last_error
            .as_deref()
            .is_some_and(|e| e.contains("503")),
        "{info:?}"
    );
    assert!(receiver.received().0.is_empty());
    std::fs::remove_file(received.join("failing")).expect("recovers");
    wait_for("every invoice event", || {
        receiver.received().0.keys().copied().collect::<Vec<_>>() == wanted
    });
    let recorded = |action: &str| {
        let request = pb::QueryRequest {
            filter: Some(pb::Filter {
                tenant: Some("_system".into()),
                actions: vec![action.into()],
                ..Default::default()
            }),
            page_size: 100,
            ..Default::default()
        };
        common::query_pages(&server, &admin, request)
    };
    assert_eq!(recorded("auditlog.sink.failing").await.len(), 1);
    wait_for("the recovery on record", || {
        let runtime = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| runtime.block_on(recorded("auditlog.sink.recovered"))).len()
            == 1
    });
    assert_eq!(sink(&server, &admin, &id).await.failures, 0);
}
