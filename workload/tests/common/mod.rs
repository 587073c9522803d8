//! Helpers shared by the integration tests: a minimal JSON reader/writer and the
//! event line checker.

pub(crate) mod check;
pub(crate) mod json;
