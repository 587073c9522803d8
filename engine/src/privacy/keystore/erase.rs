//! Erasure: the store rewritten without the subject's key and blind-index entries, with
//! an erasure entry, and renamed over the old one, so that once the rename is durable no
//! copy of the key is left in the data directory.

use super::entry::{Entry, encode_blind, encode_erasure};
use super::file::{Replaced, header};
use super::{Erasure, SubjectKeys};
use crate::error::{Error, Result};
use crate::event::Timestamp;

impl SubjectKeys {
    /// Destroys every key of `subject` durably and atomically: the store is rewritten
    /// without them and without their blind-index entries, with an erasure entry for
    /// each, and renamed over the old one. Before it returns the keys are still there
    /// (a crash leaves them); after it, they are gone. `None` if the subject has no key.
    pub fn erase(
        &mut self,
        subject: &str,
        at: Timestamp,
        tree_size: u64,
    ) -> Result<Option<Erasure>> {
        self.writable()?;
        self.flush()?;
        let fingerprint = self.fingerprints.of(subject);
        let Some(key_id) = self.current.get(&fingerprint).map(|live| live.key.id) else {
            return Ok(None);
        };
        let erasure = Erasure {
            subject: subject.to_owned(),
            key_id,
            at,
            tree_size,
        };
        let mut bytes = header(&self.check).to_vec();
        let mut mac = self.check;
        // The other keys' entries as they are (sealed once, under their own nonces), in
        // id order; then the blind index without the subject's; then every erasure.
        let mut kept: Vec<&u64> = self.keys.keys().filter(|&&id| id != key_id).collect();
        kept.sort_unstable();
        for id in kept {
            let entry = self.key_entries.get(id).ok_or_else(|| {
                Error::InvalidArgument(format!("the entry of key {id:016x} is missing"))
            })?;
            mac = self.entries.frame_into(&mut bytes, entry, &mac)?;
        }
        let mut tokens: Vec<_> = self.blind.iter().collect();
        tokens.sort_unstable();
        for (token, ids) in tokens {
            for &id in ids.iter().filter(|&&id| id != key_id) {
                mac = self
                    .entries
                    .frame_into(&mut bytes, &encode_blind(id, token), &mac)?;
            }
        }
        for e in self.erasures.iter().chain(std::iter::once(&erasure)) {
            mac = self
                .entries
                .frame_into(&mut bytes, &encode_erasure(e), &mac)?;
        }
        let replaced = self.file.replace(&bytes);
        if let Err(Replaced::Unchanged(e)) = replaced {
            // The old store stands, whole and synced: nothing was erased, nothing lost.
            return Err(e);
        }
        // From the rename on, the key is gone from the file system's view: from memory too.
        self.last_mac = mac;
        self.key_entries.remove(&key_id);
        self.apply_entry(Entry::Erased(erasure.clone()));
        match replaced {
            // Whether the rename is durable is unknown: not acknowledged, and no append
            // until a reopen reads what the disk holds.
            Err(Replaced::Unknown(e) | Replaced::Unchanged(e)) => Err(e),
            Ok(()) => Ok(Some(erasure)),
        }
    }
}
