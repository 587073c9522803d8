//! Fuzz target: see `auditlog_archive::fuzz_manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_archive::fuzz_manifest(data));
