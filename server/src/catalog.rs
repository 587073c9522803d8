//! The action catalog in the server (docs/CATALOG.md): its rules in force, swapped whole
//! when an admin changes the catalog, checked by every way in (gRPC ingest, HTTP ingest,
//! OTLP); and the events stored though they fail their schema (policy `flag`), recorded
//! as `_system` events before the request is answered.

use std::sync::Arc;

use auditlog_catalog::{Rules, Violation};
use auditlog_engine::catalog::{Flag, OnInvalid};
use auditlog_engine::system::SystemActor;
use auditlog_engine::{Ack, Event, Log};
use parking_lot::{Mutex, RwLock};
use tonic::Status;

use crate::State;
use crate::metrics::ServerMetrics;
use crate::status::invalid_field;

/// The catalog's compiled rules in force.
#[derive(Debug)]
pub(crate) struct CatalogRules {
    rules: RwLock<Arc<Rules>>,
    /// Held while the catalog changes and its rules are compiled again, so the rules
    /// installed last are the newest catalog's.
    changing: Mutex<()>,
}

impl CatalogRules {
    /// The rules of `log`'s catalog. A stored schema that no longer compiles is left
    /// unchecked, and said on stderr.
    pub(crate) fn load(log: &Log) -> auditlog_engine::Result<CatalogRules> {
        Ok(CatalogRules {
            rules: RwLock::new(Arc::new(compiled(log)?)),
            changing: Mutex::new(()),
        })
    }

    /// The rules now: a request keeps the ones it started with.
    pub(crate) fn current(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read())
    }

    /// Makes a change to the catalog of `log` (blocking: it appends durably), then puts
    /// the new catalog's rules in force before returning.
    pub(crate) fn change<T>(
        &self,
        log: &Log,
        change: impl FnOnce() -> auditlog_engine::Result<T>,
    ) -> auditlog_engine::Result<T> {
        let _changing = self.changing.lock();
        let done = change()?;
        *self.rules.write() = Arc::new(compiled(log)?);
        Ok(done)
    }
}

fn compiled(log: &Log) -> auditlog_engine::Result<Rules> {
    let (rules, errors) = Rules::compile(&log.catalog()?);
    for error in errors {
        eprintln!("auditlogd: action catalog: {error}; its events are not checked");
    }
    Ok(rules)
}

/// An event to be stored though it fails its action's schema.
#[derive(Debug, Clone)]
pub(crate) struct Flagged {
    /// Its position in the request.
    pub(crate) index: usize,
    /// Its position in the batch handed to the writer (the request's, less the events
    /// refused before it).
    pub(crate) position: usize,
    pub(crate) tenant: String,
    pub(crate) action: String,
    /// The failing field as the request names it: `events[3].metadata.amount`.
    pub(crate) field: String,
    pub(crate) violation: Violation,
}

/// Checks `event` (the request's `index`th, to be the batch's `position`th; `metadata`
/// is how the request names its metadata, `events[3].metadata`) against `rules`:
/// refused under the policy `refuse`, to be flagged under `flag`.
pub(crate) fn check(
    rules: &Rules,
    metrics: &ServerMetrics,
    event: &Event<'_>,
    index: usize,
    position: usize,
    metadata: impl FnOnce() -> String,
) -> Result<Option<Flagged>, Status> {
    if rules.is_empty() {
        return Ok(None);
    }
    let Some(violation) = rules.check(&event.action, event.metadata.as_deref()) else {
        return Ok(None);
    };
    let mut field = metadata();
    if !violation.field.is_empty() {
        field = format!("{field}.{}", violation.field);
    }
    match violation.on_invalid {
        OnInvalid::Refuse => {
            metrics.schema_refused();
            Err(invalid_field(&field, &refusal(&event.action, &violation)))
        }
        OnInvalid::Flag => Ok(Some(Flagged {
            index,
            position,
            tenant: event.tenant_id.to_string(),
            action: event.action.to_string(),
            field,
            violation,
        })),
    }
}

/// Why an event is refused by its action's schema.
fn refusal(action: &str, violation: &Violation) -> String {
    format!(
        "fails the catalogued schema of {action} (version {}): {}",
        violation.version, violation.message
    )
}

/// Records `flagged` (events of the batch `ack` acknowledges) as `_system` events of
/// `key_id`, durably (blocking). A request retried with the same `event_id`s records
/// them again: a flag may be recorded twice. A failure to record (the log failing) is
/// said on stderr: the events are stored, and answered as stored.
pub(crate) fn record_flags(state: &State, key_id: &str, flagged: &[Flagged], ack: &Ack) {
    let seqs: Vec<u64> = ack.seqs().collect();
    let flags: Vec<Flag> = flagged
        .iter()
        .filter_map(|f| {
            Some(Flag {
                seq: *seqs.get(f.position)?,
                tenant: f.tenant.clone(),
                action: f.action.clone(),
                version: f.violation.version,
                field: f.violation.field.clone(),
                message: f.violation.message.clone(),
            })
        })
        .collect();
    if flags.is_empty() {
        return;
    }
    state.metrics.schema_flagged(flags.len() as u64);
    if let Err(e) = state.log.record_flags(SystemActor::Key(key_id), &flags) {
        eprintln!(
            "auditlogd: recording {} event(s) flagged by the action catalog failed: {e}",
            flags.len()
        );
    }
}
