//! # auditlog-engine
//!
//! A tamper-evident audit-log store: events are validated, encoded canonically, framed
//! with CRC32 and appended to segment files by one writer thread with group commit; every
//! record is a leaf of an RFC 9162 Merkle tree whose interior nodes are stored, so
//! inclusion and consistency proofs cost O(log n) reads.
//!
//! Start with [`Log`]: [`Log::create`] / [`Log::open`], [`Log::append`], [`Log::scan`],
//! [`Log::prove_inclusion`], [`Log::prove_consistency`], and [`verify::verify_dir`] for an
//! offline check of every byte. docs/ARCHITECTURE.md tours the modules.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bundle;
pub mod catalog;
pub mod checkpoint;
mod config;
mod envelope;
mod error;
pub mod event;
pub mod export;
#[cfg(feature = "testing")]
#[allow(clippy::unwrap_used, clippy::panic)]
pub mod fuzzing;
pub mod handover;
pub mod hex;
pub mod holds;
mod lanes;
mod le;
mod log;
pub mod merkle;
pub mod privacy;
pub mod query;
pub mod report;
pub mod retention;
mod shared;
pub mod storage;
pub mod stream;
pub mod system;
mod tree;
pub mod verify;
pub mod witness;
mod writer;

/// Declares modules of the engine's own that tests, benches and fuzz targets reach with
/// the `testing` feature; without it they are private (their `pub` items then reach no
/// one outside, which is the point). What of them appears in the public API is
/// re-exported below.
macro_rules! public_for_testing {
    ($($name:ident),*) => {$(
        #[cfg(feature = "testing")]
        pub mod $name;
        #[cfg(not(feature = "testing"))]
        #[allow(unreachable_pub, dead_code, unused_imports)]
        mod $name;
    )*};
}
public_for_testing!(codec, heads, index, segment);

pub use codec::{Record, TenantLink};
pub use envelope::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use error::{Corruption, CorruptionKind, Error, Result};
pub use event::{Event, Outcome, Timestamp};
pub use log::{
    BLAKE3_ORIGIN_MARK, CONFIG_FILE, DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_ORIGIN_HOST,
    DEFAULT_SEGMENT_BYTES, Durability, Erased, Expired, Expiry, Followed, HandedOverAt, Log,
    LogConfig, MAX_BATCH_BYTES, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, Metrics, OpenOptions,
    RECENT_IDS, RETENTION_DELETE, RecoveryReport, Release, SYNC_SECONDS_BUCKETS, SealedSegmentInfo,
    Sealing, TILE_HEIGHT, TILE_WIDTH, TilePath, TimeRange,
};
pub use merkle::{Hash, HashAlg};
pub use segment::{RecoveredTail, SegmentStub, stub_for};
pub use writer::{Ack, AckReceiver, Earlier, MAX_TORN_TAIL_BYTES, PreparedBatch};
