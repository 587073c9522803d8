//! Helpers shared by the archive's integration tests: logs of workload events.
#![allow(dead_code)]

use std::path::Path;

use auditlog_engine::{Log, LogConfig};

/// A log in `dir` with segments of `segment_bytes` and `count` workload events, sealed.
pub(crate) fn log_with(dir: &Path, segment_bytes: u64, count: u64, seed: u64) -> Log {
    let config = LogConfig {
        segment_bytes,
        ..LogConfig::default()
    };
    let log = Log::create(dir, &config).expect("create");
    append(&log, count, seed);
    log
}

/// Appends `count` workload events of `seed` in batches of 50, then seals and checkpoints.
pub(crate) fn append(log: &Log, count: u64, seed: u64) {
    let workload = auditlog_workload::Config {
        count,
        seed,
        ..Default::default()
    };
    let mut out = Vec::new();
    auditlog_workload::write_jsonl(&workload, &mut out).expect("generate");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    for chunk in lines.chunks(50) {
        let events: Vec<_> = chunk
            .iter()
            .map(|l| auditlog_engine::event::parse_json(l.as_bytes()).expect("event"))
            .collect();
        log.append(&events).expect("append");
    }
    log.seal().expect("seal");
    log.checkpoint().expect("checkpoint");
}
