//! `auditlogd` as an OTLP logs receiver: the official OpenTelemetry Python SDK
//! (installed from PyPI by `scripts/python-env.sh`) sends audit records through its
//! OTLP/gRPC and OTLP/HTTP exporters, plain and gzip, and each is found by query with
//! every field as sent (docs/OTLP.md's mapping). Then, with a Rust client: records
//! that cannot map, or that the key may not write, come back in `partial_success`
//! (gRPC, HTTP protobuf, HTTP JSON) and are not stored; failures answer as OTLP
//! defines (google.rpc.Status bodies, the HTTP statuses exporters act on); a record
//! sent again with its `log.record.uid` is stored once.

mod common;

use std::process::Command;

use auditlog_proto::opentelemetry::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use auditlog_proto::opentelemetry::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use auditlog_proto::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use auditlog_proto::opentelemetry::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use auditlog_proto::opentelemetry::proto::resource::v1::Resource;
use auditlog_proto::v1 as pb;
use common::{Server, authed, create_key, http_get, http_request, python, root};
use prost::Message;
use serde_json::{Value, json};

/// The events of `tenant`, by `event_id`.
fn stored(server: &Server, key: &str, tenant: &str) -> std::collections::HashMap<String, Value> {
    let mut found = std::collections::HashMap::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/events?tenant={tenant}&limit=1000{cursor}");
        let page = http_get(&server.http, &path, Some(key));
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        for event in page["events"].as_array().expect("events") {
            let id = event["event_id"].as_str().expect("an event_id").to_owned();
            assert!(
                found.insert(id, event.clone()).is_none(),
                "stored once: {event}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return found,
        }
    }
}

