//! The `auditlog` CLI as a client of the real `auditlogd`: `bench-ingest` sends a
//! generated workload over gRPC, closed-loop and open-loop, and what it reports arriving
//! is what the log then holds; the verbs that read a log print, with `--server`, what
//! they print from the data directory, within the key's scope. (The CLI binary is built
//! beside this package's by `cargo test --workspace`, the README's test command.)

mod common;

use std::process::Command;

use auditlog_proto::v1 as pb;
use common::{Server, auditlog_bin, count, create_key};

/// `args` as the string slices `run` and `fails` take.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

use common::run_auditlog as run;

/// Runs `auditlog ARGS`, which must fail with exit code 2; its stderr.
fn fails(args: &[&str]) -> String {
    let out = Command::new(auditlog_bin())
        .args(args)
        .env_remove("AUDITLOG_KEY")
        .output()
        .expect("auditlog runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "auditlog {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("UTF-8 errors")
}

/// Events of every tenant but the server's own.
async fn stored(server: &Server, key: &str) -> u64 {
    count(server, key, None).await - count(server, key, Some("_system")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_ingest_delivers_every_event_it_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let key = server.admin_key.clone().expect("admin key");
    let workload = dir.path().join("events.jsonl");
    let lines = run(&["generate", "--count", "1000", "--seed", "7"]);
    std::fs::write(&workload, &lines).expect("write workload");
    let file = workload.to_str().expect("UTF-8 path");

    // 1,300 events from a 1,000-line file: it is read again from the top.
    let bench = |more: &[&str]| {
        let args = [
            "bench-ingest",
            "--server",
            &server.url,
            "--key",
            &key,
            "--file",
            file,
        ];
        run(&[&args[..], more].concat())
    };
    let closed = bench(&["--events", "1300", "--concurrency", "3", "--batch", "128"]);
    let mut report = closed.lines();
    let rate = report.next().expect("a rate line");
    let figure = rate.strip_suffix(" events/s").expect("`N events/s`");
    assert!(figure.parse::<f64>().expect("a number") > 0.0, "{closed}");
    assert!(
        report.next().expect("a summary").starts_with(
            "1300 events over Grpc in 11 batches of 128 over 2 connections, 3 in flight"
        ),
        "{closed}"
    );
    assert!(
        report.next().expect("latencies").contains("p99"),
        "{closed}"
    );
    assert_eq!(stored(&server, &key).await, 1300);

    // Open loop at a fixed offered rate.
    let open = bench(&["--events", "400", "--batch", "50", "--rate", "20000"]);
    assert!(open.contains("offered 20000 events/s"), "{open}");
    assert_eq!(stored(&server, &key).await, 1700);

    // The events are the file's: the first line's tenant holds exactly as many events as
    // the 1,700 lines sent (1,000 + 300 + 400, from the top each time) name it.
    let tenants: Vec<String> = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["organization"]["id"].as_str().expect("tenant").to_owned()
        })
        .collect();
    let first = &tenants[0];
    let sent = tenants.iter().filter(|t| *t == first).count()
        + tenants[..300].iter().filter(|t| *t == first).count()
        + tenants[..400].iter().filter(|t| *t == first).count();
    assert_eq!(count(&server, &key, Some(first)).await, sent as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_ingest_loads_through_every_way_in_and_the_events_arrive_as_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let key = server.admin_key.clone().expect("admin key");
    let workload = dir.path().join("events.jsonl");
    let lines = run(&["generate", "--count", "300", "--seed", "3"]);
    std::fs::write(&workload, &lines).expect("write workload");
    let file = workload.to_str().expect("UTF-8 path");
    let http = format!("http://{}", server.http);
    for (protocol, url) in [
        ("ndjson", &http),
        ("otlp-grpc", &server.url),
        ("otlp-http", &http),
    ] {
        let args = [
            "bench-ingest",
            "--server",
            url,
            "--key",
            &key,
            "--file",
            file,
        ];
        // One batch in flight: the log keeps the file's order.
        let more = [
            "--events",
            "300",
            "--batch",
            "64",
            "--concurrency",
            "1",
            "--protocol",
            protocol,
        ];
        let report = run(&[&args[..], &more[..]].concat());
        assert!(report.contains("300 events over"), "{protocol}: {report}");
    }
    // Three times the file, in order, each event as its line (NDJSON as sent, OTLP
    // through the mapping both ways).
    let export = common::http_get(&server.http, "/v1/export?format=jsonl", Some(&key));
    assert_eq!(export.status, 200);
    let parse = |l: &str| -> serde_json::Value { serde_json::from_str(l).expect("JSON line") };
    let stored: Vec<serde_json::Value> = export
        .text()
        .lines()
        .map(parse)
        .filter(|e| e["organization"]["id"] != "_system")
        .map(|mut e| {
            e.as_object_mut().expect("event").remove("seq");
            e
        })
        .collect();
    let sent: Vec<serde_json::Value> = lines.lines().map(parse).collect();
    assert_eq!(stored.len(), 900);
    for (i, chunk) in stored.chunks(300).enumerate() {
        for (got, line) in chunk.iter().zip(&sent) {
            assert_eq!(got, line, "pass {i}");
        }
    }
}

#[test]
fn bench_ingest_refuses_a_key_the_server_does_not_know() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let workload = dir.path().join("events.jsonl");
    std::fs::write(&workload, run(&["generate", "--count", "10"])).expect("write workload");
    let out = Command::new(auditlog_bin())
        .args([
            "bench-ingest",
            "--server",
            &server.url,
            "--key",
            "alk_bogus",
        ])
        .args([
            "--file",
            workload.to_str().expect("UTF-8 path"),
            "--events",
            "10",
        ])
        .output()
        .expect("auditlog runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch 0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_verbs_print_from_a_server_what_they_print_from_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let data = data_dir.to_str().expect("UTF-8 path");
    let workload = dir.path().join("events.jsonl");
    let lines = run(&["generate", "--count", "1000", "--seed", "7"]);
    std::fs::write(&workload, &lines).expect("write workload");
    let file = workload.to_str().expect("UTF-8 path");
    let sent = ["--events", "1000", "--batch", "100", "--file", file];
    run(&[
        &["bench-ingest", "--server", &server.url, "--key", &admin],
        &sent[..],
    ]
    .concat());
    // The busiest tenant of the workload.
    let mut tenants = std::collections::HashMap::<String, usize>::new();
    for line in lines.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let tenant = event["organization"]["id"].as_str().expect("tenant");
        *tenants.entry(tenant.to_owned()).or_default() += 1;
    }
    let (tenant, in_tenant) = tenants
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .expect("tenants");
    let scope = pb::Scope {
        read_tenants: vec![tenant.clone()],
        ..Default::default()
    };
    let reader = create_key(&server, &admin, "reads one tenant", scope).await;

    // The same command, read from the data directory (read-only, beside the running
    // server) and from the server with the admin key: the same bytes.
    let same = |args: &[&str]| {
        let local = run(&[args, &["--data", data]].concat());
        let remote = run(&[args, &["--server", &server.url, "--key", &admin]].concat());
        assert_eq!(local, remote, "auditlog {args:?}");
        local
    };
    let t = tenant.as_str();
    let page = same(&["query", "--format", "json", "--tenant", t, "--limit", "7"]);
    let page: serde_json::Value = serde_json::from_str(&page).expect("a JSON page");
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e["organization"]["id"] == t));
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let next = same(&[
        "query", "--format", "json", "--tenant", t, "--limit", "7", "--cursor", cursor,
    ]);
    assert_ne!(
        serde_json::from_str::<serde_json::Value>(&next).expect("JSON")["events"],
        page["events"]
    );
    let table = same(&[
        "query",
        "--format",
        "table",
        "--tenant",
        t,
        "--order",
        "oldest",
        "--action",
        "auth.*,document.read",
        "--outcome",
        "success",
    ]);
    assert!(table.starts_with("SEQ"), "{table}");
    let range = same(&[
        "query",
        "--format",
        "json",
        "--from-seq",
        "100",
        "--to-seq",
        "130",
        "--limit",
        "1000",
    ]);
    let range: serde_json::Value = serde_json::from_str(&range).expect("JSON");
    let seqs: Vec<u64> = range["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (100..130).rev().collect::<Vec<_>>());
    let counted = same(&["query", "--count", "--format", "json", "--tenant", t]);
    let counted: serde_json::Value = serde_json::from_str(&counted).expect("JSON");
    assert_eq!(counted["count"], in_tenant);
    same(&["query", "--count", "--format", "table"]);
    same(&["info", "--json"]);
    same(&["info"]);
    let proof = same(&["prove", "inclusion", "--index", "42", "--tree-size", "500"]);
    same(&["prove", "consistency", "--size1", "100", "--size2", "900"]);
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, &proof).expect("write proof");
    run(&["proof", "verify", proof_file.to_str().expect("UTF-8 path")]);
    // A tlog-proof against a checkpoint the server signed: its record comes over gRPC,
    // and it verifies with the log's key alone.
    let signed = common::http_get(&server.http, "/v1/checkpoint", Some(&admin)).text();
    let size = signed.lines().nth(1).expect("a size").to_owned();
    let tlog = same(&[
        "prove",
        "inclusion",
        "--index",
        "42",
        "--tree-size",
        &size,
        "--format",
        "tlog-proof",
    ]);
    std::fs::write(&proof_file, &tlog).expect("write proof");
    let key = run(&["key", "show", "--data", data]);
    let checked = run(&[
        "proof",
        "verify",
        proof_file.to_str().expect("UTF-8 path"),
        "--key",
        key.trim(),
    ]);
    assert!(checked.starts_with("valid: entry 42 of "), "{checked}");

    // Exports (each appends its record to the server's own tenant, not to this one).
    let csv = same(&["export", "--tenant", t, "--format", "csv"]);
    assert_eq!(csv.lines().count(), 1 + in_tenant);
    same(&[
        "export",
        "--tenant",
        t,
        "--order",
        "newest",
        "--outcome",
        "failure,denied",
    ]);
    // The metadata of the newest export record.
    let last_export = || {
        let records = run(&[
            "query",
            "--format",
            "json",
            "--tenant",
            "_system",
            "--action",
            "auditlog.export.run",
            "--limit",
            "1",
            "--server",
            &server.url,
            "--key",
            &admin,
        ]);
        let records: serde_json::Value = serde_json::from_str(&records).expect("JSON");
        records["events"][0]["metadata"].clone()
    };
    let newest = last_export();
    assert_eq!(newest["api"], "grpc");
    assert_eq!(newest["tenant"], t);
    assert_eq!(newest["outcomes"], serde_json::json!(["failure", "denied"]));
    assert_eq!(newest["order"], "newest");
    // A filter too long to keep in the record (its metadata is at most 16 KiB) is noted
    // as such; the export still runs.
    let actions: Vec<String> = (0..1000).map(|i| format!("app.action_{i:05}")).collect();
    let many = actions.join(",");
    assert_eq!(same(&["export", "--tenant", t, "--action", &many]), "");
    let newest = last_export();
    assert_eq!(newest["filter_too_long_to_record"], true, "{newest}");
    assert_eq!(newest["tenant"], t);
    assert_eq!(newest["format"], "jsonl");

    // Checkpoints: an admin's request signs the grown tree; then both sources agree.
    let note = run(&["checkpoint", "--server", &server.url, "--key", &admin]);
    assert_eq!(same(&["checkpoint"]), note);
    let size = note.lines().nth(1).expect("the size line").to_owned();
    assert_eq!(same(&["checkpoint", "--tree-size", &size]), note);
    let list = same(&["checkpoint", "list", "--json"]);
    assert!(list.contains(&format!("\"tree_size\":{size}")), "{list}");
    let verifier = same(&["key", "show"]);
    let note_file = dir.path().join("checkpoint.note");
    std::fs::write(&note_file, &note).expect("write note");
    let checked = run(&[
        "checkpoint",
        "verify",
        "--key",
        verifier.trim(),
        note_file.to_str().expect("UTF-8 path"),
    ]);
    assert!(checked.starts_with("ok: "), "{checked}");

    // A key of one tenant: its tenant is implied, others refused.
    let as_reader = ["--server", server.url.as_str(), "--key", reader.as_str()];
    let own = run(&[&["export", "--format", "csv"], &as_reader[..]].concat());
    assert_eq!(own, csv);
    let other = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .position(|e| e["organization"]["id"] != t)
        .expect("another tenant's event");
    let err = fails(&[&["query", "--tenant", "_system"], &as_reader[..]].concat());
    assert!(err.contains("PermissionDenied"), "{err}");
    let err = fails(&[&["export", "--tenant", "_system"], &as_reader[..]].concat());
    assert!(err.contains("PermissionDenied"), "{err}");
    let index = other.to_string();
    let err = fails(
        &[
            &["prove", "inclusion", "--index", index.as_str()],
            &as_reader[..],
        ]
        .concat(),
    );
    assert!(err.contains("PermissionDenied"), "{err}");

    // Clear refusals.
    let err = fails(&["query", "--server", &server.url]);
    assert!(err.contains("needs an API key"), "{err}");
    let err = fails(&["query", "--server", &server.url, "--key", "alk_bogus"]);
    assert!(err.contains("Unauthenticated"), "{err}");
    let err = fails(&[
        "query",
        "--explain",
        "--server",
        &server.url,
        "--key",
        &admin,
    ]);
    assert!(err.contains("--explain"), "{err}");
    let bundle = dir.path().join("b.json");
    let err = fails(&[
        "export",
        "--bundle",
        bundle.to_str().expect("UTF-8 path"),
        "--server",
        &server.url,
        "--key",
        &admin,
    ]);
    assert!(err.contains("bundle"), "{err}");
    let err = fails(&[
        "info",
        "--data",
        data,
        "--server",
        &server.url,
        "--key",
        &admin,
    ]);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `auditlog query --server … --key KEY ARGS --format json`, parsed.
