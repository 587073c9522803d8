//! Fuzz target: see `auditlog_engine::fuzzing::retention_heads`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::retention_heads(data));