/// `ns` nanoseconds since the epoch as the log prints a time (microseconds kept).
fn rfc3339(ns: u64) -> String {
    let micros = (ns / 1_000) as i64;
    let mut out = String::new();
    auditlog_engine::Timestamp(micros).format(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_s_records_are_found_with_every_field_as_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    // A key of the one tenant the records name, as an application would hold.
    let scope = pb::Scope {
        ingest_tenants: vec!["org_otel".into()],
        ..Default::default()
    };
    let app = create_key(&server, &admin, "billing", scope).await;
    let out = Command::new(python())
        .arg(root().join("server/tests/python/otel.py"))
        .arg(server.url.trim_start_matches("http://"))
        .arg(&server.http)
        .arg(&app)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sent = said["sent"].as_array().expect("sent");
    assert_eq!(sent.len(), 100, "25 records through each of four exporters");
    let found = stored(&server, &admin, "org_otel");
    assert_eq!(found.len(), sent.len(), "every record, and no orphan");
    for record in sent {
        let a = &record["attributes"];
        let id = a["log.record.uid"].as_str().expect("uid");
        let event = found.get(id).unwrap_or_else(|| panic!("{id} is stored"));
        let ns = record["time_unix_nano"].as_u64().expect("time");
        assert_eq!(event["timestamp"], rfc3339(ns), "{id}");
        assert_eq!(event["action"], "invoice.approve");
        assert_eq!(
            event["actor"],
            json!({"user_id": a["enduser.id"], "email": a["user.email"], "kind": a["audit.actor.kind"]})
        );
        assert_eq!(
            event["organization"],
            json!({"id": "org_otel", "name": "OTel Corp"})
        );
        assert_eq!(
            event["resource"],
            json!({"type": a["audit.resource.type"], "id": a["audit.resource.id"]})
        );
        assert_eq!(event["outcome"], a["audit.outcome"]);
        assert_eq!(event["ip_address"], a["client.address"]);
        assert_eq!(event["user_agent"], a["user_agent.original"]);
        assert_eq!(event["event_id"], id);
        assert_eq!(
            event["metadata"],
            json!({
                "http.route": a["http.route"],
                "retries": a["retries"],
                "amount": a["amount"],
                "approved": a["approved"],
                "labels": a["labels"],
                "body": record["body"],
                "service.name": record["service"],
                "trace_id": record["trace_id"],
                "span_id": record["span_id"],
            }),
            "{id}"
        );
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

/// A record of `tenant` by `actor` (none: it cannot map), with `uid`.
fn record(tenant: &str, actor: Option<&str>, uid: &str) -> LogRecord {
    let mut attributes = vec![
        string("audit.tenant.id", tenant),
        string("audit.outcome", "success"),
        string("log.record.uid", uid),
    ];
    if let Some(actor) = actor {
        attributes.push(string("enduser.id", actor));
    }
    LogRecord {
        time_unix_nano: 1_772_980_321_000_000_000,
        event_name: "document.read".into(),
        attributes,
        ..Default::default()
    }
}

fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![string("service.name", "rust-test")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_cannot_be_stored_come_back_in_partial_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &["--max-request-mib", "1"]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        ingest_tenants: vec!["org_a".into()],
        ..Default::default()
    };
    let app = create_key(&server, &admin, "org_a's app", scope).await;
    let mixed = || {
        request(vec![
            record("org_a", Some("usr_1"), "a-1"),
            record("org_a", None, "a-2"),
            record("org_b", Some("usr_1"), "b-1"),
            record("org_a", Some("usr_2"), "a-3"),
        ])
    };
    let check = |answer: ExportLogsServiceResponse| {
        let partial = answer.partial_success.expect("partial success");
        assert_eq!(partial.rejected_log_records, 2);
        let message = &partial.error_message;
        assert!(
            message.starts_with("2 of 4 log records refused"),
            "{message}"
        );
        assert!(
            message.contains("resource_logs[0].scope_logs[0].log_records[1]: no actor"),
            "{message}"
        );
        assert!(
            message
                .contains("log_records[2]: this API key may not ingest events of tenant `org_b`"),
            "{message}"
        );
    };

    // gRPC.
    let mut client = LogsServiceClient::new(server.channel().await);
    let answer = client
        .export(authed(mixed(), &app))
        .await
        .expect("exported");
    check(answer.into_inner());
    let refused = client.export(mixed()).await.expect_err("no key");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let ids = stored(&server, &admin, "org_a");
    assert_eq!(ids.len(), 2);
    assert!(ids.contains_key("a-1") && ids.contains_key("a-3"));
    assert_eq!(ids["a-1"]["metadata"], json!({"service.name": "rust-test"}));

    // HTTP, protobuf: the same records again are stored once (log.record.uid).
    let protobuf = [("Content-Type", "application/x-protobuf")];
    let body = mixed().encode_to_vec();
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &protobuf,
        &body,
    );
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-protobuf")
    );
    check(ExportLogsServiceResponse::decode(&answer.body[..]).expect("a response"));
    assert_eq!(stored(&server, &admin, "org_a").len(), 2);

    // HTTP, JSON.
    let json_type = [("Content-Type", "application/json")];
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1772980321000000000", "eventName": "document.read", "attributes": [
            {"key": "audit.tenant.id", "value": {"stringValue": "org_a"}},
            {"key": "enduser.id", "value": {"stringValue": "usr_9"}},
            {"key": "audit.outcome", "value": {"stringValue": "failure"}},
            {"key": "log.record.uid", "value": {"stringValue": "json-1"}},
            {"key": "attempt", "value": {"intValue": "3"}}]},
        {"timeUnixNano": 1772980321000000000u64, "attributes": []}
    ]}]}]});
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &json_type,
        body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let answer = answer.json();
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
    let message = answer["partialSuccess"]["errorMessage"]
        .as_str()
        .expect("message");
    assert!(message.contains("log_records[1]: no action"), "{message}");
    let ids = stored(&server, &admin, "org_a");
    assert_eq!(ids["json-1"]["outcome"], "failure");
    assert_eq!(ids["json-1"]["metadata"], json!({"attempt": 3}));
    // Every record stored: an empty answer.
    let one = request(vec![record("org_a", Some("usr_3"), "a-4")]).encode_to_vec();
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &protobuf,
        &one,
    );
    assert_eq!(answer.status, 200);
    let answer = ExportLogsServiceResponse::decode(&answer.body[..]).expect("a response");
    assert_eq!(answer.partial_success, None);

    // Failures, as OTLP/HTTP defines them: a google.rpc.Status in the request's encoding.
    let rpc_status = |body: &[u8]| tonic_types::Status::decode(body).expect("a google.rpc.Status");
    let anonymous = http_request(&server.http, "POST", "/v1/logs", None, &protobuf, &one);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        rpc_status(&anonymous.body).code,
        tonic::Code::Unauthenticated as i32
    );
    let garbage = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &protobuf,
        b"\xff\xff\xff",
    );
    assert_eq!(garbage.status, 400);
    assert!(
        rpc_status(&garbage.body)
            .message
            .contains("not an ExportLogsServiceRequest")
    );
    let bad_json = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#;
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &json_type,
        bad_json,
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], tonic::Code::InvalidArgument as i32);
    let message = answer.json()["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("logRecords[0].traceId"), "{message}");
    let text = [("Content-Type", "text/plain")];
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &text,
        b"hello",
    );
    assert_eq!(answer.status, 415);
    let large = request(
        (0..20_000)
            .map(|i| record("org_a", Some("usr_1"), &format!("big-{i}")))
            .collect(),
    )
    .encode_to_vec();
    assert!(large.len() > 1 << 20);
    // Sent compressed: small on the wire, past the limit once inflated.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &large).expect("gzip");
    let packed = gzip.finish().expect("gzip");
    let headers = [protobuf[0], ("Content-Encoding", "gzip")];
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &headers,
        &packed,
    );
    assert_eq!(answer.status, 413);
    // Too many records, however small.
    let many = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 20_001],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = many.encode_to_vec();
    let answer = http_request(
        &server.http,
        "POST",
        "/v1/logs",
        Some(&app),
        &protobuf,
        &body,
    );
    assert_eq!(answer.status, 413);
    assert_eq!(
        rpc_status(&answer.body).code,
        tonic::Code::OutOfRange as i32
    );
    // Of all this, only what was accepted is stored.
    assert_eq!(stored(&server, &admin, "org_a").len(), 4);
    assert!(stored(&server, &admin, "org_b").is_empty());
}
