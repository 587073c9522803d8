//! Sinks against a real receiver on loopback: a Python webhook receiver that verifies
//! every delivery with the Standard Webhooks reference library. Events arrive signed,
//! in batches naming their sequence range, only the sink's tenants, at least once
//! across a failing receiver, a pause, a restart and a replay.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::sink_service_client::SinkServiceClient;
use common::{Server, authed, event, http_get, http_request, wait_for};
use serde_json::{Value, json};

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
    /// `secret_file`, with `options` (`--fail N`, `--delay SECONDS`).
    fn start(dir: &Path, secret_file: &Path, options: &[&str]) -> Receiver {
        std::fs::create_dir_all(dir).expect("receiver dir");
        let mut args = vec![dir.as_os_str(), secret_file.as_os_str()];
        args.extend(options.iter().map(std::ffi::OsStr::new));
        let (child, port) = common::python_receiver("webhook_receiver.py", &args);
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}/hooks/audit"),
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
    let receiver = Receiver::start(&dir.path().join("received"), &secret_file, &["--fail", "3"]);
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
                proofs: false,
            },
        )),
        batch_size: 7,
    };
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let request = pb::CreateSinkRequest {
        spec: Some(spec.clone()),
        from_seq: Some(0),
        secret: None,
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
            proofs: false,
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
    // Ranges that meet, from where the sink started: a receiver would see a gap.
    assert!(ranges.iter().all(|(from, to)| from < to));
    assert_eq!(ranges[0].0, 0);
    assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0), "{ranges:?}");
    assert!(receiver.log("rejected.log").is_empty());
    // The three failures were retries of the first batch, under its webhook-id.
    let attempts = receiver.log("attempts.log");
    let first: Vec<&str> = attempts.lines().take(4).collect();
    assert!(first.iter().all(|m| *m == first[0]), "{first:?}");
    // Counted once acknowledged (the receiver writes before it answers).
    let runtime = tokio::runtime::Handle::current();
    wait_for("the deliveries counted", || {
        let info = tokio::task::block_in_place(|| runtime.block_on(sink(&server, &admin, &id)));
        info.delivered == org_a.len() as u64 && info.failures == 0
    });
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
    let receiver = Receiver::start(&received, &secret_file, &[]);
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
                proofs: false,
            },
        )),
        batch_size: 0,
    };
    let created = sinks
        .create_sink(authed(
            pb::CreateSinkRequest {
                spec: Some(spec),
                from_seq: None,
                secret: None,
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
    // The destination by its origin only: a URL's path may carry a token.
    let path = "/v1/events?tenant=_system&action=auditlog.sink.failing";
    let said = common::http_get(&server.http, path, Some(&admin)).text();
    assert!(
        said.contains("127.0.0.1") && !said.contains("/hooks/audit"),
        "{said}"
    );
    wait_for("the recovery on record", || {
        let runtime = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| runtime.block_on(recorded("auditlog.sink.recovered"))).len()
            == 1
    });
    assert_eq!(sink(&server, &admin, &id).await.failures, 0);
}

/// `auditlog ARGS`: its exit code and what it printed (stdout, then stderr).
fn auditlog(args: &[&str]) -> (i32, String) {
    let out = Command::new(common::auditlog_bin())
        .args(args)
        .output()
        .expect("auditlog runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A key that administers org_a manages org_a's sinks, over HTTP and from the CLI, and
/// no other: another tenant's sinks are not found, all tenants are refused. The server
/// delivers only to the hosts it was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_manages_only_its_tenants_sinks_over_http_and_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--sink-hosts", "127.0.0.1"];
    let server = Server::start(&dir.path().join("data"), true, &args);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        admin_tenants: vec!["org_a".into()],
        ..Default::default()
    };
    let org_a_admin = common::create_key(&server, &admin, "org_a's admin", scope).await;
    // `_system` is no one's to administer.
    let mut keys = AdminServiceClient::new(server.channel().await);
    let refused = keys
        .create_key(authed(
            pb::CreateKeyRequest {
                name: "system admin".into(),
                scope: Some(pb::Scope {
                    admin_tenants: vec!["_system".into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await;
    assert_eq!(
        refused.expect_err("refused").code(),
        tonic::Code::InvalidArgument
    );
    let ingested = ingest(
        &server,
        &admin,
        vec![
            event(1, "org_a", "usr_1", "document.read"),
            event(2, "org_b", "usr_1", "document.read"),
        ],
    )
    .await;
    let post = |path: &str, key: &str, body: Value| {
        let body = body.to_string().into_bytes();
        let json = [("Content-Type", "application/json")];
        http_request(&server.http, "POST", path, Some(key), &json, &body)
    };
    let spec = |tenants: Value, url: &str| json!({"spec": {"name": "siem", "scope": tenants, "webhook": {"url": url}}});
    let hook = "http://127.0.0.1:9/hooks";

    // Its own tenant: made, the secret shown once. The key reads org_a too.
    let made = post(
        "/v1/sinks",
        &org_a_admin,
        spec(json!({"tenants": ["org_a"]}), hook),
    );
    assert_eq!(made.status, 200, "{}", made.text());
    let made = made.json();
    let own = made["sink"]["id"].as_str().expect("id").to_owned();
    assert!(
        made["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    assert_eq!(made["sink"]["spec"]["scope"]["tenants"], json!(["org_a"]));
    // A key's id is the token's part after `alk_`.
    let key_id = &org_a_admin[4..20];
    assert_eq!(made["sink"]["created_by"], key_id);
    let read = http_get(&server.http, "/v1/events?tenant=org_a", Some(&org_a_admin));
    assert_eq!(read.status, 200);
    let read = http_get(&server.http, "/v1/events?tenant=org_b", Some(&org_a_admin));
    assert_eq!(read.status, 403);
    // Another tenant, several with another, all: refused.
    for tenants in [
        json!({"tenants": ["org_b"]}),
        json!({"tenants": ["org_a", "org_b"]}),
        json!({"all_tenants": true}),
    ] {
        let refused = post("/v1/sinks", &org_a_admin, spec(tenants, hook));
        assert_eq!(refused.status, 403, "{}", refused.text());
        assert_eq!(refused.json()["error"]["code"], "PERMISSION_DENIED");
    }
    // A host the server does not deliver to, and a malformed body: 400 saying why.
    let elsewhere = post(
        "/v1/sinks",
        &admin,
        spec(json!({"tenants": ["org_a"]}), "http://siem.example:8088/"),
    );
    assert_eq!(elsewhere.status, 400);
    assert_eq!(elsewhere.json()["error"]["field"], "spec.destination");
    let malformed = post("/v1/sinks", &admin, json!({"spec": {"webhok": {}}}));
    assert_eq!(malformed.status, 400);
    // A key that reads org_a but administers nothing manages no sink.
    let reader = common::reader_of(&server, &admin, "org_a").await;
    let listed = http_get(&server.http, "/v1/sinks", Some(&reader));
    assert_eq!(listed.status, 403);

    // org_b's sink, made by the admin key: invisible to org_a's admin.
    let other = post(
        "/v1/sinks",
        &admin,
        spec(json!({"tenants": ["org_b"]}), hook),
    )
    .json();
    let other = other["sink"]["id"].as_str().expect("id").to_owned();
    let listed = http_get(&server.http, "/v1/sinks", Some(&org_a_admin)).json();
    let ids: Vec<&str> = (listed["sinks"].as_array().expect("sinks").iter())
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [own.as_str()]);
    let all = http_get(&server.http, "/v1/sinks", Some(&admin)).json();
    assert_eq!(all["sinks"].as_array().expect("sinks").len(), 2);
    // Nor in the metrics: the admin key sees both sinks there, org_a's admin its own.
    let metrics = |key: &str| http_get(&server.http, "/metrics", Some(key)).text();
    assert!(metrics(&admin).contains(&other) && metrics(&admin).contains(&own));
    let seen = metrics(&org_a_admin);
    assert!(seen.contains(&own) && !seen.contains(&other), "{seen}");
    let path = format!("/v1/sinks/{other}");
    assert_eq!(
        http_get(&server.http, &path, Some(&org_a_admin)).status,
        404
    );
    let deleted = http_request(&server.http, "DELETE", &path, Some(&org_a_admin), &[], &[]);
    assert_eq!(deleted.status, 404);
    let paused = post(&format!("{path}/pause"), &org_a_admin, json!({}));
    assert_eq!(paused.status, 404);
    let replayed = post(
        &format!("{path}/replay"),
        &org_a_admin,
        json!({"from_seq": 0}),
    );
    assert_eq!(replayed.status, 404);
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let refused = sinks
        .pause_sink(authed(pb::SinkRequest { id: other.clone() }, &org_a_admin))
        .await;
    assert_eq!(refused.expect_err("refused").code(), tonic::Code::NotFound);

    // Its own: paused, replayed (by seq, by time; past the end refused), resumed.
    let own_path = format!("/v1/sinks/{own}");
    let paused = post(&format!("{own_path}/pause"), &org_a_admin, json!({}));
    assert_eq!(paused.json()["sink"]["state"], "paused");
    let replayed = post(
        &format!("{own_path}/replay"),
        &org_a_admin,
        json!({"from_seq": 1}),
    );
    assert_eq!(replayed.json()["sink"]["cursor"], 1);
    let past = post(
        &format!("{own_path}/replay"),
        &org_a_admin,
        json!({"from_seq": 1000}),
    );
    assert_eq!(past.status, 400);
    let both = json!({"from_seq": 1, "from_time": "2020-01-01T00:00:00Z"});
    assert_eq!(
        post(&format!("{own_path}/replay"), &org_a_admin, both).status,
        400
    );
    let by_time = json!({"from_time": "2000-01-01T00:00:00Z"});
    let replayed = post(&format!("{own_path}/replay"), &org_a_admin, by_time).json();
    // The first org_a event at or after the year 2000: the one ingested above.
    assert_eq!(replayed["sink"]["cursor"], ingested[0], "{replayed}");
    let resumed = post(&format!("{own_path}/resume"), &org_a_admin, json!({}));
    assert_ne!(resumed.json()["sink"]["state"], "paused");

    // The CLI, with the same key: list (JSON, the API's shape), create, delete.
    let url = &server.url;
    let (code, said) = auditlog(&[
        "sink",
        "list",
        "--json",
        "--server",
        url,
        "--key",
        &org_a_admin,
    ]);
    assert_eq!(code, 0, "{said}");
    let lines: Vec<Value> = said
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], own.as_str());
    assert_eq!(lines[0]["spec"]["webhook"]["url"], hook);
    let (code, said) = auditlog(&[
        "sink",
        "create",
        "--server",
        url,
        "--key",
        &org_a_admin,
        "--name",
        "cli",
        "--tenant",
        "org_a",
        "--webhook",
        hook,
        "--action",
        "document.*",
    ]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("whsec_"), "{said}");
    let made = said
        .split_whitespace()
        .find(|w| w.starts_with("snk_"))
        .expect("an id");
    let (code, said) = auditlog(&[
        "sink",
        "create",
        "--server",
        url,
        "--key",
        &org_a_admin,
        "--name",
        "cli",
        "--tenant",
        "org_b",
        "--webhook",
        hook,
    ]);
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("may not manage sinks"), "{said}");
    let (code, said) = auditlog(&[
        "sink",
        "delete",
        made,
        "--server",
        url,
        "--key",
        &org_a_admin,
    ]);
    assert_eq!(code, 0, "{said}");
    let deleted = http_request(
        &server.http,
        "DELETE",
        &own_path,
        Some(&org_a_admin),
        &[],
        &[],
    );
    assert_eq!(deleted.status, 200);
    let listed = http_get(&server.http, "/v1/sinks", Some(&org_a_admin)).json();
    assert_eq!(listed["sinks"], json!([]));

    // Every change is on record, by the key that made it.
    let recorded = http_get(
        &server.http,
        "/v1/events?tenant=_system&action=auditlog.sink.*&limit=100",
        Some(&admin),
    )
    .json();
    let by_org_a_admin = (recorded["events"].as_array().expect("events").iter())
        .filter(|e| e["actor"]["user_id"] == key_id)
        .count();
    // Made twice, paused, replayed twice, resumed, deleted twice; nothing refused.
    assert_eq!(by_org_a_admin, 8, "{recorded}");
}

/// `auditlogd` killed (SIGKILL) while a sink streams a backlog to a slow receiver, then
/// restarted: every event arrives, and the only ones that came twice are of the batch
/// the receiver had kept but not yet acknowledged when the server died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_survives_a_kill_mid_stream_with_duplicates_only_where_unacknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let secret_file = dir.path().join("secret");
    let receiver = Receiver::start(
        &dir.path().join("received"),
        &secret_file,
        &["--delay", "0.05"],
    );
    let mut wanted = Vec::new();
    for round in 0..10u32 {
        let events = (0..100)
            .map(|i| event(round * 100 + i, "org_a", "usr_1", "document.update"))
            .collect();
        wanted.extend(ingest(&server, &admin, events).await);
    }
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let spec = pb::SinkSpec {
        name: "slow".into(),
        scope: Some(pb::SinkScope {
            tenants: vec!["org_a".into()],
            all_tenants: false,
        }),
        destination: Some(pb::sink_spec::Destination::Webhook(
            pb::WebhookDestination {
                url: receiver.url.clone(),
                proofs: false,
            },
        )),
        batch_size: 20,
        ..Default::default()
    };
    let request = pb::CreateSinkRequest {
        spec: Some(spec),
        from_seq: Some(0),
        secret: None,
    };
    let created = sinks
        .create_sink(authed(request, &admin))
        .await
        .expect("created")
        .into_inner();
    let id = created.sink.expect("sink").id;
    std::fs::write(&secret_file, &created.secret).expect("secret");

    // Mid-stream: a fifth of the backlog received.
    wait_for("a fifth of the events", || {
        receiver.received().0.len() >= 200
    });
    drop(server); // SIGKILL
    let cursor_file = data.join(format!("server/sinks/{id}.cursor"));
    let cursor: u64 = std::fs::read_to_string(&cursor_file)
        .expect("cursor file")
        .split(' ')
        .next()
        .and_then(|c| c.parse().ok())
        .expect("a cursor");
    let (before, _) = receiver.received();
    assert!(
        before.len() < wanted.len(),
        "the kill came after the stream"
    );

    let server = Server::start(&data, false, &[]);
    let more = ingest(
        &server,
        &admin,
        vec![event(5000, "org_a", "usr_1", "document.update")],
    )
    .await;
    wanted.extend(more);
    wait_for("every event after the restart", || {
        receiver.received().0.len() == wanted.len()
    });
    let (events, _) = receiver.received();
    assert_eq!(events.keys().copied().collect::<Vec<_>>(), wanted);
    // Every event acknowledged before the kill (below the cursor on disk) came once; those
    // that came twice were all of one batch, past that cursor: the one in flight.
    let twice: Vec<u64> = (events.iter())
        .filter(|(_, (_, times))| *times > 1)
        .map(|(seq, _)| *seq)
        .collect();
    assert!(events.values().all(|(_, times)| *times <= 2));
    assert!(
        twice.iter().all(|&seq| seq >= cursor),
        "{twice:?} below {cursor}"
    );
    assert!(
        twice.len() <= 20,
        "more than one batch came twice: {twice:?}"
    );
}

/// Copies the `.json` batches of `from` into a new directory `to`.
fn copy_batches(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).expect("dir");
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(from).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let target = to.join(path.file_name().expect("name"));
            std::fs::copy(&path, &target).expect("copy");
            copied.push(target);
        }
    }
    copied.sort();
    copied
}

/// A batch's body, and its range.
fn batch_of(path: &Path) -> (Value, (u64, u64)) {
    let body: Value = serde_json::from_slice(&std::fs::read(path).expect("batch")).expect("JSON");
    let range = (
        body["data"]["from_seq"].as_u64().expect("from"),
        body["data"]["to_seq"].as_u64().expect("to"),
    );
    (body, range)
}

/// Sinks with proofs: each batch is proven against a signed checkpoint covering it, and
/// `auditlog verify-stream` proves from what a receiver kept that every event of the
/// sink's tenant (or every event, for a sink of all tenants) arrived; a missing batch, an
/// event taken out of a batch, or an event changed is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_with_proofs_prove_the_stream_complete_and_tampering_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (code, out) = auditlog(&[
        "init",
        "--data",
        data.to_str().expect("utf-8"),
        "--checkpoint-every",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
    let key = (out.lines())
        .find_map(|l| l.strip_prefix("checkpoint verifier key: "))
        .expect("the key is printed")
        .to_owned();
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let secret_files = [dir.path().join("secret_a"), dir.path().join("secret_all")];
    let one = Receiver::start(&dir.path().join("org_a"), &secret_files[0], &[]);
    let all = Receiver::start(&dir.path().join("all"), &secret_files[1], &[]);
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let spec = |receiver: &Receiver, tenants: &[&str], batch_size| pb::SinkSpec {
        name: "proven".into(),
        scope: Some(pb::SinkScope {
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            all_tenants: tenants.is_empty(),
        }),
        filter: None,
        destination: Some(pb::sink_spec::Destination::Webhook(
            pb::WebhookDestination {
                url: receiver.url.clone(),
                proofs: true,
            },
        )),
        batch_size,
    };
    // Proofs need every event of the selection: no filter, one tenant or all.
    let mut filtered = spec(&one, &["org_a"], 7);
    filtered.filter = Some(pb::Filter {
        actions: vec!["document.*".into()],
        ..Default::default()
    });
    for bad in [filtered, spec(&one, &["org_a", "org_b"], 7)] {
        let request = pb::CreateSinkRequest {
            spec: Some(bad),
            from_seq: Some(0),
            secret: None,
        };
        let refused = sinks.create_sink(authed(request, &admin)).await;
        assert_eq!(
            refused.expect_err("refused").code(),
            tonic::Code::InvalidArgument
        );
    }
    let mut ids = Vec::new();
    for (spec, secret_file) in [spec(&one, &["org_a"], 7), spec(&all, &[], 50)]
        .into_iter()
        .zip(&secret_files)
    {
        let request = pb::CreateSinkRequest {
            spec: Some(spec),
            from_seq: Some(0),
            secret: None,
        };
        let created = sinks.create_sink(authed(request, &admin)).await;
        let created = created.expect("created").into_inner();
        std::fs::write(secret_file, created.secret).expect("secret");
        ids.push(created.sink.expect("sink").id);
    }
    let mut org_a = Vec::new();
    let mut last = 0;
    for round in 0..3u32 {
        let events: Vec<pb::Event> = (0..20)
            .map(|i| {
                let tenant = if i % 2 == 0 { "org_a" } else { "org_b" };
                event(100 * round + i, tenant, "usr_1", "document.read")
            })
            .collect();
        let seqs = ingest(&server, &admin, events.clone()).await;
        for (seq, e) in seqs.iter().zip(&events) {
            if e.organization.as_ref().expect("org").id == "org_a" {
                org_a.push(*seq);
            }
        }
        last = *seqs.last().expect("seqs");
    }
    wait_for("org_a's events, proven", || {
        let (events, _) = one.received();
        org_a.iter().all(|s| events.contains_key(s))
    });
    let verify = |dir: &Path, scope: &[&str]| {
        let mut args = vec!["verify-stream", dir.to_str().expect("utf-8"), "--key", &key];
        args.extend_from_slice(&["--json", "--from-seq", "0"]);
        args.extend_from_slice(scope);
        auditlog(&args)
    };
    let org_a_scope = ["--tenant", "org_a"];
    let (code, out) = verify(&one.dir, &org_a_scope);
    assert_eq!(code, 0, "{out}");
    // Asked about another tenant, or about all, it refuses.
    for scope in [&["--tenant", "org_b"][..], &["--all-tenants"]] {
        let (code, out) = verify(&one.dir, scope);
        assert_eq!(code, 1, "{out}");
    }
    let report: Value = serde_json::from_str(out.trim()).expect("JSON");
    let report = &report["report"];
    assert_eq!(report["tenant"], "org_a");
    let claims = report["claims"].as_array().expect("claims");
    assert_eq!(claims.len(), 1, "{report}");
    assert_eq!(claims[0]["from"], 0);
    // Every org_a event is covered.
    let covered = claims[0]["to"].as_u64().expect("to");
    assert!(covered > *org_a.last().expect("org_a"), "{report}");
    // Each batch names its range and events with their tenant links.
    let (events, ranges) = one.received();
    assert!(ranges.len() >= 3, "batches of 7: {ranges:?}");
    assert!(events.values().all(|(e, _)| e.get("tenant_prev").is_some()));
    // No batch failed on the way (the kept tenant heads held at every checkpoint).
    let info = sink(&server, &admin, &ids[0]).await;
    assert_eq!((info.failures, info.last_error), (0, None));

    // A replay from the middle of a range resends batches on other boundaries: the
    // stream still proves the same.
    let middle = ranges[1].0 + 3;
    let replay = pb::ReplaySinkRequest {
        id: ids[0].clone(),
        from: Some(pb::replay_sink_request::From::Seq(middle)),
    };
    sinks
        .replay_sink(authed(replay, &admin))
        .await
        .expect("replayed");
    wait_for("the replayed batches", || {
        let (_, after) = one.received();
        after.iter().any(|&(from, _)| from == middle) && after.len() > ranges.len() + 1
    });
    let (code, out) = verify(&one.dir, &org_a_scope);
    assert_eq!(code, 0, "{out}");
    let again: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(again["report"]["claims"], report["claims"], "{again}");

    // Tampering. A batch left out:
    let files = copy_batches(&one.dir, &dir.path().join("missing"));
    let middle = (files.iter())
        .filter(|f| batch_of(f).1.0 > 0)
        .min_by_key(|f| batch_of(f).1.0)
        .expect("a second batch");
    let (_, middle_range) = batch_of(middle);
    for f in &files {
        if batch_of(f).1 == middle_range {
            std::fs::remove_file(f).expect("remove");
        }
    }
    let (code, out) = verify(&dir.path().join("missing"), &org_a_scope);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a batch is missing"), "{out}");
    // An event taken out of a batch, or changed (in the text as received: the batch
    // otherwise as it came):
    for name in ["taken", "changed"] {
        let files = copy_batches(&one.dir, &dir.path().join(name));
        let mut text = std::fs::read_to_string(&files[0]).expect("batch");
        if name == "taken" {
            let start = text.find("\"events\":[").expect("events") + 10;
            let next = start + text[start..].find(",{\"seq\":").expect("a second event");
            text.replace_range(start..=next, "");
        } else {
            text = text.replacen("\"user_id\":\"usr_1\"", "\"user_id\":\"usr_2\"", 1);
        }
        assert_ne!(text, std::fs::read_to_string(&files[0]).expect("batch"));
        std::fs::write(&files[0], text).expect("write");
        let (code, out) = verify(&dir.path().join(name), &org_a_scope);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains("\"ok\":false"), "{out}");
    }

    // The sink of all tenants proves every event of its ranges.
    wait_for("every event, proven", || {
        let (events, _) = all.received();
        (0..=last).all(|s| events.contains_key(&s))
    });
    let (code, out) = verify(&all.dir, &["--all-tenants"]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(out.trim()).expect("JSON");
    let claim = &report["report"]["claims"][0];
    assert_eq!(claim["from"], 0);
    assert!(claim["to"].as_u64().expect("a range") > last, "{report}");
}
