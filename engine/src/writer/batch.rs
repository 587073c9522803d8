//! A batch of events made ready for the writer by the producer's own thread: encoded,
//! framed, checksummed and leaf-hashed, so the single writer thread only copies bytes and
//! hashes interior nodes. Leaves are hashed all together when the batch is submitted, so
//! BLAKE3 hashes eight at a time.

use crate::codec::{FRAME_HEADER_BYTES, begin_frame, encode_event_into, finish_frame};
use crate::error::{Error, Result};
use crate::event::{Event, Timestamp};
use crate::merkle::{Hash, HashAlg};

/// The largest prepared batch accepted in one append.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// Events ready to append.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub(crate) alg: HashAlg,
    /// Concatenated record frames.
    pub(crate) frames: Vec<u8>,
    /// Length of each frame.
    pub(crate) frame_lens: Vec<u32>,
    /// `H(0x00 ‖ payload)` of each record, once [`PreparedBatch::hash_leaves`] ran.
    pub(crate) leaf_hashes: Vec<Hash>,
    pub(crate) min_timestamp: Timestamp,
    pub(crate) max_timestamp: Timestamp,
}

impl PreparedBatch {
    /// An empty batch for a log hashing with `alg`.
    pub fn new(alg: HashAlg) -> PreparedBatch {
        PreparedBatch {
            alg,
            frames: Vec::new(),
            frame_lens: Vec::new(),
            leaf_hashes: Vec::new(),
            min_timestamp: Timestamp::MAX,
            max_timestamp: Timestamp::MIN,
        }
    }

    /// An empty batch with room for `events` records of `bytes` frame bytes in all.
    pub fn with_capacity(alg: HashAlg, events: usize, bytes: usize) -> PreparedBatch {
        let mut batch = PreparedBatch::new(alg);
        batch.frames.reserve(bytes.min(MAX_BATCH_BYTES));
        batch.frame_lens.reserve(events);
        batch.leaf_hashes.reserve(events);
        batch
    }

    /// Encodes and frames one event. The event must already be valid (see
    /// [`Event::validate`]); an oversized record is refused here.
    pub fn push(&mut self, event: &Event<'_>) -> Result<()> {
        let start = begin_frame(&mut self.frames);
        encode_event_into(event, &mut self.frames);
        finish_frame(&mut self.frames, start)
            .map_err(|e| Error::InvalidArgument(format!("event record refused: {e}")))?;
        self.frame_lens.push((self.frames.len() - start) as u32);
        self.min_timestamp = self.min_timestamp.min(event.timestamp);
        self.max_timestamp = self.max_timestamp.max(event.timestamp);
        Ok(())
    }

    /// Hashes the leaves of the records pushed since the last call. [`crate::Log::submit`]
    /// does it on its caller's thread; a pipeline that submits from one thread calls it
    /// where the batch was made, so hashing stays spread over the producers.
    pub fn hash_leaves(&mut self) {
        let done = self.leaf_hashes.len();
        let skipped: usize = self.frame_lens.iter().take(done).map(|&l| l as usize).sum();
        let mut payloads = Vec::with_capacity(self.frame_lens.len() - done);
        let mut at = skipped;
        for &len in self.frame_lens.iter().skip(done) {
            let frame = self.frames.get(at..at + len as usize).unwrap_or_default();
            payloads.push(frame.get(FRAME_HEADER_BYTES..).unwrap_or_default());
            at += len as usize;
        }
        self.leaf_hashes.resize(self.frame_lens.len(), [0; 32]);
        self.alg
            .hash_leaves(&payloads, &mut self.leaf_hashes[done..]);
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
    use crate::event::parse_json;

    #[test]
    fn leaves_hashed_in_steps_equal_one_at_a_time() {
        let line = |i: usize| {
            format!(
                r#"{{"timestamp":"2026-03-01T12:00:00Z","actor":{{"user_id":"usr_{i}"}},"organization":{{"id":"org_1"}},"action":"auth.login","outcome":"success","metadata":{{"pad":"{}"}}}}"#,
                "x".repeat(i * 37)
            )
        };
        for alg in [HashAlg::Blake3, HashAlg::Sha256] {
            let mut batch = PreparedBatch::new(alg);
            let mut expected = Vec::new();
            for i in 0..30 {
                let text = line(i);
                let event = parse_json(text.as_bytes()).expect("valid event");
                batch.push(&event).expect("fits");
                let mut record = Vec::new();
                crate::codec::encode_event_into(&event, &mut record);
                expected.push(alg.hash_leaf(&record));
                if i % 7 == 3 {
                    batch.hash_leaves();
                }
            }
            batch.hash_leaves();
            batch.hash_leaves();
            assert_eq!(batch.leaf_hashes, expected);
        }
    }
}
