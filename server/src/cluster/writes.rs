//! The check every way in makes before an event of a tenant enters this node's log: the
//! shard map names this node and its lease lives; otherwise the event is refused, naming
//! the node that writes the tenant, never stored here. Reads of a tenant whose events are
//! all on another node are refused the same way; `auditlog_proto::writer::named_writer`
//! reads the refusal back.

use auditlog_engine::Log;
use parking_lot::RwLockReadGuard;
use tonic::Status;
use tonic::metadata::MetadataValue;

use super::{Leaving, Membership, NodeRecord, Writer};

use auditlog_proto::writer::{WRITER_GRPC, WRITER_HTTP, WRITER_NODE, WRITER_TENANT};

impl Membership {
    /// Refuses unless this node writes `tenant` now. Called from a blocking thread of the
    /// server's runtime (where events are sorted): a tenant not read yet is looked up, or
    /// claimed, in etcd there; one handed to this node is taken over in `log` first.
    pub(crate) fn require_writer(&self, tenant: &str, log: &Log) -> Result<(), Status> {
        let leaving = self.leaving.lock().get(tenant).copied();
        match leaving {
            Some(Leaving::Moving) => return Err(moving(tenant)),
            Some(Leaving::Unsure) => self.settle_unsure(tenant)?,
            None => {}
        }
        let writer = match self.known_writer(tenant) {
            Some(writer) => writer,
            None => block_on(self.writer_of(tenant)).map_err(unreachable)?,
        };
        match writer {
            Writer::Here => Ok(()),
            Writer::TakeOver { revision, from } => self.take_over(log, tenant, revision, &from),
            Writer::NoLease => Err(self.no_lease()),
            Writer::Elsewhere(node) => Err(block_on(self.elsewhere(tenant, &node))),
        }
    }

    /// The refusal of an event (or a read) of `tenant`, written by `node`: its record
    /// read within [`super::NODE_RECORD_AGE`], or now.
    async fn elsewhere(&self, tenant: &str, node: &str) -> Status {
        let record = match self.known_node(node) {
            Some(record) => record,
            None => match self.node(node).await {
                Ok(record) => record,
                Err(e) => return unreachable(e),
            },
        };
        elsewhere(tenant, node, record.as_ref())
    }

    /// Refuses a read of `tenant`'s events on this node when its log holds none of them
    /// and the map gives the tenant to another node: FAILED_PRECONDITION naming that
    /// node, as for a write. A node that holds some (the tenant's, or its history before
    /// a move) answers from its own log.
    pub(crate) async fn require_reader(&self, tenant: &str, log: &Log) -> Result<(), Status> {
        if log.tenant_head(tenant).is_some() {
            return Ok(());
        }
        // Another node's tenant read lately, and its record, cost no call to etcd.
        let node = match self.known_writer(tenant) {
            Some(Writer::Elsewhere(node)) => node,
            Some(_) => return Ok(()),
            None => match self.assigned(tenant).await.map_err(unreachable)? {
                None => return Ok(()),
                Some(node) if node == self.name() => return Ok(()),
                Some(node) => {
                    // Only another node's is remembered: this node's own entries are
                    // learnt by a write, which takes over a pending hand-over first.
                    self.learn_writer(tenant, node.clone());
                    node
                }
            },
        };
        Err(self.elsewhere(tenant, &node).await)
    }

    /// Refuses unless the lease counts as alive now and none of `tenants` is being
    /// handed over: checked again, with no call to etcd, right before a batch whose
    /// tenants passed [`Membership::require_writer`] is handed to the writer, so that
    /// what is written was checked within the lease however long sorting the request
    /// took. Hold the guard until the batch is with the writer: a tenant's hand-over
    /// waits for it, and its record follows the batch.
    pub(crate) fn hold_writes<'a>(
        &self,
        mut tenants: impl Iterator<Item = &'a str>,
    ) -> Result<RwLockReadGuard<'_, ()>, Status> {
        let gate = self.gate.read();
        if !self.writable() {
            return Err(Status::unavailable(format!(
                "node {} lost its lease in the shard map while the request was read: \
                 nothing of it was stored; try again",
                self.name()
            )));
        }
        let leaving = self.leaving.lock();
        let writers = self.writers.read();
        // A tenant handed over since its check (its move done, or settled elsewhere):
        // the map's new node is recorded before the tenant stops leaving.
        let moved = |t: &str| writers.get(t).is_none_or(|(_, node)| *node != self.me.node);
        if let Some(tenant) = tenants.find(|t| leaving.contains_key(*t) || moved(t)) {
            return Err(moving(tenant));
        }
        drop((writers, leaving));
        Ok(gate)
    }

    /// The refusal of a write while the lease is not alive.
    pub(super) fn no_lease(&self) -> Status {
        Status::unavailable(format!(
            "node {} holds no live lease in the shard map (etcd out of reach, or the lease \
             lost): it writes nothing until it renews; try again",
            self.name()
        ))
    }
}

/// The refusal of an event of a tenant this node is handing over.
fn moving(tenant: &str) -> Status {
    Status::unavailable(format!(
        "tenant `{tenant}` is moving to another node: try again in a moment (then the \
         shard map names its new node)"
    ))
}

/// Runs `future` to its end from a blocking thread of the current runtime.
pub(super) fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(future)
}

/// The refusal of a request the shard map could not answer (etcd out of reach).
pub(crate) fn unreachable(error: super::ClusterError) -> Status {
    Status::unavailable(format!("the shard map could not be read: {error}"))
}

/// The refusal of an event (or a read) of `tenant`, written by `node` (its record, if it
/// is a live member): FAILED_PRECONDITION, with where to send it in metadata.
fn elsewhere(tenant: &str, node: &str, record: Option<&NodeRecord>) -> Status {
    let Some(record) = record else {
        return Status::unavailable(format!(
            "tenant `{tenant}` is written by node {node}, which is not a live member of \
             the cluster now (down, or its lease lost): try again once it is back"
        ));
    };
    let mut status = Status::failed_precondition(format!(
        "tenant `{tenant}` is written by node {node} (gRPC {}, HTTP {}): send its events \
         there",
        record.grpc, record.http
    ));
    let metadata = status.metadata_mut();
    for (name, value) in [
        (WRITER_NODE, record.node.as_str()),
        (WRITER_GRPC, &record.grpc),
        (WRITER_HTTP, &record.http),
        (WRITER_TENANT, tenant),
    ] {
        if let Ok(value) = MetadataValue::try_from(value) {
            metadata.insert(name, value);
        }
    }
    status
}
