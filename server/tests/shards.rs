//! Tenant shards: three `auditlogd` nodes on loopback, each with its own log, share one
//! shard map in a real etcd (Debian's `etcd-server`). A tenant's first write claims it
//! for the node it reaches; a node refuses the events of another node's tenant, naming
//! that node (gRPC metadata, HTTP error member), and never stores them; a node killed
//! with `kill -9` keeps its tenants (their events are refused, not stored elsewhere,
//! while it is down) and writes them again once restarted. Every acknowledged event is
//! then in exactly one log: its tenant's node's.

mod common;
#[path = "common/etcd.rs"]
mod etcd_service;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, event, http_get, http_request};
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
    let events = (first..first + count)
        .map(|i| event(i, tenant, "usr_1", "document.read"))
        .collect();
    let Ok(mut client) = IngestServiceClient::connect(node.grpc_url()).await else {
        return Sent::Refused(tonic::Status::unavailable("connection refused"));
    };
    match client
        .ingest(authed(pb::IngestRequest { events }, &node.key))
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
    let mut acked: BTreeSet<(String, String)> = BTreeSet::new();
    let mut writer: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0u32;
    let mut record = |tenant: &str, first: u32, count: u32| {
        for i in first..first + count {
            acked.insert((tenant.to_owned(), format!("doc_{i}")));
        }
    };

    // Round one: each tenant's first batch claims it for the node it is sent to.
    for (i, tenant) in tenants.iter().enumerate() {
        let at = i % 3;
        assert!(matches!(
            send(&nodes[at], tenant, next, 20).await,
            Sent::Stored
        ));
        record(tenant, next, 20);
        writer.insert(tenant.clone(), at);
        next += 20;
    }
    // Round two, to the wrong nodes: refused there, naming the writer; sent on, stored.
    for (i, tenant) in tenants.iter().enumerate() {
        let wrong = (i + 1) % 3;
        match send(&nodes[wrong], tenant, next, 20).await {
            Sent::Elsewhere(url) => {
                assert_eq!(url, nodes[writer[tenant]].grpc_url(), "{tenant}");
                let owner = nodes.iter().find(|n| n.grpc_url() == url).expect("a node");
                assert!(matches!(send(owner, tenant, next, 20).await, Sent::Stored));
                record(tenant, next, 20);
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
            Sent::Stored => record(n3_tenant, next, 1),
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
            record(n3_tenant, next, 1);
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
    for tenant in &theirs {
        assert!(matches!(
            send(&nodes[1], tenant, next, 20).await,
            Sent::Stored
        ));
        record(tenant, next, 20);
        next += 20;
    }

    // Every acknowledged event in exactly one log: its tenant's writer's.
    let mut seen: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for stored in node.stored() {
            seen.entry(stored).or_default().push(n);
        }
    }
    for event in &acked {
        let at = seen.get(event).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(at, [writer[&event.0]], "{event:?}");
    }
    assert_eq!(
        seen.len(),
        acked.len(),
        "nothing stored that was not acknowledged"
    );
}
