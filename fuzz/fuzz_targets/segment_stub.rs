//! Fuzz target: see `auditlog_engine::fuzzing::segment_stub`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::segment_stub(data));
