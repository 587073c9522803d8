//! Protocol query messages to engine values, with a refusal naming the field
//! (the conversions themselves live in `auditlog_proto::convert`, which the CLI's
//! client shares).

use auditlog_engine::query::{Filter, Order};
use auditlog_proto::convert::{self, FieldError};
use auditlog_proto::v1 as pb;
use tonic::Status;

use crate::status::invalid_field;

/// INVALID_ARGUMENT naming the field.
fn refused(bad: FieldError) -> Status {
    invalid_field(bad.field, &bad.message)
}

/// The engine's filter for a request's (absent: every event).
pub(crate) fn filter_from_proto(f: Option<pb::Filter>) -> Result<Filter, Status> {
    convert::filter_from_proto(f.unwrap_or_default()).map_err(refused)
}

/// The engine's order for a request's.
pub(crate) fn order_from_proto(order: i32) -> Result<Order, Status> {
    convert::order_from_proto(order).ok_or_else(|| invalid_field("order", "unknown order"))
}
