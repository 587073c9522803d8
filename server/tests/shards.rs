//! Tenant shards: three `auditlogd` nodes on loopback, each with its own log, share one
//! shard map in a real etcd (Debian's `etcd-server`). A tenant's first write claims it
//! for the node it reaches; a node refuses the events of another node's tenant, naming
//! that node (gRPC metadata, HTTP error member), and never stores them; a node killed
//! with `kill -9` keeps its tenants (their events are refused, not stored elsewhere,
//! while it is down) and writes them again once restarted. A tenant moves from one node
//! to another while a client keeps writing it (following the redirects, trying again
//! while it moves), and its bundles of the two logs verify as one chain with
//! `auditlog verify-bundle`. Every acknowledged event is then in exactly one log: the
//! one that acknowledged it.

mod common;
#[path = "common/etcd.rs"]
mod etcd_service;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auditlog_client::{AuditEvent, Client, Config, Outcome};
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, auditlog_bin, authed, create_key, event, http_get, http_request};
use etcd_service::{etcd_url, fresh_cluster};

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One node: its process, its ports (kept across restarts) and its admin key.
struct Node {
    name: String,
    data: std::path::PathBuf,
    grpc: u16,
    http: u16,
    key: String,
    server: Option<Server>,
}

impl Node {
    fn command(&self, cluster: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
        command
            .arg("--data")
            .arg(&self.data)
            .args(["--grpc", &format!("127.0.0.1:{}", self.grpc)])
            .args(["--http", &format!("127.0.0.1:{}", self.http)])
            .args(["--cluster-etcd", etcd_url(), "--cluster", cluster])
            .args(["--node", &self.name, "--lease-seconds", "3"])
            .args(["--advertise-grpc", &self.grpc_url()])
            .args([
                "--advertise-http",
                &format!("http://127.0.0.1:{}", self.http),
            ]);
        command
    }

    fn start(dir: &Path, name: &str, cluster: &str) -> Node {
        let mut node = Node {
            name: name.to_owned(),
            data: dir.join(name),
            grpc: free_port(),
            http: free_port(),
            key: String::new(),
            server: None,
        };
        let server = Server::launch(node.command(cluster), true);
        node.key = server.admin_key.clone().expect("an admin key");
        node.server = Some(server);
        node
    }

    fn restart(&mut self, cluster: &str) {
        self.server = Some(Server::launch(self.command(cluster), false));
    }

    fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http)
    }

    /// `kill -9`.
    fn kill(&mut self) {
        drop(self.server.take());
    }

    /// Every event of the node's log outside `_system`: (tenant, resource id).
    fn stored(&self) -> Vec<(String, String)> {
        let answer = http_get(&self.http_addr(), "/v1/export", Some(&self.key));
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer
            .text()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
            .filter(|e| e["organization"]["id"] != "_system")
            .map(|e| {
                let field = |v: &serde_json::Value| v.as_str().expect("text").to_owned();
                (field(&e["organization"]["id"]), field(&e["resource"]["id"]))
            })
            .collect()
    }
}

