//! Fuzz target: see `auditlog_engine::fuzzing::query_params`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::query_params(data));
