//! A batch of events made ready for the writer by the producer's own thread: encoded and
//! framed, each record ending in a placeholder for its tenant link. When the log gives
//! the batch its sequence numbers ([`PreparedBatch::link`]), it fills in each link and
//! CRC (resumed from the CRC of the bytes before the link) and hashes the leaves, eight
//! at a time with BLAKE3, so the single writer thread only copies bytes and hashes
//! interior nodes. A sealing log's records have their personal fields sealed in groups
//! ([`PreparedBatch::seal`]): their CRCs and content digests wait for that.

use crate::codec::{
    FRAME_HEADER_BYTES, IdOf, TENANT_LINK_BYTES, TenantLink, begin_frame, content_of,
    encode_record_into, finish_frame_len, frame_crc_before, id_key, set_frame_crc,
};
use crate::error::{Error, Result};
use crate::event::{Event, Timestamp};
use crate::heads::TenantHeads;
use crate::merkle::{Hash, HashAlg};
use crate::privacy::{Sealer, Unsealed};
use crate::writer::Earlier;
use std::sync::Arc;

/// The largest prepared batch accepted in one append.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// Sealed blocks laid out before a batch seals them: enough to fill the eight hashing
/// lanes with blocks of like lengths, few enough that their records are still in cache.
const SEAL_GROUP: usize = 64;

/// A record whose sealed block is laid out but not sealed.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    index: usize,
    /// Where its frame starts in `frames`.
    start: usize,
    /// Its entry in `ids`, if it carries an id (the content digest waits too).
    id_slot: Option<usize>,
}

/// Events ready to append.
#[derive(Clone)]
pub struct PreparedBatch {
    pub(crate) alg: HashAlg,
    /// Concatenated record frames.
    pub(crate) frames: Vec<u8>,
    /// Length of each frame.
    pub(crate) frame_lens: Vec<u32>,
    /// The CRC of each frame up to its tenant link.
    crcs_before_link: Vec<u32>,
    /// Each record's tenant id, back to back; record i's ends at `tenant_ends[i]`.
    tenants: String,
    tenant_ends: Vec<u32>,
    /// The sequence number of the first record, once [`PreparedBatch::link`] ran.
    pub(crate) first_seq: Option<u64>,
    /// `H(0x00 ‖ payload)` of each record, once [`PreparedBatch::link`] ran.
    pub(crate) leaf_hashes: Vec<Hash>,
    pub(crate) min_timestamp: Timestamp,
    pub(crate) max_timestamp: Timestamp,
    /// The (tenant, client event id) key of each event that carries an id, by index.
    pub(crate) ids: Vec<IdOf>,
    /// Set on a retry whose leading events were stored before (and dropped from here).
    pub(crate) earlier: Vec<Earlier>,
    /// The log's sealing, for a log that seals personal data (set by `Log::batch`).
    pub(crate) sealer: Option<Arc<Sealer>>,
    /// Sealed blocks laid out in `frames` and not yet sealed, and their records.
    unsealed: Unsealed,
    waiting: Vec<Waiting>,
    /// Why sealing failed, if it did: the frames may hold plaintext or half-sealed
    /// blocks, and the batch is refused from then on.
    unsealable: Option<String>,
    /// A follower's copy of records the followed log stored, to be numbered from this
    /// seq: never taken for a client's retry (the two logs may remember other ids), and
    /// refused at any other seq.
    pub(crate) copy_at: Option<u64>,
}

impl std::fmt::Debug for PreparedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the frames: until they are sealed they hold personal fields in the clear.
        f.debug_struct("PreparedBatch")
            .field("alg", &self.alg)
            .field("records", &self.frame_lens.len())
            .field("bytes", &self.frames.len())
            .field("first_seq", &self.first_seq)
            .field("waiting_to_seal", &self.waiting.len())
            .finish_non_exhaustive()
    }
}

impl PreparedBatch {
    /// An empty batch for a log hashing with `alg`.
    pub fn new(alg: HashAlg) -> PreparedBatch {
        PreparedBatch {
            alg,
            frames: Vec::new(),
            frame_lens: Vec::new(),
            crcs_before_link: Vec::new(),
            tenants: String::new(),
            tenant_ends: Vec::new(),
            first_seq: None,
            leaf_hashes: Vec::new(),
            min_timestamp: Timestamp::MAX,
            max_timestamp: Timestamp::MIN,
            ids: Vec::new(),
            earlier: Vec::new(),
            sealer: None,
            unsealed: Unsealed::default(),
            waiting: Vec::new(),
            unsealable: None,
            copy_at: None,
        }
    }