fn query_json(server: &Server, key: &str, args: &[&str]) -> serde_json::Value {
    let head = [
        "query",
        "--server",
        &server.url,
        "--key",
        key,
        "--format",
        "json",
    ];
    let page = run(&[&head[..], args].concat());
    serde_json::from_str(&page).expect("a JSON page")
}

/// `auditlog init --seal` of `dir/data` with its KEK written to `dir/kek`.
fn init_sealing(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (data, kek) = (dir.join("data"), dir.join("kek"));
    run(&[
        "init",
        "--data",
        data.to_str().expect("UTF-8 path"),
        "--seal",
        "--kek-file",
        kek.to_str().expect("UTF-8 path"),
    ]);
    (data, kek)
}

/// Ingests 50 events of org_a: ten of each of `usr_0` to `usr_4`, whose address is
/// `usr_N@example.com`.
async fn ingest_subjects(server: &Server, admin: &str) {
    let events: Vec<pb::Event> = (0..50)
        .map(|i| common::event(i, "org_a", &format!("usr_{}", i % 5), "document.read"))
        .collect();
    ingest(server, admin, events).await;
}

/// A sealing log in `dir` served with its KEK, the subjects ingested: the server, its
/// admin key and its data directory.
async fn serving_subjects(dir: &std::path::Path) -> (Server, String, std::path::PathBuf) {
    let (data, kek) = init_sealing(dir);
    let server = Server::start(&data, true, &["--kek-file", kek.to_str().expect("UTF-8")]);
    let admin = server.admin_key.clone().expect("admin key");
    ingest_subjects(&server, &admin).await;
    (server, admin, data)
}

