//! Fuzz target: see `auditlog_proto::fuzzing::ingest_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_proto::fuzzing::ingest_body(data));
