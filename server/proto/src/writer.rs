//! How a node of a cluster of tenant shards names, on a refusal, the node that writes
//! (or reads) a tenant (docs/SCALING.md): gRPC metadata the server sets and its clients
//! (the client crate, the CLI's `--server`) read back with [`named_writer`].

use tonic::Status;

/// Metadata names of the node to send a refused event to.
pub const WRITER_NODE: &str = "auditlog-writer-node";
/// Its gRPC URL.
pub const WRITER_GRPC: &str = "auditlog-writer-grpc";
/// Its HTTP URL.
pub const WRITER_HTTP: &str = "auditlog-writer-http";
/// Metadata naming the tenant refused, for a client routing by tenant.
pub const WRITER_TENANT: &str = "auditlog-writer-tenant";

/// The node a refusal names as the writer of its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedWriter {
    /// The tenant, when it could ride in metadata (ASCII).
    pub tenant: Option<String>,
    pub node: String,
    pub grpc: String,
    pub http: String,
}

/// The writer `status` names, if it is a refusal naming one (any code: callers check
/// theirs).
pub fn named_writer(status: &Status) -> Option<NamedWriter> {
    let text = |name: &str| Some(status.metadata().get(name)?.to_str().ok()?.to_owned());
    Some(NamedWriter {
        tenant: text(WRITER_TENANT),
        node: text(WRITER_NODE)?,
        grpc: text(WRITER_GRPC)?,
        http: text(WRITER_HTTP)?,
    })
}
