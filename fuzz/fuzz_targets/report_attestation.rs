//! Fuzz target: see `auditlog_engine::fuzzing::report_attestation`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::report_attestation(data));
