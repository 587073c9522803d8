//! What can go wrong in archival, each naming the object, file or setting at fault.

use std::path::PathBuf;

/// An archival failure.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive URL or an S3 setting is not usable.
    #[error("archive location {url}: {why}")]
    Location { url: String, why: String },
    /// The object store refused or failed a request (its message carries its causes).
    #[error("{action} {object}: {}{cause}", hint(cause))]
    Store {
        action: &'static str,
        object: String,
        cause: object_store::Error,
    },
    /// An object in the store is not what was written or what the manifest says.
    #[error("{object} in the archive is wrong: {why}")]
    Mismatch { object: String, why: String },
    /// The archive holds another log, or its manifest contradicts the local log.
    #[error("{0}")]
    Conflict(String),
    /// A local file could not be read.
    #[error("reading {path}")]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A segment's events could not be written as Parquet (to a temporary file, before
    /// its upload).
    #[error("writing records {}..{} as Parquet: {why}", records.start, records.end)]
    Parquet {
        records: std::ops::Range<u64>,
        why: String,
    },
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] auditlog_engine::Error),
}

/// A word for the operator before the store's own message, when the cause is a usual one.
fn hint(cause: &object_store::Error) -> &'static str {
    match cause {
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => {
            "the store refused the credentials or the access (check AWS_ACCESS_KEY_ID, \
             AWS_SECRET_ACCESS_KEY and the bucket's policy): "
        }
        _ => "",
    }
}

/// A result of archival.
pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;
