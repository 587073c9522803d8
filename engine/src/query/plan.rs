//! Planning one segment's part of a query: resolve the filter's values to the segment's
//! dictionary ordinals (a value the segment lacks rules it out), then pick how to find
//! candidates: walk the shortest postings list, or scan the columns when that is cheaper
//! (dense matches, or a small page wanted from a busy segment). Every candidate is then
//! checked against the columns of the other filters.

use std::ops::Range;

use super::Order;
use super::filter::Filter;
use crate::error::Result;
use crate::index::{Field, IndexRead};

/// How one segment was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Its time bounds miss the query's range: neither index nor records were read.
    SkippedByTime,
    /// Its records are all on the far side of the cursor.
    SkippedByCursor,
    /// Its dictionary lacks a value the filter requires.
    AbsentValue(&'static str),
    /// Candidates came from the postings of `lists` values of `field`, `entries` in all.
    Postings {
        /// The field whose postings drove the search.
        field: &'static str,
        /// Postings lists merged.
        lists: usize,
        /// Entries in them.
        entries: u64,
    },
    /// Candidates came from scanning the index columns.
    Scan,
}

/// The filter's values as one segment's ordinals.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    tenant: Option<u32>,
    actor: Option<u32>,
    /// The action ordinals matching some pattern (`None`: no action filter).
    actions: Option<Vec<u32>>,
    /// The same, as a lookup table by ordinal.
    action_set: Vec<bool>,
    outcome_mask: u8,
    check_time: bool,
}

/// Resolves `filter` against `index`; `Err` names the field whose value is absent.
/// `covers_time` says the segment's time bounds lie inside the filter's range, so no
/// record needs its timestamp checked.
pub(crate) fn resolve<I: IndexRead + ?Sized>(
    index: &I,
    filter: &Filter,
    covers_time: bool,
) -> std::result::Result<Resolved, &'static str> {
    let find = |field: Field, value: &Option<String>| match value {
        None => Ok(None),
        Some(v) => index.find(field, v).map(Some).ok_or(field.name()),
    };
    let tenant = find(Field::Tenant, &filter.tenant)?;
    let actor = find(Field::Actor, &filter.actor)?;
    let (actions, action_set) = if filter.actions.is_empty() {
        (None, Vec::new())
    } else {
        let count = index.key_count(Field::Action);
        let mut set = vec![false; count as usize];
        let mut ordinals = Vec::new();
        for ordinal in 0..count {
            let hit = index
                .key(Field::Action, ordinal)
                .is_some_and(|a| filter.actions.iter().any(|p| p.matches(a)));
            if hit && index.postings_len(Field::Action, ordinal) > 0 {
                ordinals.push(ordinal);
                if let Some(slot) = set.get_mut(ordinal as usize) {
                    *slot = true;
                }
            }
        }
        if ordinals.is_empty() {
            return Err(Field::Action.name());
        }
        (Some(ordinals), set)
    };
    Ok(Resolved {
        tenant,
        actor,
        actions,
        action_set,
        outcome_mask: filter.outcome_mask(),
        check_time: !covers_time && (filter.time.from.is_some() || filter.time.to.is_some()),
    })
}

/// Finds the records of `range` (local numbers) that pass every column check, in
/// `order`, handing each to `hit` until it returns `false`. `want` is how many hits the
/// caller expects to need (for choosing the access path); returns the path and how many
/// candidates were examined.
pub(crate) fn search<I: IndexRead + ?Sized>(
    index: &I,
    filter: &Filter,
    r: &Resolved,
    range: Range<u32>,
    order: Order,
    want: Option<u64>,
    mut hit: impl FnMut(u32) -> bool,
) -> Result<(Access, u64)> {
    let span = u64::from(range.end.saturating_sub(range.start));
    // The shortest postings list a filter offers.
    let mut best: Option<(Field, u64)> = None;
    let mut consider = |field: Field, len: u64| {
        if best.is_none_or(|(_, b)| len < b) {
            best = Some((field, len));
        }
    };
    if let Some(t) = r.tenant {
        consider(Field::Tenant, index.postings_len(Field::Tenant, t).into());
    }
    if let Some(a) = r.actor {
        consider(Field::Actor, index.postings_len(Field::Actor, a).into());
    }
    if let Some(actions) = &r.actions {
        let total = actions
            .iter()
            .map(|&a| u64::from(index.postings_len(Field::Action, a)))
            .sum();
        consider(Field::Action, total);
    }
    let records = u64::from(index.records()).max(1);
    let use_postings = best.is_some_and(|(_, len)| {
        // Scanning finds `want` hits after about want × records / len rows.
        let scan_cost = match want {
            Some(w) => span.min(w.saturating_mul(records) / len.max(1)),
            None => span,
        };
        // Decoding a postings entry costs about as much as checking a row.
        len < scan_cost
    });
    let mut examined = 0u64;
    let mut check = |i: u32, skip: Option<Field>| -> bool {
        examined += 1;
        passes(index, filter, r, i, skip)
    };
    match best.filter(|_| use_postings) {
        Some((field, entries)) => {
            let mut list = Vec::new();
            let lists = match field {
                Field::Action => {
                    let ordinals = r.actions.as_deref().unwrap_or_default();
                    for &a in ordinals {
                        index.postings(Field::Action, a, &mut list)?;
                    }
                    if ordinals.len() > 1 {
                        list.sort_unstable();
                    }
                    ordinals.len()
                }
                Field::Tenant | Field::Actor => {
                    let ordinal = if field == Field::Tenant {
                        r.tenant
                    } else {
                        r.actor
                    };
                    index.postings(field, ordinal.unwrap_or(u32::MAX), &mut list)?;
                    1
                }
            };
            let lo = list.partition_point(|&i| i < range.start);
            let hi = list.partition_point(|&i| i < range.end);
            let slice = list.get(lo..hi).unwrap_or_default();
            let mut visit = |i: u32| !check(i, Some(field)) || hit(i);
            match order {
                Order::OldestFirst => {
                    let _ = slice.iter().all(|&i| visit(i));
                }
                Order::NewestFirst => {
                    let _ = slice.iter().rev().all(|&i| visit(i));
                }
            }
            let access = Access::Postings {
                field: field.name(),
                lists,
                entries,
            };
            Ok((access, examined))
        }
        None => {
            let mut visit = |i: u32| !check(i, None) || hit(i);
            match order {
                Order::OldestFirst => {
                    let _ = range.clone().all(&mut visit);
                }
                Order::NewestFirst => {
                    let _ = range.clone().rev().all(&mut visit);
                }
            }
            Ok((Access::Scan, examined))
        }
    }
}

/// Whether record `i` passes every column check (`skip`: the field whose postings
/// produced it, already known to match).
fn passes<I: IndexRead + ?Sized>(
    index: &I,
    filter: &Filter,
    r: &Resolved,
    i: u32,
    skip: Option<Field>,
) -> bool {
    let field_ok = |field: Field, want: Option<u32>| {
        skip == Some(field) || want.is_none_or(|w| index.ordinal(field, i) == w)
    };
    field_ok(Field::Tenant, r.tenant)
        && field_ok(Field::Actor, r.actor)
        && (skip == Some(Field::Action)
            || r.actions.is_none()
            || r.action_set
                .get(index.ordinal(Field::Action, i) as usize)
                .copied()
                .unwrap_or(false))
        && r.outcome_mask & (1u8 << (index.outcome(i) & 7)) != 0
        && (!r.check_time
            || filter
                .time
                .contains(crate::event::Timestamp(index.timestamp(i))))
}
