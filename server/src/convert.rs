//! Protocol query messages to engine values, with a refusal naming the field
//! (the conversions themselves live in `auditlog_proto::convert`, which the CLI's
//! client shares).

use std::sync::Arc;

use auditlog_engine::query::{EmailNarrowing, Filter, Order};
use auditlog_proto::convert::{self, FieldError};
use auditlog_proto::v1 as pb;
use tokio::task::spawn_blocking;
use tonic::Status;

use crate::State;
use crate::status::{from_engine, invalid_field, task_failed};

/// INVALID_ARGUMENT naming the field.
fn refused(bad: FieldError) -> Status {
    invalid_field(bad.field, &bad.message)
}

/// The engine's filter for a request's (absent: every event), and the e-mail address it
/// names, for [`narrow_to_email`] once the key's scope is applied.
pub(crate) fn filter_from_proto(f: Option<pb::Filter>) -> Result<(Filter, Option<String>), Status> {
    let mut f = f.unwrap_or_default();
    let email = f.email.take();
    Ok((convert::filter_from_proto(f).map_err(refused)?, email))
}

/// Narrows `filter` (already scoped to the caller's tenants) to the subject `email` was
/// seen with ([`Log::narrow_to_email`](auditlog_engine::Log::narrow_to_email)), on the
/// blocking pool (the key store's lock, and counts). None selects nothing (an address
/// never seen, or whose subject was erased); several are refused, unnamed, as `field`.
pub(crate) async fn narrow_to_email(
    state: &Arc<State>,
    mut filter: Filter,
    email: Option<String>,
    field: &'static str,
) -> Result<Filter, Status> {
    let Some(email) = email else {
        return Ok(filter);
    };
    if state.log.config().sealing.is_none() {
        return Err(Status::failed_precondition(
            "this log does not seal personal data: it has no index of e-mail addresses",
        ));
    }
    let state = Arc::clone(state);
    spawn_blocking(move || {
        match state
            .log
            .narrow_to_email(&mut filter, &email)
            .map_err(from_engine)?
        {
            EmailNarrowing::Narrowed => Ok(filter),
            // Unnamed: the key may not be entitled to know who they are.
            EmailNarrowing::Several(_) => Err(invalid_field(
                field,
                "the address was seen with several subjects: query by actor",
            )),
        }
    })
    .await
    .map_err(task_failed)?
}

/// The engine's order for a request's.
pub(crate) fn order_from_proto(order: i32) -> Result<Order, Status> {
    convert::order_from_proto(order).ok_or_else(|| invalid_field("order", "unknown order"))
}
