//! An archive is itself a static tlog-tiles log: `auditlog archive` to a directory, that
//! directory served by a plain static HTTP server (Python's `http.server`, no auditlog
//! code), and the Go checker of server/tests/go/tlogcheck (golang.org/x/mod's
//! sumdb/note and sumdb/tlog, built by scripts/go-env.sh) verifies entries and, after a
//! second run, the archive's consistency with its first checkpoint.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{auditlog, data, ingest_generated, project_script, text};

/// The Go checker, built on first use.
fn tlogcheck() -> String {
    project_script("go-env.sh")
        .strip_prefix("TLOGCHECK=")
        .expect("TLOGCHECK=…")
        .to_owned()
}

/// A child process stopped when dropped, even by a failed assertion.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `python3 -m http.server` on a free loopback port, serving `dir`; its port.
fn serve(dir: &Path) -> (Stopped, u16) {
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its first line");
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (Stopped(child), port)
}

fn archive(d: &str, url: &str) -> serde_json::Value {
    let out = auditlog(&["archive", "--data", d, "--to", url, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

#[test]
fn an_archive_is_a_static_tlog_a_standard_client_verifies_over_plain_http() {
    let tool = tlogcheck();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("data"));
    let out = auditlog(&["init", "--data", &d, "--segment-bytes", "65536"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Closing after each ingest signs a checkpoint (2,000, then 3,000): the archive's
    // tiles are for the newest one whose records are all in sealed, archived segments.
    ingest_generated(&d, 2_000, 3);
    ingest_generated(&d, 1_000, 4);
    let store = dir.path().join("archive");
    std::fs::create_dir_all(&store).expect("archive folder");
    let url = format!("file://{}", store.display());
    let first = archive(&d, &url);
    assert!(first["tiles_written"].as_u64() > Some(0), "{first}");
    let held = std::fs::read_to_string(store.join("checkpoint")).expect("checkpoint object");
    assert_eq!(held.lines().nth(1), Some("2000"), "{held}");
    assert!(
        store.join("tile/0/007.p/208").exists(),
        "2,000 = 7 × 256 + 208"
    );
    assert!(store.join("tile/entries/000").exists());
    let key = text(&auditlog(&["key", "show", "--data", &d]).stdout);
    let key = key.trim();

    let (_server, port) = serve(&store);
    let prefix = format!("http://127.0.0.1:{port}");
    let check = |extra: &[&str]| {
        let out = Command::new(&tool)
            .args(["-url", &prefix, "-key", key])
            .args(extra)
            .output()
            .expect("tlogcheck runs");
        let said = text(&out.stdout);
        assert!(out.status.success(), "{said}{}", text(&out.stderr));
        said
    };
    let said = check(&["-index", "0,255,256,1999"]);
    assert!(said.contains("size 2000: 4 entries proven"), "{said}");

    // More events and another run: the new checkpoint's tiles, consistent with the first.
    ingest_generated(&d, 1_000, 5);
    let second = archive(&d, &url);
    assert!(second["tiles_written"].as_u64() > Some(0), "{second}");
    let old = dir.path().join("first.checkpoint");
    std::fs::write(&old, &held).expect("old checkpoint");
    let said = check(&["-old", old.to_str().expect("UTF-8 path")]);
    assert!(said.contains("consistent with size 2000"), "{said}");
    assert!(!said.contains("size 2000:"), "a newer checkpoint: {said}");
}