    /// An empty batch with room for `events` records of `bytes` frame bytes in all.
    pub fn with_capacity(alg: HashAlg, events: usize, bytes: usize) -> PreparedBatch {
        let mut batch = PreparedBatch::new(alg);
        batch.frames.reserve(bytes.min(MAX_BATCH_BYTES));
        batch.frame_lens.reserve(events);
        batch.crcs_before_link.reserve(events);
        batch.tenant_ends.reserve(events);
        batch.leaf_hashes.reserve(events);
        batch
    }

    /// Encodes and frames one event. The event must already be valid (see
    /// [`Event::validate`]); an oversized record is refused here.
    pub fn push(&mut self, event: &Event<'_>) -> Result<()> {
        if self.unsealable.is_some() || self.unsealed.len() >= SEAL_GROUP {
            self.seal()?;
        }
        let start = begin_frame(&mut self.frames);
        let laid_out = self.unsealed.len();
        // The link is a placeholder until the batch has its sequence numbers.
        match &self.sealer {
            Some(sealer) => {
                if let Err(e) = sealer.encode(event, &mut self.frames, &mut self.unsealed) {
                    self.frames.truncate(start);
                    self.unsealed.truncate(laid_out);
                    return Err(e);
                }
            }
            None => encode_record_into(event, TenantLink::First, &mut self.frames),
        }
        if let Err(e) = finish_frame_len(&mut self.frames, start) {
            // The frame is cut: its block, if any, must not be sealed into what follows.
            self.unsealed.truncate(laid_out);
            return Err(Error::InvalidArgument(format!("event record refused: {e}")));
        }
        let sealed_later = self.unsealed.len() > laid_out;
        let frame = self.frames.get(start..).unwrap_or_default();
        self.crcs_before_link.push(match sealed_later {
            true => 0,
            false => frame_crc_before(frame, TENANT_LINK_BYTES),
        });
        self.frame_lens.push(frame.len() as u32);
        let index = self.frame_lens.len() - 1;
        if let Some(id) = &event.event_id {
            let payload = frame.get(FRAME_HEADER_BYTES..).unwrap_or_default();
            let content = match sealed_later {
                true => [0; 8],
                false => content_of(payload),
            };
            self.ids
                .push((index as u32, id_key(&event.tenant_id, id), content));
        }
        if sealed_later {
            self.waiting.push(Waiting {
                index,
                start,
                id_slot: event.event_id.is_some().then(|| self.ids.len() - 1),
            });
        }
        self.tenants.push_str(&event.tenant_id);
        self.tenant_ends.push(self.tenants.len() as u32);
        self.min_timestamp = self.min_timestamp.min(event.timestamp);
        self.max_timestamp = self.max_timestamp.max(event.timestamp);
        Ok(())
    }

    /// Seals the blocks laid out so far and finishes their records' CRCs and content
    /// digests. The log calls it before it numbers the batch.
    pub(crate) fn seal(&mut self) -> Result<()> {
        if let Some(why) = &self.unsealable {
            return Err(Error::InvalidArgument(format!(
                "this batch could not seal its events: {why}"
            )));
        }
        if self.waiting.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.unsealed.seal_in(&mut self.frames) {
            self.unsealable = Some(e.to_string());
            return self.seal();
        }
        for waiting in self.waiting.drain(..) {
            let len = self.frame_lens[waiting.index] as usize;
            let frame = self
                .frames
                .get(waiting.start..waiting.start + len)
                .unwrap_or_default();
            self.crcs_before_link[waiting.index] = frame_crc_before(frame, TENANT_LINK_BYTES);
            if let Some(slot) = waiting.id_slot {
                self.ids[slot].2 = content_of(frame.get(FRAME_HEADER_BYTES..).unwrap_or_default());
            }
        }
        Ok(())
    }

