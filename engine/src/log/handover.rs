//! Writing a tenant's hand-over records (see [`crate::handover`]).

use super::Log;
use crate::checkpoint::SignedCheckpoint;
use crate::error::{Error, Result};
use crate::handover::{HANDED_OVER, HandedOver, TAKEN_OVER, TakenOver, record_event};
use crate::merkle::Hash;
use crate::query::{Filter, Order, Query};

/// A tenant handed over: its record, and the checkpoint signed right after it.
#[derive(Debug, Clone)]
pub struct HandedOverAt {
    /// The [`HANDED_OVER`] record's seq.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf: Hash,
    /// A checkpoint whose tree holds it.
    pub checkpoint: SignedCheckpoint,
}

impl Log {
    /// Appends `tenant`'s [`HANDED_OVER`] record, durably, and signs a checkpoint that
    /// holds it. The caller has stopped taking the tenant's events: the record is to be
    /// its last in this log.
    pub fn hand_over_tenant(&self, tenant: &str, to: &HandedOver) -> Result<HandedOverAt> {
        let details = details_text(to)?;
        let event = record_event(tenant, HANDED_OVER, &to.to_node, &details);
        let ack = self.append(std::slice::from_ref(&event))?;
        let seq = ack.first_seq;
        Ok(HandedOverAt {
            seq,
            leaf: self.leaf_hash(seq)?,
            checkpoint: self.checkpoint()?,
        })
    }

    /// Appends `tenant`'s [`TAKEN_OVER`] record, durably, unless the tenant's newest
    /// event is already this one (a take-over cut short before the shard map said so):
    /// its seq. The caller takes none of the tenant's events before it returns.
    pub fn take_over_tenant(&self, tenant: &str, from: &TakenOver) -> Result<u64> {
        if let Some(head) = self.tenant_head(tenant)
            && self.taken_over_at(tenant, head)?.as_ref() == Some(from)
        {
            return Ok(head);
        }
        let details = details_text(from)?;
        let event = record_event(tenant, TAKEN_OVER, &from.from_node, &details);
        let ack = self.append(std::slice::from_ref(&event))?;
        Ok(ack.first_seq)
    }

    /// The details of `tenant`'s event `seq`, if it is a [`TAKEN_OVER`] record.
    fn taken_over_at(&self, tenant: &str, seq: u64) -> Result<Option<TakenOver>> {
        let query = Query {
            filter: Filter {
                tenant: Some(tenant.to_owned()),
                seqs: Some(seq..seq + 1),
                ..Filter::default()
            },
            order: Order::NewestFirst,
            limit: Some(1),
            cursor: None,
        };
        let mut found = None;
        self.query(&query, |_, event| {
            if event.action == TAKEN_OVER {
                let details = event.metadata.as_deref().unwrap_or_default();
                found = serde_json::from_str(details).ok();
            }
            Ok(false)
        })
        .map_err(|e| Error::InvalidArgument(format!("reading event {seq}: {e}")))?;
        Ok(found)
    }
}

/// A record's details as its metadata text.
fn details_text(details: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(details)
        .map_err(|e| Error::InvalidArgument(format!("hand-over details: {e}")))
}
