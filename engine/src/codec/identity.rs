//! What makes two events the same for idempotent appends (docs/EVENTS.md, "event_id"):
//! the key of a client event id within its tenant, and a digest of what the event says.
//! Made by the batch that encodes the records, remembered by the log's recent ids.

use super::TENANT_LINK_BYTES;

/// A (tenant, id) pair, hashed: ids are the client's and may be long.
pub(crate) type IdKey = [u8; 16];

/// What an event says, hashed: a retry must be the same event, not another one that
/// reuses the id.
pub(crate) type Content = [u8; 8];

/// The content digest of a record's payload (its tenant link, which the log fills in,
/// left out).
pub(crate) fn content_of(payload: &[u8]) -> Content {
    let body = payload
        .get(..payload.len().saturating_sub(TENANT_LINK_BYTES))
        .unwrap_or_default();
    let mut digest = [0; 8];
    digest.copy_from_slice(&blake3::hash(body).as_bytes()[..8]);
    digest
}

/// An event of a batch that carries an id: its index in the batch, key and content.
pub(crate) type IdOf = (u32, IdKey, Content);

/// The key of event id `id` of `tenant`.
pub(crate) fn id_key(tenant: &str, id: &str) -> IdKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(tenant.len() as u64).to_le_bytes());
    hasher.update(tenant.as_bytes());
    hasher.update(id.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    key
}
