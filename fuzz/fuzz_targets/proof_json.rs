//! Fuzz target: see `auditlog_engine::fuzzing::proof_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::proof_json(data));
