//! Moving a tenant between nodes (docs/SCALING.md, "Moving a tenant"), at a checkpoint of
//! each log, leaving a hand-over record in both (docs/PROOFS.md, "Tenant hand-over"):
//!
//! 1. The tenant's node stops taking its events (a batch checked before is queued ahead),
//!    appends the tenant's `handed_over` record naming the new node's log, durably, and
//!    signs a checkpoint holding it.
//! 2. In one etcd transaction, guarded by its own live lease and by the tenant's entry
//!    being unchanged since it was read, it gives the tenant to the new node with the
//!    hand-over (the record's seq, leaf hash and that checkpoint) pending.
//! 3. The new node, before it writes any event of the tenant, appends its `taken_over`
//!    record of that hand-over, durably, signs a checkpoint, and clears the pending
//!    hand-over (guarded the same way). A take-over cut short is finished by the next
//!    write, without a second record.
//!
//! A hand-over etcd refused leaves the tenant with its node, after a `handed_over` record
//! that no `taken_over` answers; one whose outcome etcd did not give keeps the tenant's
//! events refused until the map has been read again.

use auditlog_engine::Log;
use auditlog_engine::checkpoint::{NoteVerifier, SignedCheckpoint};
use auditlog_engine::handover::{HandedOver, TakenOver, check_tenant};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use tonic::Status;

use super::etcd::Guard;
use super::writes::block_on;
use super::{Assignment, Leaving, Membership, Writer, parse, unreachable};
use crate::status::from_engine;

/// A tenant handed over by this node.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Moved {
    pub(crate) tenant: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The seq of the tenant's `handed_over` record in this node's log.
    pub(crate) handed_over_seq: u64,
    /// The checkpoint signed right after it (its note).
    pub(crate) checkpoint: String,
}

