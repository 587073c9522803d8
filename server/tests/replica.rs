//! `auditlogd --replica-of URL`, as an operator runs one: the primary archives to a
//! `file://` archive, `auditlog restore` makes the replica's directory from it (without
//! the private key), and the replica follows the primary over its HTTP API. At the same
//! checkpoint, its answers (pages, counts, exports, proofs, bundles, tiles) are the
//! primary's; it refuses writes, naming the primary; the bulk reads it serves are
//! recorded on the primary; a key revoked on the primary stops working on it. Pointed at
//! a primary that forked (the same key signing other records), it refuses the fork's
//! checkpoint and keeps serving what it had.

mod common;

use std::path::Path;
use std::time::Duration;

use auditlog_engine::{Log, LogConfig};
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{
    HttpResponse, Server, authed, event, http_get, http_request, newest_system_event, note_size,
    run_auditlog, wait_for,
};

/// The value of metric `name` in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn ingest(server: &Server, key: &str, from: u32, count: u32, tenants: u32) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = IngestServiceClient::new(server.channel().await);
        for start in (from..from + count).step_by(250) {
            let events = (start..(start + 250).min(from + count))
                .map(|i| {
                    let tenant = format!("org_{}", i % tenants);
                    event(i, &tenant, &format!("usr_{}", i % 11), "document.read")
                })
                .collect();
            client
                .ingest(authed(pb::IngestRequest { events }, key))
                .await
                .expect("ingest");
        }
    });
}

fn checkpoint(server: &Server, key: &str) -> String {
    let answer = http_get(&server.http, "/v1/checkpoint", Some(key));
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.text()
}

/// Waits until the primary is still (its newest checkpoint covers every record) and the
/// replica keeps that checkpoint; returns its size.
fn caught_up(primary: &Server, replica: &Server, key: &str) -> u64 {
    let mut size = 0;
    wait_for(
        "the replica to keep the primary's newest checkpoint",
        || {
            let note = checkpoint(primary, key);
            let info = http_get(&primary.http, "/metrics", Some(key)).text();
            let still = metric(&info, "auditlog_events_total") == Some(note_size(&note) as f64);
            size = note_size(&note);
            // The replica may keep none yet (no checkpoint of the restored records was
            // archived).
            let ours = http_get(&replica.http, "/v1/checkpoint", Some(key));
            still && ours.status == 200 && ours.text() == note
        },
    );
    size
}

/// `path` answered alike by both servers (status and bytes).
fn same(primary: &Server, replica: &Server, key: &str, path: &str) -> HttpResponse {
    let theirs = http_get(&primary.http, path, Some(key));
    let ours = http_get(&replica.http, path, Some(key));
    assert_eq!(theirs.status, 200, "{path}: {}", theirs.text());
    assert_eq!(ours.status, theirs.status, "{path}: {}", ours.text());
    assert_eq!(
        ours.body, theirs.body,
        "{path}: the replica answers otherwise"
    );
    ours
}

fn write_key(dir: &Path, key: &str) -> String {
    let path = dir.join("primary.key");
    std::fs::write(&path, format!("{key}\n")).expect("key written");
    path.to_str().expect("UTF-8").to_owned()
}

fn start_replica(data: &Path, primary: &Server, key_file: &str) -> Server {
    let url = format!("http://{}", primary.http);
    let args = ["--replica-of", &url, "--replica-key-file", key_file];
    Server::start(
        data,
        false,
        &[&args[..], &["--replica-every-ms", "100"]].concat(),
    )
}