async fn ingest(server: &Server, key: &str, events: Vec<pb::Event>) {
    pb::ingest_service_client::IngestServiceClient::new(server.channel().await)
        .ingest(common::authed(pb::IngestRequest { events }, key))
        .await
        .expect("ingested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_by_email_selects_its_subject_over_every_api_until_its_erasure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, admin, _) = serving_subjects(dir.path()).await;
    // usr_9, of org_b, shares usr_3's address.
    let mut shared = common::event(50, "org_b", "usr_9", "document.read");
    shared.actor.as_mut().expect("actor").email = Some("usr_3@example.com".into());
    ingest(&server, &admin, vec![shared]).await;
    let reader_of = async |tenant: &str| {
        let scope = pb::Scope {
            read_tenants: vec![tenant.to_owned()],
            ..Default::default()
        };
        create_key(&server, &admin, &format!("{tenant} reader"), scope).await
    };
    let (org_a, org_b) = (reader_of("org_a").await, reader_of("org_b").await);

    let mut query = pb::query_service_client::QueryServiceClient::new(server.channel().await);
    let by_email = |email: &str, actor: Option<&str>| pb::CountRequest {
        filter: Some(pb::Filter {
            email: Some(email.to_owned()),
            actor: actor.map(str::to_owned),
            ..Default::default()
        }),
    };
    let mut counted = async |request: pb::CountRequest, key: &str| {
        query
            .count(common::authed(request, key))
            .await
            .map(|r| r.into_inner().count)
    };
    // gRPC: the subject's events, the address written any case; none for an address
    // never seen, for another actor, or for a key of another tenant. Of an address
    // shared across tenants, a tenant's key finds its own subject only.
    for (email, actor, key, events) in [
        ("usr_2@example.com", None, &admin, 10),
        (" USR_2@Example.com", None, &admin, 10),
        ("nobody@example.com", None, &admin, 0),
        ("usr_2@example.com", Some("usr_2"), &admin, 10),
        ("usr_2@example.com", Some("usr_1"), &admin, 0),
        ("usr_2@example.com", None, &org_a, 10),
        ("usr_2@example.com", None, &org_b, 0),
        ("usr_3@example.com", None, &org_a, 10),
        ("usr_3@example.com", None, &org_b, 1),
    ] {
        let count = counted(by_email(email, actor), key).await.expect("count");
        assert_eq!(count, events, "{email:?} {actor:?}");
    }
    // An address of several subjects in the key's scope is refused, and they are not
    // named.
    let refused = counted(by_email("usr_3@example.com", None), &admin)
        .await
        .expect_err("several subjects");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("several subjects")
            && !refused.message().contains("usr_9")
            && !refused.message().contains("usr_3"),
        "{}",
        refused.message()
    );

    // The CLI through the server, and HTTP: the same events, opened.
    let via_cli = |email: &str| -> Vec<serde_json::Value> {
        let page = query_json(&server, &admin, &["--email", email]);
        page["events"].as_array().expect("events").clone()
    };
    let via_http = |email: &str| -> Vec<serde_json::Value> {
        let path = format!("/v1/events?email={}", email.replace('@', "%40"));
        let answer = common::http_get(&server.http, &path, Some(&admin));
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["events"].as_array().expect("events").clone()
    };
    for events in [via_cli("usr_2@example.com"), via_http("usr_2@example.com")] {
        assert_eq!(events.len(), 10);
        for event in &events {
            assert_eq!(event["actor"]["user_id"], "usr_2");
            assert_eq!(event["actor"]["email"], "usr_2@example.com");
        }
    }
    let answer = common::http_get(
        &server.http,
        "/v1/events?email=usr_3%40example.com",
        Some(&admin),
    );
    assert_eq!(answer.status, 400, "{}", answer.text());

    // After the subject's erasure its address finds nothing, on every API.
    erase(&server, &admin, "usr_2").await;
    assert_eq!(
        counted(by_email("usr_2@example.com", None), &admin)
            .await
            .expect("count"),
        0
    );
    assert!(via_cli("usr_2@example.com").is_empty());
    assert!(via_http("usr_2@example.com").is_empty());
    assert_eq!(
        counted(by_email("usr_4@example.com", None), &admin)
            .await
            .expect("count"),
        10
    );
    // An export by e-mail is recorded with the subject's id, not the address.
    let exported = export_by_email(&server, &admin, "usr_4@example.com");
    assert_eq!(exported.lines().count(), 10);
    let recorded = query_json(
        &server,
        &admin,
        &["--tenant", "_system", "--action", "auditlog.export.run"],
    )
    .to_string();
    assert!(
        recorded.contains("usr_4") && !recorded.contains("example.com"),
        "{recorded}"
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealing_log_is_served_only_with_its_kek_and_stores_no_personal_field_readably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, kek) = init_sealing(dir.path());
    let (data_arg, kek_arg) = (
        data.to_str().expect("UTF-8 path"),
        kek.to_str().expect("UTF-8 path"),
    );

    // Without its KEK the server does not start.
    let refused = Command::new(env!("CARGO_BIN_EXE_auditlogd"))
        .args([
            "--data",
            data_arg,
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .env_remove("AUDITLOG_KEK")
        .output()
        .expect("auditlogd runs");
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("key-encryption key"), "{why}");

    let server = Server::start(&data, true, &["--kek-file", kek_arg]);
    let admin = server.admin_key.clone().expect("admin key");
    ingest_subjects(&server, &admin).await;
    assert_eq!(count(&server, &admin, Some("org_a")).await, 50);
    // The server opens the personal fields for a reader with a read key.
    let page = query_json(&server, &admin, &["--actor", "usr_1"]);
    let shown = page["events"].as_array().expect("events");
    assert_eq!(shown.len(), 10);
    for event in shown {
        assert_eq!(event["actor"]["email"], "usr_1@example.com");
        assert_eq!(event["ip_address"], "203.0.113.7");
    }

    // The admin API erases a subject: only for an admin key; the receipt checks against
    // the log's key; the subject's fields read as erased, the others' as sent; the
    // erasure is an event of the `_system` tenant.
    let mut admin_client =
        pb::admin_service_client::AdminServiceClient::new(server.channel().await);
    let reader = create_key(
        &server,
        &admin,
        "reader",
        pb::Scope {
            read_all_tenants: true,
            ..Default::default()
        },
    )
    .await;
    let erase = |subject: &str| pb::EraseRequest {
        subject: subject.to_owned(),
    };
    let refused = admin_client
        .erase(common::authed(erase("usr_1"), &reader))
        .await
        .expect_err("a reader may not erase");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let erased = admin_client
        .erase(common::authed(erase("usr_1"), &admin))
        .await
        .expect("erased")
        .into_inner();
    assert!(!erased.earlier);
    let verifier = std::fs::read_to_string(data.join("keys/checkpoint.pub")).expect("public key");
    let verifier =
        auditlog_engine::checkpoint::NoteVerifier::parse(verifier.trim()).expect("verifier key");
    let receipt =
        auditlog_engine::privacy::ErasureReceipt::verify(erased.receipt.as_bytes(), &verifier)
            .expect("the receipt checks");
    assert_eq!(receipt.erasure.subject, "usr_1");
    assert_eq!(format!("{:016x}", receipt.erasure.key_id), erased.key_id);
    let again = admin_client
        .erase(common::authed(erase("usr_1"), &admin))
        .await
        .expect("erased again")
        .into_inner();
    assert!(again.earlier);
    assert_eq!(again.receipt, erased.receipt);
    let unknown = admin_client
        .erase(common::authed(erase("usr_nobody"), &admin))
        .await
        .expect_err("never seen");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let shown_as = |actor: &str| {
        let page = query_json(&server, &admin, &["--actor", actor]);
        let emails: Vec<String> = page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["actor"]["email"].as_str().expect("email").to_owned())
            .collect();
        emails
    };
    assert_eq!(shown_as("usr_1"), vec!["[erased]"; 10]);
    assert_eq!(shown_as("usr_2"), vec!["usr_2@example.com"; 10]);
    let system = query_json(
        &server,
        &admin,
        &["--tenant", "_system", "--action", "auditlog.subject.erase"],
    );
    let recorded = system["events"].as_array().expect("events");
    assert_eq!(recorded.len(), 2, "{system}");
    for event in recorded {
        assert_eq!(event["resource"]["id"], "usr_1");
        assert_eq!(event["metadata"]["key_id"], erased.key_id.as_str());
    }
    let (status, _) = server.terminate();
    assert!(status.success());

    let mut bytes = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                bytes.extend(std::fs::read(&path).expect("file"));
            }
        }
    }
    let readable = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    for personal in ["usr_1@example.com", "203.0.113.7", "test-client/1"] {
        assert!(!readable(personal), "{personal} is readable");
    }
    assert!(readable("usr_1") && readable("document.read"));
}

