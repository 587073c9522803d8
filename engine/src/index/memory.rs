//! The index of the active segment, in memory: one entry per committed record, appended
//! by the sync stage before it publishes the records to readers, and rebuilt from the
//! records when the log is opened.

use std::collections::HashMap;

use super::{Field, IndexRead};
use crate::codec::IndexFields;
use crate::error::Result;

type Map = HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>;

/// One indexed field: its distinct values in first-seen order, each value's records, and
/// each record's value.
#[derive(Debug, Default)]
pub(crate) struct KeyColumn {
    ids: Map,
    pub(crate) names: Vec<Box<[u8]>>,
    pub(crate) postings: Vec<Vec<u32>>,
    pub(crate) column: Vec<u32>,
}

impl KeyColumn {
    fn push(&mut self, key: &[u8], record: u32) {
        let id = match self.ids.get(key) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.ids.insert(key.into(), id);
                self.names.push(key.into());
                self.postings.push(Vec::new());
                id
            }
        };
        if let Some(list) = self.postings.get_mut(id as usize) {
            list.push(record);
        }
        self.column.push(id);
    }
}

/// The index of a segment being written.
#[derive(Debug, Default)]
pub(crate) struct MemoryIndex {
    pub(crate) timestamps: Vec<i64>,
    pub(crate) outcomes: Vec<u8>,
    pub(crate) keys: [KeyColumn; 3],
}

impl MemoryIndex {
    /// Records indexed.
    pub(crate) fn len(&self) -> u32 {
        self.timestamps.len() as u32
    }

    /// Indexes the next record.
    pub(crate) fn push(&mut self, fields: &IndexFields<'_>) {
        let record = self.len();
        self.timestamps.push(fields.timestamp.0);
        self.outcomes.push(fields.outcome);
        for (field, key) in [
            (Field::Tenant, fields.tenant_id),
            (Field::Actor, fields.actor_id),
            (Field::Action, fields.action),
        ] {
            if let Some(column) = self.keys.get_mut(field.slot()) {
                column.push(key, record);
            }
        }
    }

    /// Indexes the next record as one with no values (see the sync stage).
    pub(crate) fn push_blank(&mut self) {
        let record = self.len();
        self.timestamps.push(i64::MIN);
        self.outcomes.push(0);
        for column in &mut self.keys {
            column.push(b"", record);
        }
    }

    fn column(&self, field: Field) -> Option<&KeyColumn> {
        self.keys.get(field.slot())
    }
}

/// A reader's view of a [`MemoryIndex`]: the first `records` entries, those of the
/// records published when the reader looked (the index may already hold more).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryView<'a> {
    pub(crate) index: &'a MemoryIndex,
    pub(crate) records: u32,
}

impl IndexRead for MemoryView<'_> {
    fn records(&self) -> u32 {
        self.records.min(self.index.len())
    }

    fn timestamp(&self, i: u32) -> i64 {
        self.index
            .timestamps
            .get(i as usize)
            .copied()
            .unwrap_or_default()
    }

    fn outcome(&self, i: u32) -> u8 {
        self.index
            .outcomes
            .get(i as usize)
            .copied()
            .unwrap_or_default()
    }

    fn ordinal(&self, field: Field, i: u32) -> u32 {
        self.index
            .column(field)
            .and_then(|c| c.column.get(i as usize).copied())
            .unwrap_or(u32::MAX)
    }

    fn key_count(&self, field: Field) -> u32 {
        self.index.column(field).map_or(0, |c| c.names.len() as u32)
    }

    fn find(&self, field: Field, key: &str) -> Option<u32> {
        let id = *self.index.column(field)?.ids.get(key.as_bytes())?;
        // A value first seen after the view's records is not in the view.
        (self.postings_len(field, id) > 0).then_some(id)
    }

    fn key(&self, field: Field, ordinal: u32) -> Option<&str> {
        let name = self.index.column(field)?.names.get(ordinal as usize)?;
        std::str::from_utf8(name).ok()
    }

    fn postings_len(&self, field: Field, ordinal: u32) -> u32 {
        let Some(list) = self
            .index
            .column(field)
            .and_then(|c| c.postings.get(ordinal as usize))
        else {
            return 0;
        };
        list.partition_point(|&r| r < self.records()) as u32
    }

    fn postings(&self, field: Field, ordinal: u32, out: &mut Vec<u32>) -> Result<()> {
        let len = self.postings_len(field, ordinal) as usize;
        if let Some(list) = self
            .index
            .column(field)
            .and_then(|c| c.postings.get(ordinal as usize))
        {
            out.extend_from_slice(list.get(..len).unwrap_or_default());
        }
        Ok(())
    }
}
