//! `GET /v1/reports`: a tenant's report for a period (docs/VIEWER.md, "Reports"), the
//! figures an auditor asks for in a SOC 2 review, computed from the tenant's events below
//! the newest checkpoint and attested by the log's key (`engine::report`): counts by
//! outcome, action and actor; privileged actions; denied and failed sign-ins; API keys
//! created and role changes; the tenant's subjects erased.
//!
//! The attestation signs the SHA-256 of the report's JSON as serde_json writes it
//! (compact, keys sorted): `auditlog verify-report` and the page recompute it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use auditlog_engine::event::RawEvent;
use auditlog_engine::query::{ActionPattern, Filter, Order, Query};
use auditlog_engine::{Outcome, TimeRange, Timestamp};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as Params, State as Shared};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, caller, time_range, whole_tenant};
use crate::State;
use crate::audit::SYSTEM_TENANT;
use crate::export::record_bulk_read;
use crate::status::{from_engine, invalid_field, task_failed};

/// The most actions, actors, erasures and events of a kind a report lists (the rest
/// counted).
const MAX_LISTED: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Counts of one report, filled event by event.
#[derive(Default)]
struct Tally {
    events: u64,
    by_outcome: BTreeMap<&'static str, u64>,
    by_action: BTreeMap<String, u64>,
    by_actor: BTreeMap<String, u64>,
    privileged: BTreeMap<String, u64>,
    sign_ins: BTreeMap<String, (u64, u64)>,
    api_keys: Vec<Value>,
    api_keys_total: u64,
    role_changes: Vec<Value>,
    role_changes_total: u64,
}

impl Tally {
    /// Counts event `seq`; a string that is not UTF-8 is damage of its record.
    fn add(
        &mut self,
        state: &State,
        seq: u64,
        e: &RawEvent<'_>,
        privileged: &[ActionPattern],
    ) -> auditlog_engine::Result<()> {
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|err| state.log.damaged_record(seq, err))
        };
        let (action, actor) = (text(e.action)?, text(e.actor_id)?);
        let resource_id = e.resource_id.map(text).transpose()?;
        self.events += 1;
        *self.by_outcome.entry(e.outcome.as_str()).or_default() += 1;
        *self.by_action.entry(action.clone()).or_default() += 1;
        *self.by_actor.entry(actor.clone()).or_default() += 1;
        if privileged.iter().any(|p| p.matches(&action)) {
            *self.privileged.entry(action.clone()).or_default() += 1;
        }
        let sign_in = action.rsplit('.').next() == Some("login");
        if sign_in && matches!(e.outcome, Outcome::Denied | Outcome::Failure) {
            let counts = self.sign_ins.entry(actor.clone()).or_default();
            match e.outcome {
                Outcome::Denied => counts.0 += 1,
                _ => counts.1 += 1,
            }
        }
        let listed = || {
            json!({
                "seq": seq,
                "timestamp": e.timestamp.to_rfc3339(),
                "actor": actor,
                "action": action,
                "outcome": e.outcome.as_str(),
                "resource_id": resource_id,
            })
        };
        if action == "api_key.create" {
            self.api_keys_total += 1;
            if self.api_keys.len() < MAX_LISTED {
                self.api_keys.push(listed());
            }
        }
        if action.starts_with("permission.role.") {
            self.role_changes_total += 1;
            if self.role_changes.len() < MAX_LISTED {
                self.role_changes.push(listed());
            }
        }
        Ok(())
    }
}

/// `(name, count)` pairs as `[{"name":…,"count":…}]`, the largest first, at most `max`.
fn ranked(counts: &BTreeMap<String, u64>, name: &str, max: usize) -> Value {
    let mut pairs: Vec<(&String, &u64)> = counts.iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    pairs
        .iter()
        .take(max)
        .map(|(n, c)| json!({ name: n, "count": c }))
        .collect()
}

