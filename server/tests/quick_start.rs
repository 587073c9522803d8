//! The README's quick start: `auditlogd` with no arguments serves on loopback's default
//! ports from `./auditlog-data`, prints a bootstrap admin key once; the generated week
//! posted to `/v1/events` is what `?since=7d` then shows; a restart resumes the same
//! log. (The one test on fixed ports: 7070 and 7080 must be free.)

mod common;

use std::process::Command;

use common::{Server, auditlog_bin, http_get, http_request};

/// What the README's quick start tells a reader to run and to expect: held to what this
/// test runs, so the two cannot drift apart.
#[test]
fn the_readme_shows_what_this_test_runs() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    for said in [
        "cargo run --release --bin auditlogd ",
        "./scripts/test.sh ",
        "auditlog -- generate --count 5000 --days 7 --recent > events.jsonl",
        "-H 'Content-Type: application/x-ndjson' \\\n  --data-binary @events.jsonl \
         'http://127.0.0.1:7080/v1/events?results=refused'",
        "'http://127.0.0.1:7080/v1/events?since=7d&limit=5'",
        "`{\"accepted\":5000,\"refused\":0,…}`",
        "`admin key: KEY`",
        "gRPC on 127.0.0.1:7070, HTTP on :7080",
    ] {
        assert!(readme.contains(said), "the README no longer says {said:?}");
    }
}

#[test]
fn auditlogd_without_arguments_is_the_quick_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
        command.current_dir(dir.path());
        command
    };
    let server = Server::launch(start(), true);
    assert_eq!(server.url, "http://127.0.0.1:7070");
    assert_eq!(server.http, "127.0.0.1:7080");
    let admin = server.admin_key.clone().expect("a bootstrap admin key");
    assert!(admin.starts_with("alk_"), "{admin}");
    assert!(dir.path().join("auditlog-data/config.json").exists());
    let health = http_get(&server.http, "/healthz", None);
    assert_eq!(health.status, 200);
    let first = http_get(&server.http, "/v1/checkpoint", Some(&admin));
    assert_eq!(first.status, 200, "{}", first.text());

    // The README's load, then its read.
    let generated = Command::new(auditlog_bin())
        .args(["generate", "--count", "5000", "--days", "7", "--recent"])
        .output()
        .expect("auditlog generate runs");
    assert!(generated.status.success());
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let path = "/v1/events?results=refused";
    let loaded = http_request(
        &server.http,
        "POST",
        path,
        Some(&admin),
        &ndjson,
        &generated.stdout,
    );
    assert_eq!(loaded.status, 200, "{}", loaded.text());
    let loaded = loaded.json();
    assert_eq!(
        (loaded["accepted"].as_u64(), loaded["refused"].as_u64()),
        (Some(5000), Some(0))
    );
    assert_eq!(loaded["results"].as_array().map(Vec::len), Some(0));
    let newest = http_get(&server.http, "/v1/events?since=7d&limit=5", Some(&admin));
    assert_eq!(newest.status, 200, "{}", newest.text());
    let newest = newest.json()["events"].as_array().expect("events").clone();
    assert_eq!(newest.len(), 5);
    let sent: Vec<serde_json::Value> = generated
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("generated JSON"))
        .collect();
    for mut event in newest {
        event.as_object_mut().expect("an event").remove("seq");
        assert!(sent.contains(&event), "a generated event: {event}");
    }
    // The week's events and the server's start event (a day more: the week began when
    // it was generated).
    let week = http_get(&server.http, "/v1/events/count?since=8d", Some(&admin));
    assert_eq!(week.json()["count"].as_u64(), Some(5001), "{}", week.text());

    let (status, stdout) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(stdout, "", "the key is printed once");

    // A restart resumes the log: the admin key still works, no second key is printed,
    // and the tree has grown by the server's own stop and start events only.
    let server = Server::launch(start(), false);
    let again = http_get(
        &server.http,
        "/v1/events?tenant=_system&limit=10",
        Some(&admin),
    );
    assert_eq!(again.status, 200, "{}", again.text());
    let events = again.json()["events"].as_array().expect("events").len();
    assert_eq!(events, 3, "start, stop, start");
    let (status, stdout) = server.terminate();
    assert!(status.success());
    assert_eq!(stdout, "");
}
