//! Legal holds by tenant: placed and lifted as events of the `_system` tenant (actions
//! [`HOLD_PLACE`] and [`HOLD_LIFT`], the tenant held named as the resource), so the
//! holds in force are read back from the log itself: tamper-evident like every event, and
//! their whole history is in the log. A deletion past retention is to leave every segment
//! holding an event of a tenant under hold (docs/OPERATIONS.md, "Retention, legal holds
//! and S3 Object Lock").

use crate::error::{Error, Result};
use crate::event::Timestamp;
use crate::log::Log;
use crate::query::{ActionPattern, Filter, Order, Query};
use crate::system::{SYSTEM_TENANT, SystemActor, SystemEvent};
use crate::writer::Ack;

/// The action of placing a hold.
pub const HOLD_PLACE: &str = "auditlog.hold.place";
/// The action of lifting one.
pub const HOLD_LIFT: &str = "auditlog.hold.lift";
/// The resource type naming the tenant held.
const RESOURCE: &str = "tenant";

/// A hold in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    /// The tenant held: none of its events may be deleted.
    pub tenant: String,
    /// When it was placed.
    pub placed_at: Timestamp,
    /// The sequence number of the event that placed it.
    pub seq: u64,
    /// Why, as given.
    pub reason: String,
}

impl Log {
    /// The legal holds in force, by tenant: the `_system` tenant's hold events, in order.
    pub fn legal_holds(&self) -> Result<Vec<LegalHold>> {
        let query = Query {
            filter: Filter {
                tenant: Some(SYSTEM_TENANT.to_owned()),
                actions: vec![ActionPattern::Prefix("auditlog.hold.".to_owned())],
                ..Filter::default()
            },
            order: Order::OldestFirst,
            limit: None,
            cursor: None,
        };
        let mut holds: std::collections::BTreeMap<String, LegalHold> = Default::default();
        self.query(&query, |seq, event| {
            let Some(tenant) = event.resource_id.as_deref() else {
                return Ok(true);
            };
            if event.resource_type.as_deref() != Some(RESOURCE) {
                return Ok(true);
            }
            match event.action.as_ref() {
                HOLD_PLACE => {
                    let reason = event
                        .metadata
                        .as_deref()
                        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                        .and_then(|m| m["reason"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let hold = LegalHold {
                        tenant: tenant.to_owned(),
                        placed_at: event.timestamp,
                        seq,
                        reason,
                    };
                    holds.entry(tenant.to_owned()).or_insert(hold);
                }
                HOLD_LIFT => {
                    holds.remove(tenant);
                }
                _ => {}
            }
            Ok(true)
        })?;
        Ok(holds.into_values().collect())
    }

    /// Places a legal hold on `tenant`'s events, recorded (with `reason`) in the `_system`
    /// tenant. A tenant already held is refused, naming when.
    pub fn place_hold(&self, actor: SystemActor<'_>, tenant: &str, reason: &str) -> Result<Ack> {
        // Not while a deletion past retention runs: it read the holds in force when it
        // began, and a hold answered placed must hold.
        self.with_deletions_held(|| {
            if let Some(held) = self.legal_holds()?.into_iter().find(|h| h.tenant == tenant) {
                return Err(Error::InvalidArgument(format!(
                    "tenant {tenant:?} is under a legal hold since {} (event {})",
                    held.placed_at, held.seq
                )));
            }
            self.record_hold(actor, HOLD_PLACE, tenant, reason)
        })
    }

    /// Lifts the legal hold on `tenant`, recorded (with `reason`) in the `_system` tenant.
    /// A tenant not held is refused.
    pub fn lift_hold(&self, actor: SystemActor<'_>, tenant: &str, reason: &str) -> Result<Ack> {
        self.with_deletions_held(|| {
            if !self.legal_holds()?.iter().any(|h| h.tenant == tenant) {
                return Err(Error::InvalidArgument(format!(
                    "tenant {tenant:?} is under no legal hold"
                )));
            }
            self.record_hold(actor, HOLD_LIFT, tenant, reason)
        })
    }

    fn record_hold(
        &self,
        actor: SystemActor<'_>,
        action: &'static str,
        tenant: &str,
        reason: &str,
    ) -> Result<Ack> {
        if tenant.is_empty() {
            return Err(Error::InvalidArgument("a legal hold names a tenant".into()));
        }
        self.record_system(&SystemEvent {
            actor,
            action,
            resource: Some((RESOURCE, tenant.to_owned())),
            details: serde_json::json!({ "reason": reason }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogConfig;

    #[test]
    fn holds_are_placed_lifted_and_read_back_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::create(dir.path(), &LogConfig::default()).unwrap();
        assert_eq!(log.legal_holds().unwrap(), vec![]);
        log.place_hold(SystemActor::Cli, "org_a", "litigation 42")
            .unwrap();
        log.place_hold(SystemActor::Cli, "org_b", "").unwrap();
        let again = log.place_hold(SystemActor::Cli, "org_a", "twice");
        assert!(matches!(again, Err(Error::InvalidArgument(m)) if m.contains("since")));
        log.lift_hold(SystemActor::Cli, "org_b", "settled").unwrap();
        assert!(log.lift_hold(SystemActor::Cli, "org_b", "again").is_err());
        assert!(log.place_hold(SystemActor::Cli, "", "none").is_err());
        let holds = log.legal_holds().unwrap();
        assert_eq!(holds.len(), 1);
        assert_eq!(holds[0].tenant, "org_a");
        assert_eq!(holds[0].reason, "litigation 42");
        assert_eq!(holds[0].seq, 0);
        // Read back after a reopen, from the log itself.
        drop(log);
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(log.legal_holds().unwrap(), holds);
        // Placed again after a lift: the newest placing counts.
        log.place_hold(SystemActor::Cli, "org_b", "reopened")
            .unwrap();
        let holds = log.legal_holds().unwrap();
        assert_eq!(
            holds.iter().map(|h| h.tenant.as_str()).collect::<Vec<_>>(),
            ["org_a", "org_b"]
        );
        assert_eq!(holds[1].reason, "reopened");
    }
}
