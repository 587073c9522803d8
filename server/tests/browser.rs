//! The viewer in a real browser: headless Chromium (Debian's, installed by
//! scripts/browser-env.sh) driven by Selenium (server/tests/python/viewer_e2e.py)
//! against a real `auditlogd` serving a sealing log, one tenant's subject erased. The
//! script opens a viewer token's URL, filters, scrolls, opens an event and sees its
//! proof verified in the page, tampers with it and sees it rejected, exports CSV, JSON
//! Lines and the evidence bundle (checked with `auditlog verify-bundle`), asks for
//! another tenant's data and is refused, and opens an expired token's URL; it saves a
//! screenshot of each view and runs axe-core on each. The screenshots stay in
//! target/test-artifacts/viewer/.

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{
    Server, auditlog_bin, authed, event, http_get, issue_viewer_token, python, root, run_auditlog,
};

/// org_a's events: actions in turn, some denied, five subjects with addresses.
const ACTIONS: [&str; 6] = [
    "auth.login",
    "document.read",
    "permission.role.assign",
    "api_key.create",
    "user.update",
    "config.secret.read",
];
/// The privileged ones, as the viewer's preset selects them (docs/VIEWER.md).
const PRIVILEGED: [&str; 3] = [
    "permission.role.assign",
    "api_key.create",
    "config.secret.read",
];
const ORG_A_EVENTS: u32 = 300;
/// The newest event's resource id: HTML that would add an element if it were parsed.
const MARKUP: &str = "<img src=x id=injected>";

/// `KEY=VALUE` words of scripts/browser-env.sh's output.
fn browser_env() -> std::collections::HashMap<String, String> {
    let out = Command::new(root().join("scripts/browser-env.sh"))
        .output()
        .expect("scripts/browser-env.sh runs");
    assert!(
        out.status.success(),
        "scripts/browser-env.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A viewer token of org_a living `ttl` seconds.
fn token(server: &Server, admin: &str, ttl: u32) -> String {
    let request = serde_json::json!({"tenant": "org_a", "ttl_seconds": ttl});
    let answer = issue_viewer_token(&server.http, admin, &request);
    answer["token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_works_in_a_real_browser() {
    let env = tokio::task::spawn_blocking(browser_env)
        .await
        .expect("task");
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, kek) = (dir.path().join("data"), dir.path().join("kek"));
    let (data_arg, kek_arg) = (data.to_str().expect("UTF-8"), kek.to_str().expect("UTF-8"));
    run_auditlog(&["init", "--data", data_arg, "--seal", "--kek-file", kek_arg]);
    let server = Server::start(&data, true, &["--kek-file", kek.to_str().expect("UTF-8")]);
    let admin = server.admin_key.clone().expect("admin key");

    let mut events: Vec<pb::Event> = (0..ORG_A_EVENTS)
        .map(|i| {
            let action = ACTIONS[(i % 6) as usize];
            let mut e = event(i, "org_a", &format!("usr_{}", i % 5), action);
            if i % 7 == 0 {
                e.outcome = pb::Outcome::Denied.into();
            }
            // Markup in an event is shown as text, never run.
            if i == ORG_A_EVENTS - 1 {
                e.resource.as_mut().expect("resource").id = MARKUP.into();
            }
            e
        })
        .collect();
    events.extend((0..40).map(|i| event(1000 + i, "org_b", "usr_b1", "document.read")));
    let expect_count = |pick: &dyn Fn(&pb::Event) -> bool| {
        events
            .iter()
            .filter(|e| e.organization.as_ref().expect("org").id == "org_a" && pick(e))
            .count()
    };
    let permission = expect_count(&|e| e.action.starts_with("permission."));
    let privileged = expect_count(&|e| PRIVILEGED.contains(&e.action.as_str()));
    let denied = expect_count(&|e| e.outcome == i32::from(pb::Outcome::Denied));
    let erased = expect_count(&|e| e.actor.as_ref().expect("actor").user_id == "usr_3");
    let since_04 = expect_count(&|e| e.timestamp.as_str() >= "2026-03-01T00:04:00Z");
    let mut ingest = IngestServiceClient::new(server.channel().await);
    for batch in events.chunks(100) {
        let request = pb::IngestRequest {
            events: batch.to_vec(),
        };
        ingest
            .ingest(authed(request, &admin))
            .await
            .expect("ingested");
    }
    let mut admin_client = AdminServiceClient::new(server.channel().await);
    let erase = pb::EraseRequest {
        subject: "usr_3".into(),
    };
    admin_client
        .erase(authed(erase, &admin))
        .await
        .expect("erased");

    let artifacts = root().join("target/test-artifacts/viewer");
    let _ = std::fs::remove_dir_all(&artifacts);
    let setup_file = dir.path().join("setup.json");
    let (server, out) = tokio::task::spawn_blocking(move || {
        // A checkpoint covering every event, the key it is checked with.
        let signed = http_get(&server.http, "/v1/checkpoint", Some(&admin));
        assert_eq!(signed.status, 200, "{}", signed.text());
        let vkey = http_get(&server.http, "/v1/verifier-key", Some(&admin))
            .text()
            .trim()
            .to_owned();
        let setup = serde_json::json!({
            "base": format!("http://{}", server.http),
            "token": token(&server, &admin, 3600),
            "short_token": token(&server, &admin, 1),
            "vkey": vkey,
            "chromium": env["CHROMIUM"],
            "chromedriver": env["CHROMEDRIVER"],
            "axe": env["AXE"],
            "auditlog": auditlog_bin(),
            "artifacts": artifacts,
            "expect": {
                "tenant": "org_a",
                "events": ORG_A_EVENTS,
                "permission": permission,
                "privileged": privileged,
                "denied": denied,
                "erased_actor": "usr_3",
                "erased_events": erased,
                "other_tenant": "org_b",
                "other_actor": "usr_b1",
                "markup": MARKUP,
                "since_04": since_04,
            },
        });
        std::fs::write(&setup_file, setup.to_string()).expect("setup written");
        let out = Command::new(python())
            .arg(root().join("server/tests/python/viewer_e2e.py"))
            .arg(&setup_file)
            .env("SE_OFFLINE", "true")
            .output()
            .expect("the browser test runs");
        (server, out)
    })
    .await
    .expect("task");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the viewer in Chromium:\n{said}");
    assert!(said.contains("every step held"), "{said}");
    for view in [
        "events",
        "privileged",
        "drawer-valid",
        "drawer-tampered",
        "drawer-rewritten",
        "report",
        "erased",
        "expired",
    ] {
        let shot = root().join(format!("target/test-artifacts/viewer/{view}.png"));
        let bytes = std::fs::read(&shot).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is a screenshot",
            shot.display()
        );
    }
    drop(server);
}
