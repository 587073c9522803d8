//! Replays every input kept under fuzz/regressions/archive_manifest/ (seeds and fixed
//! crashers) through the fuzz target's own code.

#[test]
fn kept_fuzz_inputs_still_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions/archive_manifest");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        auditlog_archive::fuzz_manifest(&data);
        replayed += 1;
    }
    assert!(replayed >= 3, "the seeds are kept");
    // The seed entry is accepted, so the target reaches the read-back check.
    let seed = std::fs::read(dir.join("entry-base-0.json")).unwrap();
    assert!(auditlog_archive::ManifestEntry::parse(&seed, 0).is_ok());
}
