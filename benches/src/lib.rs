//! Shared set-up for the benches: workload events and ready-made logs, kept under
//! `target/bench-data/` so expensive set-ups (a 10,000,000-leaf log) are built once.

use std::path::{Path, PathBuf};

use auditlog_engine::event::parse_json;
use auditlog_engine::{Durability, Event, Log, LogConfig, OpenOptions};

/// `count` workload lines (the project's generator, same shape and distribution as the
/// shared reference workload).
pub fn workload_lines(count: u64, seed: u64) -> Vec<String> {
    let config = auditlog_workload::Config {
        count,
        seed,
        ..Default::default()
    };
    let mut out = Vec::new();
    let _ = auditlog_workload::write_jsonl(&config, &mut out);
    String::from_utf8(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Parses workload lines into events that own their strings.
pub fn parse_all(lines: &[String]) -> Vec<Event<'static>> {
    lines
        .iter()
        .filter_map(|l| parse_json(l.as_bytes()).ok().map(Event::into_owned))
        .collect()
}

/// Where bench data lives: `<workspace>/target/bench-data/<name>`.
pub fn bench_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(name)
}

/// A log of `leaves` small events at `bench_dir(name)`, built once (durability none for
/// the build; the bench reads it).
pub fn prebuilt_log(name: &str, leaves: u64) -> PathBuf {
    let dir = bench_dir(name);
    let done = dir.join("BUILT");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let log = OpenOptions::new()
        .durability(Durability::None)
        .create(&dir, &LogConfig::default())
        .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let template = r#"{"timestamp":"2026-01-01T00:00:00Z","actor":{"user_id":"u"},"organization":{"id":"o"},"action":"a.b","outcome":"success"}"#;
    let event = parse_json(template.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut pending = std::collections::VecDeque::new();
    let mut appended = 0;
    while appended < leaves {
        let mut batch = log.batch();
        let n = (leaves - appended).min(8192);
        for _ in 0..n {
            let _ = batch.push(&event);
        }
        appended += n;
        pending.push_back(log.submit(batch).unwrap_or_else(|e| panic!("{e}")));
        if pending.len() > 8 {
            let _ = pending.pop_front().map(|ack| ack.recv());
        }
    }
    for ack in pending {
        let _ = ack.recv();
    }
    log.close();
    drop(log);
    let _ = std::fs::write(done, b"");
    dir
}

/// Whether the bench binary is measuring (`cargo bench`) rather than being smoke-tested
/// (`cargo test --benches` runs each routine once): set-ups shrink for the smoke test.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Opens a prebuilt log read-only.
pub fn open_read_only(dir: &Path) -> Log {
    OpenOptions::new()
        .read_only(true)
        .open(dir)
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()))
}