/// `GET /v1/reports?tenant=&from=&to=`: `{"report":{…},"attestation":"<signed note>"}`.
pub(crate) async fn report(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<ReportParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Params(p) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    let asked = Filter {
        tenant: p.tenant.clone(),
        time: time_range(&p.from, &p.to)?,
        ..Filter::default()
    };
    let filter = whole_tenant(&caller, asked, "a report")?;
    crate::cluster::reads_here(&state, &filter).await?;
    let Some(tenant) = filter.tenant.clone() else {
        return Err(invalid_field("tenant", "a report is of one tenant: name it").into());
    };
    // A report reads every event of its tenant in the period: it counts as a read
    // stream against the caps, and is recorded as a bulk read.
    let slot = state.limits.open_stream(&caller.key)?;
    // The checkpoint the report counts below, taken before the read is recorded.
    let checkpoint = state.log.latest_checkpoint().ok_or_else(|| {
        Status::failed_precondition(
            "no checkpoint has been signed yet: a report is computed against one",
        )
    })?;
    let mut details = serde_json::Map::new();
    details.insert("api".to_owned(), "http".into());
    let recorded = Query {
        filter: filter.clone(),
        ..Query::default()
    };
    let resource = ("report", tenant.clone());
    record_bulk_read(
        &state,
        &caller,
        "auditlog.report.run",
        resource,
        &recorded,
        details,
    )
    .await?;
    let answer = spawn_blocking(move || -> Result<Value, Status> {
        let _slot = slot;
        let tree_size = checkpoint.checkpoint.tree_size;
        let privileged = &state.viewer_config.privileged;
        let mut tally = Tally::default();
        let query = Query {
            filter: Filter {
                seqs: Some(0..tree_size),
                ..filter.clone()
            },
            order: Order::OldestFirst,
            limit: None,
            cursor: None,
        };
        state
            .log
            .query_raw(&query, |seq, event| {
                tally.add(&state, seq, &event, privileged)?;
                Ok(true)
            })
            .map_err(from_engine)?;
        let erasures = erasures(&state, &filter.time, tree_size, &tally.by_actor)?;
        let by_outcome: serde_json::Map<String, Value> = Outcome::ALL
            .iter()
            .map(|o| {
                let n = tally.by_outcome.get(o.as_str()).copied().unwrap_or(0);
                (o.as_str().to_owned(), n.into())
            })
            .collect();
        let sign_ins: Vec<Value> = {
            let mut rows: Vec<(&String, &(u64, u64))> = tally.sign_ins.iter().collect();
            rows.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(b.0)));
            rows.iter()
                .take(MAX_LISTED)
                .map(|(actor, (denied, failed))| {
                    json!({"actor": actor, "denied": denied, "failed": failed})
                })
                .collect()
        };
        let (denied, failed) = tally
            .sign_ins
            .values()
            .fold((0, 0), |(d, f), (dd, ff)| (d + dd, f + ff));
        let report = json!({
            "tenant": tenant,
            "from": filter.time.from.map(Timestamp::to_rfc3339),
            "to": filter.time.to.map(Timestamp::to_rfc3339),
            "tree_size": tree_size,
            "checkpoint": checkpoint.to_text(),
            "events": tally.events,
            "by_outcome": by_outcome,
            "actions": tally.by_action.len(),
            "by_action": ranked(&tally.by_action, "action", MAX_LISTED),
            "actors": tally.by_actor.len(),
            "by_actor": ranked(&tally.by_actor, "actor", MAX_LISTED),
            "privileged": {
                "actions": state.viewer_config.privileged_actions,
                "events": tally.privileged.values().sum::<u64>(),
                "by_action": ranked(&tally.privileged, "action", usize::MAX),
            },
            "sign_ins": {"denied": denied, "failed": failed, "by_actor": sign_ins},
            "api_keys_created": {"events": tally.api_keys_total, "listed": tally.api_keys},
            "role_changes": {"events": tally.role_changes_total, "listed": tally.role_changes},
            "erasures": erasures,
        });
        let json = serde_json::to_vec(&report).map_err(|e| Status::internal(e.to_string()))?;
        let attestation = state
            .log
            .attest_report(&tenant, filter.time.from, filter.time.to, tree_size, &json)
            .map_err(from_engine)?;
        Ok(json!({"report": report, "attestation": attestation}))
    })
    .await
    .map_err(task_failed)??;
    Ok(axum::Json(answer).into_response())
}

/// The erasures (`auditlog.subject.erase`, in `_system`) in the period and below
/// `tree_size` of subjects whose id is an actor of the tenant in the period (an erasure
/// applies to its subject id log-wide): `[{"subject":…,"erased_at":…}]`, the first
/// [`MAX_LISTED`].
fn erasures(
    state: &State,
    time: &TimeRange,
    tree_size: u64,
    actors: &BTreeMap<String, u64>,
) -> Result<Vec<Value>, Status> {
    let query = Query {
        filter: Filter {
            tenant: Some(SYSTEM_TENANT.to_owned()),
            actions: vec![ActionPattern::Exact("auditlog.subject.erase".to_owned())],
            time: *time,
            seqs: Some(0..tree_size),
            ..Filter::default()
        },
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    state
        .log
        .query_raw(&query, |_, e| {
            let subject = e
                .resource_id
                .map(|r| String::from_utf8_lossy(r).into_owned());
            if let Some(subject) = subject.filter(|s| actors.contains_key(s))
                && seen.insert(subject.clone())
            {
                out.push(json!({"subject": subject, "erased_at": e.timestamp.to_rfc3339()}));
            }
            Ok(out.len() < MAX_LISTED)
        })
        .map_err(from_engine)?;
    Ok(out)
}
