//! Replays every input kept under fuzz/regressions/grpc_messages/ (seeds and fixed
//! crashers) through the fuzz target's own code.

#[test]
fn kept_fuzz_inputs_still_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/grpc_messages");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        auditlog_proto::fuzzing::grpc_messages(&data);
        replayed += 1;
    }
    assert!(replayed >= 6, "a seed of each message is kept");
}
