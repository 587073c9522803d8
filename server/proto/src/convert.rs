//! Protocol messages to engine values and back (events, filters, orders, proofs), for
//! the server and for clients (the CLI's `--server` verbs and `bench-ingest`).
//! Conversion only: the engine validates events and runs queries.

use std::borrow::Cow;

use auditlog_engine::catalog::{ActionSpec, CatalogEntry, Coverage, OnInvalid};
use auditlog_engine::event::metadata_from_json;
use auditlog_engine::merkle::{ConsistencyProof, HashAlg, InclusionProof};
use auditlog_engine::query::{ActionPattern, Filter, Order};
use auditlog_engine::{Event, Log, Outcome, TimeRange, Timestamp};

use crate::v1 as pb;

/// A field of a request that does not convert: its path and why.
#[derive(Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// The engine's event for `e`, borrowing its strings (not yet validated: the caller
/// runs [`Event::validate`]).
pub fn event_from_proto(e: &pb::Event) -> Result<Event<'_>, FieldError> {
    let bad = |field, message: String| FieldError { field, message };
    let timestamp = Timestamp::parse(&e.timestamp).map_err(|m| bad("timestamp", m))?;
    let outcome = outcome_from_proto(e.outcome).ok_or_else(|| {
        bad(
            "outcome",
            "is required: success, failure, denied or error".to_owned(),
        )
    })?;
    let metadata = e
        .metadata_json
        .as_deref()
        .map(metadata_from_json)
        .transpose()
        .map_err(|m| bad("metadata_json", m.to_string()))?;
    fn text(s: &str) -> Cow<'_, str> {
        Cow::Borrowed(s)
    }
    fn opt(s: &Option<String>) -> Option<Cow<'_, str>> {
        s.as_deref().map(Cow::Borrowed)
    }
    let actor = e.actor.as_ref();
    let organization = e.organization.as_ref();
    Ok(Event {
        timestamp,
        actor_id: text(actor.map_or("", |a| &a.user_id)),
        actor_email: actor.and_then(|a| opt(&a.email)),
        actor_kind: actor.and_then(|a| opt(&a.kind)),
        tenant_id: text(organization.map_or("", |o| &o.id)),
        tenant_name: organization.and_then(|o| opt(&o.name)),
        action: text(&e.action),
        resource_type: e.resource.as_ref().map(|r| text(&r.r#type)),
        resource_id: e.resource.as_ref().map(|r| text(&r.id)),
        outcome,
        ip_address: opt(&e.ip_address),
        user_agent: opt(&e.user_agent),
        metadata: metadata.map(Cow::Borrowed),
        event_id: opt(&e.event_id),
    })
}

/// The engine's outcome for a protocol enum value (`None`: unspecified or unknown).
pub fn outcome_from_proto(value: i32) -> Option<Outcome> {
    match pb::Outcome::try_from(value).ok()? {
        pb::Outcome::Success => Some(Outcome::Success),
        pb::Outcome::Failure => Some(Outcome::Failure),
        pb::Outcome::Denied => Some(Outcome::Denied),
        pb::Outcome::Error => Some(Outcome::Error),
        pb::Outcome::Unspecified => None,
    }
}

/// The protocol enum value of an outcome.
pub fn outcome_to_proto(outcome: Outcome) -> pb::Outcome {
    match outcome {
        Outcome::Success => pb::Outcome::Success,
        Outcome::Failure => pb::Outcome::Failure,
        Outcome::Denied => pb::Outcome::Denied,
        Outcome::Error => pb::Outcome::Error,
    }
}

/// The protocol's form of event `e`.
pub fn event_to_proto(e: &Event<'_>) -> pb::Event {
    let owned = |s: &Option<Cow<'_, str>>| s.as_deref().map(str::to_owned);
    let outcome = outcome_to_proto(e.outcome);
    let resource = match (&e.resource_type, &e.resource_id) {
        (Some(kind), Some(id)) => Some(pb::Resource {
            r#type: kind.to_string(),
            id: id.to_string(),
        }),
        _ => None,
    };
    pb::Event {
        timestamp: e.timestamp.to_rfc3339(),
        actor: Some(pb::Actor {
            user_id: e.actor_id.to_string(),
            email: owned(&e.actor_email),
            kind: owned(&e.actor_kind),
        }),
        organization: Some(pb::Organization {
            id: e.tenant_id.to_string(),
            name: owned(&e.tenant_name),
        }),
        action: e.action.to_string(),
        resource,
        outcome: outcome.into(),
        ip_address: owned(&e.ip_address),
        user_agent: owned(&e.user_agent),
        metadata_json: owned(&e.metadata),
        event_id: owned(&e.event_id),
    }
}

/// The engine's filter for a request's (absent fields do not filter). Its `email` is
/// left to the caller: only a log with its blind index can resolve it.
pub fn filter_from_proto(f: pb::Filter) -> Result<Filter, FieldError> {
    let bad = |field, message: String| FieldError { field, message };
    let actions = f
        .actions
        .iter()
        .map(|a| ActionPattern::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| bad("filter.actions", m))?;
    let outcomes = f
        .outcomes
        .iter()
        .map(|&o| {
            outcome_from_proto(o)
                .ok_or_else(|| bad("filter.outcomes", "unknown outcome".to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time = |field, text: Option<String>| {
        text.map(|t| Timestamp::parse(&t).map_err(|m| bad(field, m)))
            .transpose()
    };
    Ok(Filter {
        tenant: f.tenant,
        actor: f.actor,
        actions,
        outcomes,
        resource_type: f.resource_type,
        resource_id: f.resource_id,
        time: TimeRange {
            from: time("filter.from", f.from)?,
            to: time("filter.to", f.to)?,
        },
        seqs: Filter::seqs_between(f.from_seq, f.to_seq),
    })
}

/// The protocol's form of filter `f`: what [`filter_from_proto`] turns back into `f`.
pub fn filter_to_proto(f: &Filter) -> pb::Filter {
    let (from_seq, to_seq) = match &f.seqs {
        None => (None, None),
        Some(range) => (
            Some(range.start).filter(|&s| s > 0),
            Some(range.end).filter(|&e| e < u64::MAX),
        ),
    };
    pb::Filter {
        tenant: f.tenant.clone(),
        actor: f.actor.clone(),
        actions: f.actions.iter().map(ActionPattern::to_string).collect(),
        outcomes: f
            .outcomes
            .iter()
            .map(|&o| outcome_to_proto(o).into())
            .collect(),
        resource_type: f.resource_type.clone(),
        resource_id: f.resource_id.clone(),
        from: f.time.from.map(|t| t.to_rfc3339()),
        to: f.time.to.map(|t| t.to_rfc3339()),
        from_seq,
        to_seq,
        email: None,
    }
}

/// The engine's order for a protocol enum value (`None`: unknown).
pub fn order_from_proto(value: i32) -> Option<Order> {
    match pb::Order::try_from(value).ok()? {
        pb::Order::NewestFirst => Some(Order::NewestFirst),
        pb::Order::OldestFirst => Some(Order::OldestFirst),
    }
}

/// The protocol enum value of an order.
pub fn order_to_proto(order: Order) -> pb::Order {
    match order {
        Order::NewestFirst => pb::Order::NewestFirst,
        Order::OldestFirst => pb::Order::OldestFirst,
    }
}

fn hash_from_proto(name: &str) -> Result<HashAlg, FieldError> {
    HashAlg::from_name(name).ok_or_else(|| FieldError {
        field: "hash",
        message: format!("`{name}` is not a hash algorithm (blake3, sha256)"),
    })
}

/// The protocol's form of an inclusion proof (the same fields as its JSON).
pub fn inclusion_to_proto(p: InclusionProof) -> pb::InclusionProof {
    pb::InclusionProof {
        hash: p.hash.to_string(),
        tree_size: p.tree_size,
        leaf_index: p.leaf_index,
        leaf_hash: p.leaf_hash,
        path: p.path,
        root: p.root,
        record: Vec::new(),
    }
}

/// The engine's inclusion proof for a response's (checked by whoever verifies it).
pub fn inclusion_from_proto(p: pb::InclusionProof) -> Result<InclusionProof, FieldError> {
    Ok(InclusionProof {
        hash: hash_from_proto(&p.hash)?,
        tree_size: p.tree_size,
        leaf_index: p.leaf_index,
        leaf_hash: p.leaf_hash,
        path: p.path,
        root: p.root,
    })
}

/// The protocol's form of a consistency proof.
pub fn consistency_to_proto(p: ConsistencyProof) -> pb::ConsistencyProof {
    pb::ConsistencyProof {
        hash: p.hash.to_string(),
        size1: p.size1,
        size2: p.size2,
        root1: p.root1,
        root2: p.root2,
        path: p.path,
    }
}

/// The engine's consistency proof for a response's.
pub fn consistency_from_proto(p: pb::ConsistencyProof) -> Result<ConsistencyProof, FieldError> {
    Ok(ConsistencyProof {
        hash: hash_from_proto(&p.hash)?,
        size1: p.size1,
        size2: p.size2,
        root1: p.root1,
        root2: p.root2,
        path: p.path,
    })
}

/// A log at a glance, as `LogService.Info` answers and `auditlog info` prints it. The
/// checkpoint is read before the head, so the size it reports is never above the tree's.
pub fn log_info(log: &Log) -> pb::LogInfo {
    let config = log.config();
    let latest_checkpoint_size = log.latest_checkpoint().map(|c| c.checkpoint.tree_size);
    let (tree_size, root) = log.head();
    pb::LogInfo {
        tree_size,
        root: root.to_vec(),
        hash: config.hash.name().to_owned(),
        origin: config.origin.clone(),
        segments: log.segment_count() as u64,
        segment_bytes: config.segment_bytes,
        durability: config.durability.to_string(),
        checkpoint_interval_ms: u64::try_from(config.checkpoint_interval.as_millis())
            .unwrap_or(u64::MAX),
        latest_checkpoint_size,
    }
}

/// The catalog entry `a` defines (its `version`, `defined_at` and `seq` ignored).
pub fn spec_from_proto(a: pb::CatalogAction) -> Result<ActionSpec, FieldError> {
    let schema = match a.schema_json.trim() {
        "" => None,
        text => Some(serde_json::from_str(text).map_err(|e| FieldError {
            field: "schema_json",
            message: format!("not JSON: {e}"),
        })?),
    };
    let on_invalid = match a.on_invalid.as_str() {
        "" => OnInvalid::default(),
        name => OnInvalid::parse(name).ok_or_else(|| FieldError {
            field: "on_invalid",
            message: format!("`{name}` is neither `refuse` nor `flag`"),
        })?,
    };
    Ok(ActionSpec {
        action: a.action,
        description: a.description,
        schema,
        every_days: Some(a.every_days).filter(|&d| d > 0),
        on_invalid,
    })
}

/// `spec` on the wire, with the version and origin of `entry` when it is catalogued.
pub fn spec_to_proto(spec: &ActionSpec, entry: Option<&CatalogEntry>) -> pb::CatalogAction {
    pb::CatalogAction {
        action: spec.action.clone(),
        description: spec.description.clone(),
        schema_json: spec
            .schema
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        every_days: spec.every_days.unwrap_or(0),
        on_invalid: spec.on_invalid.name().to_owned(),
        version: entry.map_or(0, |e| e.version),
        defined_at: entry.map(|e| e.defined_at.to_rfc3339()).unwrap_or_default(),
        seq: entry.map_or(0, |e| e.seq),
    }
}

/// A catalog entry on the wire.
pub fn entry_to_proto(entry: &CatalogEntry) -> pb::CatalogAction {
    spec_to_proto(&entry.spec, Some(entry))
}

/// A coverage report on the wire.
pub fn coverage_to_proto(report: &Coverage) -> pb::CoverageResponse {
    pb::CoverageResponse {
        at: report.at.to_rfc3339(),
        actions: report
            .actions
            .iter()
            .map(|a| pb::ActionCoverage {
                action: a.action.clone(),
                status: a.status.name().to_owned(),
                every_days: a.every_days.unwrap_or(0),
                events: a.events,
                last_seen: a.last_seen.map(|(t, _)| t.to_rfc3339()).unwrap_or_default(),
                last_seq: a.last_seen.map_or(0, |(_, seq)| seq),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_survives_the_protocol_unchanged() {
        let full = Filter {
            tenant: Some("org_a".into()),
            actor: Some("usr_1".into()),
            actions: vec![
                ActionPattern::parse("auth.login").unwrap(),
                ActionPattern::parse("permission.*").unwrap(),
            ],
            outcomes: vec![Outcome::Failure, Outcome::Denied],
            resource_type: Some("document".into()),
            resource_id: Some("doc_1".into()),
            time: TimeRange {
                from: Some(Timestamp::parse("2026-01-02T03:04:05.678901Z").unwrap()),
                to: Some(Timestamp::parse("2026-02-01T00:00:00Z").unwrap()),
            },
            seqs: Some(10..20),
        };
        let open_ended = [Some(0..20), Some(10..u64::MAX), None];
        for seqs in open_ended {
            let filter = Filter {
                seqs,
                ..full.clone()
            };
            let back = filter_from_proto(filter_to_proto(&filter)).unwrap();
            assert_eq!(back, filter);
        }
        let nothing = Filter::default();
        assert_eq!(
            filter_from_proto(filter_to_proto(&nothing)).unwrap(),
            nothing
        );
    }

    #[test]
    fn a_proof_with_an_unknown_hash_is_refused() {
        let proof = pb::InclusionProof {
            hash: "md5".into(),
            ..Default::default()
        };
        let refused = inclusion_from_proto(proof).unwrap_err();
        assert_eq!(refused.field, "hash");
    }
}
