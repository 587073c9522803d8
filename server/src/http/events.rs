//! `/v1/events` (a page, as `auditlog query --format json` prints it), `/v1/events/count`
//! and `/v1/export` (JSON Lines or CSV, streamed as the engine reads, the same bytes as
//! `auditlog export`). Query parameters mirror the CLI's flags; lists are comma-separated.

use std::io;
use std::sync::Arc;

use auditlog_engine::export::ExportFormat;
use auditlog_engine::query::{ActionPattern, Counts, Cursor, Filter, Order, Query, parse_since};
use auditlog_engine::{Outcome, TimeRange, Timestamp};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as Params, State as Shared};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, caller, time_range};
use crate::State;
use crate::auth::Caller;
use crate::convert::narrow_to_email;
use crate::status::{from_engine, invalid_field, task_failed};

/// Events per page when `limit` is absent, and the most a page may hold.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// The query parameters of the three routes (those a route does not use are refused by
/// it when given).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    tenant: Option<String>,
    actor: Option<String>,
    email: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    since: Option<String>,
    from: Option<String>,
    to: Option<String>,
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    limit: Option<u64>,
    cursor: Option<String>,
    order: Option<String>,
    format: Option<String>,
    /// `hour` or `day`: counts by time (`/v1/events/count` only).
    bucket: Option<String>,
}

