//! The action catalog: the actions a deployment expects its applications to record, each
//! with an optional JSON Schema for its metadata (versioned), what becomes of an event
//! that fails it, and how often it should be seen (docs/CATALOG.md).
//!
//! Like legal holds, the catalog is kept as events of the `_system` tenant
//! ([`CATALOG_DEFINE`] and [`CATALOG_REMOVE`], the action named as the resource) and read
//! back from the log: tamper-evident, with every version of every schema in its history.
//! The engine keeps schemas as given; compiling them and checking events is the
//! servers' (crate `auditlog-catalog`). [`Log::coverage`] compares the catalog with what
//! the indexes say was seen.

mod coverage;

pub use coverage::{ActionCoverage, Coverage, CoverageStatus};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::{Timestamp, check_action, limits};
use crate::log::Log;
use crate::query::{ActionPattern, Filter, Order, Query};
use crate::system::{SYSTEM_TENANT, SystemActor, SystemEvent};
use crate::writer::Ack;

/// The action of defining (or redefining) a catalogued action.
pub const CATALOG_DEFINE: &str = "auditlog.catalog.define";
/// The action of removing one from the catalog.
pub const CATALOG_REMOVE: &str = "auditlog.catalog.remove";
/// The action recording an event accepted though it failed its action's schema.
pub const CATALOG_FLAG: &str = "auditlog.catalog.flag";
/// The resource type naming the catalogued action.
const ACTION_RESOURCE: &str = "action";
/// The resource type naming the flagged event (by sequence number).
const EVENT_RESOURCE: &str = "event";
/// The longest expectation: a century.
pub const MAX_EVERY_DAYS: u32 = 36_500;
/// The longest description kept.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// What becomes of an event whose metadata fails its action's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Refused, the failing field named.
    #[default]
    Refuse,
    /// Stored, and flagged by a [`CATALOG_FLAG`] event.
    Flag,
}

impl OnInvalid {
    /// Its name in the catalog's JSON: `refuse` or `flag`.
    pub fn name(self) -> &'static str {
        match self {
            OnInvalid::Refuse => "refuse",
            OnInvalid::Flag => "flag",
        }
    }

    /// The policy named `name`.
    pub fn parse(name: &str) -> Option<OnInvalid> {
        match name {
            "refuse" => Some(OnInvalid::Refuse),
            "flag" => Some(OnInvalid::Flag),
            _ => None,
        }
    }
}

/// What is expected of one action, as an operator writes it (one entry of a catalog
/// file).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// The action, dotted (`invoice.refund`).
    pub action: String,
    /// What it records, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A JSON Schema (draft 2020-12 unless it says otherwise) the events' `metadata`
    /// must meet; an event without metadata is checked as `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// It should be seen at least once every this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_days: Option<u32>,
    /// What becomes of an event that fails the schema.
    #[serde(default)]
    pub on_invalid: OnInvalid,
}

impl ActionSpec {
    /// Checks what the engine can: the action's form, the description's length, the
    /// expectation's range and that a schema is a JSON object or boolean (compiling it is
    /// the caller's).
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidArgument(why));
        if let Err(e) = check_action(&self.action) {
            return bad(format!("catalog entry: {e}"));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return bad(format!(
                "{}: the description is {} bytes long; the limit is {MAX_DESCRIPTION_BYTES}",
                self.action,
                self.description.len()
            ));
        }
        if self
            .every_days
            .is_some_and(|d| d == 0 || d > MAX_EVERY_DAYS)
        {
            return bad(format!(
                "{}: every_days is from 1 to {MAX_EVERY_DAYS}",
                self.action
            ));
        }
        if let Some(schema) = &self.schema
            && !(schema.is_object() || schema.is_boolean())
        {
            return bad(format!(
                "{}: a schema is a JSON object (or a boolean)",
                self.action
            ));
        }
        Ok(())
    }
}

/// A catalogued action as the catalog holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// As defined last.
    pub spec: ActionSpec,
    /// Its version: 1 for the first definition, one more for each that changed it (a
    /// removal and a definition again included).
    pub version: u32,
    /// When that version was defined.
    pub defined_at: Timestamp,
    /// The sequence number of the `_system` event that defined it.
    pub seq: u64,
}

/// The action catalog, as read back from the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    /// Every action's last version, removed ones included: versions never repeat.
    last_versions: BTreeMap<String, u32>,
    /// Every action's newest catalog event (definition or removal), by sequence number.
    newest_events: BTreeMap<String, u64>,
}

