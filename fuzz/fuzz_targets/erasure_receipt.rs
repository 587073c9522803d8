//! Fuzz target: see `auditlog_engine::fuzzing::erasure_receipt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::erasure_receipt(data));
