//! Fuzz target: see `auditlog_engine::fuzzing::subject_keys`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::subject_keys(data));
