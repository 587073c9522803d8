//! Protocol query messages to engine values (events convert in `auditlog_proto::convert`,
//! which the CLI's client shares). Conversion only: the engine runs queries.

use auditlog_engine::query::{ActionPattern, Filter, Order};
use auditlog_engine::{TimeRange, Timestamp};
use auditlog_proto::convert::outcome_from_proto;
use auditlog_proto::v1 as pb;
use tonic::Status;

use crate::status::invalid_field;

/// The engine's filter for a request's (absent: every event).
pub(crate) fn filter_from_proto(f: Option<pb::Filter>) -> Result<Filter, Status> {
    let f = f.unwrap_or_default();
    let actions = f
        .actions
        .iter()
        .map(|a| ActionPattern::parse(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid_field("filter.actions", &m))?;
    let outcomes = f
        .outcomes
        .iter()
        .map(|&o| {
            outcome_from_proto(o).ok_or_else(|| invalid_field("filter.outcomes", "unknown outcome"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let time = |field, text: Option<String>| {
        text.map(|t| Timestamp::parse(&t).map_err(|m| invalid_field(field, &m)))
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
        seqs: None,
    })
}

/// The engine's order for a request's.
pub(crate) fn order_from_proto(order: i32) -> Result<Order, Status> {
    match pb::Order::try_from(order) {
        Ok(pb::Order::NewestFirst) => Ok(Order::NewestFirst),
        Ok(pb::Order::OldestFirst) => Ok(Order::OldestFirst),
        Err(_) => Err(invalid_field("order", "unknown order")),
    }
}
