//! A batch of events made ready for the writer by the producer's own thread: encoded,
//! framed, checksummed and leaf-hashed, so the single writer thread only copies bytes and
//! hashes interior nodes.

use crate::codec::{begin_frame, encode_event_into, finish_frame};
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
    /// `H(0x00 ‖ payload)` of each record.
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

    /// Encodes, frames and hashes one event. The event must already be valid (see
    /// [`Event::validate`]); an oversized record is refused here.
    pub fn push(&mut self, event: &Event<'_>) -> Result<()> {
        let start = begin_frame(&mut self.frames);
        encode_event_into(event, &mut self.frames);
        finish_frame(&mut self.frames, start)
            .map_err(|e| Error::InvalidArgument(format!("event record refused: {e}")))?;
        let frame = self.frames.get(start..).unwrap_or_default();
        let payload = frame
            .get(crate::codec::FRAME_HEADER_BYTES..)
            .unwrap_or_default();
        self.leaf_hashes.push(self.alg.hash_leaf(payload));
        self.frame_lens.push(frame.len() as u32);
        self.min_timestamp = self.min_timestamp.min(event.timestamp);
        self.max_timestamp = self.max_timestamp.max(event.timestamp);
        Ok(())
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.leaf_hashes.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.leaf_hashes.is_empty()
    }

    /// Bytes of record frames.
    pub fn byte_len(&self) -> usize {
        self.frames.len()
    }
}
