//! Replays every input kept under fuzz/regressions/<target>/ (seeds and fixed crashers)
//! through the fuzz targets' own code.

#[test]
fn kept_fuzz_inputs_still_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut replayed = 0;
    for (name, target) in auditlog_engine::fuzzing::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("read");
            target(&data);
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "every target keeps at least one input");
}
