//! Fuzz target: see `auditlog_engine::fuzzing::index_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::index_file(data));
