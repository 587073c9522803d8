//! The README's quick start: `auditlogd` with no arguments serves on loopback's default
//! ports from `./auditlog-data`, prints a bootstrap admin key once, and a restart
//! resumes the same log. (The one test on fixed ports: 7070 and 7080 must be free.)

mod common;

use std::process::Command;

use common::{Server, http_get};

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
