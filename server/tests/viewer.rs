//! What the viewer reads from the server, driven as the page does: a viewer token's
//! evidence bundle, checked offline by `auditlog verify-bundle` with the key the server
//! serves, and refused to a token narrowed below its tenant.

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{
    Server, auditlog_bin, authed, event, http_get, http_request, issue_viewer_token,
    newest_system_event,
};

/// A viewer token of `tenant` narrowed by `filter`, issued by `admin`.
fn token(server: &Server, admin: &str, tenant: &str, filter: serde_json::Value) -> String {
    let request = serde_json::json!({"tenant": tenant, "filter": filter});
    let answer = issue_viewer_token(&server.http, admin, &request);
    answer["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_token_downloads_its_tenants_bundle_and_it_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let tenants = ["org_a", "org_b"];
    let events: Vec<pb::Event> = (0..60u32)
        .map(|i| event(i, tenants[(i % 2) as usize], "usr_1", "document.read"))
        .collect();
    let mut ingest = IngestServiceClient::new(server.channel().await);
    ingest
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested");
    let (http, admin_key) = (server.http.clone(), admin.clone());
    let signed =
        tokio::task::spawn_blocking(move || http_get(&http, "/v1/checkpoint", Some(&admin_key)))
            .await
            .expect("task");
    assert_eq!(signed.status, 200, "{}", signed.text());

    let (server, scratch) = tokio::task::spawn_blocking(move || {
        let whole = token(&server, &admin, "org_a", serde_json::json!({}));
        let key = http_get(&server.http, "/v1/verifier-key", Some(&whole));
        assert_eq!(key.status, 200, "{}", key.text());
        let key = key.text().trim().to_owned();

        let bundle = http_get(&server.http, "/v1/bundle", Some(&whole));
        assert_eq!(bundle.status, 200, "{}", bundle.text());
        assert_eq!(bundle.header("content-type"), Some("application/x-ndjson"));
        let scratch = tempfile::tempdir().expect("tempdir");
        let file = scratch.path().join("org_a.bundle");
        std::fs::write(&file, &bundle.body).expect("written");
        let out = Command::new(auditlog_bin())
            .arg("verify-bundle")
            .arg(&file)
            .args(["--key", &key, "--tenant", "org_a", "--json"])
            .output()
            .expect("auditlog runs");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        let report: serde_json::Value = serde_json::from_str(&said).expect("a JSON report");
        assert_eq!(report["events"], 30, "org_a's half of 60");
        assert_eq!(report["completeness"]["kind"], "tenant", "{report}");

        // A changed byte in an event fails the check.
        let text = String::from_utf8(bundle.body.clone()).expect("UTF-8");
        let changed = text.replacen("usr_1", "usr_9", 1);
        assert_ne!(changed, text);
        std::fs::write(&file, changed).expect("written");
        let out = Command::new(auditlog_bin())
            .arg("verify-bundle")
            .arg(&file)
            .args(["--key", &key])
            .output()
            .expect("auditlog runs");
        assert!(!out.status.success(), "a changed event is caught");

        // Another tenant's bundle, or a token narrowed below its tenant: refused.
        let other = http_get(&server.http, "/v1/bundle?tenant=org_b", Some(&whole));
        assert_eq!(other.status, 403, "{}", other.text());
        let narrowed = token(
            &server,
            &admin,
            "org_a",
            serde_json::json!({"actor": "usr_1"}),
        );
        let refused = http_get(&server.http, "/v1/bundle", Some(&narrowed));
        assert_eq!(refused.status, 403, "{}", refused.text());
        // The bundle was recorded as the token's export.
        let recorded = newest_system_event(&server.http, &admin, "auditlog.export.run");
        assert_eq!(recorded["actor"]["kind"], "viewer_token", "{recorded}");
        assert_eq!(recorded["resource"]["id"], "bundle", "{recorded}");
        (server, scratch)
    })
    .await
    .expect("task");
    drop((server, scratch));
}

/// The pages of org_a's events a stream could read in all.
const PAGES: u32 = 16;

/// A stream outlives no revocation: a query read page by page stops at the next page
/// made after its token is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_its_open_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let mut ingest = IngestServiceClient::new(server.channel().await);
    for batch in 0..PAGES {
        let events: Vec<pb::Event> = (0..1000u32)
            .map(|i| event(batch * 1000 + i, "org_a", "usr_1", "document.read"))
            .collect();
        ingest
            .ingest(authed(pb::IngestRequest { events }, &admin))
            .await
            .expect("ingested");
    }
    let (http, key) = (server.http.clone(), admin.clone());
    let (token, id) = tokio::task::spawn_blocking(move || {
        let answer = issue_viewer_token(&http, &key, &serde_json::json!({"tenant": "org_a"}));
        let field = |name: &str| answer[name].as_str().expect(name).to_owned();
        (field("token"), field("id"))
    })
    .await
    .expect("task");
    // Pages of 1,000 events (some 160 KB each) overflow a 64 KiB HTTP/2 window: the
    // server makes a page (and one ahead) only as the client takes one.
    let request = pb::QueryRequest {
        page_size: 1000,
        max_pages: 100,
        ..Default::default()
    };
    let narrow = tonic::transport::Endpoint::from_shared(server.url.clone())
        .expect("url")
        .initial_stream_window_size(Some(64 << 10))
        .initial_connection_window_size(Some(64 << 10))
        .connect()
        .await
        .expect("connects");
    let mut client = QueryServiceClient::new(narrow);
    let mut pages = client
        .query(authed(request, &token))
        .await
        .expect("a stream")
        .into_inner();
    let first = pages
        .message()
        .await
        .expect("a page")
        .expect("the first page");
    assert_eq!(first.events.len(), 1000);
    let (http, path) = (server.http.clone(), format!("/v1/viewer-tokens/{id}"));
    let revoked = tokio::task::spawn_blocking(move || {
        http_request(&http, "DELETE", &path, Some(&admin), &[], b"")
    })
    .await
    .expect("task");
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let mut read = 1;
    let ended = loop {
        match pages.message().await {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("the stream ran to its end: {read} pages"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), tonic::Code::Unauthenticated, "{ended:?}");
    assert!(read < PAGES / 2, "{read} of {PAGES} pages read");
}

/// A tenant's report counts its events as the auditor expects, and checks offline with
/// `auditlog verify-report`; an edited report does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_counts_its_tenant_and_verifies_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let actions = [
        "auth.login",
        "api_key.create",
        "permission.role.assign",
        "document.read",
    ];
    let mut events: Vec<pb::Event> = (0..40u32)
        .map(|i| {
            let mut e = event(
                i,
                "org_a",
                &format!("usr_{}", i % 3),
                actions[(i % 4) as usize],
            );
            if i % 4 == 0 {
                let outcome = if i % 8 == 0 {
                    pb::Outcome::Denied
                } else {
                    pb::Outcome::Failure
                };
                e.outcome = outcome.into();
            }
            e
        })
        .collect();
    // Not a sign-in: its last part is not `login`.
    let mut autologin = event(50, "org_a", "usr_0", "user.autologin");
    autologin.outcome = pb::Outcome::Denied.into();
    events.push(autologin);
    events.extend((0..10u32).map(|i| event(100 + i, "org_b", "usr_b", "api_key.create")));
    IngestServiceClient::new(server.channel().await)
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested");
    let (server, scratch) = tokio::task::spawn_blocking(move || {
        assert_eq!(
            http_get(&server.http, "/v1/checkpoint", Some(&admin)).status,
            200
        );
        let key = http_get(&server.http, "/v1/verifier-key", Some(&admin))
            .text()
            .trim()
            .to_owned();
        let viewer = token(&server, &admin, "org_a", serde_json::json!({}));
        let answer = http_get(&server.http, "/v1/reports", Some(&viewer));
        assert_eq!(answer.status, 200, "{}", answer.text());
        let served = answer.json();
        let report = &served["report"];
        assert_eq!(report["tenant"], "org_a");
        assert_eq!(report["events"], 41);
        assert_eq!(report["by_outcome"]["denied"], 6);
        assert_eq!(report["by_outcome"]["failure"], 5);
        assert_eq!(report["by_outcome"]["success"], 30);
        assert_eq!(report["by_action"].as_array().expect("actions").len(), 5);
        assert_eq!(report["actions"], 5);
        assert_eq!(report["actors"], 3);
        assert_eq!(report["privileged"]["events"], 20, "api keys and roles");
        assert_eq!(report["sign_ins"]["denied"], 5);
        assert_eq!(report["sign_ins"]["failed"], 5);
        assert_eq!(
            report["api_keys_created"]["events"], 10,
            "org_b's are not counted"
        );
        assert_eq!(report["role_changes"]["events"], 10);
        assert_eq!(
            report["role_changes"]["listed"][0]["action"],
            "permission.role.assign"
        );
        assert!(
            report["checkpoint"]
                .as_str()
                .expect("note")
                .contains("\n\u{2014} ")
        );

        let scratch = tempfile::tempdir().expect("tempdir");
        let file = scratch.path().join("report.json");
        std::fs::write(&file, &answer.body).expect("written");
        let verify = |file: &std::path::Path| {
            Command::new(auditlog_bin())
                .arg("verify-report")
                .arg(file)
                .args(["--key", &key])
                .output()
                .expect("auditlog runs")
        };
        let out = verify(&file);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
        // One count edited: refused.
        let mut edited = served.clone();
        edited["report"]["sign_ins"]["denied"] = 0.into();
        std::fs::write(&file, edited.to_string()).expect("written");
        let out = verify(&file);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("edited"));

        // A token narrowed below its tenant, another tenant, no tenant named: refused.
        let narrowed = token(
            &server,
            &admin,
            "org_a",
            serde_json::json!({"actor": "usr_1"}),
        );
        assert_eq!(
            http_get(&server.http, "/v1/reports", Some(&narrowed)).status,
            403
        );
        let other = http_get(&server.http, "/v1/reports?tenant=org_b", Some(&viewer));
        assert_eq!(other.status, 403);
        assert_eq!(
            http_get(&server.http, "/v1/reports", Some(&admin)).status,
            400
        );
        (server, scratch)
    })
    .await
    .expect("task");
    drop((server, scratch));
}

