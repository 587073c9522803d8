//! The OpenTelemetry Protocol's logs signal as a way in (docs/OTLP.md): log records
//! mapped to audit events (`map`), and the OTLP/JSON encoding read into the same
//! generated types as protobuf (`json`). Here, beside the generated types, so that the
//! server and what else speaks OTLP share one mapping.

pub mod json;
pub mod map;

pub use json::{JsonError, request_from_json, response_to_json};
pub use map::{Named, Place, event_of, events_of, record_count, record_of};