    /// Drops the first `n` records (a retry's events stored before). The time bounds
    /// stay as they were: wider than the rest need, which only costs a query a look.
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.frame_lens.len());
        let bytes: usize = self.frame_lens.iter().take(n).map(|&l| l as usize).sum();
        self.frames.drain(..bytes);
        self.frame_lens.drain(..n);
        self.crcs_before_link.drain(..n);
        let tenant_bytes = n
            .checked_sub(1)
            .and_then(|i| self.tenant_ends.get(i))
            .map_or(0, |&e| e as usize);
        self.tenants.drain(..tenant_bytes);
        self.tenant_ends.drain(..n);
        for end in &mut self.tenant_ends {
            *end -= tenant_bytes as u32;
        }
        self.ids.retain(|(i, _, _)| *i as usize >= n);
        for (i, _, _) in &mut self.ids {
            *i -= n as u32;
        }
    }

    /// Gives the records the sequence numbers from `first_seq` on: fills in each tenant
    /// link from `heads` (advancing them), finishes each CRC and hashes the leaves.
    pub(crate) fn link(&mut self, first_seq: u64, heads: &mut TenantHeads) {
        debug_assert!(
            self.waiting.is_empty(),
            "a batch numbered before it was sealed"
        );
        let mut at = 0usize;
        let mut tenant_start = 0usize;
        for (i, (&len, &crc)) in self
            .frame_lens
            .iter()
            .zip(&self.crcs_before_link)
            .enumerate()
        {
            let end = self.tenant_ends.get(i).map_or(0, |&e| e as usize);
            let tenant = self.tenants.get(tenant_start..end).unwrap_or_default();
            tenant_start = end;
            let link = heads.advance(tenant, first_seq + i as u64);
            let Some(frame) = self.frames.get_mut(at..at + len as usize) else {
                break;
            };
            at += len as usize;
            let link_at = frame.len() - TENANT_LINK_BYTES;
            if let (Some(bytes), Some(slot)) = (link.to_bytes(), frame.get_mut(link_at..)) {
                slot.copy_from_slice(&bytes);
            }
            set_frame_crc(frame, crc, TENANT_LINK_BYTES);
        }
        self.first_seq = Some(first_seq);
        self.hash_leaves();
    }

    fn hash_leaves(&mut self) {
        let mut payloads = Vec::with_capacity(self.frame_lens.len());
        let mut at = 0usize;
        for &len in &self.frame_lens {
            let frame = self.frames.get(at..at + len as usize).unwrap_or_default();
            payloads.push(frame.get(FRAME_HEADER_BYTES..).unwrap_or_default());
            at += len as usize;
        }
        self.leaf_hashes.clear();
        self.leaf_hashes.resize(self.frame_lens.len(), [0; 32]);
        self.alg.hash_leaves(&payloads, &mut self.leaf_hashes);
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.frame_lens.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.frame_lens.is_empty()
    }

    /// Bytes of record frames.
    pub fn byte_len(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_frame, decode_record};
    use crate::event::parse_json;

    #[test]
    fn a_batch_that_cannot_seal_is_refused_and_never_shows_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let kek = crate::privacy::Kek::generate().unwrap();
        let storage = Arc::new(crate::storage::FsStorage::default());
        let keys = crate::privacy::SubjectKeys::open(storage, dir.path(), &kek, false).unwrap();
        let mut batch = PreparedBatch::new(HashAlg::Blake3);
        batch.sealer = Some(Arc::new(Sealer::new(keys, Vec::new())));
        let line = br#"{"timestamp":"2026-03-01T12:00:00Z","actor":{"user_id":"usr_1","email":"alice@example.org"},"organization":{"id":"org_1"},"action":"auth.login","outcome":"success"}"#;
        batch.push(&parse_json(line).unwrap()).unwrap();
        assert!(!format!("{batch:?}").contains("alice"));
        assert!(
            batch.frames.windows(5).any(|w| w == b"alice"),
            "laid out, not sealed"
        );
        // Its block no longer in the frames: sealing fails, and fails from then on.
        let cut = batch.frames.len() - 20;
        batch.frames.truncate(cut);
        assert!(batch.seal().is_err());
        assert!(batch.seal().is_err());
        assert!(batch.push(&parse_json(line).unwrap()).is_err());
    }

    #[test]
    fn linked_records_carry_each_tenants_previous_event() {
        let line = |i: usize| {
            format!(
                r#"{{"timestamp":"2026-03-01T12:00:00Z","actor":{{"user_id":"usr_{i}"}},"organization":{{"id":"org_{}"}},"action":"auth.login","outcome":"success","metadata":{{"pad":"{}"}}}}"#,
                i % 3,
                "x".repeat(i * 37)
            )
        };
        for alg in [HashAlg::Blake3, HashAlg::Sha256] {
            let mut heads = TenantHeads::new(alg);
            heads.advance("org_2", 4);
            let mut batch = PreparedBatch::new(alg);
            for i in 0..30 {
                let text = line(i);
                batch
                    .push(&parse_json(text.as_bytes()).expect("valid event"))
                    .expect("fits");
            }
            batch.link(10, &mut heads);
            assert_eq!(batch.first_seq, Some(10));
            let mut at = 0;
            for (i, &len) in batch.frame_lens.iter().enumerate() {
                let (payload, used) = decode_frame(&batch.frames[at..]).expect("the CRC holds");
                assert_eq!(used, len as usize);
                let record = decode_record(payload).expect("decodes");
                let seq = 10 + i as u64;
                let want = match (i, i % 3) {
                    (0 | 1, _) => TenantLink::First,
                    (2, _) => TenantLink::Previous(4),
                    _ => TenantLink::Previous(seq - 3),
                };
                assert_eq!(record.tenant_link, want, "record {i}");
                assert_eq!(batch.leaf_hashes[i], alg.hash_leaf(payload));
                at += used;
            }
            assert_eq!(heads.get("org_0"), Some(37));
            assert_eq!(heads.get("org_2"), Some(39));
        }
    }
}
