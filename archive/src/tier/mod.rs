//! Tiers: sealed segments leave the local disk once archived (a stub stands for each,
//! docs/FORMAT.md, "Archived segment stub"), and are read back on demand through a
//! bounded local cache. What a data directory's archive is, and how big its cache may
//! grow, is kept in `archive.json` beside the log (docs/OPERATIONS.md, "Tiers").

mod cache;
mod config;
mod ranges;
mod release;
mod storage;

pub(crate) use cache::{CACHE_DIR, process_is_gone};
pub use cache::{CacheStats, TieredStorage};
pub use config::{DEFAULT_CACHE_BYTES, TIER_FILE, TierConfig, storage_for};
pub use release::{HotPolicy, ReleaseReport, release_cold};
