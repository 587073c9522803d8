//! Fuzz target: see `auditlog_engine::fuzzing::tile_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auditlog_engine::fuzzing::tile_path(data));