/// `auditlog export --server … --email ADDRESS`: its output.
fn export_by_email(server: &Server, key: &str, address: &str) -> String {
    run(&[
        "export",
        "--server",
        &server.url,
        "--key",
        key,
        "--email",
        address,
    ])
}

/// Erases `subject` through the admin API.
async fn erase(server: &Server, admin: &str, subject: &str) {
    let request = pb::EraseRequest {
        subject: subject.to_owned(),
    };
    pb::admin_service_client::AdminServiceClient::new(server.channel().await)
        .erase(common::authed(request, admin))
        .await
        .expect("erased");
}

/// Every byte the server keeps, file by file, searched for `needle` in any letter case.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let needle = needle.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("listed") {
                pending.push(entry.expect("entry").path());
            }
        } else {
            let bytes = std::fs::read(&path).expect("read").to_ascii_lowercase();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

/// Exports by e-mail over both APIs, then the subject's erasure: afterwards no file of
/// the data directory holds the address, in clear, anywhere (the `_system` records
/// included); before it, the address was sent in every way a client can send it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_file_holds_an_erased_address_whatever_was_asked_by_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, admin, data) = serving_subjects(dir.path()).await;
    let address = "usr_2@example.com";
    for path in [
        "/v1/export?format=jsonl&email=usr_2%40example.com",
        "/v1/export?format=csv&email=USR_2%40Example.com",
        "/v1/events?email=usr_2%40example.com",
        "/v1/events/count?email=usr_2%40example.com",
    ] {
        let answer = common::http_get(&server.http, path, Some(&admin));
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        let found = answer.text();
        assert!(
            found.contains("usr_2") || found.contains("\"count\":10"),
            "{path}: {found}"
        );
    }
    assert_eq!(
        export_by_email(&server, &admin, address).lines().count(),
        10
    );
    // A gRPC query of several pages is a bulk read: recorded, with the subject's id.
    let request = pb::QueryRequest {
        filter: Some(pb::Filter {
            email: Some(address.to_owned()),
            ..Default::default()
        }),
        page_size: 3,
        max_pages: 10,
        ..Default::default()
    };
    assert_eq!(
        common::query_pages(&server, &admin, request).await.len(),
        10
    );
    let recorded = query_json(
        &server,
        &admin,
        &["--tenant", "_system", "--action", "auditlog.query.run"],
    );
    let recorded = recorded["events"].as_array().expect("events").clone();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["metadata"]["actor"], "usr_2");
    assert_eq!(recorded[0]["metadata"]["by_email"], true);
    assert_eq!(recorded[0]["metadata"]["max_pages"], 10);
    erase(&server, &admin, "usr_2").await;
    let (status, _) = server.terminate();
    assert!(status.success());
    // As sent, and as a query string carries it.
    for form in [address, "usr_2%40example.com"] {
        assert_eq!(
            files_holding(&data, form),
            Vec::<std::path::PathBuf>::new(),
            "{form}"
        );
    }
    // The check finds what it looks for: another subject's address is still kept,
    // sealed, so it shows nowhere in clear either; the subject's id does show.
    assert!(!files_holding(&data, "usr_2").is_empty());
}

