//! The action catalog on the real `auditlogd`, kept with the real `auditlog catalog`
//! command: a catalog file applied through the server (versions, unchanged entries), its
//! schemas checked by every way in (HTTP ingest refusing with the failing field named,
//! gRPC ingest refusing its batch, `flag` storing the event and recording a `_system`
//! flag event, OTLP warning through `partial_success`), a change in force at once, the
//! coverage report over every tenant and one, admin keys only, and the catalog read back
//! from the data directory after a restart.

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, auditlog_bin, authed, create_key, http_get, http_request};
use serde_json::{Value, json};
use tonic_types::StatusExt;

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

fn catalog_file(dir: &std::path::Path, entries: &Value) -> std::path::PathBuf {
    let path = dir.join(format!("catalog-{}.json", rand_suffix()));
    std::fs::write(&path, serde_json::to_vec_pretty(entries).unwrap()).unwrap();
    path
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `auditlog ARGS`: its exit code and stdout (stderr appended, for failures).
fn auditlog(args: &[&str]) -> (i32, String) {
    let out = Command::new(auditlog_bin())
        .args(args)
        .output()
        .expect("runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `auditlog catalog apply [--prune] FILE` through `server`.
fn apply(server: &Server, admin: &str, file: &std::path::Path, prune: bool) -> (i32, String) {
    let file = file.to_str().unwrap();
    let mut args = vec![
        "catalog",
        "apply",
        file,
        "--server",
        &server.url,
        "--key",
        admin,
    ];
    if prune {
        args.push("--prune");
    }
    auditlog(&args)
}

/// `events` posted as NDJSON to `POST /v1/events`.
fn post(server: &Server, key: &str, events: &[Value]) -> common::HttpResponse {
    let body = ndjson(events);
    http_request(
        &server.http,
        "POST",
        "/v1/events",
        Some(key),
        &[NDJSON],
        &body,
    )
}

fn entries() -> Value {
    json!([
        {
            "action": "invoice.refund",
            "description": "A refund issued",
            "schema": {
                "type": "object",
                "required": ["amount", "currency"],
                "properties": {
                    "amount": {"type": "number", "minimum": 0},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}
                }
            },
            "every_days": 30
        },
        {
            "action": "user.login",
            "schema": {"properties": {"method": {"enum": ["password", "sso"]}}},
            "on_invalid": "flag"
        },
        {"action": "report.export", "every_days": 1}
    ])
}

fn event(i: u32, tenant: &str, action: &str, metadata: Value) -> Value {
    json!({
        "timestamp": "2026-12-01T10:00:00Z",
        "actor": {"user_id": format!("usr_{i}")},
        "organization": {"id": tenant},
        "action": action,
        "outcome": "success",
        "metadata": metadata,
    })
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| format!("{e}\n").into_bytes())
        .collect()
}

fn coverage(server: &Server, admin: &str, tenant: Option<&str>) -> (i32, Vec<Value>) {
    let mut args = vec![
        "catalog",
        "coverage",
        "--json",
        "--check",
        "--server",
        &server.url,
        "--key",
        admin,
    ];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let (code, out) = auditlog(&args);
    let lines = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, lines)
}

