//! The coverage report: the catalog beside what the indexes say was seen, over every
//! tenant or one. It names the gaps in instrumentation: catalogued actions never seen,
//! or not seen within their expectation, and actions seen that the catalog lacks.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::event::Timestamp;
use crate::log::Log;

/// A day, in microseconds.
const DAY: i64 = 86_400 * 1_000_000;

/// How an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CoverageStatus {
    /// Catalogued and never seen.
    NeverSeen,
    /// Catalogued, seen, but not within its `every_days`.
    NotSeenLately,
    /// Seen, and not catalogued.
    NotCatalogued,
    /// Catalogued and seen as expected.
    Seen,
}

impl CoverageStatus {
    /// Its name in reports: `never_seen`, `not_seen_lately`, `not_catalogued`, `seen`.
    pub fn name(self) -> &'static str {
        match self {
            CoverageStatus::NeverSeen => "never_seen",
            CoverageStatus::NotSeenLately => "not_seen_lately",
            CoverageStatus::NotCatalogued => "not_catalogued",
            CoverageStatus::Seen => "seen",
        }
    }

    /// Whether it is a gap (anything but [`CoverageStatus::Seen`]).
    pub fn is_gap(self) -> bool {
        self != CoverageStatus::Seen
    }
}

/// One action in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCoverage {
    /// The action.
    pub action: String,
    /// How it stands.
    pub status: CoverageStatus,
    /// Its expectation, if catalogued with one.
    pub every_days: Option<u32>,
    /// Its events in the log (in the tenant's, for a tenant's report).
    pub events: u64,
    /// The newest one's timestamp and sequence number, if any.
    pub last_seen: Option<(Timestamp, u64)>,
}

/// The coverage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The tenant reported on; `None` for every tenant (the `_system` tenant aside).
    pub tenant: Option<String>,
    /// When: the expectations are judged against it.
    pub at: Timestamp,
    /// Every catalogued action and every action seen: gaps first (by status), then by
    /// action.
    pub actions: Vec<ActionCoverage>,
}

impl Coverage {
    /// The entries that are gaps.
    pub fn gaps(&self) -> impl Iterator<Item = &ActionCoverage> {
        self.actions.iter().filter(|a| a.status.is_gap())
    }
}

impl Log {
    /// The coverage report over every tenant (`tenant` none) or one, judged at `now`:
    /// from the catalog and the indexes ([`Log::action_stats`]), no event read.
    pub fn coverage(&self, tenant: Option<&str>, now: Timestamp) -> Result<Coverage> {
        let catalog = self.catalog()?;
        let mut seen: BTreeMap<String, _> = self
            .action_stats(tenant)?
            .into_iter()
            .map(|s| (s.action.clone(), s))
            .collect();
        let mut actions = Vec::new();
        for entry in catalog.entries() {
            let spec = &entry.spec;
            let stat = seen.remove(&spec.action);
            let status = match (&stat, spec.every_days) {
                (None, _) => CoverageStatus::NeverSeen,
                (Some(s), Some(days))
                    if s.last_seen.0
                        < now.0.saturating_sub(i64::from(days).saturating_mul(DAY)) =>
                {
                    CoverageStatus::NotSeenLately
                }
                (Some(_), _) => CoverageStatus::Seen,
            };
            actions.push(ActionCoverage {
                action: spec.action.clone(),
                status,
                every_days: spec.every_days,
                events: stat.as_ref().map_or(0, |s| s.events),
                last_seen: stat.map(|s| (s.last_seen, s.last_seq)),
            });
        }
        actions.extend(seen.into_values().map(|s| ActionCoverage {
            action: s.action,
            status: CoverageStatus::NotCatalogued,
            every_days: None,
            events: s.events,
            last_seen: Some((s.last_seen, s.last_seq)),
        }));
        actions.sort_by(|a, b| (a.status, &a.action).cmp(&(b.status, &b.action)));
        Ok(Coverage {
            tenant: tenant.map(str::to_owned),
            at: now,
            actions,
        })
    }
}
