//! The index file's bytes (docs/FORMAT.md, "Index file"): a header naming the segment it
//! belongs to, the timestamp and outcome columns, one section per field (its ordinal
//! column, a sorted dictionary, postings as LEB128 deltas), and a CRC32 of everything
//! before it. Encoding is deterministic: one segment has one index, byte for byte, which
//! `auditlog verify` checks without building it (`SealedIndex::checker`).

use super::memory::{KeyColumn, MemoryIndex};
use super::{Field, varint};
use crate::envelope::{Envelope, seal_crc};
use crate::merkle::Hash;

/// First bytes of every index file (PNG-style: a high byte, then CR LF, ^Z, LF).
pub const INDEX_MAGIC: [u8; 8] = [0x89, b'A', b'L', b'X', b'\r', b'\n', 0x1a, b'\n'];
/// The index file format this build writes (and the only one it reads: an index of
/// another version is rebuilt, being derived data).
pub const INDEX_FORMAT_VERSION: u16 = 1;

/// Magic, the index's own version, reserved bytes; the CRC at the end of the file.
pub(crate) const ENVELOPE: Envelope = Envelope {
    what: "index file",
    magic: INDEX_MAGIC,
    versions: INDEX_FORMAT_VERSION..=INDEX_FORMAT_VERSION,
    reserved: 10..12,
};
pub(crate) const RECORDS_AT: usize = 12;
pub(crate) const BASE_SEQ_AT: usize = 16;
pub(crate) const ROOT_AT: usize = 24;
pub(crate) const HEADER_BYTES: usize = 64;
/// Per field: key count, ordinal width, dictionary key bytes, postings bytes.
pub(crate) const SECTION_HEADER_BYTES: usize = 16;
/// Per dictionary entry: end of its key, end of its postings, number of postings.
pub(crate) const ENTRY_BYTES: usize = 12;
pub(crate) const CRC_BYTES: usize = 4;

/// Which segment an index belongs to: its first sequence number, its record count and
/// the tree head at its last record (from its footer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) base_seq: u64,
    pub(crate) records: u32,
    pub(crate) root: Hash,
}

/// Bytes per ordinal for a dictionary of `keys` values.
pub(crate) fn ordinal_width(keys: u32) -> usize {
    match keys {
        0..=0x100 => 1,
        0x101..=0x1_0000 => 2,
        _ => 4,
    }
}

/// Appends the whole of `index` as the index file of the segment `identity` names.
pub(crate) fn encode_index_into(index: &MemoryIndex, identity: Identity, out: &mut Vec<u8>) {
    let n = index.len() as usize;
    out.reserve(HEADER_BYTES + n * 16);
    let start = out.len();
    ENVELOPE.begin(out, INDEX_FORMAT_VERSION);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&identity.records.to_le_bytes());
    out.extend_from_slice(&identity.base_seq.to_le_bytes());
    out.extend_from_slice(&identity.root);
    out.resize(start + HEADER_BYTES, 0);
    for t in &index.timestamps {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend_from_slice(&index.outcomes);
    for field in Field::ALL {
        if let Some(column) = index.keys.get(field.slot()) {
            encode_section(column, out);
        }
    }
    seal_crc(out, start);
}

fn encode_section(column: &KeyColumn, out: &mut Vec<u8>) {
    // Ordinals follow the byte order of the values, so a prefix is a run of ordinals.
    let mut sorted: Vec<u32> = (0..column.names.len() as u32).collect();
    sorted.sort_unstable_by(|&a, &b| name(column, a).cmp(name(column, b)));
    let mut rank = vec![0u32; sorted.len()];
    for (ordinal, &id) in sorted.iter().enumerate() {
        if let Some(r) = rank.get_mut(id as usize) {
            *r = ordinal as u32;
        }
    }
    let mut keys = Vec::new();
    let mut postings = Vec::new();
    let mut entries = Vec::with_capacity(sorted.len() * ENTRY_BYTES);
    for &id in &sorted {
        keys.extend_from_slice(name(column, id));
        let list = column
            .postings
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut previous = None;
        for &record in list {
            varint::put(previous.map_or(record, |p: u32| record - p), &mut postings);
            previous = Some(record);
        }
        entries.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        entries.extend_from_slice(&(postings.len() as u32).to_le_bytes());
        entries.extend_from_slice(&(list.len() as u32).to_le_bytes());
    }
    let width = ordinal_width(sorted.len() as u32);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    out.extend_from_slice(&(postings.len() as u32).to_le_bytes());
    for &id in &column.column {
        let ordinal = rank.get(id as usize).copied().unwrap_or_default();
        out.extend_from_slice(ordinal.to_le_bytes().get(..width).unwrap_or_default());
    }
    out.extend_from_slice(&entries);
    out.extend_from_slice(&keys);
    out.extend_from_slice(&postings);
}

fn name(column: &KeyColumn, id: u32) -> &[u8] {
    column.names.get(id as usize).map_or(&[], |n| n)
}
