//! The real `auditlogd`'s HTTP/JSON API over loopback, driven by a plain HTTP/1.1
//! client: keys, tenant scoping, pages by cursor, counts, streamed JSON Lines and CSV
//! exports, proofs checked with the engine's verifier, checkpoints, and errors.

mod common;

use auditlog_engine::export::CSV_HEADER;
use auditlog_engine::merkle::Proof;
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Server, authed, event, http_get_async, http_request, issue_viewer_token, reader_of};

fn tenant_of(i: u32) -> &'static str {
    if i.is_multiple_of(4) {
        "org_b"
    } else {
        "org_a"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_answers_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let reader = reader_of(&server, &admin, "org_a").await;
    let events: Vec<pb::Event> = (0..40)
        .map(|i| {
            let action = if i % 3 == 0 {
                "permission.role.assign"
            } else {
                "document.read"
            };
            event(i, tenant_of(i), "usr_1", action)
        })
        .collect();
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let ack = ingest
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested")
        .into_inner();
    // The server's own events (its start, the key created) come first.
    let base = ack.seqs[0];
    assert_eq!(base, 2);
    let addr = server.http.clone();
    let get = |path: String, key: Option<String>| http_get_async(&addr, path, key);
    let reader = Some(reader);

    let health = get("/healthz".into(), None).await;
    assert_eq!((health.status, health.text()), (200, "ok\n".to_owned()));

    // No key: 401 with a challenge and a JSON error.
    let refused = get("/v1/events".into(), None).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(refused.json()["error"]["code"], "UNAUTHENTICATED");

    // The reader's pages, followed by cursor: exactly org_a's events, newest first.
    let expected: Vec<u64> = (base..base + 40)
        .rev()
        .filter(|&s| tenant_of((s - base) as u32) == "org_a")
        .collect();
    let mut seen = Vec::new();
    let mut path = "/v1/events?limit=7".to_owned();
    loop {
        let page = get(path.clone(), reader.clone()).await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert_eq!(page.header("content-type"), Some("application/json"));
        let body = page.json();
        for e in body["events"].as_array().unwrap() {
            assert_eq!(e["organization"]["id"], "org_a");
            seen.push(e["seq"].as_u64().unwrap());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/events?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    // Another tenant: 403, whatever the route.
    for path in [
        "/v1/events?tenant=org_b",
        "/v1/events/count?tenant=org_b",
        "/v1/export?tenant=org_b",
    ] {
        let denied = get(path.into(), reader.clone()).await;
        assert_eq!(denied.status, 403, "{path}");
        assert_eq!(denied.json()["error"]["code"], "PERMISSION_DENIED");
    }

    // Counts agree with the pages.
    let counted = get(
        "/v1/events/count?action=permission.*".into(),
        reader.clone(),
    )
    .await;
    let privileged = expected.iter().filter(|&&s| (s - base) % 3 == 0).count() as u64;
    assert_eq!(counted.json()["count"], privileged);
    assert_eq!(counted.json()["by_outcome"]["success"], privileged);

    // Exports stream the same events, oldest first: JSON Lines, and CSV with its header.
    let jsonl = get("/v1/export?format=jsonl".into(), reader.clone()).await;
    assert_eq!(jsonl.status, 200);
    assert_eq!(jsonl.header("transfer-encoding"), Some("chunked"));
    let lines: Vec<u64> = jsonl
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let oldest_first: Vec<u64> = expected.iter().rev().copied().collect();
    assert_eq!(lines, oldest_first);
    // A sequence range, as the CLI's --from-seq/--to-seq: the reader's events in it.
    let (from, to) = (base + 10, base + 30);
    let path = format!("/v1/events?from_seq={from}&to_seq={to}&order=oldest");
    let ranged = get(path, reader.clone()).await;
    let in_range: Vec<u64> = ranged.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let expected_range: Vec<u64> = oldest_first
        .iter()
        .copied()
        .filter(|s| (from..to).contains(s))
        .collect();
    assert!(!expected_range.is_empty());
    assert_eq!(in_range, expected_range);
    let csv = get("/v1/export?format=csv&order=newest".into(), reader.clone()).await;
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let rows: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(rows[0], CSV_HEADER.join(","));
    assert_eq!(rows.len(), expected.len() + 1);
    assert!(
        rows[1].starts_with(&format!("{},", expected[0])),
        "{}",
        rows[1]
    );

    // Proofs, in the proof JSON of the design, verify; another tenant's event is refused.
    let checkpoint = get("/v1/checkpoint".into(), Some(admin.clone())).await;
    assert_eq!(checkpoint.status, 200);
    // The two exports were recorded as the server's events.
    let size = base + 40 + 2;
    assert!(
        checkpoint.text().contains(&format!("\n{size}\n")),
        "{}",
        checkpoint.text()
    );
    let again = get(format!("/v1/checkpoint?tree_size={size}"), reader.clone()).await;
    assert_eq!(again.text(), checkpoint.text());
    let inclusion = get(
        format!(
            "/v1/proofs/inclusion?leaf_index={}&tree_size={size}",
            base + 1
        ),
        reader.clone(),
    )
    .await;
    assert_eq!(inclusion.status, 200, "{}", inclusion.text());
    let proof = Proof::from_json(&inclusion.body).expect("proof JSON");
    proof.verify().expect("the inclusion proof verifies");
    let Proof::Inclusion(p) = &proof else {
        panic!("an inclusion proof")
    };
    let root_line = checkpoint.text().lines().nth(2).unwrap().to_owned();
    assert_eq!(root_line, BASE64.encode(&p.root));
    let denied = get(
        format!("/v1/proofs/inclusion?leaf_index={base}"),
        reader.clone(),
    )
    .await;
    assert_eq!(denied.status, 403);
    let consistency = get(
        format!("/v1/proofs/consistency?size1=10&size2={size}"),
        reader.clone(),
    )
    .await;
    Proof::from_json(&consistency.body)
        .expect("proof JSON")
        .verify()
        .expect("the consistency proof verifies");

    // Bad parameters: 400 naming the problem.
    for path in [
        "/v1/events?limit=0",
        "/v1/events?bogus=1",
        "/v1/export?format=xml",
        "/v1/events?since=3",
        // A multi-byte last character once panicked the parser.
        "/v1/events?since=1%C3%98",
        "/v1/events/count?since=%F0%9F%98%80",
        "/v1/export?since=1d%C3%98",
        "/v1/proofs/inclusion",
    ] {
        let bad = get(path.into(), reader.clone()).await;
        assert_eq!(bad.status, 400, "{path}: {}", bad.text());
        assert_eq!(bad.json()["error"]["code"], "INVALID_ARGUMENT", "{path}");
    }
    let beyond = get(
        format!("/v1/proofs/inclusion?leaf_index={}", size + 50),
        reader.clone(),
    )
    .await;
    assert_eq!(beyond.status, 400);
    assert_eq!(beyond.json()["error"]["code"], "OUT_OF_RANGE");
}

/// The media type of a content type (`text/plain; charset=utf-8` → `text/plain`).
fn media_type(content_type: Option<&str>) -> &str {
    content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_openapi_document_answers_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let events: Vec<pb::Event> = (0..3)
        .map(|i| event(i, "org_a", "usr_1", "document.read"))
        .collect();
    ingest
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("ingested");
    let no_key = pb::IngestRequest { events: vec![] };
    let refused = ingest.ingest(no_key).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let addr = server.http.clone();
    let get = |path: String, key: Option<String>| http_get_async(&addr, path, key);

    // A checkpoint for the bundle to be proven against.
    let signed = get("/v1/checkpoint".into(), Some(admin.clone())).await;
    assert_eq!(signed.status, 200, "{}", signed.text());
    let document = get("/openapi.json".into(), None).await;
    assert_eq!(document.status, 200);
    let document = document.json();
    let paths = document["paths"].as_object().expect("paths");
    // Exactly the routes the server has (see http/mod.rs's router).
    let documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut served = vec![
        "/healthz",
        "/openapi.json",
        "/metrics",
        "/v1/events",
        "/v1/events/count",
        "/v1/logs",
        "/v1/export",
        "/v1/proofs/inclusion",
        "/v1/proofs/consistency",
        "/v1/checkpoint",
        "/v1/verifier-key",
        "/v1/cluster",
        "/v1/cluster/writer",
        "/v1/cluster/move",
        "/v1/bundle",
        "/v1/reports",
        "/v1/sinks",
        "/v1/sinks/{id}",
        "/v1/sinks/{id}/pause",
        "/v1/sinks/{id}/resume",
        "/v1/sinks/{id}/replay",
        "/v1/viewer-tokens",
        "/v1/viewer-tokens/{id}",
        "/v1/replica",
        "/v1/replica/checkpoint",
        "/v1/replica/records",
        "/v1/replica/keys",
        "/v1/replica/record",
    ];
    served.sort_unstable();
    // Events of `_system` the sink routes record (each sink made, each change), and the
    // sinks made over gRPC for them.
    let (mut sink_events, mut sinks_made) = (0, 0);
    // And those of the viewer tokens (each issued, each revoked).
    let mut token_events = 0;
    assert_eq!(documented, served);
    let mut posted = 0;
    for (path, item) in paths {
        // A POST sends each documented example body (gets none).
        for (method, operation) in item.as_object().expect("path item") {
            let bodies: Vec<(String, Vec<u8>)> =
                match operation["requestBody"]["content"].as_object() {
                    // Each media type with an example (a binary one has none).
                    Some(content) => content
                        .iter()
                        .filter_map(|(media, c)| {
                            let example = match &c["example"] {
                                serde_json::Value::Null => return None,
                                serde_json::Value::String(text) => text.clone().into_bytes(),
                                other => other.to_string().into_bytes(),
                            };
                            Some((media.clone(), example))
                        })
                        .collect(),
                    None => vec![(String::new(), Vec::new())],
                };
            for (media, mut body) in bodies {
                // A replica records a read of one of this server's keys.
                if path == "/v1/replica/record" {
                    let admin_id = admin.split('_').nth(1).expect("a key id");
                    body = String::from_utf8(body)
                        .expect("UTF-8 example")
                        .replace("KEY_ID", admin_id)
                        .into_bytes();
                }
                let query: Vec<String> = operation["parameters"]
                    .as_array()
                    .expect("parameters")
                    .iter()
                    .filter(|p| p["required"] == true && p["in"] == "query")
                    .map(|p| {
                        let example = &p["example"];
                        let value = example
                            .as_str()
                            .map_or_else(|| example.to_string(), str::to_owned);
                        format!("{}={value}", p["name"].as_str().unwrap())
                    })
                    .collect();
                // A sink's or a viewer token's route is asked about one made for it.
                let mut path = path.clone();
                if path.starts_with("/v1/sinks/{id}") {
                    path = path.replace("{id}", &loopback_sink(&server, &admin).await);
                    sink_events += 1 + usize::from(method != "get");
                    sinks_made += 1;
                } else if path.contains("{id}") {
                    path = path.replace("{id}", &viewer_token(&addr, &admin).await);
                    token_events += 1 + usize::from(method != "get");
                }
                // An admin key names the tenant a report is of.
                let query = match path.as_str() {
                    "/v1/reports" => vec!["tenant=org_a".to_owned()],
                    _ => query,
                };
                let url = if query.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{}", query.join("&"))
                };
                let open = operation["security"].as_array().is_some_and(Vec::is_empty);
                let key = (!open).then(|| admin.clone());
                let send = |key: Option<String>| {
                    let (addr, url, method) = (addr.clone(), url.clone(), method.to_uppercase());
                    let (media, body) = (media.clone(), body.clone());
                    tokio::task::spawn_blocking(move || {
                        let headers: Vec<(&str, &str)> = if media.is_empty() {
                            vec![]
                        } else {
                            vec![("Content-Type", media.as_str())]
                        };
                        http_request(&addr, &method, &url, key.as_deref(), &headers, &body)
                    })
                };
                let answer = send(key).await.expect("request");
                // The documented success: 201 for what is created with an id, else 200;
                // the cluster's routes answer their documented 404 on a server that is no
                // node of a cluster (their 200s: tests/shards.rs), a replica's state on a
                // server that is none (its 200: tests/replica.rs).
                let success = if path.starts_with("/v1/cluster") || path == "/v1/replica" {
                    "404"
                } else if operation["responses"].get("201").is_some() {
                    "201"
                } else {
                    "200"
                };
                assert_eq!(
                    answer.status.to_string(),
                    success,
                    "{method} {url}: {}",
                    answer.text()
                );
                posted += usize::from(method == "post");
                let documented = operation["responses"][success]["content"]
                    .as_object()
                    .and_then(|c| c.keys().next().cloned())
                    .expect("a documented 200 content type");
                assert_eq!(
                    media_type(answer.header("content-type")),
                    documented,
                    "{url}"
                );
                if documented == "application/json" {
                    assert!(
                        serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok(),
                        "{url}"
                    );
                }
                if operation["responses"].get("401").is_some() {
                    let refused = send(None).await.expect("request");
                    assert_eq!(refused.status, 401, "{url}");
                    let body = refused.json();
                    if path == "/v1/logs" {
                        // OTLP's failure shape: a google.rpc.Status.
                        assert_eq!(body["code"], tonic::Code::Unauthenticated as i32);
                    } else {
                        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{url}");
                    }
                } else {
                    assert!(open, "{url}: a route that needs no key documents no 401");
                }
            }
        }
    }
    // Both of POST /v1/events's bodies (JSON and NDJSON), /v1/logs's OTLP/JSON, the
    // four of the sinks (create, pause, resume, replay), a viewer token's, a move's and a
    // replica's read.
    assert_eq!(posted, 10);
    sink_events += 1; // POST /v1/sinks
    token_events += 1; // POST /v1/viewer-tokens
    // The metrics count what was just asked.
    let metrics = get("/metrics".into(), Some(admin)).await.text();
    // Three events, the three of the documented examples, four of the server's (its
    // start, the export, the bundle and the report just made), two of a replica's (its
    // first call for records, the read it recorded) and those of the sinks and tokens.
    let events = format!(
        "auditlog_events_total {}\n",
        12 + sink_events + token_events
    );
    assert!(metrics.contains(&events), "{metrics}");
    assert!(
        metrics.contains("auditlog_http_responses_total{code=\"401\"}"),
        "{metrics}"
    );
    // The ingest above and the sinks made.
    let answered = format!(
        "auditlog_grpc_responses_total{{code=\"TRAILERS\"}} {}\n",
        1 + sinks_made
    );
    assert!(metrics.contains(&answered), "{metrics}");
    assert!(
        metrics.contains("auditlog_grpc_responses_total{code=\"UNAUTHENTICATED\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("auditlog_fsync_seconds_bucket{le=\"+Inf\"} "),
        "{metrics}"
    );
}

/// A viewer token of org_a, issued over HTTP by `admin`; its id.
async fn viewer_token(addr: &str, admin: &str) -> String {
    let (addr, admin) = (addr.to_owned(), admin.to_owned());
    let request = serde_json::json!({"tenant": "org_a"});
    let answer = tokio::task::spawn_blocking(move || issue_viewer_token(&addr, &admin, &request))
        .await
        .expect("request");
    answer["id"].as_str().expect("id").to_owned()
}

/// A sink of org_a delivering to a closed loopback port; its id.
async fn loopback_sink(server: &Server, admin: &str) -> String {
    let spec = pb::SinkSpec {
        name: "nowhere".into(),
        scope: Some(pb::SinkScope {
            tenants: vec!["org_a".into()],
            all_tenants: false,
        }),
        destination: Some(pb::sink_spec::Destination::Webhook(
            pb::WebhookDestination {
                url: "http://127.0.0.1:9/hooks".into(),
                proofs: false,
            },
        )),
        ..Default::default()
    };
    let request = pb::CreateSinkRequest {
        spec: Some(spec),
        from_seq: None,
        secret: None,
    };
    auditlog_proto::v1::sink_service_client::SinkServiceClient::new(server.channel().await)
        .create_sink(authed(request, admin))
        .await
        .expect("a sink")
        .into_inner()
        .sink
        .expect("the sink")
        .id
}
