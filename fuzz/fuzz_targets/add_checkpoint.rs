//! Fuzz target: see `auditlog_engine::fuzzing::add_checkpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::add_checkpoint(data));
