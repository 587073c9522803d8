//! Engine errors as gRPC statuses, mapped once: bad input is INVALID_ARGUMENT (with a
//! `BadRequest` detail naming the field), damaged storage DATA_LOSS, a stopped writer
//! or a closing log UNAVAILABLE, a full writer queue RESOURCE_EXHAUSTED with a retry hint.

use auditlog_engine::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::limits::{BUSY_RETRY, busy};

/// The status of an engine error.
pub(crate) fn from_engine(error: Error) -> Status {
    match error {
        Error::InvalidEvent(e) => invalid_field(e.field().unwrap_or("event"), &e.to_string()),
        Error::InvalidArgument(message) => Status::invalid_argument(message),
        Error::PartlyStored(message) => Status::already_exists(message),
        Error::Corruption(c) => Status::data_loss(c.to_string()),
        e @ (Error::WriterFailed(_) | Error::Closed) => Status::unavailable(e.to_string()),
        Error::Busy => busy("the writer is behind".to_owned(), BUSY_RETRY),
        e => Status::internal(e.to_string()),
    }
}

/// INVALID_ARGUMENT naming `field` (a path in the request, e.g. `events[3].action`).
pub(crate) fn invalid_field(field: &str, description: &str) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        ErrorDetails::with_bad_request_violation(field, description),
    )
}

/// A blocking task that did not finish (it panicked, or the runtime is shutting down).
pub(crate) fn task_failed(error: tokio::task::JoinError) -> Status {
    Status::internal(format!("the request's task failed: {error}"))
}
