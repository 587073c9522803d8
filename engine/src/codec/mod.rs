//! Canonical record encoding and CRC framing: pure functions on byte slices
//! (docs/FORMAT.md, "Records"). The record bytes are exactly what the Merkle leaf hashes.

mod frame;
mod record;

pub use frame::{
    FRAME_HEADER_BYTES, FrameError, MAX_RECORD_LEN_BYTES, begin_frame, decode_frame,
    encode_frame_into, finish_frame,
};
pub use record::{RECORD_KIND_EVENT, RecordError, decode_event, encode_event_into};
