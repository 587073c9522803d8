//! Fuzz target: see `auditlog_engine::fuzzing::proven_batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::proven_batch(data));