fn status_of<'a>(report: &'a [Value], action: &str) -> &'a str {
    report
        .iter()
        .find(|a| a["action"] == action)
        .and_then(|a| a["status"].as_str())
        .unwrap_or_else(|| panic!("{action} not in {report:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_checks_events_and_reports_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let file = catalog_file(dir.path(), &entries());
    let (code, out) = apply(&server, &admin, &file, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("invoice.refund: version 1\n"), "{out}");
    // Applied again: nothing changes.
    let (code, out) = apply(&server, &admin, &file, false);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(", unchanged").count(), 3, "{out}");

    // HTTP: the refund without an amount is refused, its field named; the login with an
    // unknown method is stored and flagged; others pass.
    let answer = post(
        &server,
        &admin,
        &[
            event(
                0,
                "org_a",
                "invoice.refund",
                json!({"amount": 12.5, "currency": "EUR"}),
            ),
            event(1, "org_a", "invoice.refund", json!({"currency": "EUR"})),
            event(2, "org_a", "user.login", json!({"method": "magic-link"})),
            event(3, "org_b", "document.read", json!({})),
        ],
    );
    assert_eq!(answer.status, 207, "{}", answer.text());
    let answer = answer.json();
    let results = answer["results"].as_array().unwrap();
    let refusal = &results[1]["error"];
    assert_eq!(refusal["field"], "events[1].metadata.amount", "{refusal}");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("invoice.refund (version 1)")
    );
    let flagged = &results[2]["flagged"];
    assert_eq!(flagged["field"], "events[2].metadata.method", "{flagged}");
    assert_eq!(flagged["schema_version"], 1);
    let flagged_seq = results[2]["seq"].as_u64().unwrap();
    assert!(results[3]["flagged"].is_null());

    // gRPC: a refusal refuses the batch, naming `metadata_json`; a flag is answered.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let grpc_event = |action: &str, metadata: Value| pb::Event {
        timestamp: "2026-12-01T11:00:00Z".into(),
        actor: Some(pb::Actor {
            user_id: "usr_g".into(),
            ..Default::default()
        }),
        organization: Some(pb::Organization {
            id: "org_a".into(),
            ..Default::default()
        }),
        action: action.into(),
        outcome: pb::Outcome::Success as i32,
        metadata_json: Some(metadata.to_string()),
        ..Default::default()
    };
    let bad = pb::IngestRequest {
        events: vec![
            grpc_event("invoice.refund", json!({"amount": 1, "currency": "EUR"})),
            grpc_event("invoice.refund", json!({"amount": 1, "currency": "euro"})),
        ],
    };
    let refused = ingest.ingest(authed(bad, &admin)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let fields: Vec<String> = refused
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, ["events[1].metadata_json.currency"]);
    let flag = pb::IngestRequest {
        events: vec![
            grpc_event("invoice.refund", json!({"amount": 1, "currency": "EUR"})),
            grpc_event("user.login", json!({"method": 7})),
        ],
    };
    let answer = ingest
        .ingest(authed(flag, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.flagged.len(), 1, "{answer:?}");
    assert_eq!(answer.flagged[0].index, 1);
    assert_eq!(answer.flagged[0].field, "events[1].metadata_json.method");
    let grpc_flagged_seq = answer.seqs[1];

    // OTLP: a flagged record is stored, and said in a partial success refusing none.
    let otlp = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1772980321000000000", "eventName": "user.login", "attributes": [
            {"key": "audit.tenant.id", "value": {"stringValue": "org_a"}},
            {"key": "enduser.id", "value": {"stringValue": "usr_o"}},
            {"key": "audit.outcome", "value": {"stringValue": "success"}},
            {"key": "method", "value": {"stringValue": "carrier-pigeon"}}]}
    ]}]}]});
    let json_type = [("Content-Type", "application/json")];
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&admin),
        &json_type,
        otlp.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = answer.json();
    let rejected = &answer["partialSuccess"]["rejectedLogRecords"];
    assert!(rejected.is_null() || rejected == "0", "{answer}");
    let warning = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        warning.contains("stored but flagged") && warning.contains(".metadata.method"),
        "{warning}"
    );

    // The flags are `_system` events naming the events they flag.
    let page = http_get(
        &server.http,
        "/v1/events?tenant=_system&action=auditlog.catalog.flag&order=oldest",
        Some(&admin),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let flags = page.json()["events"].as_array().unwrap().clone();
    assert_eq!(flags.len(), 3, "{flags:?}");
    assert_eq!(flags[0]["resource"]["id"], flagged_seq.to_string());
    assert_eq!(flags[1]["resource"]["id"], grpc_flagged_seq.to_string());
    assert_eq!(flags[0]["metadata"]["field"], "method");
    assert_eq!(flags[0]["metadata"]["version"], 1);
    // Nothing of the refused ones was stored: one refund of the HTTP request, one of
    // the gRPC batch that passed.
    let refunds = http_get(
        &server.http,
        "/v1/events/count?action=invoice.refund",
        Some(&admin),
    );
    assert_eq!(refunds.json()["count"], 2, "{}", refunds.text());

    // Coverage: the export never seen, document.read not catalogued; `--check` fails.
    let (code, report) = coverage(&server, &admin, None);
    assert_eq!(code, 1, "{report:?}");
    assert_eq!(status_of(&report, "report.export"), "never_seen");
    assert_eq!(status_of(&report, "document.read"), "not_catalogued");
    assert_eq!(status_of(&report, "invoice.refund"), "seen");
    assert_eq!(status_of(&report, "user.login"), "seen");
    let login = report.iter().find(|a| a["action"] == "user.login").unwrap();
    assert_eq!(login["events"], 3);
    assert!(
        report
            .iter()
            .all(|a| !a["action"].as_str().unwrap().starts_with("auditlog."))
    );
    // Per tenant: org_b has only document.read.
    let (_, report) = coverage(&server, &admin, Some("org_b"));
    assert_eq!(status_of(&report, "invoice.refund"), "never_seen");
    assert_eq!(status_of(&report, "document.read"), "not_catalogued");
    assert_eq!(report.len(), 4);

    // A change is in force for the next event: the login is now refused.
    let mut changed = entries();
    changed[1]["on_invalid"] = "refuse".into();
    let changed = catalog_file(dir.path(), &changed);
    let (code, out) = apply(&server, &admin, &changed, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("user.login: version 2\n"), "{out}");
    let answer = post(
        &server,
        &admin,
        &[event(
            9,
            "org_a",
            "user.login",
            json!({"method": "magic-link"}),
        )],
    );
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("user.login (version 2)"),
        "{}",
        answer.text()
    );

    // Bad definitions are refused, saying why; nothing changes.
    let outside = catalog_file(
        dir.path(),
        &json!({"action": "a.b", "schema": {"$ref": "file:///etc/passwd"}}),
    );
    let (code, out) = apply(&server, &admin, &outside, false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refer only to itself"), "{out}");
    let unknown = catalog_file(dir.path(), &json!({"action": "a.b", "every": 3}));
    let (code, out) = apply(&server, &admin, &unknown, false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown field `every`"), "{out}");

    // Admin keys only.
    let writer = create_key(
        &server,
        &admin,
        "writer",
        pb::Scope {
            ingest_all_tenants: true,
            read_all_tenants: true,
            ..Default::default()
        },
    )
    .await;
    let mut admin_api = AdminServiceClient::new(server.channel().await);
    let denied = admin_api
        .coverage(authed(pb::CoverageRequest::default(), &writer))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let denied = admin_api
        .define_action(authed(
            pb::DefineActionRequest {
                action: Some(pb::CatalogAction {
                    action: "x.y".into(),
                    ..Default::default()
                }),
            },
            &writer,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // Pruned: the export goes; the removal is recorded.
    let (code, out) = apply(&server, &admin, &changed, true);
    assert_eq!(code, 0, "{out}");
    let two = catalog_file(dir.path(), &json!([entries()[0].clone()]));
    let (code, out) = apply(&server, &admin, &two, true);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("user.login: removed") && out.contains("report.export: removed"),
        "{out}"
    );

    // After a restart, from the data directory itself: the catalog is the log's.
    let (status, _) = server.terminate();
    assert!(status.success());
    let data = data.to_str().unwrap();
    let (code, out) = auditlog(&["catalog", "list", "--json", "--data", data]);
    assert_eq!(code, 0, "{out}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(listed[0]["action"], "invoice.refund");
    assert_eq!(listed[0]["schema"], entries()[0]["schema"]);
    let (code, out) = auditlog(&["catalog", "coverage", "--data", data]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not_catalogued   user.login"), "{out}");
    let server = Server::start(std::path::Path::new(data), false, &[]);
    let answer = post(
        &server,
        &admin,
        &[event(
            10,
            "org_a",
            "invoice.refund",
            json!({"amount": -3, "currency": "EUR"}),
        )],
    );
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("events[0].metadata.amount"),
        "{}",
        answer.text()
    );
    let metrics = http_get(&server.http, "/metrics", Some(&admin)).text();
    assert!(
        metrics.contains("auditlog_catalog_schema_failures_total{policy=\"refuse\"} 1"),
        "{metrics}"
    );
}