impl EventParams {
    /// The engine's filter; `since` counts back from now, or from the first page's
    /// window when a cursor is given (as the CLI's `--since`). Scoped to the caller's
    /// tenants, then narrowed to `email`'s subject ([`narrow_to_email`]).
    async fn filter(
        &self,
        state: &Arc<State>,
        caller: &Caller,
        cursor: Option<&Cursor>,
    ) -> Result<Filter, Status> {
        let list = |text: &Option<String>| -> Vec<String> {
            text.as_deref()
                .map(|t| t.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let actions = list(&self.action)
            .iter()
            .map(|a| ActionPattern::parse(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| invalid_field("action", &m))?;
        let outcomes = list(&self.outcome)
            .iter()
            .map(|o| {
                Outcome::from_name(o)
                    .ok_or_else(|| invalid_field("outcome", &format!("`{o}` is not an outcome")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let time = match &self.since {
            Some(_) if self.from.is_some() || self.to.is_some() => {
                return Err(invalid_field(
                    "since",
                    "give `since` or `from`/`to`, not both",
                ));
            }
            Some(since) => {
                let back = parse_since(since).map_err(|m| invalid_field("since", &m))?;
                let from = match cursor {
                    Some(c) => c.time_from(),
                    None => Some(Timestamp(Timestamp::now().0.saturating_sub(back))),
                };
                TimeRange { from, to: None }
            }
            None => time_range(&self.from, &self.to)?,
        };
        let filter = Filter {
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
            actions,
            outcomes,
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            time,
            seqs: Filter::seqs_between(self.from_seq, self.to_seq),
        };
        let filter = caller.scope_filter(filter)?;
        crate::cluster::reads_here(state, &filter).await?;
        narrow_to_email(state, filter, self.email.clone(), "email").await
    }

    fn order(&self, default: Order) -> Result<Order, Status> {
        match self.order.as_deref() {
            None => Ok(default),
            Some("newest") => Ok(Order::NewestFirst),
            Some("oldest") => Ok(Order::OldestFirst),
            Some(other) => Err(invalid_field(
                "order",
                &format!("`{other}` is neither `newest` nor `oldest`"),
            )),
        }
    }

    fn cursor(&self) -> Result<Option<Cursor>, Status> {
        self.cursor
            .as_deref()
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| invalid_field("cursor", &e.to_string()))
    }

    /// Refuses parameters the route does not take.
    fn refuse(&self, names: &[(&str, bool)]) -> Result<(), Status> {
        match names.iter().find(|(_, given)| *given) {
            Some((name, _)) => Err(invalid_field(name, "not a parameter of this route")),
            None => Ok(()),
        }
    }
}

/// The caller and the parameters of a request to one of these routes.
fn request(
    state: &State,
    headers: &HeaderMap,
    given: Result<Params<EventParams>, QueryRejection>,
) -> Result<(Caller, EventParams), HttpError> {
    let caller = caller(state, headers)?;
    let Params(params) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    Ok((caller, params))
}

/// `GET /v1/events`: one page, `{"events":[…],"next_cursor":…}`.
pub(crate) async fn page(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<EventParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let (caller, p) = request(&state, &headers, given)?;
    p.refuse(&[
        ("format", p.format.is_some()),
        ("bucket", p.bucket.is_some()),
    ])?;
    let cursor = p.cursor()?;
    let filter = p.filter(&state, &caller, cursor.as_ref()).await?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid_field("limit", &format!("from 1 to {MAX_LIMIT}")).into());
    }
    let query = Query {
        filter,
        order: p.order(Order::NewestFirst)?,
        limit: Some(limit),
        cursor,
    };
    let body = spawn_blocking(move || -> Result<Vec<u8>, Status> {
        let mut json = Vec::with_capacity(64 << 10);
        json.extend_from_slice(b"{\"events\":[");
        let page = state
            .log
            .query_raw(&query, |seq, event| {
                if json.last() != Some(&b'[') {
                    json.push(b',');
                }
                let written = event.write_json(Some(seq), &mut json);
                written.map_err(|e| state.log.damaged_record(seq, e))?;
                Ok(true)
            })
            .map_err(from_engine)?;
        json.extend_from_slice(b"],\"next_cursor\":");
        let next = page.next_cursor.map(|c| c.encode());
        json.extend_from_slice(serde_json::json!(next).to_string().as_bytes());
        json.extend_from_slice(b"}\n");
        Ok(json)
    })
    .await
    .map_err(task_failed)??;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /v1/events/count`: `{"count":N,"by_outcome":{"success":N,…}}`; with
/// `bucket=hour|day` also `"buckets":[{"start":…,"count":N,"by_outcome":{…}},…]`, the
/// UTC hours or days holding a matching event, oldest first (`Log::count_over_time`).
pub(crate) async fn count(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<EventParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let (caller, p) = request(&state, &headers, given)?;
    p.refuse(&[
        ("limit", p.limit.is_some()),
        ("cursor", p.cursor.is_some()),
        ("order", p.order.is_some()),
        ("format", p.format.is_some()),
    ])?;
    let width = match p.bucket.as_deref() {
        None => None,
        Some("hour") => Some(3_600_000_000),
        Some("day") => Some(86_400_000_000),
        Some(other) => {
            let why = format!("`{other}` is neither `hour` nor `day`");
            return Err(invalid_field("bucket", &why).into());
        }
    };
    let filter = p.filter(&state, &caller, None).await?;
    let body = spawn_blocking(move || -> Result<serde_json::Value, Status> {
        let Some(width) = width else {
            let (counts, _plan) = state.log.count(&filter).map_err(from_engine)?;
            return Ok(
                serde_json::json!({"count": counts.total, "by_outcome": by_outcome(&counts)}),
            );
        };
        let (buckets, _plan) = state
            .log
            .count_over_time(&filter, width)
            .map_err(from_engine)?;
        let mut total = Counts::default();
        let buckets: Vec<serde_json::Value> = buckets
            .iter()
            .map(|(start, counts)| {
                total.merge(counts);
                serde_json::json!({
                    "start": start.to_rfc3339(),
                    "count": counts.total,
                    "by_outcome": by_outcome(counts),
                })
            })
            .collect();
        Ok(serde_json::json!({
            "count": total.total,
            "by_outcome": by_outcome(&total),
            "bucket": p.bucket,
            "buckets": buckets,
        }))
    })
    .await
    .map_err(task_failed)??;
    Ok(axum::Json(body).into_response())
}

/// `{"success":N,"failure":N,…}`.
fn by_outcome(counts: &Counts) -> serde_json::Map<String, serde_json::Value> {
    Outcome::ALL
        .iter()
        .map(|&o| (o.as_str().to_owned(), counts.of(o).into()))
        .collect()
}

/// `GET /v1/export?format=jsonl|csv`: every matching event, oldest first unless
/// `order=newest`, streamed in constant memory. A failure after the first bytes cuts
/// the response short (its chunked encoding is not completed), which clients see as
/// an error.
pub(crate) async fn export(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    given: Result<Params<EventParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let (caller, p) = request(&state, &headers, given)?;
    p.refuse(&[
        ("limit", p.limit.is_some()),
        ("cursor", p.cursor.is_some()),
        ("bucket", p.bucket.is_some()),
    ])?;
    let (format, content_type) = match p.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => (ExportFormat::Jsonl, "application/x-ndjson"),
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        other => {
            let why = format!("`{other}` is neither `jsonl` nor `csv`");
            return Err(invalid_field("format", &why).into());
        }
    };
    let query = Query {
        filter: p.filter(&state, &caller, None).await?,
        order: p.order(Order::OldestFirst)?,
        limit: None,
        cursor: None,
    };
    // The record holds the filter as the server applied it (an address as the subject
    // it resolved to), never the request's own text: an address in the `_system`
    // tenant would outlive its subject's erasure.
    let mut details = serde_json::Map::new();
    details.insert("api".to_owned(), "http".into());
    if p.email.is_some() {
        details.insert("by_email".to_owned(), true.into());
    }
    let chunks = crate::export::start(state, &caller, query, format, details).await?;
    let body =
        chunks.map(|chunk| chunk.map_err(|status| io::Error::other(status.message().to_owned())));
    let headers = [(header::CONTENT_TYPE, content_type)];
    Ok((headers, Body::from_stream(body)).into_response())
}
