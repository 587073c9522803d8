//! Reads of a sealing log: a kind 3 record's personal fields put back into its event,
//! opened with the subject's key, or each shown by a marker when they cannot be: the key
//! was erased ([`ERASED`]), the reader has no key-encryption key ([`SEALED`]), or the
//! key never reached the store ([`UNAVAILABLE`]: a power cut between a record and its
//! key, see docs/FORMAT.md, "Subject key store").

use super::{Sealed, Sealer, merge_metadata};
use crate::codec::SealedPart;
use crate::event::RawEvent;

/// What a personal field of an erased subject reads as.
pub const ERASED: &str = "[erased]";
/// What a personal field reads as to a reader without the log's key-encryption key.
pub const SEALED: &str = "[sealed]";
/// What a personal field reads as when its key is neither in the store nor erased.
pub const UNAVAILABLE: &str = "[unavailable]";

/// Calls `f` with `raw` (a record's clear event), its personal fields put back from the
/// record's sealed part, if it has one. `sealer` is the log's, if it was opened with its
/// key-encryption key. Fails on a sealed block that does not decode, or that its key
/// does not open (altered bytes).
pub(crate) fn with_personal<R>(
    sealer: Option<&Sealer>,
    sealed: Option<SealedPart<'_>>,
    raw: RawEvent<'_>,
    f: impl FnOnce(RawEvent<'_>) -> R,
) -> Result<R, String> {
    let Some(part) = sealed else {
        return Ok(f(raw));
    };
    let sealed = Sealed::decode_from(part.block).map_err(|e| e.to_string())?;
    let opened = match sealer {
        None => Err(SEALED),
        Some(sealer) => {
            let keys = sealer.keys.read();
            match keys.key(sealed.key_id) {
                Some(key) => Ok(sealed.open(key, part.aad).map_err(|e| e.to_string())?),
                None if keys.was_erased(sealed.key_id) => Err(ERASED),
                None => Err(UNAVAILABLE),
            }
        }
    };
    let clear_metadata = raw
        .metadata
        .map(std::str::from_utf8)
        .transpose()
        .map_err(|e| format!("metadata: {e}"))?;
    let mut event = raw;
    let metadata = match &opened {
        Ok(personal) => {
            event.actor_email = personal.email.as_deref().map(str::as_bytes);
            event.ip_address = personal.ip_address.as_deref().map(str::as_bytes);
            event.user_agent = personal.user_agent.as_deref().map(str::as_bytes);
            merge_metadata(clear_metadata, &personal.metadata)
        }
        Err(marker) => {
            let shown = |present: bool| present.then_some(marker.as_bytes());
            event.actor_email = shown(sealed.has_email());
            event.ip_address = shown(sealed.has_ip_address());
            event.user_agent = shown(sealed.has_user_agent());
            let value = format!("\"{marker}\"");
            let fields: Vec<(String, String)> = sealed
                .metadata_names
                .iter()
                .map(|name| (name.clone(), value.clone()))
                .collect();
            merge_metadata(clear_metadata, &fields)
        }
    }
    .map_err(|e| format!("metadata: {e}"))?;
    event.metadata = metadata.as_deref().map(str::as_bytes);
    Ok(f(event))
}
