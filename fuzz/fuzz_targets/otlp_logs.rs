//! Fuzz target: see `auditlog_proto::fuzzing::otlp_logs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_proto::fuzzing::otlp_logs(data));