#[test]
fn a_replica_answers_as_its_primary_refuses_writes_and_refuses_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let (p_data, r_data, archive) = (
        dir.path().join("primary"),
        dir.path().join("replica"),
        dir.path().join("archive"),
    );
    let config = LogConfig {
        segment_bytes: 64 << 10,
        checkpoint_interval: Duration::from_millis(200),
        ..LogConfig::default()
    };
    drop(Log::create(&p_data, &config).unwrap());
    let archive_url = format!("file://{}", archive.display());
    let primary = Server::start(&p_data, true, &["--archive", &archive_url]);
    let admin = primary.admin_key.clone().expect("admin key");
    // A checkpoint signed, then segments past it archived: a restore needs the archive's
    // records to reach a checkpoint it holds.
    ingest(&primary, &admin, 0, 1_500, 5);
    let signed = note_size(&checkpoint(&primary, &admin)) as f64;
    ingest(&primary, &admin, 1_500, 1_500, 5);
    wait_for("the archive to reach the signed checkpoint", || {
        let text = http_get(&primary.http, "/metrics", Some(&admin)).text();
        metric(&text, "auditlog_archived_tree_size").unwrap_or(0.0) >= signed
    });
    // Until the archive holds a checkpoint its records reach, a restore refuses and
    // writes nothing (it failed so once in CI): try again.
    let mut restored = String::new();
    wait_for("a restore of the archive", || {
        let out = std::process::Command::new(common::auditlog_bin())
            .args(["restore", "--from", &archive_url, "--data"])
            .arg(&r_data)
            .output()
            .expect("auditlog runs");
        restored = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
    });
    assert!(restored.contains("read-only"), "{restored}");
    // The active segment and what came after reach it over the primary's API: more than
    // one page of 20,000 records, each proven against the one checkpoint it checked.
    ingest(&primary, &admin, 3_000, 22_000, 5);
    checkpoint(&primary, &admin); // an admin's ask signs one of every record
    let key_file = write_key(dir.path(), &admin);
    let replica = start_replica(&r_data, &primary, &key_file);
    let size = caught_up(&primary, &replica, &admin);
    assert!(size > 25_000, "{size}");
    // Its following is recorded on the primary once: the first page (the pages after it
    // go on from where it ended).
    let admin_id = admin.split('_').nth(1).expect("a key id");
    let follow = newest_system_event(&primary.http, &admin, "auditlog.replica.follow");
    assert_eq!(follow["actor"]["user_id"], admin_id, "{follow}");
    let page = &follow["metadata"];
    let (from, to) = (page["from_seq"].as_u64(), page["to_seq"].as_u64());
    assert_eq!(to.zip(from).map(|(t, f)| t - f), Some(20_000), "{follow}");
    assert!(page["checkpoint"].as_u64() > to, "{follow}");
    let follows = "/v1/events/count?tenant=_system&action=auditlog.replica.follow";
    let counted = http_get(&primary.http, follows, Some(&admin)).json();
    assert_eq!(counted["count"], 1, "{counted}");

    // The same answers at the same checkpoint.
    same(
        &primary,
        &replica,
        &admin,
        "/v1/events?tenant=org_2&limit=50",
    );
    same(
        &primary,
        &replica,
        &admin,
        "/v1/events?tenant=org_3&limit=500&order=oldest&from_seq=2900",
    );
    same(&primary, &replica, &admin, "/v1/events/count?tenant=org_1");
    same(
        &primary,
        &replica,
        &admin,
        &format!("/v1/proofs/inclusion?leaf_index=24321&record=true&tree_size={size}"),
    );
    same(
        &primary,
        &replica,
        &admin,
        &format!("/v1/proofs/consistency?size1=100&size2={size}"),
    );
    same(&primary, &replica, &admin, "/tile/0/003");
    same(&primary, &replica, &admin, "/checkpoint");
    let bundle = format!("/v1/bundle?tenant=org_4&to_seq={size}");
    let bundled = same(&primary, &replica, &admin, &bundle);
    assert!(bundled.body.len() > 50_000, "{} bytes", bundled.body.len());
    let exported = same(&primary, &replica, &admin, "/v1/export?tenant=org_0");
    assert_eq!(exported.text().lines().count(), 5_000);
    // Each export here is recorded on the primary, as the reading key's, before its first
    // byte left the replica (the primary's own export is recorded too: the newest is
    // whichever came last, so ask the replica once more).
    let answer = http_get(&replica.http, "/v1/export?tenant=org_1", Some(&admin));
    assert_eq!(answer.status, 200);
    let recorded = newest_system_event(&primary.http, &admin, "auditlog.export.run");
    assert_eq!(recorded["actor"]["user_id"], admin_id, "{recorded}");
    assert_eq!(recorded["metadata"]["replica_key"], admin_id, "{recorded}");
    assert_eq!(recorded["metadata"]["tenant"], "org_1", "{recorded}");
    // ... and reaches the replica with the rest.
    caught_up(&primary, &replica, &admin);

    // Writes are refused, naming the primary: HTTP, gRPC ingest, admin calls.
    let json = [("Content-Type", "application/json")];
    let body = br#"{"events":[]}"#;
    let refused = http_request(
        &replica.http,
        "POST",
        "/v1/events",
        Some(&admin),
        &json,
        body,
    );
    assert_eq!(refused.status, 503, "{}", refused.text());
    let named = format!("http://{}", primary.http);
    assert_eq!(refused.header("auditlog-primary"), Some(named.as_str()));
    assert!(refused.text().contains(&named), "{}", refused.text());
    let sinks = http_get(&replica.http, "/v1/sinks", Some(&admin));
    assert_eq!(sinks.status, 503, "{}", sinks.text());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (ingest_refused, admin_refused) = runtime.block_on(async {
        let channel = replica.channel().await;
        let events = vec![event(1, "org_0", "usr_1", "document.read")];
        let ingest = IngestServiceClient::new(channel.clone())
            .ingest(authed(pb::IngestRequest { events }, &admin))
            .await
            .unwrap_err();
        let create = pb::CreateKeyRequest {
            name: "nope".into(),
            ..Default::default()
        };
        let admin_call = AdminServiceClient::new(channel)
            .create_key(authed(create, &admin))
            .await
            .unwrap_err();
        (ingest, admin_call)
    });
    for status in [ingest_refused, admin_refused] {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        let primary_named = status.metadata().get("auditlog-primary");
        assert_eq!(
            primary_named.and_then(|v| v.to_str().ok()),
            Some(named.as_str())
        );
    }

    // The primary's keys: one made there works here within a moment, and stops once
    // revoked there; one of a tenant reads that tenant only.
    let make_key = |name: &str, scope: pb::Scope| {
        runtime.block_on(async {
            let create = pb::CreateKeyRequest {
                name: name.into(),
                scope: Some(scope),
                ..Default::default()
            };
            let made = AdminServiceClient::new(primary.channel().await)
                .create_key(authed(create, &admin))
                .await
                .expect("created")
                .into_inner();
            (made.key.expect("key info").id, made.secret)
        })
    };
    let all = pb::Scope {
        read_all_tenants: true,
        ..Default::default()
    };
    let (reader_id, reader) = make_key("auditor", all);
    let one = pb::Scope {
        read_tenants: vec!["org_1".into()],
        ..Default::default()
    };
    let (org_1_id, org_1) = make_key("org_1 reader", one);
    wait_for("the tenant's key to work on the replica", || {
        http_get(&replica.http, "/v1/events/count", Some(&org_1)).status == 200
    });
    let theirs = http_get(&primary.http, "/v1/events/count?tenant=org_1", Some(&admin));
    assert!(
        theirs.json()["count"].as_u64() > Some(1_000),
        "{}",
        theirs.text()
    );
    let ours = http_get(&replica.http, "/v1/events/count", Some(&org_1));
    assert_eq!(
        ours.json()["count"],
        theirs.json()["count"],
        "{}",
        ours.text()
    );
    let other = http_get(&replica.http, "/v1/events?tenant=org_2", Some(&org_1));
    assert_eq!(other.status, 403, "{}", other.text());
    let exported = http_get(&replica.http, "/v1/export", Some(&org_1));
    assert_eq!(exported.status, 200, "{}", exported.text());
    let lines: Vec<String> = exported.text().lines().map(str::to_owned).collect();
    assert_eq!(Some(lines.len() as u64), theirs.json()["count"].as_u64());
    assert!(lines.iter().all(|l| l.contains(r#""id":"org_1""#)));
    let recorded = newest_system_event(&primary.http, &admin, "auditlog.export.run");
    assert_eq!(recorded["actor"]["user_id"], org_1_id, "{recorded}");
    assert_eq!(recorded["metadata"]["tenant"], "org_1", "{recorded}");
    wait_for("the primary's new key to work on the replica", || {
        http_get(
            &replica.http,
            "/v1/events/count?tenant=org_2",
            Some(&reader),
        )
        .status
            == 200
    });
    runtime.block_on(async {
        AdminServiceClient::new(primary.channel().await)
            .revoke_key(authed(
                pb::RevokeKeyRequest {
                    id: reader_id.clone(),
                },
                &admin,
            ))
            .await
            .expect("revoked");
    });
    wait_for("the revoked key to stop working on the replica", || {
        http_get(
            &replica.http,
            "/v1/events/count?tenant=org_2",
            Some(&reader),
        )
        .status
            == 401
    });
    // A replica records only what its keys read: a live key's, of a tenant it reads.
    let record = |key: &str, tenant: &str| {
        let body = serde_json::json!({
            "action": "auditlog.export.run", "key": key,
            "resource": {"type": "export", "id": "jsonl"},
            "details": {"api": "http", "format": "jsonl", "tenant": tenant},
        });
        let json = [("Content-Type", "application/json")];
        let sent = body.to_string();
        http_request(
            &primary.http,
            "POST",
            "/v1/replica/record",
            Some(&admin),
            &json,
            sent.as_bytes(),
        )
    };
    assert_eq!(record(&org_1_id, "org_1").status, 200);
    let revoked = record(&reader_id, "org_1");
    assert_eq!(revoked.status, 400, "{}", revoked.text());
    let elsewhere = record(&org_1_id, "org_2");
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.text());
    // A read of records that does not go on from where the key's reads ended is
    // recorded again (here: from 0).
    let again = format!("/v1/replica/records?from_seq=0&to_seq=10&checkpoint={size}");
    let read = http_get(&primary.http, &again, Some(&admin));
    assert_eq!(read.status, 200, "{}", read.text());
    let counted = http_get(&primary.http, follows, Some(&admin)).json();
    assert_eq!(counted["count"], 2, "{counted}");

    // How far behind it is.
    let kept = caught_up(&primary, &replica, &admin);
    let text = http_get(&replica.http, "/metrics", Some(&admin)).text();
    assert_eq!(
        metric(&text, "auditlog_replica_lag_events"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "auditlog_replica_tree_size"),
        Some(kept as f64)
    );
    assert!(metric(&text, "auditlog_replica_events_total").unwrap_or(0.0) >= 22_000.0);
    assert!(
        metric(&text, "auditlog_replica_lag_seconds").is_some(),
        "{text}"
    );
    let status = http_get(&replica.http, "/v1/replica", Some(&admin)).json();
    assert_eq!(status["lag_events"], 0, "{status}");
    assert_eq!(status["primary"], named);

    // Over plain HTTP off loopback, a replica does not start (its admin key would cross
    // the network in the clear).
    let far = std::process::Command::new(env!("CARGO_BIN_EXE_auditlogd"))
        .arg("--data")
        .arg(dir.path().join("never"))
        .args([
            "--replica-of",
            "http://192.0.2.1:7080",
            "--replica-key-file",
            &key_file,
        ])
        .output()
        .expect("auditlogd runs");
    assert!(!far.status.success());
    let said = String::from_utf8_lossy(&far.stderr);
    assert!(said.contains("refusing to follow"), "{said}");

    // A fork: the archive restored with the primary's private key, then other records.
    // Its checkpoints are signed by the same key, of the same origin, of another tree.
    let f_data = dir.path().join("fork");
    let private_key = p_data.join("keys/checkpoint.key");
    run_auditlog(&[
        "restore",
        "--from",
        &archive_url,
        "--data",
        f_data.to_str().unwrap(),
        "--checkpoint-key",
        private_key.to_str().unwrap(),
    ]);
    let fork = Server::start(&f_data, true, &[]);
    let fork_admin = fork.admin_key.clone().expect("admin key");
    ingest(&fork, &fork_admin, 50_000, 4_000, 3);
    wait_for("the fork to sign past the replica", || {
        note_size(&checkpoint(&fork, &fork_admin)) > kept
    });
    let (_, said) = replica.terminate();
    drop(said);
    let fork_key = write_key(&dir.path().join("fork"), &fork_admin);
    let replica = start_replica(&r_data, &fork, &fork_key);
    wait_for("the fork's checkpoint to be refused", || {
        let status = http_get(&replica.http, "/v1/replica", Some(&fork_admin));
        status.status == 200 && status.json()["refused"].as_u64().unwrap_or(0) >= 2
    });
    let status = http_get(&replica.http, "/v1/replica", Some(&fork_admin)).json();
    let problem = status["problem"].as_str().unwrap_or_default().to_owned();
    assert!(problem.contains("forked"), "{status}");
    assert_eq!(status["kept_tree_size"], kept, "{status}");
    // It keeps serving what it had, as it had it.
    let note = checkpoint(&replica, &fork_admin);
    assert_eq!(note_size(&note), kept);
    let count = http_get(
        &replica.http,
        "/v1/events/count?tenant=org_0",
        Some(&fork_admin),
    );
    assert_eq!(count.status, 200, "{}", count.text());
    let text = http_get(&replica.http, "/metrics", Some(&fork_admin)).text();
    assert!(
        metric(&text, "auditlog_replica_lag_events").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "auditlog_events_total"),
        Some(kept as f64),
        "{text}"
    );
}
