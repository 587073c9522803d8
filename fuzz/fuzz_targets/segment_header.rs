//! Fuzz target: see `auditlog_engine::fuzzing::segment_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::segment_header(data));
