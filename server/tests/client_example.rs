//! The example axum app (examples/axum-app, which uses the client crate's layer), run
//! as a user would, against the real `auditlogd`: requests driven over HTTP, and each mutating
//! one found in the log as the layer records it (actor, tenant, action from the route
//! or the handler, resource from the path, outcome from the status, IP, user agent);
//! reads and unauthenticated requests are not recorded.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use auditlog_proto::v1 as pb;
use common::{Server, create_key, http_get, http_request};
use serde_json::json;

/// The example's binary, built beside the server's by `cargo test --workspace`.
fn example_bin() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_BIN_EXE_auditlogd")).with_file_name("axum-app");
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_apps_mutating_requests_are_found_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        ingest_tenants: vec!["org_acme".into()],
        ..Default::default()
    };
    let key = create_key(&server, &admin, "the example app", scope).await;
    let mut app = Command::new(example_bin())
        .args([&server.url, &key])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(app.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();

    let as_user = |role: Option<&'static str>| {
        let mut headers = vec![
            ("x-user", "usr_ada"),
            ("x-tenant", "org_acme"),
            ("user-agent", "example-test/1.0"),
        ];
        if let Some(role) = role {
            headers.push(("x-role", role));
        }
        headers
    };
    let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
        http_request(&addr, method, path, None, headers, b"").status
    };
    assert_eq!(send("POST", "/orgs/org_acme/invoices", &as_user(None)), 201);
    assert_eq!(
        send(
            "POST",
            "/orgs/org_acme/invoices/inv_7/approve",
            &as_user(Some("approver"))
        ),
        200
    );
    assert_eq!(
        send(
            "POST",
            "/orgs/org_acme/invoices/inv_8/approve",
            &as_user(None)
        ),
        403
    );
    assert_eq!(
        send("DELETE", "/orgs/org_acme/invoices/missing", &as_user(None)),
        404
    );
    // A user agent past what an event allows is clipped, not a way past the log.
    let long_agent = "a".repeat(3000);
    let hostile = [
        ("x-user", "usr_ada"),
        ("x-tenant", "org_acme"),
        ("user-agent", long_agent.as_str()),
    ];
    assert_eq!(send("POST", "/orgs/org_acme/invoices", &hostile), 201);
    // Not recorded: a read, and a request nobody could be named for.
    assert_eq!(
        send("GET", "/orgs/org_acme/invoices/inv_7", &as_user(None)),
        200
    );
    assert_eq!(send("POST", "/orgs/org_acme/invoices", &[]), 401);
    let flushed = http_request(&addr, "POST", "/audit/flush", None, &[], b"");
    assert_eq!(flushed.status, 200);
    let stats = flushed.json();
    assert_eq!(stats["recorded"], 5, "{stats}");
    assert_eq!(stats["sent"], 5, "{stats}");

    let page = http_get(
        &server.http,
        "/v1/events?tenant=org_acme&order=oldest",
        Some(&admin),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let mut events = page.json()["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 5, "{events:?}");
    let clipped = events.pop().expect("the hostile one");
    assert_eq!(clipped["action"], "orgs.invoices.post");
    assert_eq!(clipped["user_agent"].as_str().map(str::len), Some(2048));
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            json!([
                e["action"],
                e["outcome"],
                e["resource"],
                e["metadata"]["status"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!(["orgs.invoices.post", "success", {"type": "orgs", "id": "org_acme"}, 201]),
            json!(["invoice.approve", "success", {"type": "invoices", "id": "inv_7"}, 200]),
            json!(["invoice.approve", "denied", {"type": "invoices", "id": "inv_8"}, 403]),
            json!(["orgs.invoices.delete", "failure", {"type": "invoices", "id": "missing"}, 404]),
        ]
    );
    for event in &events {
        assert_eq!(
            event["actor"],
            json!({"user_id": "usr_ada", "kind": "user"})
        );
        assert_eq!(event["organization"]["id"], "org_acme");
        assert_eq!(event["ip_address"], "127.0.0.1");
        assert_eq!(event["user_agent"], "example-test/1.0");
        assert!(event["event_id"].is_string(), "{event}");
    }
    assert_eq!(
        events[1]["metadata"],
        json!({
            "method": "POST",
            "route": "/orgs/{org}/invoices/{id}/approve",
            "status": 200,
            "path_params": {"org": "org_acme", "id": "inv_7"},
        })
    );
    app.kill().expect("kill");
    let _ = app.wait();
}
