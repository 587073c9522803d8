//! An independent client: Python `grpcio`, with stubs generated from the project's
//! `.proto` files, ingests (unary and streaming), queries page by page, counts, and
//! checks inclusion proofs with its own RFC 9162 code against the log's checkpoint; the
//! Rust client then checks that the server holds what Python reported; grpcio's own
//! reflection client (v1alpha) finds every service. The Python environment is made by
//! `scripts/python-env.sh` (pip, from PyPI) on first use.

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::checkpoint_service_client::CheckpointServiceClient;
use common::{Server, auditlog_bin, authed, python, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_drives_the_server_and_checks_its_proofs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A SHA-256 log, so the Python side checks proofs with hashlib alone.
    let init = Command::new(auditlog_bin())
        .args(["init", "--hash", "sha256", "--data"])
        .arg(&data)
        .output()
        .expect("auditlog init runs (build the workspace: cargo test --workspace)");
    assert!(init.status.success(), "{init:?}");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");

    let stubs = dir.path().join("stubs");
    std::fs::create_dir(&stubs).expect("mkdir");
    let out = Command::new(python())
        .arg(root().join("server/tests/python/client.py"))
        .arg(server.url.trim_start_matches("http://"))
        .arg(&admin)
        .arg(root().join("server/proto/proto"))
        .arg(&stubs)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "client.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");

    // The server's start and nothing else came first: Python's events are seqs 1..=11.
    let seqs = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_u64().expect("seq"))
            .collect()
    };
    assert_eq!(seqs(&seen["unary_seqs"]), (1..6).collect::<Vec<_>>());
    let streamed: Vec<Vec<u64>> = seen["stream_seqs"]
        .as_array()
        .expect("acks")
        .iter()
        .map(seqs)
        .collect();
    assert_eq!(streamed, [vec![6, 7, 8], vec![9, 10, 11]]);
    assert_eq!(seen["stream_refused"], false);
    assert_eq!(seqs(&seen["query_seqs"]), (1..12).collect::<Vec<_>>());
    assert_eq!(seen["pages"], 3, "11 events in pages of 4");
    assert_eq!(seqs(&seen["metadata"]), (0..11).collect::<Vec<_>>());
    assert_eq!(seen["count"], 11);
    assert_eq!(seen["verified"], 11, "every proof verified in Python");
    assert_eq!(seen["errors"]["bad_action"], "INVALID_ARGUMENT");
    assert_eq!(seen["errors"]["bad_key"], "UNAUTHENTICATED");

    // The checkpoint Python verified against is the one the server keeps at that size.
    let size = seen["tree_size"].as_u64().expect("tree size");
    assert!(size >= 12, "{size}");
    let kept = CheckpointServiceClient::new(server.channel().await)
        .by_size(authed(
            pb::CheckpointBySizeRequest { tree_size: size },
            &admin,
        ))
        .await
        .expect("kept")
        .into_inner();
    let hex: String = kept.root.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(seen["root"], hex);
}

#[test]
fn grpcios_reflection_client_which_asks_v1alpha_finds_every_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let out = Command::new(python())
        .arg(root().join("server/tests/python/reflection.py"))
        .arg(server.url.trim_start_matches("http://"))
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let services = seen["services"].as_array().expect("services");
    for service in [
        "auditlog.v1.IngestService",
        "auditlog.v1.QueryService",
        "auditlog.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.iter().any(|s| s == service), "{service}: {seen}");
    }
    assert_eq!(
        seen["ingest_methods"],
        serde_json::json!(["Ingest", "IngestStream"])
    );
}
