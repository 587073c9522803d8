//! A sealing log's half of the work on ingest: each event's personal fields are taken
//! out, sealed under the subject's key (made on the subject's first event) and stored in
//! a kind 3 record; an event with no personal field is stored as a plain record. The
//! block is laid out in the record and sealed later with others ([`Unsealed`]).

use std::sync::Arc;

use parking_lot::RwLock;

use super::seal::{PersonalRef, Unsealed};
use super::{SubjectKey, SubjectKeys, split_metadata};
use crate::codec::{RecordError, TenantLink, encode_record_into, encode_sealed_record_into};
use crate::error::{Error, Result};
use crate::event::Event;

/// The key store of a sealing log and the metadata fields it treats as personal.
#[derive(Debug)]
pub(crate) struct Sealer {
    /// Read by every producer for a known subject; written for a new subject or
    /// address, and by the writer and the sync stage. The sync stage's fdatasync runs
    /// outside it; an append that would leave more than 64 KiB unsynced, and an erasure,
    /// sync under it (rare, and brief next to the segment's own syncs).
    pub(crate) keys: RwLock<SubjectKeys>,
    personal_metadata: Vec<String>,
}

impl Sealer {
    pub(crate) fn new(keys: SubjectKeys, personal_metadata: Vec<String>) -> Sealer {
        Sealer {
            keys: RwLock::new(keys),
            personal_metadata,
        }
    }

    /// Appends the record payload of `event` (a valid event) to `out`, its link a
    /// placeholder: kind 3 if it has personal fields, its block laid out in `unsealed`
    /// to be sealed in `out` later; else kind 2. New keys and blind-index entries wait
    /// in the key store for the writer's next flush.
    pub(crate) fn encode(
        &self,
        event: &Event<'_>,
        out: &mut Vec<u8>,
        unsealed: &mut Unsealed,
    ) -> Result<()> {
        // Borrowed unless a personal field comes out of it: no copy per event.
        let (clear_metadata, sealed_metadata) = match &event.metadata {
            Some(text) => split_metadata(text, &self.personal_metadata)
                .map_err(|e| Error::InvalidArgument(format!("metadata: {e}")))?,
            None => (None, Vec::new()),
        };
        let personal = PersonalRef {
            email: event.actor_email.as_deref(),
            ip_address: event.ip_address.as_deref(),
            user_agent: event.user_agent.as_deref(),
            metadata: &sealed_metadata,
        };
        if personal.is_empty() {
            encode_record_into(event, TenantLink::First, out);
            return Ok(());
        }
        let key = self.key_for(&event.actor_id, personal.email)?;
        let clear = Event {
            actor_email: None,
            ip_address: None,
            user_agent: None,
            metadata: clear_metadata,
            ..event.clone()
        };
        encode_sealed_record_into(&clear, TenantLink::First, out, |out, aad| {
            unsealed
                .lay_out(&key, personal, out, aad)
                .map_err(|e| RecordError::Decode(e.to_string()))
        })
        .map_err(|e| Error::InvalidArgument(format!("sealing an event: {e}")))
    }

    /// The subject's key (made on its first event), with `email` in the blind index.
    fn key_for(&self, subject: &str, email: Option<&str>) -> Result<Arc<SubjectKey>> {
        if let Some(key) = self.keys.read().known(subject, email) {
            return Ok(Arc::clone(key));
        }
        let mut keys = self.keys.write();
        let key = Arc::clone(keys.key_for(subject)?);
        if let Some(email) = email {
            keys.note_email(key.id, email)?;
        }
        Ok(key)
    }

    /// Destroys `subject`'s key (see [`SubjectKeys::erase`]). A batch that took the key
    /// before may still seal with it; what it seals is erased with the rest.
    pub(crate) fn erase(
        &self,
        subject: &str,
        at: crate::event::Timestamp,
        tree_size: u64,
    ) -> Result<Option<super::Erasure>> {
        self.keys.write().erase(subject, at, tree_size)
    }

    /// Writes the keys handed out so far (before the records sealed with them are
    /// written, so that a process that dies leaves no record without its key in the
    /// page cache).
    pub(crate) fn write(&self) -> Result<()> {
        // Most groups bring no new key: then producers are not held up at all.
        if !self.keys.read().has_pending() {
            return Ok(());
        }
        self.keys.write().write()
    }

    /// Makes the keys written durable (before the records sealed with them are synced
    /// and acknowledged).
    pub(crate) fn sync(&self) -> Result<()> {
        let Some(unsynced) = self.keys.read().unsynced()? else {
            return Ok(());
        };
        // Producers go on sealing (and the writer writing) while the disk works.
        let done = unsynced.sync_data();
        self.keys.write().synced(unsynced, done)
    }
}