/// A server that stops answering does not hang the CLI: `--timeout` bounds each call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_gives_up_on_a_server_that_does_not_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let pid = server.pid().to_string();
    let signal = |name: &str| {
        let sent = Command::new("kill").args([name, &pid]).status();
        assert!(sent.expect("kill runs").success());
    };
    signal("-STOP");
    let started = std::time::Instant::now();
    let out = Command::new(auditlog_bin())
        .args([
            "info",
            "--server",
            &server.url,
            "--key",
            &admin,
            "--timeout",
            "2",
        ])
        .output()
        .expect("auditlog runs");
    let took = started.elapsed();
    signal("-CONT");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        took < std::time::Duration::from_secs(30),
        "gave up after {took:?}"
    );
    let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        ["timed out", "deadline", "timeout"]
            .iter()
            .any(|w| said.contains(w)),
        "{said}"
    );
    // Answering again, the same call succeeds.
    let info = run(&["info", "--server", &server.url, "--key", &admin]);
    assert!(info.contains("tree size"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_holds_are_managed_through_the_server_and_block_deletion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let d = data.to_str().expect("UTF-8 path");
    // A log of events of March 2026 (past a retention of 30 days) in several segments.
    run(&["init", "--data", d, "--segment-bytes", "65536"]);
    let lines = run(&["generate", "--count", "3000", "--seed", "11"]);
    let workload = dir.path().join("events.jsonl");
    std::fs::write(&workload, &lines).expect("write workload");
    run(&[
        "ingest",
        "--data",
        d,
        workload.to_str().expect("UTF-8 path"),
    ]);
    let first: serde_json::Value =
        serde_json::from_str(lines.lines().next().expect("a line")).expect("JSON");
    let tenant = first["organization"]["id"].as_str().expect("a tenant");

    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let url = server.url.clone();
    let remote = ["--server", url.as_str(), "--key", admin.as_str()];
    let hold = |verb: &str, tenant: &str| -> Vec<String> {
        let mut args: Vec<String> = ["hold", verb, "--tenant", tenant, "--reason", "case 9"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.extend(remote.iter().map(|a| a.to_string()));
        args
    };
    run(&strs(&hold("place", tenant)));
    run(&strs(&hold("place", "org_other")));
    run(&strs(&hold("lift", "org_other")));
    // Twice, or lifting what is not held: refused by the server.
    let twice = fails(&strs(&hold("place", tenant)));
    assert!(twice.contains("FailedPrecondition"), "{twice}");
    let mut list = vec!["hold", "list", "--json"];
    list.extend_from_slice(&remote);
    let listed: Vec<serde_json::Value> = run(&list)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["tenant"], tenant);
    assert_eq!(listed[0]["reason"], "case 9");
    // A key that is not an admin's may not.
    let reader = common::reader_of(&server, &admin, tenant).await;
    let refused = fails(&[
        "hold", "place", "--tenant", "org_x", "--reason", "r", "--server", &url, "--key", &reader,
    ]);
    assert!(refused.contains("PermissionDenied"), "{refused}");
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");

    // Placed through the server, the hold keeps the tenant's segments from deletion.
    let held: serde_json::Value =
        serde_json::from_str(run(&["expire", "--data", d, "--retain-days", "30", "--json"]).trim())
            .expect("JSON");
    assert!(held["deleted"].is_null(), "{held}");
    let why = held["kept_because"].as_str().unwrap_or_default();
    assert!(why.contains(tenant) && why.contains("legal hold"), "{held}");
    // The holds are the server's `_system` events, with the admin key as their actor.
    let system = run(&["export", "--data", d, "--tenant", "_system"]);
    let places = system
        .lines()
        .filter(|l| l.contains("auditlog.hold.place"))
        .count();
    assert_eq!(places, 2, "{system}");
}
