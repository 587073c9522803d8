//! An index file read in place (mapped): its structure is checked once at load (magic,
//! version, identity, section sizes, CRC), then values are read by offset arithmetic.
//! Lookups are binary searches over the sorted dictionary; every read is bounds-checked,
//! and postings are checked as they are decoded, so no bytes can make it panic.

use super::encode::{
    BASE_SEQ_AT, CRC_BYTES, ENTRY_BYTES, ENVELOPE, HEADER_BYTES, Identity, RECORDS_AT, ROOT_AT,
    SECTION_HEADER_BYTES, ordinal_width,
};
use std::path::{Path, PathBuf};

use super::{Field, IndexRead, varint};
use crate::codec::IndexFields;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::le::{hash_at, i64_at, u32_at, u64_at};
use crate::storage::MappedBytes;

/// Where one field's parts lie in the file.
#[derive(Debug, Clone, Copy, Default)]
struct Section {
    keys: u32,
    width: usize,
    column_at: usize,
    entries_at: usize,
    keys_at: usize,
    keys_len: usize,
    postings_at: usize,
    postings_len: usize,
}

/// A checked index file.
#[derive(Debug)]
pub(crate) struct SealedIndex {
    path: PathBuf,
    bytes: MappedBytes,
    identity: Identity,
    records: u32,
    outcomes_at: usize,
    sections: [Section; 3],
}

/// Where and why an index file is unusable: a byte offset and what is wrong there.
pub(crate) type IndexFault = (u64, CorruptionKind);

