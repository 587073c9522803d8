//! Exit codes, mapped once at the edge: 0 success, 1 a check failed (invalid proof,
//! corrupted log), 2 unusable input or any other error.

use std::process::ExitCode;

use auditlog_engine::Error;

/// A check ran and found a fault.
pub(crate) const CHECK_FAILED: u8 = 1;
/// The command could not do its work.
pub(crate) const UNUSABLE: u8 = 2;

/// A failed check that is not an engine error (e.g. an invalid proof).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CheckFailed(pub(crate) String);

/// Prints the error chain and picks the exit code.
pub(crate) fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("auditlog: {error:#}");
    let failed_check = error.chain().any(|cause| {
        cause.downcast_ref::<CheckFailed>().is_some()
            || matches!(cause.downcast_ref::<Error>(), Some(Error::Corruption(_)))
    });
    ExitCode::from(if failed_check { CHECK_FAILED } else { UNUSABLE })
}
