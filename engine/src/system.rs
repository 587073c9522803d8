//! The log's own events: what is done to the log or its server (a key created, an export
//! run, the server started, a restore from an archive) is appended as an event of the
//! reserved tenant [`SYSTEM_TENANT`], durably, before the action is answered
//! (`Log::record_system`). The server lets no key ingest into that tenant, so its events
//! are the log's tools' alone.

/// The tenant of the log's own events.
pub const SYSTEM_TENANT: &str = "_system";

/// Who did it: an API key (by its public id), the server itself, or the command-line tool.
#[derive(Debug, Clone, Copy)]
pub enum SystemActor<'a> {
    /// An API key of the server.
    Key(&'a str),
    /// A viewer token of the server (by its public id).
    ViewerToken(&'a str),
    /// `auditlogd`.
    Server,
    /// `auditlog`, the command-line tool, run on the data directory.
    Cli,
}

/// One thing done to the log.
#[derive(Debug)]
pub struct SystemEvent<'a> {
    /// Who.
    pub actor: SystemActor<'a>,
    /// Dotted, under `auditlog.`: `auditlog.key.create`.
    pub action: &'static str,
    /// What it was done to: (type, id).
    pub resource: Option<(&'static str, String)>,
    /// A JSON object of the details.
    pub details: serde_json::Value,
}
