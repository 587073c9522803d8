//! Replays every input kept under fuzz/regressions/catalog_entry/ (seeds and fixed
//! crashers) through the fuzz target's own code.

#[test]
fn kept_catalog_entry_inputs_still_pass() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/catalog_entry");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        auditlog_catalog::fuzzing::catalog_entry(&data);
        replayed += 1;
    }
    assert!(replayed >= 4, "the seeds are kept");
}
