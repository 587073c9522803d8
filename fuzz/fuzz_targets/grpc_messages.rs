//! Fuzz target: see `auditlog_proto::fuzzing::grpc_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_proto::fuzzing::grpc_messages(data));
