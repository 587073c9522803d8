//! Tenant links: each record's link to its tenant's previous event, checked as the tenant
//! heads are advanced record by record (docs/FORMAT.md, "Tenant links").

use std::collections::HashMap;

use crate::codec::TenantLink;
use crate::heads::TenantHeads;

/// The tenant ids the verify workers met, numbered in the order they met them (not the
/// log's): each worker looks its chunk's tenants up once, so the thread that follows the
/// tenant heads handles a number per record, never a tenant id.
#[derive(Default)]
pub(super) struct Interner {
    numbers: parking_lot::RwLock<HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>>,
}

impl Interner {
    /// The number of each of `names`, numbering the new ones.
    pub(super) fn numbers(&self, names: &[&[u8]]) -> Vec<u32> {
        const NEW: u32 = u32::MAX;
        let mut out = Vec::with_capacity(names.len());
        {
            let known = self.numbers.read();
            out.extend(names.iter().map(|n| known.get(*n).copied().unwrap_or(NEW)));
        }
        if out.contains(&NEW) {
            let mut known = self.numbers.write();
            for (name, number) in names.iter().zip(&mut out) {
                if *number == NEW {
                    let next = known.len() as u32;
                    *number = *known.entry((*name).into()).or_insert(next);
                }
            }
        }
        out
    }
}

/// The tenants of one chunk of records, in the order of their first record in it, their
/// [`Interner`] numbers, and each record's tenant (an index into `names`) and link.
#[derive(Default)]
pub(super) struct ChunkTenants<'a> {
    pub(super) names: Vec<&'a [u8]>,
    pub(super) numbers: Vec<u32>,
    pub(super) records: Vec<(u32, TenantLink)>,
}

/// Advances `heads` over `records` (of `tenants`), the first at seq `first`, checking that
/// each linked record names its tenant's previous event. `head_ids` maps interner numbers
/// to numbers in `heads`, given as each tenant's first record is reached, so tenants are
/// numbered in the order of their first events.
pub(super) fn check_links(
    heads: &mut TenantHeads,
    first: u64,
    tenants: &ChunkTenants<'_>,
    records: &[(u32, TenantLink)],
    head_ids: &mut Vec<Option<u32>>,
) -> std::result::Result<(), (u64, String)> {
    for (seq, &(local, link)) in (first..).zip(records) {
        let (Some(&number), Some(name)) = (
            tenants.numbers.get(local as usize),
            tenants.names.get(local as usize),
        ) else {
            return Err((seq, "a verify thread lost a record's tenant".into()));
        };
        let number = number as usize;
        if head_ids.len() <= number {
            head_ids.resize(number + 1, None);
        }
        let id = *head_ids[number].get_or_insert_with(|| heads.id(name));
        let expected = heads.advance_id(id, seq);
        if link != TenantLink::Unlinked && link != expected {
            let says = |l: TenantLink| match l {
                TenantLink::Previous(p) => format!("event {p}"),
                _ => "none".to_owned(),
            };
            let name = String::from_utf8_lossy(name);
            return Err((
                seq,
                format!(
                    "record {seq}'s tenant link names {} as the previous event of `{name}`, \
                     but the records say {}",
                    says(link),
                    says(expected)
                ),
            ));
        }
    }
    Ok(())
}
