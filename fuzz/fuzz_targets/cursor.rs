//! Fuzz target: see `auditlog_engine::fuzzing::cursor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::cursor(data));
