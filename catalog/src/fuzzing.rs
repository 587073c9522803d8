//! The fuzz target's code (feature `testing`), shared by `fuzz/` and the regression test
//! that replays its kept inputs.

use auditlog_engine::catalog::ActionSpec;

use crate::{compile, named_for_fuzzing};

/// A catalog entry as `auditlog catalog apply` or `DefineAction` takes it (JSON, up to the
/// first NUL byte), then an event's metadata (the rest): the entry is read and checked,
/// its schema compiled, the metadata checked against it. Nothing may panic, and a
/// violation names a field that is a path into the metadata.
pub fn catalog_entry(data: &[u8]) {
    let (entry, metadata) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(spec) = serde_json::from_slice::<ActionSpec>(entry) else {
        return;
    };
    if spec.check().is_err() {
        return;
    }
    let Some(schema) = &spec.schema else {
        return;
    };
    let Ok(compiled) = compile(&spec.action, schema) else {
        return;
    };
    let Ok(metadata) = std::str::from_utf8(metadata) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(metadata) else {
        return;
    };
    if let Err(error) = compiled.schemas.validate(&value, compiled.index) {
        let (field, message) = named_for_fuzzing(&error);
        assert!(!message.is_empty());
        assert!(!field.starts_with('.'), "{field}");
    }
}
