//! Per-segment indexes: for every record its timestamp, outcome, and the dictionary
//! ordinals of its tenant, actor and action; for every tenant, actor and action the
//! postings list of its records. Queries start from the most selective postings list (or
//! scan the columns) and check the other filters against the columns, so they read only
//! the records they return.
//!
//! The active segment's index lives in memory ([`MemoryIndex`]), fed as groups are
//! committed and rebuilt from the records at open. At seal it is encoded
//! ([`encode`]) into `segments/<base>.idx` (docs/FORMAT.md, "Index file"), read back
//! mapped ([`SealedIndex`]). Index files are derived data: a missing or damaged one is
//! rebuilt from its segment.

pub(crate) mod encode;
mod file;
mod memory;
mod sealed;
mod varint;

pub(crate) use encode::encode_index_into;
pub use encode::{INDEX_FORMAT_VERSION, INDEX_MAGIC};
pub(crate) use file::{identity_from, identity_of, index_path, load_or_build};
pub(crate) use memory::{MemoryIndex, MemoryView};
pub(crate) use sealed::{IndexChecker, IndexFault, SealedIndex};

use std::sync::Arc;

use crate::error::Result;

/// The active segment's index, shared by the writer (which starts it), the sync stage
/// (which feeds it) and readers.
pub(crate) type SharedIndex = Arc<parking_lot::RwLock<MemoryIndex>>;

/// Where a segment's index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    /// The active segment's index, in memory.
    Memory,
    /// The segment's index file.
    File,
    /// Rebuilt from the records, the file being missing or damaged.
    Rebuilt,
}

/// The indexed string fields, in the order their sections appear in an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `organization.id`.
    Tenant,
    /// `actor.user_id`.
    Actor,
    /// `action`.
    Action,
}

impl Field {
    /// Every indexed field, in file order.
    pub const ALL: [Field; 3] = [Field::Tenant, Field::Actor, Field::Action];

    pub(crate) fn slot(self) -> usize {
        self as usize
    }

    /// The field's name in plans and errors.
    pub fn name(self) -> &'static str {
        match self {
            Field::Tenant => "tenant",
            Field::Actor => "actor",
            Field::Action => "action",
        }
    }
}

/// What a query needs of one segment's index, whether in memory or mapped. Record
/// numbers are local to the segment (0 = its first record); ordinals number a field's
/// distinct values.
pub(crate) trait IndexRead {
    /// Records covered.
    fn records(&self) -> u32;
    /// Record `i`'s timestamp (microseconds since the epoch).
    fn timestamp(&self, i: u32) -> i64;
    /// Record `i`'s outcome code (its position in [`crate::Outcome::ALL`]).
    fn outcome(&self, i: u32) -> u8;
    /// The ordinal of record `i`'s value of `field`.
    fn ordinal(&self, field: Field, i: u32) -> u32;
    /// Distinct values of `field`.
    fn key_count(&self, field: Field) -> u32;
    /// The ordinal of `key`, if some record has it.
    fn find(&self, field: Field, key: &str) -> Option<u32>;
    /// The value with ordinal `ordinal`.
    fn key(&self, field: Field, ordinal: u32) -> Option<&str>;
    /// How many records have the value with ordinal `ordinal`.
    fn postings_len(&self, field: Field, ordinal: u32) -> u32;
    /// Appends those records' numbers, rising, to `out`.
    fn postings(&self, field: Field, ordinal: u32, out: &mut Vec<u32>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::encode::Identity;
    use super::*;
    use crate::event::{Event, Outcome, Timestamp};
    use crate::storage::MappedBytes;

    fn encoded(index: &MemoryIndex, identity: Identity) -> Vec<u8> {
        let mut out = Vec::new();
        encode_index_into(index, identity, &mut out);
        out
    }

    fn event(i: u32) -> Event<'static> {
        Event {
            timestamp: Timestamp(i64::from(i) * 1_000_000),
            actor_id: Cow::Owned(format!("usr_{}", i % 97)),
            actor_email: None,
            actor_kind: None,
            tenant_id: Cow::Owned(format!("org_{}", (i * 7) % 1000)),
            tenant_name: None,
            action: Cow::Owned(format!("a.b{}", i % 40)),
            resource_type: None,
            resource_id: None,
            outcome: Outcome::ALL[(i % 4) as usize],
            ip_address: None,
            user_agent: None,
            metadata: None,
            event_id: None,
        }
    }

    fn identity(records: u32) -> Identity {
        Identity {
            base_seq: 100,
            records,
            root: [7; 32],
        }
    }

    fn memory_index(n: u32) -> MemoryIndex {
        let mut memory = MemoryIndex::default();
        for i in 0..n {
            memory.push(&crate::codec::IndexFields::of(&event(i)));
        }
        memory
    }

    fn parsed(bytes: Vec<u8>, records: u32) -> SealedIndex {
        let path = std::path::Path::new("x.idx");
        SealedIndex::decode_from(path, MappedBytes::from_vec(bytes), identity(records)).unwrap()
    }