impl Catalog {
    /// The entry of `action`, if catalogued.
    pub fn get(&self, action: &str) -> Option<&CatalogEntry> {
        self.entries.get(action)
    }

    /// Every entry, in action order.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    /// How many actions are catalogued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A definition's details, as its `_system` event holds them (the action is the
/// resource).
#[derive(Debug, Serialize, Deserialize)]
struct Definition {
    version: u32,
    /// When this version was first defined, for a definition carried forward past
    /// retention (absent: the event's own time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    defined_at: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    every_days: Option<u32>,
    #[serde(default)]
    on_invalid: OnInvalid,
}

impl Definition {
    /// The `_system` event's details defining `spec` as `version` (first defined at
    /// `defined_at`, for one carried forward).
    fn details(
        spec: &ActionSpec,
        version: u32,
        defined_at: Option<Timestamp>,
    ) -> Result<serde_json::Value> {
        serde_json::to_value(Definition {
            version,
            defined_at: defined_at.map(|t| t.to_rfc3339()),
            description: spec.description.clone(),
            schema: spec.schema.clone(),
            every_days: spec.every_days,
            on_invalid: spec.on_invalid,
        })
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", spec.action)))
    }
}

/// What a definition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defined {
    /// The action's version now.
    pub version: u32,
    /// The sequence number of the `_system` event recording it; `None` when the
    /// definition was the catalogued one already (nothing recorded).
    pub seq: Option<u64>,
}

/// An event stored though its metadata failed its action's schema (the policy being
/// [`OnInvalid::Flag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The event's sequence number.
    pub seq: u64,
    /// Its tenant.
    pub tenant: String,
    /// Its action.
    pub action: String,
    /// The schema version it failed.
    pub version: u32,
    /// The failing field, in the metadata (`amount`, `items[2].sku`; empty for the
    /// whole).
    pub field: String,
    /// Why.
    pub message: String,
}

impl Log {
    /// The action catalog, read back from the `_system` tenant's events.
    pub fn catalog(&self) -> Result<Catalog> {
        let query = Query {
            filter: Filter {
                tenant: Some(SYSTEM_TENANT.to_owned()),
                actions: vec![
                    ActionPattern::Exact(CATALOG_DEFINE.to_owned()),
                    ActionPattern::Exact(CATALOG_REMOVE.to_owned()),
                ],
                ..Filter::default()
            },
            order: Order::OldestFirst,
            limit: None,
            cursor: None,
        };
        let mut catalog = Catalog::default();
        self.query(&query, |seq, event| {
            let Some(action) = event.resource_id.as_deref() else {
                return Ok(true);
            };
            if event.resource_type.as_deref() != Some(ACTION_RESOURCE) {
                return Ok(true);
            }
            match event.action.as_ref() {
                CATALOG_DEFINE => {
                    let details = event.metadata.as_deref().unwrap_or("{}");
                    // A definition this build cannot read (not one it wrote) is passed
                    // over rather than keep the log from opening its catalog.
                    let Ok(d) = serde_json::from_str::<Definition>(details) else {
                        return Ok(true);
                    };
                    catalog.newest_events.insert(action.to_owned(), seq);
                    catalog.last_versions.insert(action.to_owned(), d.version);
                    let defined_at = d
                        .defined_at
                        .as_deref()
                        .and_then(|t| Timestamp::parse(t).ok())
                        .unwrap_or(event.timestamp);
                    let spec = ActionSpec {
                        action: action.to_owned(),
                        description: d.description,
                        schema: d.schema,
                        every_days: d.every_days,
                        on_invalid: d.on_invalid,
                    };
                    let entry = CatalogEntry {
                        spec,
                        version: d.version,
                        defined_at,
                        seq,
                    };
                    catalog.entries.insert(action.to_owned(), entry);
                }
                CATALOG_REMOVE => {
                    catalog.entries.remove(action);
                    catalog.newest_events.insert(action.to_owned(), seq);
                    // A removal carried forward keeps the version count.
                    let version = event
                        .metadata
                        .as_deref()
                        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                        .and_then(|m| m["last_version"].as_u64())
                        .and_then(|v| u32::try_from(v).ok());
                    if let Some(version) = version {
                        let last = catalog.last_versions.entry(action.to_owned()).or_default();
                        *last = (*last).max(version);
                    }
                }
                _ => {}
            }
            Ok(true)
        })?;
        Ok(catalog)
    }

