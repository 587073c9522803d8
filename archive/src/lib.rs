//! Archival of a log's sealed segments to an object store: an S3-compatible bucket
//! (`s3://bucket/prefix`) or a directory (`file:///path`), with the `object_store` crate.
//!
//! An archive holds, under its prefix (docs/FORMAT.md, "Archive"): `log.json`, the log's
//! identity (origin, hash, verifier key), written once; `segments/<base>.seg` and
//! `<base>.idx`, byte copies of each sealed segment and its index file; one manifest entry
//! per segment, `manifest/<base>.json` (sequence and time ranges, sizes, content hashes,
//! the tree size and root it ends at), written only once the objects it names were read
//! back and matched their hashes; and `checkpoints`, a copy of the checkpoint log. Every
//! segment, index file and manifest entry is written once and never changed, so a run cut
//! at any point resumes where the entries end: no gap, no duplicate (`checkpoints` and
//! `config.json` are replaced each run, tiles written again by a run that did not finish). A SHA-256 log's archive is also a
//! static C2SP tlog-tiles log: `checkpoint`, `tile/…` and `tile/entries/…` (tiles.rs).

mod error;
mod expire;
mod keys;
mod location;
mod lock;
mod manifest;
mod read_only;
mod reader;
mod receipts;
mod restore;
mod run;
mod segment_parquet;
#[cfg(feature = "testing")]
pub mod testing;
mod tier;
mod tiles;
mod transfer;

pub use error::{ArchiveError, Result};
pub use expire::{ArchiveExpiry, expire_archive};
pub use keys::{KEY_STORE_OBJECT, KeyBackup, check_apart, fetch_key_store};
pub use location::{Archive, S3Options};
pub use lock::Retention;
#[cfg(feature = "testing")]
pub use manifest::fuzz_manifest;
pub use manifest::{ARCHIVE_FORMAT, LogIdentity, ManifestEntry, ObjectRef};
pub use reader::ArchiveReader;
pub use restore::{RestoreKeys, RestoreReport, restore};
pub use run::{ArchiveReport, archive_log};
pub use tier::{
    CacheStats, DEFAULT_CACHE_BYTES, HotPolicy, ReleaseReport, TIER_FILE, TierConfig,
    TieredStorage, release_cold, storage_for,
};
pub use tiles::CHECKPOINT_OBJECT;
