//! The `auditlog` CLI as a client of the real `auditlogd`: `bench-ingest` sends a
//! generated workload over gRPC, closed-loop and open-loop, and what it reports arriving
//! is what the log then holds. (The CLI binary is built beside this package's by
//! `cargo test --workspace`, the README's test command.)

mod common;

use std::process::Command;

use common::{Server, auditlog_bin, count};

/// Runs `auditlog ARGS` to success; its stdout.
fn run(args: &[&str]) -> String {
    let out = Command::new(auditlog_bin())
        .args(args)
        .output()
        .expect("auditlog runs");
    assert!(
        out.status.success(),
        "auditlog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
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
        report
            .next()
            .expect("a summary")
            .starts_with("1300 events in 11 batches of 128 over 2 connections, 3 in flight"),
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
