//! The engine's one public error type. Corruption (the bytes on disk are not what we
//! wrote) is kept apart from I/O failures and from bad input, because each calls for a
//! different response: stop and investigate, retry or alert, fix the request.

use std::path::PathBuf;

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What the engine was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes fail a check.
    #[error(transparent)]
    Corruption(#[from] Corruption),
    /// An event failed validation.
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] crate::event::EventError),
    /// A request that cannot be served as asked (an index past the tree, bad sizes, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// The writer stopped after a failed write or fsync; nothing more is accepted until
    /// the log is reopened, because what reached the disk is unknown.
    #[error("the log stopped accepting writes after an earlier failure: {0}")]
    WriterFailed(String),
    /// The log is closed.
    #[error("the log is closed")]
    Closed,
    /// Another process (or another [`Log`](crate::Log) in this one) has the data directory
    /// open to write: it holds the directory's `LOCK`. A read-only open is still possible.
    #[error("{} is open in another process (it holds {})", dir.display(), dir.join("LOCK").display())]
    AlreadyOpen {
        /// The data directory.
        dir: PathBuf,
    },
    /// Some events of a batch were stored already (their client event ids were seen)
    /// and others not: the batch is not a retry of one batch, and is refused whole.
    #[error("{0}")]
    PartlyStored(String),
    /// The writer's queue is full ([`Log::try_submit`](crate::Log::try_submit)): the
    /// writer is behind; try again shortly.
    #[error("the writer's queue is full: it is behind; try again shortly")]
    Busy,
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Where and how stored bytes fail a check: `auditlog verify` prints exactly this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corruption in {} at byte {offset}: {kind}", file.display())]
pub struct Corruption {
    /// The damaged file.
    pub file: PathBuf,
    /// Byte offset of the first bad byte (or of the structure that fails).
    pub offset: u64,
    /// What is wrong.
    pub kind: CorruptionKind,
}

/// The kinds of damage the engine recognises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A file does not start with its magic number.
    #[error("bad magic number")]
    BadMagic,
    /// A file's format version is not one this build reads.
    #[error("format version {found} is not supported (this build reads {oldest}..={newest})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The oldest version this build reads.
        oldest: u16,
        /// The newest version this build reads.
        newest: u16,
    },
    /// A CRC32 does not match.
    #[error("checksum mismatch (stored {expected:#010x}, computed {found:#010x})")]
    ChecksumMismatch {
        /// The stored checksum.
        expected: u32,
        /// The checksum of the bytes.
        found: u32,
    },
    /// A record or structure ends past the end of its file.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field holds an impossible value.
    #[error("{0}")]
    BadField(String),
    /// A recomputed hash differs from a stored one.
    #[error("{0}")]
    HashMismatch(String),
    /// Neighbouring segments or files do not line up.
    #[error("broken chain: {0}")]
    BrokenChain(String),
    /// Fewer events are on disk than were durably acknowledged.
    #[error("acknowledged events are missing: {0}")]
    LostEvents(String),
    /// A signed checkpoint's signature does not verify with the key given.
    #[error("bad signature: {0}")]
    BadSignature(String),
}

impl Corruption {
    /// A corruption report.
    pub fn new(file: impl Into<PathBuf>, offset: u64, kind: CorruptionKind) -> Corruption {
        Corruption {
            file: file.into(),
            offset,
            kind,
        }
    }
}
