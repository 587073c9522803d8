//! Protocol query messages to engine values, with a refusal naming the field
//! (the conversions themselves live in `auditlog_proto::convert`, which the CLI's
//! client shares).

use auditlog_engine::Log;
use auditlog_engine::query::{Filter, Order};
use auditlog_proto::convert::{self, FieldError};
use auditlog_proto::v1 as pb;
use tonic::Status;

use crate::status::{from_engine, invalid_field};

/// INVALID_ARGUMENT naming the field.
fn refused(bad: FieldError) -> Status {
    invalid_field(bad.field, &bad.message)
}

/// The engine's filter for a request's (absent: every event), its e-mail address
/// resolved through `log`'s blind index.
pub(crate) fn filter_from_proto(f: Option<pb::Filter>, log: &Log) -> Result<Filter, Status> {
    let f = f.unwrap_or_default();
    let email = f.email.clone();
    let mut filter = convert::filter_from_proto(f).map_err(refused)?;
    if let Some(email) = email {
        narrow_to_email(&mut filter, &email, "filter.email", log)?;
    }
    Ok(filter)
}

/// Narrows `filter` to the subject `email` was seen with (to nothing if none was, or it
/// was erased). An address seen with several subjects is refused without naming them:
/// they may be other tenants'.
pub(crate) fn narrow_to_email(
    filter: &mut Filter,
    email: &str,
    field: &str,
    log: &Log,
) -> Result<(), Status> {
    if log.config().sealing.is_none() {
        return Err(Status::failed_precondition(
            "this log does not seal personal data: it has no index of e-mail addresses",
        ));
    }
    let subjects = log.subjects_with_email(email).map_err(from_engine)?;
    match &subjects[..] {
        [] => filter.narrow_to_actor(None),
        [subject] => filter.narrow_to_actor(Some(subject)),
        _ => {
            return Err(invalid_field(
                field,
                "the address was seen with several subjects: query by actor",
            ));
        }
    }
    Ok(())
}

/// The engine's order for a request's.
pub(crate) fn order_from_proto(order: i32) -> Result<Order, Status> {
    convert::order_from_proto(order).ok_or_else(|| invalid_field("order", "unknown order"))
}
