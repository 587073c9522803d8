//! Which actions the log holds, from the indexes alone: per action, how many events and
//! the newest one (sequence number and timestamp), over the whole log or one tenant. The
//! action catalog's coverage report (`crate::catalog`) is built on it.
//!
//! No record is read. Over all tenants a segment answers from its action dictionary
//! (postings lengths), less the `_system` tenant's records, and the newest record of each
//! action not yet seen in a newer segment is found walking the action column back from
//! the segment's end. For one tenant its postings are walked, reading each record's
//! action ordinal from the column: cost in proportion to the tenant's records, a few
//! nanoseconds each.

use std::collections::BTreeMap;

use super::Source;
use crate::error::Result;
use crate::event::Timestamp;
use crate::index::{Field, IndexRead, MemoryView};
use crate::log::Log;
use crate::system::SYSTEM_TENANT;

/// What the indexes say of one action's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionStat {
    /// The action.
    pub action: String,
    /// Its events (erased ones included: erasure keeps the record).
    pub events: u64,
    /// The sequence number of the newest (the last appended).
    pub last_seq: u64,
    /// That event's timestamp.
    pub last_seen: Timestamp,
}

impl Log {
    /// Every action the log's events have, with its count and newest event: over every
    /// tenant but `_system` (the log's own events), or over `tenant`'s alone. In action
    /// order.
    pub fn action_stats(&self, tenant: Option<&str>) -> Result<Vec<ActionStat>> {
        let mut stats = BTreeMap::new();
        // Newest first: the first segment to hold an action holds its newest event.
        for source in self.sources().iter().rev() {
            match source {
                Source::Sealed(segment) => {
                    let (index, _) = self.sealed_index(segment)?;
                    tally(index.as_ref(), segment.base(), tenant, &mut stats)?;
                }
                Source::Active(active) => {
                    let guard = active.index.read();
                    let view = MemoryView {
                        index: &guard,
                        records: active.records,
                    };
                    tally(&view, active.base_seq, tenant, &mut stats)?;
                }
            }
        }
        Ok(stats.into_values().collect())
    }
}

/// Adds one segment's actions (its first record is `base`) to `stats`, which holds those
/// of the newer segments.
fn tally<I: IndexRead + ?Sized>(
    index: &I,
    base: u64,
    tenant: Option<&str>,
    stats: &mut BTreeMap<String, ActionStat>,
) -> Result<()> {
    let actions = index.key_count(Field::Action) as usize;
    let mut counts = vec![0u64; actions];
    let mut newest: Vec<Option<u32>> = vec![None; actions];
    let mut records = Vec::new();
    let action_of = |i: u32| index.ordinal(Field::Action, i) as usize;
    match tenant {
        Some(tenant) => {
            let Some(ordinal) = index.find(Field::Tenant, tenant) else {
                return Ok(());
            };
            index.postings(Field::Tenant, ordinal, &mut records)?;
            for &i in &records {
                let a = action_of(i);
                if let Some(count) = counts.get_mut(a) {
                    *count += 1;
                    newest[a] = Some(i);
                }
            }
        }
        None => {
            for (a, count) in counts.iter_mut().enumerate() {
                *count = u64::from(index.postings_len(Field::Action, a as u32));
            }
            let system = index.find(Field::Tenant, SYSTEM_TENANT);
            if let Some(system) = system {
                index.postings(Field::Tenant, system, &mut records)?;
                for &i in &records {
                    if let Some(count) = counts.get_mut(action_of(i)) {
                        *count = count.saturating_sub(1);
                    }
                }
            }
            let known = |a: usize| {
                index
                    .key(Field::Action, a as u32)
                    .is_some_and(|name| stats.contains_key(name))
            };
            let mut wanted = (0..actions).filter(|&a| counts[a] > 0 && !known(a)).count();
            let mut i = index.records();
            while wanted > 0 && i > 0 {
                i -= 1;
                if system.is_some() && system == Some(index.ordinal(Field::Tenant, i)) {
                    continue;
                }
                let a = action_of(i);
                if counts.get(a).is_some_and(|&c| c > 0) && newest[a].is_none() && !known(a) {
                    newest[a] = Some(i);
                    wanted -= 1;
                }
            }
        }
    }
    for (a, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let Some(name) = index.key(Field::Action, a as u32) else {
            continue;
        };
        if let Some(stat) = stats.get_mut(name) {
            stat.events += count;
        } else if let Some(i) = newest[a] {
            stats.insert(
                name.to_owned(),
                ActionStat {
                    action: name.to_owned(),
                    events: count,
                    last_seq: base + u64::from(i),
                    last_seen: Timestamp(index.timestamp(i)),
                },
            );
        }
    }
    Ok(())
}