/// `POST path` with `body` to etcd's JSON gateway: its answer.
async fn etcd(path: &str, body: serde_json::Value) -> serde_json::Value {
    // reqwest's TLS needs a provider installed (the server installs the same one).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new()
        .post(format!("{}{path}", etcd_url()))
        .body(body.to_string())
        .send()
        .await
        .expect("etcd answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    serde_json::from_slice(&answer.bytes().await.expect("a body")).expect("JSON")
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What a node answered a batch of one tenant's events.
enum Sent {
    Stored,
    /// Refused: that tenant is written by the node at this gRPC URL.
    Elsewhere(String),
    Refused(tonic::Status),
}

async fn send(node: &Node, tenant: &str, first: u32, count: u32) -> Sent {
    send_to(&node.grpc_url(), &node.key, tenant, first, count).await
}

async fn send_to(url: &str, key: &str, tenant: &str, first: u32, count: u32) -> Sent {
    let events = (first..first + count)
        .map(|i| event(i, tenant, "usr_1", "document.read"))
        .collect();
    let Ok(mut client) = IngestServiceClient::connect(url.to_owned()).await else {
        return Sent::Refused(tonic::Status::unavailable("connection refused"));
    };
    match client
        .ingest(authed(pb::IngestRequest { events }, key))
        .await
    {
        Ok(_) => Sent::Stored,
        Err(status) => match status.metadata().get("auditlog-writer-grpc") {
            Some(url) if status.code() == tonic::Code::FailedPrecondition => {
                Sent::Elsewhere(url.to_str().expect("ASCII").to_owned())
            }
            _ => Sent::Refused(status),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_write_each_tenant_in_one_log_through_redirects_and_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = fresh_cluster("shards");
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| Node::start(dir.path(), name, &cluster))
        .collect();
    let tenants: Vec<String> = (0..12).map(|i| format!("org_{i}")).collect();
    // Each acknowledged event, and the node that acknowledged it.
    let mut acked: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut writer: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0u32;
    let mut record = |tenant: &str, first: u32, count: u32, at: usize| {
        for i in first..first + count {
            acked.insert((tenant.to_owned(), format!("doc_{i}")), at);
        }
    };

    // Round one: each tenant's first batch claims it for the node it is sent to.
    for (i, tenant) in tenants.iter().enumerate() {
        let at = i % 3;
        assert!(matches!(
            send(&nodes[at], tenant, next, 20).await,
            Sent::Stored
        ));
        record(tenant, next, 20, at);
        writer.insert(tenant.clone(), at);
        next += 20;
    }
    // Round two, to the wrong nodes: refused there, naming the writer; sent on, stored.
    for (i, tenant) in tenants.iter().enumerate() {
        let wrong = (i + 1) % 3;
        match send(&nodes[wrong], tenant, next, 20).await {
            Sent::Elsewhere(url) => {
                assert_eq!(url, nodes[writer[tenant]].grpc_url(), "{tenant}");
                let owner = nodes.iter().position(|n| n.grpc_url() == url);
                let owner = owner.expect("a node");
                let sent = send(&nodes[owner], tenant, next, 20).await;
                assert!(matches!(sent, Sent::Stored));
                record(tenant, next, 20, owner);
            }
            _ => panic!("{tenant} at the wrong node was not redirected"),
        }
        next += 20;
    }
    // Over HTTP, the same refusal: the event's error names the node; the shard map says
    // where each tenant goes.
    let line = serde_json::json!({
        "timestamp": "2026-03-01T00:00:00Z",
        "actor": {"user_id": "usr_1"},
        "organization": {"id": "org_0"},
        "action": "document.read",
        "outcome": "success",
    })
    .to_string();
    let answer = http_request(
        &nodes[1].http_addr(),
        "POST",
        "/v1/events",
        Some(&nodes[1].key),
        &[("content-type", "application/x-ndjson")],
        line.as_bytes(),
    );
    let body = answer.json();
    assert_eq!(body["accepted"], 0, "{body}");
    let error = &body["results"][0]["error"];
    assert_eq!(error["code"], "FAILED_PRECONDITION", "{body}");
    assert_eq!(error["writer"]["node"], "n1", "{body}");
    // A stream's refused batch names the writer too.
    let batches = vec![pb::IngestRequest {
        events: vec![event(next, "org_1", "usr_1", "document.read")],
    }];
    let answer = IngestServiceClient::connect(nodes[0].grpc_url())
        .await
        .expect("n1")
        .ingest_stream(authed(tokio_stream::iter(batches), &nodes[0].key))
        .await
        .expect("an answer")
        .into_inner();
    let refused = answer.refused.expect("refused");
    let named = refused.writer.expect("the writer named");
    assert_eq!(
        (named.tenant.as_str(), named.node.as_str()),
        ("org_1", "n2")
    );
    assert_eq!(named.grpc, nodes[1].grpc_url());
    assert!(answer.acks.is_empty());
    next += 1;
    let found = http_get(
        &nodes[2].http_addr(),
        "/v1/cluster/writer?tenant=org_1",
        Some(&nodes[2].key),
    )
    .json();
    assert_eq!(found["node"], "n2", "{found}");
    assert_eq!(found["grpc"], nodes[1].grpc_url().as_str(), "{found}");
    let map = http_get(&nodes[0].http_addr(), "/v1/cluster", Some(&nodes[0].key)).json();
    assert_eq!(
        map["tenants"].as_object().map(|t| t.len()),
        Some(12),
        "{map}"
    );
    assert_eq!(map["nodes"].as_array().map(Vec::len), Some(3), "{map}");

    // org_0 moves from n1 to n2 while a client keeps writing it, one event at a time:
    // redirected by n1 once it has moved, refused (UNAVAILABLE) while it moves, never
    // stored twice.
    let moving = "org_0";
    assert_eq!(writer[moving], 0);
    let routes: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.grpc_url(), n.key.clone()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let client = tokio::spawn({
        let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
        async move {
            let (mut stored, mut doc, mut at) = (Vec::new(), 1_000_000u32, 0usize);
            while !stop.load(Ordering::Relaxed) {
                match send_to(&routes[at].0, &routes[at].1, moving, doc, 1).await {
                    Sent::Stored => {
                        stored.push((doc, at));
                        count.fetch_add(1, Ordering::Relaxed);
                        doc += 1;
                    }
                    Sent::Elsewhere(url) => {
                        at = routes.iter().position(|r| r.0 == url).expect("a node");
                    }
                    Sent::Refused(s) if s.code() == tonic::Code::Unavailable => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Sent::Refused(s) => panic!("{s:?}"),
                }
            }
            stored
        }
    });
    let wait_for = |n: usize| {
        let count = Arc::clone(&count);
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            while count.load(Ordering::Relaxed) < n {
                assert!(
                    Instant::now() < deadline,
                    "the client stored {n} events in 15 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(10).await;
    let body = serde_json::json!({"tenant": moving, "to": "n2"}).to_string();
    let moved = http_request(
        &nodes[0].http_addr(),
        "POST",
        "/v1/cluster/move",
        Some(&nodes[0].key),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(moved.status, 200, "{}", moved.text());
    let moved = moved.json();
    assert_eq!(
        (moved["from"].as_str(), moved["to"].as_str()),
        (Some("n1"), Some("n2"))
    );
    let handed_over_seq = moved["handed_over_seq"].as_u64().expect("a seq");
    let at_move = count.load(Ordering::Relaxed);
    wait_for(at_move + 10).await;
    stop.store(true, Ordering::Relaxed);
    let stored = client.await.expect("the client");
    for &(doc, at) in &stored {
        record(moving, doc, 1, at);
    }
    let places: Vec<usize> = stored.iter().map(|&(_, at)| at).collect();
    let switch = places.iter().position(|&at| at == 1).expect("stored on n2");
    assert!(switch > 0, "stored on n1 before the move");
    assert!(places[switch..].iter().all(|&at| at == 1), "{places:?}");
    assert!(places[..switch].iter().all(|&at| at == 0), "{places:?}");
    writer.insert(moving.to_owned(), 1);
    // The map says so, and n1 now sends its events on.
    let found = http_get(
        &nodes[2].http_addr(),
        &format!("/v1/cluster/writer?tenant={moving}"),
        Some(&nodes[2].key),
    )
    .json();
    assert_eq!(found["node"], "n2", "{found}");
    match send(&nodes[0], moving, next, 1).await {
        Sent::Elsewhere(url) => assert_eq!(url, nodes[1].grpc_url()),
        _ => panic!("n1 did not redirect its moved tenant"),
    }
    // A client cannot write a hand-over record of its own.
    let forged = {
        let mut e = event(next, "org_5", "usr_1", "auditlog.tenant.handed_over");
        e.metadata_json = Some("{}".into());
        e
    };
    let mut client = IngestServiceClient::connect(nodes[2].grpc_url())
        .await
        .unwrap();
    let refused = client
        .ingest(authed(
            pb::IngestRequest {
                events: vec![forged],
            },
            &nodes[2].key,
        ))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    next += 1;

    // The API keys are the cluster's: a key made on n1 works on n2 and n3 within
    // seconds. The client crate, given n3 and that key alone, sends every tenant's
    // events to its node, following the redirects.
    let scope = pb::Scope {
        ingest_all_tenants: true,
        read_all_tenants: true,
        ..Default::default()
    };
    let n1 = nodes[0].server.as_ref().expect("n1 runs");
    let shared = create_key(n1, &nodes[0].key, "the app", scope).await;
    let answers_everywhere = |key: &str, status: u16| {
        nodes.iter().all(|node| {
            let path = "/v1/cluster/writer?tenant=org_1";
            http_get(&node.http_addr(), path, Some(key)).status == status
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !answers_everywhere(&shared, 200) {
        assert!(
            Instant::now() < deadline,
            "n1's key unknown elsewhere after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let app = Client::new(Config::new(&nodes[2].grpc_url(), &shared)).expect("a client");
    for tenant in &tenants {
        for _ in 0..10 {
            let event = AuditEvent::new(tenant, "usr_1", "document.read", Outcome::Success)
                .resource("document", &format!("doc_{next}"));
            app.record(event).await.expect("recorded");
            record(tenant, next, 1, writer[tenant]);
            next += 1;
        }
    }
    let stats = app.close(Duration::from_secs(30)).await;
    assert_eq!((stats.sent, stats.rejected), (120, 0), "{stats:?}");
    // Eight of the twelve tenants are another node's than n3's: each redirected once.
    let elsewhere = tenants.iter().filter(|t| writer[*t] != 2).count() as u64;
    assert_eq!(stats.redirects, elsewhere, "{stats:?}");
    // Reads of a tenant go to its node too: n3 holds none of org_1's events and names
    // n2 (HTTP: the error's `writer`); `auditlog query --server` follows it with the same
    // key, and counts what n2 holds.
    let asked = "/v1/events?tenant=org_1";
    let refused = http_get(&nodes[2].http_addr(), asked, Some(&shared));
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["writer"]["node"], "n2");
    let there = http_get(
        &nodes[1].http_addr(),
        "/v1/events/count?tenant=org_1",
        Some(&shared),
    )
    .json();
    let out = Command::new(auditlog_bin())
        .args(["query", "--server", &nodes[2].grpc_url(), "--key", &shared])
        .args(["--tenant", "org_1", "--count", "--format", "json"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("on node n2"), "{said}");
    let counted: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(counted["count"], there["count"], "{counted} {there}");
    assert!(counted["count"].as_u64() > Some(0), "{counted}");
    // Revoked on n2, another node's key: refused everywhere within seconds.
    let id = shared.split('_').nth(1).expect("an id").to_owned();
    let n2 = nodes[1].server.as_ref().expect("n2 runs");
    AdminServiceClient::new(n2.channel().await)
        .revoke_key(authed(pb::RevokeKeyRequest { id }, &nodes[1].key))
        .await
        .expect("revoked");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !answers_everywhere(&shared, 401) {
        assert!(
            Instant::now() < deadline,
            "the key still works somewhere 15 s on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // n3 loses its lease, and its name is taken meanwhile: it refuses every write until
    // it holds a lease again, then writes its tenants again.
    let n3_tenant = tenants
        .iter()
        .find(|t| writer[*t] == 2)
        .expect("one of n3's");
    let prefix = format!("/auditlog/{cluster}/nodes/n3");
    let held = etcd("/v3/kv/range", serde_json::json!({ "key": b64(&prefix) })).await;
    let lease = held["kvs"][0]["lease"]
        .as_str()
        .expect("n3's lease")
        .to_owned();
    etcd("/v3/lease/revoke", serde_json::json!({ "ID": lease })).await;
    etcd(
        "/v3/kv/put",
        serde_json::json!({ "key": b64(&prefix), "value": b64("{}") }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        next += 1;
        match send(&nodes[2], n3_tenant, next, 1).await {
            Sent::Refused(s) if s.code() == tonic::Code::Unavailable => break s,
            Sent::Refused(s) => panic!("{s:?}"),
            // Within the lease it counted alive, by its own clock: stored.
            Sent::Stored => record(n3_tenant, next, 1, 2),
            Sent::Elsewhere(url) => panic!("n3's tenant sent to {url}"),
        }
        assert!(
            Instant::now() < deadline,
            "n3 still writes 15 s after its lease"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(refused.message().contains("lease"), "{refused:?}");
    etcd(
        "/v3/kv/deleterange",
        serde_json::json!({ "key": b64(&prefix) }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        next += 1;
        if let Sent::Stored = send(&nodes[2], n3_tenant, next, 1).await {
            record(n3_tenant, next, 1, 2);
            break;
        }
        assert!(Instant::now() < deadline, "n3 writes nothing 15 s after");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    next += 1;

    // n2 is killed: its tenants' events are refused everywhere, stored nowhere; once
    // its lease has ended, as a node that is down (UNAVAILABLE).
    nodes[1].kill();
    let theirs: Vec<String> = tenants
        .iter()
        .filter(|t| writer[*t] == 1)
        .cloned()
        .collect();
    // A client with events of n2's tenants, given n1, while n2 is down (its lease still
    // alive at first): nothing refused for good, every event stored once n2 is back.
    let waiting = Client::new(Config::new(&nodes[0].grpc_url(), &nodes[0].key)).expect("a client");
    for tenant in &theirs {
        for _ in 0..5 {
            let event = AuditEvent::new(tenant, "usr_1", "document.read", Outcome::Success)
                .resource("document", &format!("doc_{next}"));
            waiting.record(event).await.expect("recorded");
            record(tenant, next, 1, 1);
            next += 1;
        }
    }
    for tenant in &theirs {
        match send(&nodes[0], tenant, next, 5).await {
            Sent::Elsewhere(url) => assert_eq!(url, nodes[1].grpc_url()),
            Sent::Refused(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}")
            }
            Sent::Stored => panic!("{tenant} stored on n1 while n2 is down"),
        }
        next += 5;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let down = loop {
        next += 5;
        match send(&nodes[0], &theirs[0], next, 5).await {
            Sent::Refused(s) if s.code() == tonic::Code::Unavailable => break s,
            Sent::Stored => panic!("stored on n1 while n2 is down"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "n2 still counted live 15 s after its kill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(down.message().contains("not a live member"), "{down:?}");
    next += 5;
    // Restarted (once its old lease has ended), it writes them again; a new tenant
    // goes to whichever node it reaches first.
    nodes[1].restart(&cluster);
    let stats = waiting.close(Duration::from_secs(60)).await;
    let expected = 5 * theirs.len() as u64;
    assert_eq!((stats.sent, stats.rejected), (expected, 0), "{stats:?}");
    for tenant in &theirs {
        assert!(matches!(
            send(&nodes[1], tenant, next, 20).await,
            Sent::Stored
        ));
        record(tenant, next, 20, 1);
        next += 20;
    }

    // Every acknowledged event in exactly one log: its tenant's writer's.
    let mut seen: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for stored in node.stored() {
            seen.entry(stored).or_default().push(n);
        }
    }
    for (event, &node) in &acked {
        let at = seen.get(event).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(at, [node], "{event:?}");
    }
    // Besides them, only org_0's two hand-over records.
    assert_eq!(
        seen.len(),
        acked.len() + 2,
        "nothing stored that was not acknowledged"
    );

    // org_0's bundles of n1 and n2 verify as one chain from n1's key: every one of its
    // events, across the move.
    let files: Vec<std::path::PathBuf> = nodes[..2]
        .iter()
        .map(|node| {
            let signed = http_get(&node.http_addr(), "/v1/checkpoint", Some(&node.key));
            assert_eq!(signed.status, 200, "{}", signed.text());
            let path = format!("/v1/bundle?tenant={moving}&from_seq=0");
            let bundle = http_get(&node.http_addr(), &path, Some(&node.key));
            assert_eq!(bundle.status, 200, "{}", bundle.text());
            let file = dir.path().join(format!("{}.jsonl", node.name));
            std::fs::write(&file, bundle.text()).expect("write");
            file
        })
        .collect();
    let n1_key = http_get(
        &nodes[0].http_addr(),
        "/v1/verifier-key",
        Some(&nodes[0].key),
    );
    let n1_key = n1_key.text().trim().to_owned();
    let verify = |files: &[&std::path::PathBuf]| {
        let out = Command::new(auditlog_bin())
            .arg("verify-bundle")
            .args(files)
            .args(["--key", &n1_key, "--tenant", moving, "--json"])
            .output()
            .expect("runs");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (out.status.success(), report)
    };
    let (ok, report) = verify(&[&files[0], &files[1]]);
    assert!(ok, "{report}");
    let parts = report["parts"].as_array().expect("parts");
    let events: u64 = parts.iter().map(|p| p["events"].as_u64().unwrap()).sum();
    let theirs = acked.keys().filter(|(t, _)| t == moving).count() as u64;
    assert_eq!(events, theirs + 2, "{report}");
    assert_eq!(
        report["handovers"][0]["from"]["seq"], handed_over_seq,
        "{report}"
    );
    assert_eq!(parts[0]["completeness"]["kind"], "tenant", "{report}");
    // In the wrong order, or n2's alone under n1's key: refused.
    let (ok, report) = verify(&[&files[1], &files[0]]);
    assert!(!ok, "{report}");
    let (ok, report) = verify(&[&files[1]]);
    assert!(!ok, "{report}");
}
