//! A sealing log's half of the work on ingest: each event's personal fields are taken
//! out, sealed under the subject's key (made on the subject's first event) and stored in
//! a kind 3 record; an event with no personal field is stored as a plain record.

use std::borrow::Cow;

use parking_lot::Mutex;

use super::{Personal, Sealed, SubjectKeys, split_metadata};
use crate::codec::{RecordError, TenantLink, encode_record_into, encode_sealed_record_into};
use crate::error::{Error, Result};
use crate::event::Event;

/// The key store of a sealing log and the metadata fields it treats as personal.
#[derive(Debug)]
pub(crate) struct Sealer {
    pub(crate) keys: Mutex<SubjectKeys>,
    personal_metadata: Vec<String>,
}

impl Sealer {
    pub(crate) fn new(keys: SubjectKeys, personal_metadata: Vec<String>) -> Sealer {
        Sealer {
            keys: Mutex::new(keys),
            personal_metadata,
        }
    }

    /// Appends the record payload of `event` (a valid event) to `out`, its link a
    /// placeholder: kind 3 if it has personal fields, else kind 2. New keys and
    /// blind-index entries wait in the key store for the writer's next flush.
    pub(crate) fn encode(&self, event: &Event<'_>, out: &mut Vec<u8>) -> Result<()> {
        // Borrowed unless a personal field comes out of it: no copy per event.
        let (clear_metadata, sealed_metadata) = match &event.metadata {
            Some(text) => split_metadata(text, &self.personal_metadata)
                .map_err(|e| Error::InvalidArgument(format!("metadata: {e}")))?,
            None => (None, Vec::new()),
        };
        let owned = |s: &Option<Cow<'_, str>>| s.as_deref().map(str::to_owned);
        let personal = Personal {
            email: owned(&event.actor_email),
            ip_address: owned(&event.ip_address),
            user_agent: owned(&event.user_agent),
            metadata: sealed_metadata,
        };
        if personal.is_empty() {
            encode_record_into(event, TenantLink::First, out);
            return Ok(());
        }
        let key = {
            let mut keys = self.keys.lock();
            let key = keys.key_for(&event.actor_id)?.clone();
            if let Some(email) = &personal.email {
                keys.note_email(key.id, email)?;
            }
            key
        };
        let clear = Event {
            actor_email: None,
            ip_address: None,
            user_agent: None,
            metadata: clear_metadata,
            ..event.clone()
        };
        encode_sealed_record_into(&clear, TenantLink::First, out, |aad| {
            Sealed::seal(&key, aad, &personal)
                .map(|sealed| sealed.encode())
                .map_err(|e| RecordError::Decode(e.to_string()))
        })
        .map_err(|e| Error::InvalidArgument(format!("sealing an event: {e}")))
    }

    /// Makes every key handed out durable (before the records sealed with them are).
    pub(crate) fn flush(&self) -> Result<()> {
        self.keys.lock().flush()
    }
}
