//! Fuzz target: see `auditlog_catalog::fuzzing::catalog_entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_catalog::fuzzing::catalog_entry(data));