impl Membership {
    /// Hands `tenant`, written by this node, over to node `to` (from a blocking thread).
    pub(crate) fn move_tenant(&self, log: &Log, tenant: &str, to: &str) -> Result<Moved, Status> {
        check_tenant(tenant)
            .map_err(|e| Status::invalid_argument(format!("tenant `{tenant}`: {e}")))?;
        if to == self.me.node {
            return Err(Status::invalid_argument(format!(
                "tenant `{tenant}` is to move to node {to}, which is this node"
            )));
        }
        // This node writes it now (claimed here if nobody did).
        self.require_writer(tenant, log)?;
        let target = block_on(self.node(to))
            .map_err(unreachable)?
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "node {to} is not a live member of the cluster: start it first"
                ))
            })?;
        let (Some(to_key), Some(from_key)) = (&target.verifier_key, &self.me.verifier_key) else {
            return Err(Status::failed_precondition(
                "a node without a checkpoint key can neither hand over nor take over a tenant",
            ));
        };
        {
            let _no_batch_in_flight = self.gate.write();
            let mut leaving = self.leaving.lock();
            if leaving.contains_key(tenant) {
                return Err(Status::aborted(format!(
                    "tenant `{tenant}` is being moved already"
                )));
            }
            leaving.insert(tenant.to_owned(), Leaving::Moving);
        }
        let moved = self.hand_over_leaving(log, tenant, &target.origin, to_key, from_key, to);
        // Settled: the tenant stops leaving (its new node recorded first, on success),
        // unless etcd did not say whether the map took the hand-over.
        let mut leaving = self.leaving.lock();
        if leaving.get(tenant) == Some(&Leaving::Moving) {
            leaving.remove(tenant);
        }
        moved
    }

    /// The hand-over of `tenant`, marked leaving, to node `to` (its log's origin and
    /// key given): its `handed_over` record, then the map's transaction. An outcome etcd
    /// did not give leaves the tenant [`Leaving::Unsure`].
    fn hand_over_leaving(
        &self,
        log: &Log,
        tenant: &str,
        to_origin: &str,
        to_key: &str,
        from_key: &str,
        to: &str,
    ) -> Result<Moved, Status> {
        // Leaving, the tenant is neither written nor moved by another request: its entry
        // read now is the one the hand-over replaces, and this node still writes it.
        let key = self.tenant_key(tenant);
        let entry = block_on(self.etcd.get(&key))
            .map_err(|e| unreachable(e.into()))?
            .ok_or_else(|| Status::aborted(format!("tenant `{tenant}` left the map")))?;
        let still_here = parse::<Assignment>(&entry.key, &entry.value).is_ok_and(|a| {
            a.node == self.me.node
                && a.handover.is_none()
                && matches!(self.known_writer(tenant), Some(Writer::Here))
        });
        if !still_here {
            return Err(Status::aborted(format!(
                "tenant `{tenant}` changed hands while the move began (or this node's lease \
                 lapsed): ask again"
            )));
        }
        let held = self.live_lease().ok_or_else(|| self.no_lease())?;
        let details = HandedOver {
            to_node: to.to_owned(),
            to_origin: to_origin.to_owned(),
            to_key: to_key.to_owned(),
        };
        let at = log
            .hand_over_tenant(tenant, &details)
            .map_err(from_engine)?;
        let given = Assignment {
            node: to.to_owned(),
            handover: Some(TakenOver {
                from_node: self.me.node.clone(),
                from_origin: self.me.origin.clone(),
                from_key: from_key.to_owned(),
                from_seq: at.seq,
                from_leaf: BASE64.encode(at.leaf),
                from_checkpoint: at.checkpoint.to_text(),
            }),
        };
        let value = serde_json::to_vec(&given).expect("an assignment serializes");
        let guards = [
            Guard::HeldBy(self.node_key(&self.me.node), held.id),
            Guard::Unchanged(key.clone(), entry.mod_revision),
        ];
        match block_on(self.etcd.put_if(&guards, &key, &value, 0)) {
            Ok(Ok(())) => {
                self.learn_writer(tenant, to.to_owned());
                Ok(Moved {
                    tenant: tenant.to_owned(),
                    from: self.me.node.clone(),
                    to: to.to_owned(),
                    handed_over_seq: at.seq,
                    checkpoint: at.checkpoint.to_text(),
                })
            }
            Ok(Err(_)) => Err(Status::aborted(format!(
                "the shard map refused the hand-over (this node's lease ended, or the \
                 tenant's entry changed): tenant `{tenant}` stays with node {}, after a \
                 handed_over record (seq {}) that no node took over",
                self.me.node, at.seq
            ))),
            Err(e) => {
                self.leaving
                    .lock()
                    .insert(tenant.to_owned(), Leaving::Unsure);
                Err(unreachable(e.into()))
            }
        }
    }

    /// Whether a hand-over whose outcome etcd did not give took place, from the map. If
    /// the map still gives the tenant to this node, the entry is written again first (a
    /// new revision): the hand-over's transaction, guarded by the old revision, can then
    /// never apply late, and the tenant's events are taken here again.
    pub(super) fn settle_unsure(&self, tenant: &str) -> Result<(), Status> {
        let key = self.tenant_key(tenant);
        let entry = block_on(self.etcd.get(&key)).map_err(|e| unreachable(e.into()))?;
        let settled = |writer: Option<String>| {
            match writer {
                Some(node) => self.learn_writer(tenant, node),
                None => drop(self.writers.write().remove(tenant)),
            }
            self.leaving.lock().remove(tenant);
            Ok(())
        };
        let Some(entry) = entry else {
            return settled(None); // nobody's: claimed again at the next write
        };
        let assignment: Assignment = parse(&entry.key, &entry.value).map_err(unreachable)?;
        if assignment.node != self.me.node {
            return settled(Some(assignment.node)); // the hand-over took
        }
        if assignment.handover.is_some() {
            return settled(None); // handed back here meanwhile: taken over at the next write
        }
        let held = self.live_lease().ok_or_else(|| self.no_lease())?;
        let guards = [
            Guard::HeldBy(self.node_key(&self.me.node), held.id),
            Guard::Unchanged(key.clone(), entry.mod_revision),
        ];
        match block_on(self.etcd.put_if(&guards, &key, &entry.value, 0)) {
            Ok(Ok(())) => settled(Some(self.me.node.clone())),
            Ok(Err(_)) => Err(Status::unavailable(format!(
                "tenant `{tenant}`: the shard map changed while its hand-over was settled; \
                 try again"
            ))),
            Err(e) => Err(unreachable(e.into())),
        }
    }

    /// Takes over `tenant`, handed to this node by `from` (the map's entry at `revision`):
    /// its `taken_over` record, a checkpoint, then the pending hand-over cleared.
    pub(super) fn take_over(
        &self,
        log: &Log,
        tenant: &str,
        revision: i64,
        from: &TakenOver,
    ) -> Result<(), Status> {
        let _one_at_a_time = self.taking.lock();
        if matches!(self.known_writer(tenant), Some(Writer::Here)) {
            return Ok(()); // taken over by the request before this one
        }
        check_handed(tenant, from)?;
        let Some(held) = self.live_lease() else {
            return Err(self.no_lease());
        };
        log.take_over_tenant(tenant, from).map_err(from_engine)?;
        log.checkpoint().map_err(from_engine)?;
        let key = self.tenant_key(tenant);
        let guards = [
            Guard::HeldBy(self.node_key(&self.me.node), held.id),
            Guard::Unchanged(key.clone(), revision),
        ];
        match block_on(self.etcd.put_if(&guards, &key, &self.own_entry(), 0)) {
            Ok(Ok(())) => {
                self.learn_writer(tenant, self.me.node.clone());
                Ok(())
            }
            Ok(Err(_)) => Err(Status::unavailable(format!(
                "taking over tenant `{tenant}`: the shard map changed meanwhile (or this \
                 node's lease ended); try again"
            ))),
            Err(e) => Err(unreachable(e.into())),
        }
    }
}

/// Refuses a pending hand-over whose checkpoint is not signed by the key it names, or
/// does not hold its record: a garbled map entry must not start a tenant's chain here.
fn check_handed(tenant: &str, from: &TakenOver) -> Result<(), Status> {
    let garbled = |why: String| {
        Status::internal(format!(
            "the hand-over of tenant `{tenant}` from node {} in the shard map: {why}",
            from.from_node
        ))
    };
    let key = NoteVerifier::parse(&from.from_key).map_err(|e| garbled(format!("key: {e}")))?;
    let signed = SignedCheckpoint::open(from.from_checkpoint.as_bytes(), &key)
        .map_err(|e| garbled(format!("checkpoint: {e}")))?;
    if signed.checkpoint.origin != from.from_origin || signed.checkpoint.tree_size <= from.from_seq
    {
        return Err(garbled(format!(
            "its checkpoint ({} at size {}) does not hold seq {} of {}",
            signed.checkpoint.origin, signed.checkpoint.tree_size, from.from_seq, from.from_origin
        )));
    }
    Ok(())
}
