//! Canonical record encoding and CRC framing: pure functions on byte slices
//! (docs/FORMAT.md, "Records"). The record bytes are exactly what the Merkle leaf hashes.

mod frame;
mod identity;
mod record;

pub use frame::{
    FRAME_HEADER_BYTES, FrameError, MAX_RECORD_LEN_BYTES, SplitFrame, begin_frame, decode_frame,
    encode_frame_into, finish_frame, finish_frame_len, frame_crc_before, set_frame_crc,
    split_frame,
};
pub(crate) use identity::{Content, IdKey, IdOf, content_of, id_key};
pub(crate) use record::decode_raw_parts;
pub use record::{
    IndexFields, RECORD_KIND_EVENT, RECORD_KIND_LINKED_EVENT, RECORD_KIND_SEALED_EVENT, Record,
    RecordError, RecordHead, SealedPart, TENANT_LINK_BYTES, TenantLink, check_link, decode_event,
    decode_index_fields, decode_raw_record, decode_record, decode_record_head,
    decode_record_with_bincode, encode_record_into, encode_sealed_record_into, sealed_part,
};
