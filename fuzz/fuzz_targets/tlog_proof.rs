//! Fuzz target: see `auditlog_engine::fuzzing::tlog_proof`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::tlog_proof(data));
