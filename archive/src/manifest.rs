//! The archive's own objects: `log.json`, the identity of the log archived, and the
//! manifest, one entry per archived segment (docs/FORMAT.md, "Archive").

use serde::{Deserialize, Serialize};

/// The version of the archive layout `log.json` names.
pub const ARCHIVE_FORMAT: u32 = 1;

/// The identity object's name.
pub(crate) const LOG_OBJECT: &str = "log.json";
/// The folder of manifest entries.
pub(crate) const MANIFEST_DIR: &str = "manifest";
/// The folder of segment and index copies.
pub(crate) const SEGMENTS_DIR: &str = "segments";
/// The copy of the checkpoint log.
pub(crate) const CHECKPOINTS_OBJECT: &str = "checkpoints";

/// Which log an archive holds, written at its first run: a later run (or a restore, or a
/// verify) of another log is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogIdentity {
    /// [`ARCHIVE_FORMAT`].
    pub archive_format: u32,
    /// The log's checkpoint origin.
    pub origin: String,
    /// The tree hash: `blake3` or `sha256`.
    pub hash: String,
    /// The log's checkpoint verifier key (C2SP signed-note form), if it has one.
    pub verifier_key: Option<String>,
}

/// One object the manifest names: where, how long, and its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its path under the archive's prefix.
    pub object: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// The BLAKE3 hash of its bytes, hex.
    pub blake3: String,
}

/// The manifest entry of one archived segment, `manifest/<base>.json`: written after the
/// objects it names were read back whole and matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The sequence number of its first record.
    pub base_seq: u64,
    /// The tree size after its last record: its records are `base_seq..tree_size`.
    pub tree_size: u64,
    /// The tree head at `tree_size` (its footer's root), hex.
    pub root: String,
    /// The earliest event timestamp in it (RFC 3339).
    pub min_timestamp: String,
    /// The latest event timestamp in it (RFC 3339).
    pub max_timestamp: String,
    /// The segment file's copy.
    pub segment: ObjectRef,
    /// The index file's copy (none if the segment had no index file when archived: it is
    /// derived data, rebuilt from the segment).
    pub index: Option<ObjectRef>,
    /// When the entry was written (RFC 3339).
    pub archived_at: String,
}

/// The name of a segment's objects and manifest entry: its base, in 20 digits, as the
/// data directory names its files.
pub(crate) fn base_name(base_seq: u64) -> String {
    format!("{base_seq:020}")
}

/// The manifest entry object of the segment at `base_seq`.
pub(crate) fn entry_object(base_seq: u64) -> String {
    format!("{MANIFEST_DIR}/{}.json", base_name(base_seq))
}

/// The base a manifest entry's object name (`manifest/<20 digits>.json`) names.
pub(crate) fn entry_base(relative: &str) -> Option<u64> {
    let name = relative.strip_prefix(MANIFEST_DIR)?.strip_prefix('/')?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip_and_refuse_others() {
        assert_eq!(entry_object(2048), "manifest/00000000000000002048.json");
        assert_eq!(entry_base(&entry_object(2048)), Some(2048));
        assert_eq!(entry_base(&entry_object(u64::MAX)), Some(u64::MAX));
        for other in [
            "manifest/2048.json",
            "manifest/0000000000000000204x.json",
            "manifest/00000000000000002048.json.tmp",
            "segments/00000000000000002048.json",
            "manifest/99999999999999999999.json",
        ] {
            assert_eq!(entry_base(other), None, "{other}");
        }
    }
}
