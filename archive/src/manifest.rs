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
    /// The segment's events as Parquet (docs/FORMAT.md, "Parquet in the archive"),
    /// personal fields sealed; none for an archive run without Parquet, or a segment
    /// archived before Parquet was (absent from the JSON then, so older builds read
    /// the entry unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<ObjectRef>,
    /// When the entry was written (RFC 3339).
    pub archived_at: String,
}

impl LogIdentity {
    /// Reads `log.json`'s bytes: the fields and their values checked (an archive format
    /// this build reads, a known hash).
    pub fn parse(bytes: &[u8]) -> Result<LogIdentity, String> {
        let identity: LogIdentity =
            serde_json::from_slice(bytes).map_err(|e| format!("not a log identity: {e}"))?;
        if identity.archive_format != ARCHIVE_FORMAT {
            return Err(format!(
                "archive format {}; this build reads {ARCHIVE_FORMAT}",
                identity.archive_format
            ));
        }
        if !matches!(identity.hash.as_str(), "blake3" | "sha256") {
            return Err(format!("unknown tree hash `{}`", identity.hash));
        }
        Ok(identity)
    }
}

impl ManifestEntry {
    /// Reads the bytes of the entry object named for `base_seq`: every field checked
    /// (the base its name says, a nonempty range, 64 hex digits for each hash, RFC 3339
    /// times in order, the objects named for its base), so a reader can trust its shape.
    pub fn parse(bytes: &[u8], base_seq: u64) -> Result<ManifestEntry, String> {
        let entry: ManifestEntry =
            serde_json::from_slice(bytes).map_err(|e| format!("not a manifest entry: {e}"))?;
        if entry.base_seq != base_seq {
            return Err(format!(
                "names base {}, not its own {base_seq}",
                entry.base_seq
            ));
        }
        if entry.tree_size <= entry.base_seq {
            return Err(format!(
                "an empty or reversed range {}..{}",
                entry.base_seq, entry.tree_size
            ));
        }
        check_hex("root", &entry.root)?;
        let times = [
            &entry.min_timestamp,
            &entry.max_timestamp,
            &entry.archived_at,
        ]
        .map(|t| auditlog_engine::Timestamp::parse(t).map_err(|e| format!("time `{t}`: {e}")));
        let [min, max, _] = times;
        if min? > max? {
            return Err("min_timestamp is after max_timestamp".into());
        }
        let name = base_name(base_seq);
        check_object(&entry.segment, &format!("{SEGMENTS_DIR}/{name}.seg"))?;
        if let Some(index) = &entry.index {
            check_object(index, &format!("{SEGMENTS_DIR}/{name}.idx"))?;
        }
        if let Some(parquet) = &entry.parquet {
            check_object(parquet, &format!("{SEGMENTS_DIR}/{name}.parquet"))?;
        }
        Ok(entry)
    }

    /// The entry's bytes as written to the store: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("an entry serializes");
        json.push(b'\n');
        json
    }
}

fn check_hex(what: &str, text: &str) -> Result<(), String> {
    if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!("{what} `{text}` is not 64 lower-case hex digits"));
    }
    Ok(())
}

fn check_object(object: &ObjectRef, expected: &str) -> Result<(), String> {
    if object.object != expected {
        return Err(format!(
            "names object `{}`, not `{expected}`",
            object.object
        ));
    }
    check_hex("blake3", &object.blake3)
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

/// The body of the `archive_manifest` fuzz target (fuzz/fuzz_targets/): any bytes, as a
/// manifest entry and as a log identity, give a value or an error, never a panic; an
/// accepted entry reads back the same from the bytes it writes.
#[cfg(feature = "testing")]
pub fn fuzz_manifest(data: &[u8]) {
    for base in [0, 2048] {
        if let Ok(entry) = ManifestEntry::parse(data, base) {
            assert_eq!(ManifestEntry::parse(&entry.to_bytes(), base), Ok(entry));
        }
    }
    let _ = LogIdentity::parse(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ManifestEntry {
        ManifestEntry {
            base_seq: 2048,
            tree_size: 4096,
            root: "ab".repeat(32),
            min_timestamp: "2026-01-13T15:49:33Z".into(),
            max_timestamp: "2026-01-26T09:41:27Z".into(),
            segment: ObjectRef {
                object: "segments/00000000000000002048.seg".into(),
                bytes: 10,
                blake3: "cd".repeat(32),
            },
            index: None,
            parquet: None,
            archived_at: "2026-12-05T21:26:15.093513Z".into(),
        }
    }

    #[test]
    fn an_entry_reads_back_and_each_bad_field_is_named() {
        let good = entry();
        assert_eq!(
            ManifestEntry::parse(&good.to_bytes(), 2048),
            Ok(good.clone())
        );
        let refused = |change: &dyn Fn(&mut ManifestEntry), base: u64, says: &str| {
            let mut bad = good.clone();
            change(&mut bad);
            let why = ManifestEntry::parse(&bad.to_bytes(), base).unwrap_err();
            assert!(why.contains(says), "{why}");
        };
        refused(&|_| {}, 0, "not its own 0");
        refused(&|e| e.tree_size = 2048, 2048, "empty or reversed");
        refused(&|e| e.root = "x".into(), 2048, "root");
        refused(&|e| e.segment.blake3 = "AB".repeat(31), 2048, "blake3");
        refused(&|e| e.min_timestamp = "yesterday".into(), 2048, "yesterday");
        refused(
            &|e| e.max_timestamp = "2020-01-01T00:00:00Z".into(),
            2048,
            "after",
        );
        refused(
            &|e| e.segment.object = "segments/x.seg".into(),
            2048,
            "segments/x.seg",
        );
        refused(
            &|e| {
                e.parquet = Some(ObjectRef {
                    object: "segments/00000000000000000000.parquet".into(),
                    ..e.segment.clone()
                })
            },
            2048,
            "00000000000000000000.parquet",
        );
        assert!(
            ManifestEntry::parse(b"{", 0)
                .unwrap_err()
                .contains("not a manifest entry")
        );
    }

    #[test]
    fn the_parquet_object_is_optional_and_absent_from_older_entries() {
        let older = entry();
        let bytes = older.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("parquet"));
        assert_eq!(ManifestEntry::parse(&bytes, 2048), Ok(older.clone()));
        let newer = ManifestEntry {
            parquet: Some(ObjectRef {
                object: "segments/00000000000000002048.parquet".into(),
                bytes: 7,
                blake3: "ef".repeat(32),
            }),
            ..older
        };
        assert_eq!(ManifestEntry::parse(&newer.to_bytes(), 2048), Ok(newer));
    }

    #[test]
    fn an_identity_of_another_format_or_hash_is_refused() {
        let ok = br#"{"archive_format":1,"origin":"o","hash":"sha256","verifier_key":null}"#;
        assert!(LogIdentity::parse(ok).is_ok());
        let later = br#"{"archive_format":2,"origin":"o","hash":"sha256","verifier_key":null}"#;
        assert!(
            LogIdentity::parse(later)
                .unwrap_err()
                .contains("archive format 2")
        );
        let md5 = br#"{"archive_format":1,"origin":"o","hash":"md5","verifier_key":null}"#;
        assert!(LogIdentity::parse(md5).unwrap_err().contains("md5"));
    }

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
