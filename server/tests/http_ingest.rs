//! `POST /v1/events` on the real `auditlogd`, driven by a plain HTTP/1.1 client: one
//! event, a JSON array and NDJSON, gzip or not, each found again by query with every
//! field as sent; events refused one by one with their reasons and nothing of them
//! stored; tenant scoping, idempotency by `event_id`, the size limit (also after
//! inflating), content types and encodings, the key's event rate answered 429 with
//! `Retry-After`.

mod common;

use std::io::Write;

use auditlog_proto::v1 as pb;
use common::{Server, create_key, create_limited_key, http_get, http_request};
use serde_json::{Value, json};

/// An event of `tenant` in the ingest shape, with every field set.
fn event(i: u32, tenant: &str) -> Value {
    json!({
        "timestamp": format!("2026-03-08T14:{:02}:{:02}.250Z", i / 60 % 60, i % 60),
        "actor": {"user_id": format!("usr_{}", i % 3), "email": format!("u{}@example.com", i % 3), "kind": "user"},
        "organization": {"id": tenant, "name": "Example Corp"},
        "action": "document.read",
        "resource": {"type": "document", "id": format!("doc_{i}")},
        "outcome": "success",
        "ip_address": "2001:db8::7",
        "user_agent": "curl/8.5.0 \"quoted\" é",
        "metadata": {"i": i, "nested": {"list": [1, 2.5, null, "x"]}},
        "event_id": format!("evt_{tenant}_{i}"),
    })
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in events {
        body.extend_from_slice(e.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("write");
    encoder.finish().expect("finish")
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");
const GZIP: (&str, &str) = ("Content-Encoding", "gzip");

fn post(server: &Server, key: &str, headers: &[(&str, &str)], body: &[u8]) -> common::HttpResponse {
    http_request(&server.http, "POST", "/v1/events", Some(key), headers, body)
}

/// The events of `tenant`, oldest first, without their `seq`.
fn stored(server: &Server, key: &str, tenant: &str) -> Vec<Value> {
    let path = format!("/v1/events?tenant={tenant}&order=oldest&limit=1000");
    let page = http_get(&server.http, &path, Some(key));
    assert_eq!(page.status, 200, "{}", page.text());
    let mut events = page.json()["events"].as_array().expect("events").clone();
    for e in &mut events {
        e.as_object_mut().expect("object").remove("seq");
    }
    events
}

/// The seqs of an answer's results, asserting each event was stored.
fn seqs(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["seq"].as_u64().unwrap_or_else(|| panic!("stored: {r}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_posted_as_json_arrays_and_ndjson_are_stored_as_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let sent: Vec<Value> = (0..40).map(|i| event(i, "org_a")).collect();

    // One event.
    let one = post(&server, &admin, &[JSON], sent[0].to_string().as_bytes());
    assert_eq!(one.status, 200, "{}", one.text());
    let answer = one.json();
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["refused"], 0);
    let first = seqs(&answer)[0];
    assert!(answer["tree_size"].as_u64().expect("tree size") > first);

    // An array, pretty-printed.
    let array = serde_json::to_vec_pretty(&sent[1..10]).expect("json");
    let answer = post(&server, &admin, &[JSON], &array);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let array_seqs = seqs(&answer.json());
    assert_eq!(array_seqs.len(), 9);
    assert!(array_seqs.windows(2).all(|w| w[1] == w[0] + 1), "one batch");

    // NDJSON, with a blank line and CRLF endings.
    let mut lines = crlf(&ndjson(&sent[10..25]));
    lines.extend_from_slice(b"\r\n   \r\n");
    let answer = post(&server, &admin, &[NDJSON], &lines);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(seqs(&answer.json()).len(), 15);

    // NDJSON, gzip-compressed.
    let packed = gzip(&ndjson(&sent[25..40]));
    let answer = post(&server, &admin, &[NDJSON, GZIP], &packed);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["accepted"], 15);

    // Every field of every event, as sent.
    assert_eq!(stored(&server, &admin, "org_a"), sent);

    // `results=refused` leaves the stored out.
    let quiet = http_request(
        &server.http,
        "POST",
        "/v1/events?results=refused",
        Some(&admin),
        &[JSON],
        json!([event(100, "org_a"), {"bad": 1}])
            .to_string()
            .as_bytes(),
    );
    assert_eq!(quiet.status, 207, "{}", quiet.text());
    let quiet = quiet.json();
    assert_eq!(quiet["results"].as_array().expect("results").len(), 1);
    assert_eq!(quiet["results"][0]["index"], 1);
}

/// `bytes` with each `\n` as `\r\n`.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 64);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_refused_one_by_one_and_nothing_of_a_refused_one_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        ingest_tenants: vec!["org_a".into()],
        read_tenants: vec!["org_a".into()],
        ..Default::default()
    };
    let tenant_key = create_key(&server, &admin, "org_a's app", scope).await;

    let mut bad_action = event(1, "org_a");
    bad_action["action"] = "Login".into();
    let mut unknown_member = event(2, "org_a");
    unknown_member["extra"] = true.into();
    let body = json!([
        event(0, "org_a"),
        bad_action,
        unknown_member,
        42,
        event(3, "org_b"),
        event(4, "org_a")
    ]);
    let answer = post(&server, &tenant_key, &[JSON], body.to_string().as_bytes());
    assert_eq!(answer.status, 207, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(
        (answer["accepted"].as_u64(), answer["refused"].as_u64()),
        (Some(2), Some(4))
    );
    let results = answer["results"].as_array().expect("results");
    assert!(results[0]["seq"].is_u64() && results[5]["seq"].is_u64());
    assert_eq!(
        results[0]["seq"].as_u64().map(|s| s + 1),
        results[5]["seq"].as_u64()
    );
    let error = |i: usize| &results[i]["error"];
    assert_eq!(error(1)["code"], "INVALID_ARGUMENT");
    assert_eq!(error(1)["field"], "events[1].action");
    assert!(
        error(1)["message"]
            .as_str()
            .expect("message")
            .contains("`Login`")
    );
    assert_eq!(error(2)["code"], "INVALID_ARGUMENT");
    assert!(
        error(2)["message"]
            .as_str()
            .expect("message")
            .contains("unknown field `extra`")
    );
    assert_eq!(error(3)["code"], "INVALID_ARGUMENT");
    assert_eq!(error(4)["code"], "PERMISSION_DENIED");
    assert!(
        error(4)["message"]
            .as_str()
            .expect("message")
            .contains("org_b")
    );
    let kept: Vec<Value> = stored(&server, &admin, "org_a");
    assert_eq!(kept, vec![event(0, "org_a"), event(4, "org_a")]);
    assert!(stored(&server, &admin, "org_b").is_empty());

    // Every event refused: the first refusal's status, a summary, and the results.
    let answer = post(
        &server,
        &tenant_key,
        &[NDJSON],
        &ndjson(&[event(5, "org_b")]),
    );
    assert_eq!(answer.status, 403, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["error"]["code"], "PERMISSION_DENIED");
    assert_eq!(answer["results"][0]["error"]["code"], "PERMISSION_DENIED");
    assert_eq!(answer["tree_size"], Value::Null);
    let answer = post(
        &server,
        &admin,
        &[NDJSON],
        b"{\"not\":\"an event\"}\nnot json\n",
    );
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["refused"], 2);
    assert!(stored(&server, &admin, "org_b").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_again_with_its_event_id_is_answered_with_its_first_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let batch: Vec<Value> = (0..5).map(|i| event(i, "org_a")).collect();
    let first = post(&server, &admin, &[NDJSON], &ndjson(&batch));
    assert_eq!(first.status, 200, "{}", first.text());
    let first = seqs(&first.json());
    // The retry, compressed this time: the same numbers, marked replayed, stored once.
    let again = post(&server, &admin, &[NDJSON, GZIP], &gzip(&ndjson(&batch)));
    assert_eq!(again.status, 200, "{}", again.text());
    let again = again.json();
    assert_eq!(seqs(&again), first);
    assert!(
        again["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["replayed"] == true)
    );
    // A retry with one more event: the earlier ones replayed, the new one appended.
    let mut more = batch.clone();
    more.push(event(5, "org_a"));
    let answer = post(&server, &admin, &[JSON], json!(more).to_string().as_bytes()).json();
    let results = answer["results"].as_array().expect("results");
    assert_eq!(seqs(&answer)[..5], first[..]);
    assert_eq!(results[5]["replayed"], Value::Null, "{answer}");
    assert_eq!(stored(&server, &admin, "org_a"), more);

    // An id repeated within one request: the repeat is refused alone.
    let twice = json!([event(6, "org_a"), event(6, "org_a"), event(7, "org_a")]);
    let answer = post(&server, &admin, &[JSON], twice.to_string().as_bytes());
    assert_eq!(answer.status, 207, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["results"][1]["error"]["field"], "events[1].event_id");
    assert!(answer["results"][2]["seq"].is_u64());
    // An id used before by a different event refuses the whole request: nothing stored.
    let mut reused = event(0, "org_a");
    reused["action"] = "document.delete".into();
    let body = json!([event(8, "org_a"), reused]);
    let answer = post(&server, &admin, &[JSON], body.to_string().as_bytes());
    assert_eq!(answer.status, 409, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "ALREADY_EXISTS");
    assert_eq!(stored(&server, &admin, "org_a").len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_cannot_be_read_whole_are_refused_whole_with_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &["--max-request-mib", "1"]);
    let admin = server.admin_key.clone().expect("admin key");
    let one = event(0, "org_a").to_string();
    let status_and_code = |answer: common::HttpResponse| {
        let code = answer.json()["error"]["code"].as_str().map(str::to_owned);
        (answer.status, code.unwrap_or_default())
    };

    // Over the limit, sent plainly or inflating past it.
    let line = format!("{one}\n");
    let big = line.repeat((1 << 20) / line.len() + 1);
    let answer = post(&server, &admin, &[NDJSON], big.as_bytes());
    assert_eq!(status_and_code(answer), (413, "OUT_OF_RANGE".into()));
    let answer = post(&server, &admin, &[NDJSON, GZIP], &gzip(big.as_bytes()));
    assert_eq!(status_and_code(answer), (413, "OUT_OF_RANGE".into()));
    // Just under it, it passes.
    let mut fits = String::new();
    for i in 0.. {
        let line = format!("{}\n", event(i, "org_a"));
        if fits.len() + line.len() > 1 << 20 {
            break;
        }
        fits.push_str(&line);
    }
    let answer = post(&server, &admin, &[NDJSON, GZIP], &gzip(fits.as_bytes()));
    assert_eq!(answer.status, 200, "{}", answer.text());

    // Too many events, however small.
    let many = "1\n".repeat(20_001);
    let answer = post(&server, &admin, &[NDJSON], many.as_bytes());
    assert_eq!(status_and_code(answer), (413, "OUT_OF_RANGE".into()));

    // Types and encodings not accepted, bad gzip, JSON that is no event, no event.
    let text = ("Content-Type", "text/plain");
    let answer = post(&server, &admin, &[text], one.as_bytes());
    assert_eq!(status_and_code(answer), (415, "INVALID_ARGUMENT".into()));
    let answer = post(&server, &admin, &[], one.as_bytes());
    assert_eq!(answer.status, 415);
    let answer = post(
        &server,
        &admin,
        &[JSON, ("Content-Encoding", "br")],
        one.as_bytes(),
    );
    assert_eq!(answer.status, 415);
    let answer = post(&server, &admin, &[JSON, GZIP], one.as_bytes());
    assert_eq!(status_and_code(answer), (400, "INVALID_ARGUMENT".into()));
    let answer = post(&server, &admin, &[JSON], b"[1, 2");
    assert_eq!(status_and_code(answer), (400, "INVALID_ARGUMENT".into()));
    let answer = post(&server, &admin, &[JSON], b"\"an event\"");
    assert_eq!(answer.status, 400);
    let answer = post(&server, &admin, &[NDJSON], b"\n\n");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["field"], "events");
    // No key, a wrong parameter.
    let anonymous = http_request(
        &server.http,
        "POST",
        "/v1/events",
        None,
        &[JSON],
        one.as_bytes(),
    );
    assert_eq!(anonymous.status, 401);
    let path = "/v1/events?results=some";
    let answer = http_request(
        &server.http,
        "POST",
        path,
        Some(&admin),
        &[JSON],
        one.as_bytes(),
    );
    assert_eq!(answer.status, 400);
    // Of all these, only the body that fit was stored.
    let count = http_get(&server.http, "/v1/events/count?tenant=org_a", Some(&admin));
    assert_eq!(
        count.json()["count"].as_u64(),
        Some(fits.lines().count() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_keys_event_rate_a_request_is_told_when_to_retry_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        ingest_all_tenants: true,
        ..Default::default()
    };
    let limits = pb::KeyLimits {
        requests_per_second: None,
        events_per_second: Some(10),
    };
    let writer = create_limited_key(&server, &admin, "ten a second", scope, limits).await;
    let ten: Vec<Value> = (0..10).map(|i| event(i, "org_a")).collect();
    assert_eq!(post(&server, &writer, &[NDJSON], &ndjson(&ten)).status, 200);
    let more: Vec<Value> = (10..15).map(|i| event(i, "org_a")).collect();
    let refused = post(&server, &writer, &[NDJSON], &ndjson(&more));
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["error"]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(stored(&server, &admin, "org_a").len(), 10);
}
