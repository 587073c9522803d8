//! Tenant hand-over records (docs/PROOFS.md, "Tenant hand-over"): when a tenant moves from
//! one log to another (tenant shards, docs/SCALING.md), its last event in the old log
//! says where it went ([`HandedOver`]), and its first event in the new log says where it
//! came from, down to the leaf hash of that record and a checkpoint of the old log
//! signing it ([`TakenOver`]). Both are events of the tenant itself, so its tenant links
//! and the checkpoints' tenant heads chain through them, and a tenant's completeness proof
//! spans the move: one bundle per log, each closed at a hand-over record, the next
//! opening with the record that names it (`bundle::check_handovers`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::codec::TenantLink;
use crate::event::{Event, EventError, Outcome, Timestamp};
use crate::merkle::Hash;

/// The action of a tenant's last event in the log it leaves.
pub const HANDED_OVER: &str = "auditlog.tenant.handed_over";
/// The action of a tenant's first event in the log it moves to.
pub const TAKEN_OVER: &str = "auditlog.tenant.taken_over";
/// The actions under which only the log writes (hand-over records): a server refuses
/// them from clients.
pub const RESERVED_ACTIONS: &str = "auditlog.tenant.";

/// The details of a [`HANDED_OVER`] record: the log the tenant moves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandedOver {
    /// The node that writes the tenant next.
    pub to_node: String,
    /// Its log's checkpoint origin.
    pub to_origin: String,
    /// Its log's checkpoint verifier key: a verifier who trusts this log's key trusts
    /// that one for the tenant's events after the move.
    pub to_key: String,
}

/// The details of a [`TAKEN_OVER`] record: the hand-over it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakenOver {
    /// The node that wrote the tenant before.
    pub from_node: String,
    /// Its log's checkpoint origin.
    pub from_origin: String,
    /// Its log's checkpoint verifier key.
    pub from_key: String,
    /// The seq of the [`HANDED_OVER`] record in that log.
    pub from_seq: u64,
    /// That record's leaf hash, base64.
    pub from_leaf: String,
    /// A checkpoint of that log (its signed note) whose tree holds the record.
    pub from_checkpoint: String,
}

/// A hand-over record as a bundle holds it: enough to chain two bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOverRecord {
    /// Its seq in its log.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf: Hash,
    /// Its tenant link: where the tenant's chain in its log runs back to.
    pub link: TenantLink,
    /// Its action ([`HANDED_OVER`] or [`TAKEN_OVER`]).
    pub action: String,
    /// Its details (the event's metadata, JSON).
    pub details: Option<String>,
}

impl HandOverRecord {
    /// Whether `action` is a hand-over record's.
    pub fn is_handover(action: &str) -> bool {
        action == HANDED_OVER || action == TAKEN_OVER
    }

    /// Its details as a [`HANDED_OVER`] record's, if it is one.
    pub fn handed_over(&self) -> Option<HandedOver> {
        self.details_of(HANDED_OVER)
    }

    /// Its details as a [`TAKEN_OVER`] record's, if it is one.
    pub fn taken_over(&self) -> Option<TakenOver> {
        self.details_of(TAKEN_OVER)
    }

    /// Its details, read as `action`'s, if it is a record of that action.
    fn details_of<T: serde::de::DeserializeOwned>(&self, action: &str) -> Option<T> {
        if self.action != action {
            return None;
        }
        serde_json::from_str(self.details.as_deref()?).ok()
    }
}

/// Refuses a tenant id no hand-over record could carry (empty, too long, a control
/// character): checked before a move touches anything.
pub fn check_tenant(tenant: &str) -> Result<(), EventError> {
    record_event(tenant, HANDED_OVER, "node", "{}").validate()
}

/// The event of a hand-over record of `tenant`: written by the server (actor `auditlogd`),
/// the details as its metadata, the other node as its resource.
pub(crate) fn record_event<'e>(
    tenant: &'e str,
    action: &'static str,
    node: &'e str,
    details: &'e str,
) -> Event<'e> {
    Event {
        timestamp: Timestamp::now(),
        actor_id: Cow::Borrowed("auditlogd"),
        actor_email: None,
        actor_kind: Some(Cow::Borrowed("system")),
        tenant_id: Cow::Borrowed(tenant),
        tenant_name: None,
        action: Cow::Borrowed(action),
        resource_type: Some(Cow::Borrowed("node")),
        resource_id: Some(Cow::Borrowed(node)),
        outcome: Outcome::Success,
        ip_address: None,
        user_agent: None,
        metadata: Some(Cow::Borrowed(details)),
        event_id: None,
    }
}
