//! Schemathesis, the OpenAPI fuzzer (installed from PyPI by `scripts/python-env.sh`),
//! against the real `auditlogd`: it reads the server's own `/openapi.json` and sends
//! every documented route valid and invalid requests (bounded examples, fixed seeds),
//! with an admin key and with a key of one tenant. Every check but one must pass: no
//! 5xx, every status, content type, header and body as documented, invalid input
//! refused, no route open without a key. Left out: "a schema-valid request is
//! accepted", which cannot hold for values that depend on the log's state (a tree size
//! past the log is valid by the schema and refused by the server, as documented).

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, event, python, reader_of};

fn schemathesis(server: &Server, key: &str, seed: u32) {
    let schema = format!("http://{}/openapi.json", server.http);
    // It keeps a cache (`.schemathesis/`) where it runs: not in the source tree.
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = Command::new(python())
        .current_dir(scratch.path())
        .args(["-m", "schemathesis.cli", "run", &schema])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "40", "--seed", &seed.to_string()])
        .args(["--workers", "1", "--request-timeout", "30"])
        .env("NO_COLOR", "1")
        .env(
            "SCHEMATHESIS_HOOKS",
            common::root().join("server/tests/python/schemathesis_hooks.py"),
        )
        .output()
        .expect("schemathesis runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It ran: every documented route was tested, and cases passed.
    assert!(said.contains("Tested: 32"), "{said}");
    assert!(said.contains(" passed"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Sinks it makes may deliver only to loopback.
    let server = Server::start(
        &dir.path().join("data"),
        true,
        &["--sink-hosts", "127.0.0.1"],
    );
    let admin = server.admin_key.clone().expect("admin key");
    let events: Vec<pb::Event> = (0..50)
        .map(|i| {
            let tenant = if i % 2 == 0 { "org_a" } else { "org_b" };
            event(i, tenant, "usr_1", "document.read")
        })
        .collect();
    IngestServiceClient::new(server.channel().await)
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested");
    let reader = reader_of(&server, &admin, "org_a").await;
    schemathesis(&server, &admin, 1);
    schemathesis(&server, &reader, 2);
    // The server counted no panic.
    let metrics = common::http_get(&server.http, "/metrics", Some(&admin)).text();
    assert!(
        metrics.lines().any(|l| l == "auditlog_panics_total 0"),
        "{metrics}"
    );
}
