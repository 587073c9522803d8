//! Fuzz target: see `auditlog_engine::fuzzing::retention_receipt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::retention_receipt(data));