impl SealedIndex {
    /// Checks `bytes`, the contents of `path`, as the index of the segment `identity`
    /// names.
    pub(crate) fn decode_from(
        path: &Path,
        bytes: MappedBytes,
        identity: Identity,
    ) -> std::result::Result<SealedIndex, IndexFault> {
        let data = bytes.as_slice();
        let short = |at: usize| (at as u64, CorruptionKind::Truncated("index file"));
        let bad = |at: usize, why: String| (at as u64, CorruptionKind::BadField(why));
        let crc_at = data.len().checked_sub(CRC_BYTES).ok_or(short(0))?;
        ENVELOPE.check(data, Some(crc_at))?;
        let found = Identity {
            records: u32_at(data, RECORDS_AT).ok_or(short(RECORDS_AT))?,
            base_seq: u64_at(data, BASE_SEQ_AT).ok_or(short(BASE_SEQ_AT))?,
            root: hash_at(data, ROOT_AT).ok_or(short(ROOT_AT))?,
        };
        if found != identity {
            return Err(bad(
                RECORDS_AT,
                format!(
                    "the index is of another segment ({} records from {}), not of this one \
                     ({} records from {})",
                    found.records, found.base_seq, identity.records, identity.base_seq
                ),
            ));
        }
        let n = identity.records as usize;
        let outcomes_at = n
            .checked_mul(8)
            .and_then(|t| HEADER_BYTES.checked_add(t))
            .ok_or(short(HEADER_BYTES))?;
        let mut at = outcomes_at.checked_add(n).ok_or(short(outcomes_at))?;
        let mut sections = [Section::default(); 3];
        for section in &mut sections {
            let field_at = at;
            let read = |o: usize| u32_at(data, field_at + o).ok_or(short(field_at + o));
            let keys = read(0)?;
            let width = read(4)? as usize;
            if width != ordinal_width(keys) {
                return Err(bad(field_at + 4, format!("ordinal width {width}")));
            }
            let keys_len = read(8)? as usize;
            let postings_len = read(12)? as usize;
            let column_at = field_at + SECTION_HEADER_BYTES;
            let entries_at = n
                .checked_mul(width)
                .and_then(|c| column_at.checked_add(c))
                .ok_or(short(column_at))?;
            let keys_at = (keys as usize)
                .checked_mul(ENTRY_BYTES)
                .and_then(|e| entries_at.checked_add(e))
                .ok_or(short(entries_at))?;
            let postings_at = keys_at.checked_add(keys_len).ok_or(short(keys_at))?;
            at = postings_at
                .checked_add(postings_len)
                .ok_or(short(postings_at))?;
            if at > crc_at {
                return Err(short(field_at));
            }
            *section = Section {
                keys,
                width,
                column_at,
                entries_at,
                keys_at,
                keys_len,
                postings_at,
                postings_len,
            };
        }
        if at != crc_at {
            return Err(bad(
                at,
                format!("{} bytes between the last section and the CRC", crc_at - at),
            ));
        }
        Ok(SealedIndex {
            path: path.to_path_buf(),
            bytes,
            identity,
            records: identity.records,
            outcomes_at,
            sections,
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Checks what `verify` can check of the file alone before its records: the header's
    /// zero bytes, and each dictionary (entries in order and within their areas, values
    /// distinct and in byte order, each with at least one record); then readies the
    /// per-record check ([`IndexChecker::check_record`]) and the postings check
    /// ([`IndexChecker::check_postings`]). An index that passes all three is byte for byte
    /// the one a rebuild from the records makes, without building one: every byte is
    /// either checked against the records or determined by what is.
    pub(crate) fn checker(&self) -> std::result::Result<IndexChecker<'_>, IndexFault> {
        let data = self.bytes();
        for at in (10..12).chain(56..HEADER_BYTES) {
            if data.get(at).copied().unwrap_or(1) != 0 {
                let why = "a reserved header byte is not zero".to_owned();
                return Err((at as u64, CorruptionKind::BadField(why)));
            }
        }
        let mut keys: [Vec<(usize, usize)>; 3] = Default::default();
        for (field, ranges) in Field::ALL.into_iter().zip(&mut keys) {
            let s = self.section(field);
            let bad = |ordinal: u32, what: &str| {
                let why = format!("{} ordinal {ordinal}: {what}", field.name());
                let at = s.entries_at + ordinal as usize * ENTRY_BYTES;
                Err((at as u64, CorruptionKind::BadField(why)))
            };
            ranges.reserve(s.keys as usize);
            let (mut key_start, mut postings_start) = (0, 0);
            let mut previous: Option<&[u8]> = None;
            for ordinal in 0..s.keys {
                let Some((key_end, postings_end, count)) = self.entry(&s, ordinal) else {
                    return bad(ordinal, "entry missing");
                };
                if key_end < key_start || key_end > s.keys_len {
                    return bad(
                        ordinal,
                        "its key's end is out of order or past the key area",
                    );
                }
                if postings_end < postings_start || postings_end > s.postings_len {
                    return bad(
                        ordinal,
                        "its postings' end is out of order or past their area",
                    );
                }
                if count == 0 {
                    return bad(ordinal, "no record has this value");
                }
                let key = data
                    .get(s.keys_at + key_start..s.keys_at + key_end)
                    .unwrap_or_default();
                if previous.is_some_and(|p| p >= key) {
                    return bad(ordinal, "the dictionary is out of byte order");
                }
                previous = Some(key);
                ranges.push((s.keys_at + key_start, s.keys_at + key_end));
                (key_start, postings_start) = (key_end, postings_end);
            }
            if key_start != s.keys_len || postings_start != s.postings_len {
                let why = format!("{}: the areas hold bytes no entry names", field.name());
                return Err((s.entries_at as u64, CorruptionKind::BadField(why)));
            }
        }
        Ok(IndexChecker { index: self, keys })
    }

    fn section(&self, field: Field) -> Section {
        self.sections.get(field.slot()).copied().unwrap_or_default()
    }

    /// Entry `ordinal`'s three numbers: key end, postings end, postings count.
    fn entry(&self, s: &Section, ordinal: u32) -> Option<(usize, usize, u32)> {
        if ordinal >= s.keys {
            return None;
        }
        let at = s.entries_at + ordinal as usize * ENTRY_BYTES;
        let data = self.bytes();
        Some((
            u32_at(data, at)? as usize,
            u32_at(data, at + 4)? as usize,
            u32_at(data, at + 8)?,
        ))
    }

    /// Where entry `ordinal`'s key and postings start (where the previous entry's end).
    fn starts(&self, s: &Section, ordinal: u32) -> (usize, usize) {
        match ordinal.checked_sub(1) {
            Some(previous) => self
                .entry(s, previous)
                .map_or((0, 0), |(key_end, postings_end, _)| (key_end, postings_end)),
            None => (0, 0),
        }
    }

    fn key_bytes(&self, s: &Section, ordinal: u32) -> Option<&[u8]> {
        let (key_end, _, _) = self.entry(s, ordinal)?;
        let (key_start, _) = self.starts(s, ordinal);
        if key_start > key_end || key_end > s.keys_len {
            return None;
        }
        self.bytes().get(s.keys_at + key_start..s.keys_at + key_end)
    }
}

impl SealedIndex {
    fn corrupt_postings(&self, field: Field, ordinal: u32, at: usize, why: &str) -> Error {
        Error::Corruption(Corruption::new(
            &self.path,
            at as u64,
            CorruptionKind::BadField(format!(
                "the postings of {} ordinal {ordinal} are damaged ({why}); the index is \
                 derived data: delete the file and it is rebuilt",
                field.name()
            )),
        ))
    }
}

impl IndexRead for SealedIndex {
    fn records(&self) -> u32 {
        self.records
    }

    fn timestamp(&self, i: u32) -> i64 {
        i64_at(self.bytes(), HEADER_BYTES + i as usize * 8).unwrap_or_default()
    }

    fn outcome(&self, i: u32) -> u8 {
        self.bytes()
            .get(self.outcomes_at + i as usize)
            .copied()
            .unwrap_or_default()
    }

    fn ordinal(&self, field: Field, i: u32) -> u32 {
        let s = self.section(field);
        let at = s.column_at + i as usize * s.width;
        let Some(bytes) = self.bytes().get(at..at + s.width) else {
            return u32::MAX;
        };
        let mut le = [0u8; 4];
        if let Some(dest) = le.get_mut(..s.width) {
            dest.copy_from_slice(bytes);
        }
        u32::from_le_bytes(le)
    }

    fn key_count(&self, field: Field) -> u32 {
        self.section(field).keys
    }

    fn find(&self, field: Field, key: &str) -> Option<u32> {
        let s = self.section(field);
        let (mut lo, mut hi) = (0u32, s.keys);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key_bytes(&s, mid)?.cmp(key.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    fn key(&self, field: Field, ordinal: u32) -> Option<&str> {
        std::str::from_utf8(self.key_bytes(&self.section(field), ordinal)?).ok()
    }

    fn postings_len(&self, field: Field, ordinal: u32) -> u32 {
        self.entry(&self.section(field), ordinal)
            .map_or(0, |(_, _, count)| count)
    }

    fn postings(&self, field: Field, ordinal: u32, out: &mut Vec<u32>) -> Result<()> {
        let s = self.section(field);
        let damaged = |why| self.corrupt_postings(field, ordinal, s.entries_at, why);
        let (_, end, count) = self
            .entry(&s, ordinal)
            .ok_or_else(|| damaged("no such entry"))?;
        let (_, start) = self.starts(&s, ordinal);
        if start > end || end > s.postings_len || count > self.records {
            return Err(damaged("bounds"));
        }
        let list = self
            .bytes()
            .get(s.postings_at + start..s.postings_at + end)
            .unwrap_or_default();
        out.reserve(count as usize);
        let mut at = 0;
        let mut previous: Option<u32> = None;
        for _ in 0..count {
            let value = varint::get(list, &mut at).ok_or_else(|| damaged("varint"))?;
            let record = match previous {
                None => value,
                Some(p) if value > 0 => p.checked_add(value).ok_or_else(|| damaged("overflow"))?,
                Some(_) => return Err(damaged("not rising")),
            };
            if record >= self.records {
                return Err(damaged("record past the segment"));
            }
            out.push(record);
            previous = Some(record);
        }
        if at != list.len() {
            return Err(damaged("trailing bytes"));
        }
        Ok(())
    }
}

/// `verify`'s check of an index file against its records (see [`SealedIndex::checker`]).
pub(crate) struct IndexChecker<'a> {
    index: &'a SealedIndex,
    /// Per field, each ordinal's value as a range of the file.
    keys: [Vec<(usize, usize)>; 3],
}

impl IndexChecker<'_> {
    /// The file checked.
    pub(crate) fn path(&self) -> &Path {
        &self.index.path
    }

    /// Whether record `seq`'s entries hold `fields`, the record's own: else where in the
    /// file the first entry that does not lies, and what it says.
    pub(crate) fn check_record(
        &self,
        seq: u64,
        fields: &IndexFields<'_>,
    ) -> std::result::Result<(), IndexFault> {
        let index = self.index;
        let i = seq
            .checked_sub(index.identity.base_seq)
            .and_then(|i| u32::try_from(i).ok())
            .filter(|&i| i < index.records)
            .ok_or_else(|| {
                let why = format!("record {seq} lies outside the index");
                (0, CorruptionKind::BadField(why))
            })?;
        let differs = |at: usize, what: &str, stored: String, found: String| {
            let why = format!(
                "the index says record {seq}'s {what} is {stored}, the record says {found}"
            );
            Err((at as u64, CorruptionKind::HashMismatch(why)))
        };
        let stored = index.timestamp(i);
        if stored != fields.timestamp.0 {
            let at = HEADER_BYTES + i as usize * 8;
            return differs(
                at,
                "timestamp",
                stored.to_string(),
                fields.timestamp.0.to_string(),
            );
        }
        let stored = index.outcome(i);
        if stored != fields.outcome {
            let at = index.outcomes_at + i as usize;
            return differs(
                at,
                "outcome",
                stored.to_string(),
                fields.outcome.to_string(),
            );
        }
        for ((field, value), ranges) in [
            (Field::Tenant, fields.tenant_id),
            (Field::Actor, fields.actor_id),
            (Field::Action, fields.action),
        ]
        .into_iter()
        .zip(&self.keys)
        {
            let ordinal = index.ordinal(field, i);
            let stored = ranges
                .get(ordinal as usize)
                .and_then(|&(start, end)| index.bytes().get(start..end));
            if stored != Some(value) {
                let show = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
                let s = index.section(field);
                let at = s.column_at + i as usize * s.width;
                return differs(
                    at,
                    field.name(),
                    stored.map_or("nothing".into(), show),
                    show(value),
                );
            }
        }
        Ok(())
    }

    /// Whether each postings list is, in shortest varints, exactly the records whose
    /// ordinal column entry is its ordinal, rising: the lists of a rebuild.
    pub(crate) fn check_postings(&self) -> std::result::Result<(), IndexFault> {
        let index = self.index;
        let mut list = Vec::new();
        for field in Field::ALL {
            let s = index.section(field);
            let mut listed = 0u64;
            for ordinal in 0..s.keys {
                list.clear();
                // Decoding checks the varints (shortest form), the rise and the count.
                if let Err(e) = index.postings(field, ordinal, &mut list) {
                    return Err(match e {
                        Error::Corruption(c) => (c.offset, c.kind),
                        other => (0, CorruptionKind::BadField(other.to_string())),
                    });
                }
                if let Some(&record) = list.iter().find(|&&r| index.ordinal(field, r) != ordinal) {
                    let (_, start) = index.starts(&s, ordinal);
                    let why = format!(
                        "the postings of {} ordinal {ordinal} list record {record}, which has \
                         another value",
                        field.name()
                    );
                    let at = s.postings_at + start;
                    return Err((at as u64, CorruptionKind::HashMismatch(why)));
                }
                listed += list.len() as u64;
            }
            if listed != u64::from(index.records) {
                let why = format!(
                    "the {} postings list {listed} of {} records",
                    field.name(),
                    index.records
                );
                return Err((s.entries_at as u64, CorruptionKind::HashMismatch(why)));
            }
        }
        Ok(())
    }
}
