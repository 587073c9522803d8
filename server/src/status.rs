//! Engine errors as gRPC statuses, mapped once: bad input is INVALID_ARGUMENT (with a
//! `BadRequest` detail naming the field), damaged storage DATA_LOSS, a stopped writer
//! or a closing log UNAVAILABLE, a full writer queue RESOURCE_EXHAUSTED with a retry hint.
//! What a client is told names files by their place in the log (`segments/….seg`),
//! never by the server's paths, and says nothing of the operating system's errors: the
//! whole error goes to the server's log (stderr) for the operator.

use std::path::Path;

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
        Error::Corruption(c) => {
            eprintln!("auditlogd: {c}");
            Status::data_loss(format!(
                "corruption in {} at byte {}: {}",
                in_log(&c.file),
                c.offset,
                c.kind
            ))
        }
        e @ Error::WriterFailed(_) => {
            eprintln!("auditlogd: {e}");
            Status::unavailable(
                "the log stopped accepting writes after a failed write or sync; the operator \
                 must restart the server (its log has the cause)",
            )
        }
        e @ Error::Closed => Status::unavailable(e.to_string()),
        e @ Error::Io { .. } => {
            eprintln!("auditlogd: {e}");
            Status::internal("an I/O error on the server (its log has the details)")
        }
        Error::Busy => busy("the writer is behind".to_owned(), BUSY_RETRY),
        e => Status::internal(e.to_string()),
    }
}

/// A file of the log as a client may see it: its folder within the log and its name
/// (`segments/00000000000000000000.seg`).
fn in_log(file: &Path) -> String {
    let mut parts: Vec<_> = file.iter().rev().take(2).collect();
    parts.reverse();
    parts
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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

#[cfg(test)]
mod tests {
    use super::*;
    use auditlog_engine::{Corruption, CorruptionKind};

    #[test]
    fn clients_are_told_the_file_within_the_log_never_the_servers_path() {
        let file = Path::new("/srv/secret/place/data/segments/00000000000000000042.seg");
        let status = from_engine(Error::Corruption(Corruption::new(
            file,
            99,
            CorruptionKind::Truncated("record"),
        )));
        assert_eq!(status.code(), tonic::Code::DataLoss);
        assert_eq!(
            status.message(),
            "corruption in segments/00000000000000000042.seg at byte 99: truncated record"
        );
        let io = from_engine(Error::io(
            "reading /srv/secret/place/data/tree/level-0.hashes",
            std::io::Error::other("disk on fire"),
        ));
        assert!(!io.message().contains("/srv"), "{io:?}");
        let stopped = from_engine(Error::WriterFailed("fdatasync of /srv/x failed".into()));
        assert_eq!(stopped.code(), tonic::Code::Unavailable);
        assert!(!stopped.message().contains("/srv"), "{stopped:?}");
    }
}