/// `--viewer-frame-ancestors` and `--privileged-actions` reach the pages' headers, their
/// configuration and the reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_follows_its_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        &dir.path().join("data"),
        true,
        &[
            "--viewer-frame-ancestors",
            "https://app.example.com",
            "--privileged-actions",
            "billing.*,user.delete",
        ],
    );
    let admin = server.admin_key.clone().expect("admin key");
    let events: Vec<pb::Event> = [
        "billing.plan.change",
        "user.delete",
        "permission.role.assign",
    ]
    .iter()
    .enumerate()
    .map(|(i, a)| event(i as u32, "org_a", "usr_1", a))
    .collect();
    IngestServiceClient::new(server.channel().await)
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested");
    let server = tokio::task::spawn_blocking(move || {
        let page = http_get(&server.http, "/ui/", None);
        assert_eq!(page.status, 200);
        let policy = page.header("content-security-policy").expect("a policy");
        assert!(
            policy.ends_with("; frame-ancestors https://app.example.com"),
            "{policy}"
        );
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        let config = http_get(&server.http, "/ui/config.json", None).json();
        assert_eq!(
            config["privileged_actions"],
            serde_json::json!(["billing.*", "user.delete"])
        );
        assert_eq!(
            http_get(&server.http, "/v1/checkpoint", Some(&admin)).status,
            200
        );
        let report = http_get(&server.http, "/v1/reports?tenant=org_a", Some(&admin)).json();
        assert_eq!(report["report"]["privileged"]["events"], 2, "{report}");
        server
    })
    .await
    .expect("task");
    // By default the pages may be framed by their own origin only.
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = Server::start(&dir.path().join("data"), true, &[]);
    let page = tokio::task::spawn_blocking(move || http_get(&plain.http, "/ui/", None))
        .await
        .expect("task");
    let policy = page.header("content-security-policy").expect("a policy");
    assert!(policy.ends_with("; frame-ancestors 'self'"), "{policy}");
    drop(server);
}
