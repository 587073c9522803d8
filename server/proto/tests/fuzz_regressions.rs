//! Replays every input kept under fuzz/regressions/grpc_messages/, ingest_body/ and
//! otlp_logs/ (seeds and fixed crashers) through the fuzz targets' own code.

/// Every kept input of `target` through `run`; how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        run(&data);
        replayed += 1;
    }
    replayed
}

#[test]
fn kept_fuzz_inputs_still_pass() {
    let replayed = replay("grpc_messages", auditlog_proto::fuzzing::grpc_messages);
    assert!(replayed >= 6, "a seed of each message is kept");
}

#[test]
fn kept_ingest_body_inputs_still_pass() {
    let replayed = replay("ingest_body", auditlog_proto::fuzzing::ingest_body);
    assert!(replayed >= 4, "a seed of each format and encoding is kept");
}

#[test]
fn kept_otlp_logs_inputs_still_pass() {
    let replayed = replay("otlp_logs", auditlog_proto::fuzzing::otlp_logs);
    assert!(replayed >= 3, "a seed of each encoding is kept");
}