    fn fix_crc(bytes: &mut [u8]) {
        let body = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }

    /// The verdict of `verify`'s checks of an index file that need no record.
    fn verdict(index: &SealedIndex) -> Result<(), String> {
        let checker = index.checker().map_err(|(_, kind)| kind.to_string())?;
        checker
            .check_postings()
            .map_err(|(_, kind)| kind.to_string())
    }

    #[test]
    fn verify_passes_a_true_index_and_names_what_differs() {
        let n = 3_000;
        let index = parsed(encoded(&memory_index(n), identity(n)), n);
        assert_eq!(verdict(&index), Ok(()));
        let checker = index.checker().unwrap();
        for i in 0..n {
            let e = event(i);
            let fields = crate::codec::IndexFields::of(&e);
            assert_eq!(checker.check_record(100 + u64::from(i), &fields), Ok(()));
        }
        let e = event(5);
        let mut fields = crate::codec::IndexFields::of(&e);
        fields.actor_id = b"usr_other";
        let (at, kind) = checker.check_record(105, &fields).unwrap_err();
        assert!(kind.to_string().contains("record 105's actor"), "{kind}");
        assert!(at > 64 + 9 * u64::from(n), "in the actor column: {at}");
        fields = crate::codec::IndexFields::of(&e);
        fields.outcome = 3 - fields.outcome;
        assert_eq!(
            checker.check_record(105, &fields).unwrap_err().0,
            64 + 8 * 3_000 + 5
        );
        assert!(checker.check_record(100 + u64::from(n), &fields).is_err());
        assert!(checker.check_record(99, &fields).is_err());
    }

    #[test]
    fn verify_refuses_an_index_not_encoded_as_a_rebuild_would_be() {
        let n = 500;
        // A dictionary value no record has.
        let mut memory = memory_index(n);
        let actions = &mut memory.keys[Field::Action.slot()];
        actions.names.push(b"zz.unused".to_vec().into_boxed_slice());
        actions.postings.push(Vec::new());
        let verdict_of = |memory: &MemoryIndex| verdict(&parsed(encoded(memory, identity(n)), n));
        let why = verdict_of(&memory).unwrap_err();
        assert!(why.contains("no record has this value"), "{why}");
        // A value twice in the dictionary, each with records of its own.
        let mut memory = memory_index(n);
        let actions = &mut memory.keys[Field::Action.slot()];
        let first = actions.column[0] as usize;
        actions.names.push(actions.names[first].clone());
        actions.postings[first].retain(|&r| r != 0);
        actions.postings.push(vec![0]);
        actions.column[0] = actions.names.len() as u32 - 1;
        let why = verdict_of(&memory).unwrap_err();
        assert!(why.contains("out of byte order"), "{why}");
        // Postings that do not say what the ordinal column says.
        let mut bytes = encoded(&memory_index(n), identity(n));
        let last = bytes.len() - 5;
        bytes[last] ^= 0x01;
        fix_crc(&mut bytes);
        let index = parsed(bytes, n);
        let (at, kind) = index.checker().unwrap().check_postings().unwrap_err();
        assert!(at <= last as u64, "{at} at or before {last}");
        assert!(kind.to_string().contains("postings of action"), "{kind}");
    }

    #[test]
    fn encoded_index_reads_back_like_the_memory_one() {
        let mut memory = MemoryIndex::default();
        let n = 20_000;
        for i in 0..n {
            memory.push(&crate::codec::IndexFields::of(&event(i)));
        }
        let identity = Identity {
            base_seq: 5,
            records: n,
            root: [3; 32],
        };
        let bytes = encoded(&memory, identity);
        let sealed = SealedIndex::decode_from(
            std::path::Path::new("x.idx"),
            MappedBytes::from_vec(bytes),
            identity,
        )
        .unwrap();
        let view = MemoryView {
            index: &memory,
            records: n,
        };
        assert_eq!(sealed.records(), n);
        for field in Field::ALL {
            assert_eq!(sealed.key_count(field), view.key_count(field));
            for ordinal in 0..view.key_count(field) {
                let key = view.key(field, ordinal).unwrap();
                let found = sealed.find(field, key).unwrap();
                assert_eq!(sealed.key(field, found), Some(key));
                let (mut a, mut b) = (Vec::new(), Vec::new());
                view.postings(field, ordinal, &mut a).unwrap();
                sealed.postings(field, found, &mut b).unwrap();
                assert_eq!(a, b, "{field:?} {key}");
                assert_eq!(sealed.postings_len(field, found) as usize, b.len());
            }
            assert_eq!(sealed.find(field, "absent"), None);
        }
        for i in (0..n).step_by(13) {
            assert_eq!(sealed.timestamp(i), view.timestamp(i));
            assert_eq!(sealed.outcome(i), view.outcome(i));
            for field in Field::ALL {
                let (s, m) = (sealed.ordinal(field, i), view.ordinal(field, i));
                assert_eq!(sealed.key(field, s), view.key(field, m));
            }
        }
    }
}