    /// Defines `spec.action` in the catalog, or redefines it (a new version), recorded
    /// durably as a `_system` event; a definition equal to the catalogued one records
    /// nothing. The schema is kept as given: compile it before (the engine does not).
    pub fn define_action(&self, actor: SystemActor<'_>, spec: &ActionSpec) -> Result<Defined> {
        spec.check()?;
        let _changing = self.shared.cataloguing.lock();
        let catalog = self.catalog()?;
        if let Some(entry) = catalog.get(&spec.action)
            && entry.spec == *spec
        {
            return Ok(Defined {
                version: entry.version,
                seq: None,
            });
        }
        let version = catalog
            .last_versions
            .get(&spec.action)
            .map_or(1, |v| v.saturating_add(1));
        let details = Definition::details(spec, version, None)?;
        let size = details.to_string().len();
        if size > limits::MAX_METADATA_BYTES {
            return Err(Error::InvalidArgument(format!(
                "{}: the definition is {size} bytes of JSON; the limit is {} (a schema that \
                 large belongs in fewer, shared definitions)",
                spec.action,
                limits::MAX_METADATA_BYTES
            )));
        }
        let ack = self.record_system(&SystemEvent {
            actor,
            action: CATALOG_DEFINE,
            resource: Some((ACTION_RESOURCE, spec.action.clone())),
            details,
        })?;
        Ok(Defined {
            version,
            seq: Some(ack.first_seq),
        })
    }

    /// Removes `action` from the catalog, recorded (with `reason`) as a `_system` event.
    /// An action not catalogued is refused.
    pub fn remove_action(&self, actor: SystemActor<'_>, action: &str, reason: &str) -> Result<Ack> {
        let _changing = self.shared.cataloguing.lock();
        if self.catalog()?.get(action).is_none() {
            return Err(Error::InvalidArgument(format!(
                "action {action:?} is not catalogued"
            )));
        }
        self.record_system(&SystemEvent {
            actor,
            action: CATALOG_REMOVE,
            resource: Some((ACTION_RESOURCE, action.to_owned())),
            details: serde_json::json!({ "reason": reason }),
        })
    }

    /// Records again, as new `_system` events, the catalog events a deletion of the
    /// records below `end` would take: each action's definition in force (same version,
    /// its first definition's time kept) or its removal (with its last version, so
    /// versions never repeat). A deletion past retention calls it before deleting, so
    /// the catalog outlives the segments it was defined in.
    pub(crate) fn carry_catalog_past(&self, actor: SystemActor<'_>, end: u64) -> Result<()> {
        let _changing = self.shared.cataloguing.lock();
        let catalog = self.catalog()?;
        let mut events = Vec::new();
        for (action, &seq) in &catalog.newest_events {
            if seq >= end {
                continue;
            }
            let resource = Some((ACTION_RESOURCE, action.clone()));
            let event = match catalog.get(action) {
                Some(entry) => {
                    let first = Some(entry.defined_at);
                    let details = Definition::details(&entry.spec, entry.version, first)?;
                    SystemEvent {
                        actor,
                        action: CATALOG_DEFINE,
                        resource,
                        details,
                    }
                }
                None => SystemEvent {
                    actor,
                    action: CATALOG_REMOVE,
                    resource,
                    details: serde_json::json!({
                        "reason": "carried forward past retention",
                        "last_version": catalog.last_versions.get(action).copied().unwrap_or(0),
                    }),
                },
            };
            events.push(event);
        }
        if !events.is_empty() {
            self.record_system_all(&events)?;
        }
        Ok(())
    }

    /// Records `flags` (events stored though they failed their schema) as `_system`
    /// events, one per event flagged, in one batch.
    pub fn record_flags(&self, actor: SystemActor<'_>, flags: &[Flag]) -> Result<Ack> {
        let events: Vec<SystemEvent<'_>> = flags
            .iter()
            .map(|flag| SystemEvent {
                actor,
                action: CATALOG_FLAG,
                resource: Some((EVENT_RESOURCE, flag.seq.to_string())),
                details: serde_json::json!({
                    "tenant": flag.tenant,
                    "action": flag.action,
                    "version": flag.version,
                    "field": flag.field,
                    "message": flag.message,
                }),
            })
            .collect();
        self.record_system_all(&events)
    }
}
