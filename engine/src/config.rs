//! The per-log settings, kept in `config.json` in the data directory (written atomically
//! at `init`): hash algorithm, checkpoint origin, segment size, durability policy.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::merkle::HashAlg;
use crate::storage::{Storage, read_all, write_atomically};

/// The name of the settings file.
pub const CONFIG_FILE: &str = "config.json";
/// Default segment size: 128 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;
/// The smallest segment size allowed (tests use small segments to get many).
pub const MIN_SEGMENT_BYTES: u64 = 4 << 10;
/// The largest segment size allowed: record offsets are 32-bit.
pub const MAX_SEGMENT_BYTES: u64 = 2 << 30;
/// How every new BLAKE3 log's origin ends (docs/PROOFS.md, "Which hash"). Standard tools
/// read a checkpoint's root as an RFC 6962 SHA-256 root; a BLAKE3 log says it is not one
/// in the name anyone who checks its checkpoints must configure. As a URL fragment it
/// also keeps a client that builds `https://<origin>/checkpoint` off the log's paths.
pub const BLAKE3_ORIGIN_MARK: &str = "#blake3";
/// The host of the origins chosen for logs created without one.
pub const DEFAULT_ORIGIN_HOST: &str = "auditlog.local";

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync` of the group that holds it.
    Always,
    /// Like `Always`, but the writer lingers up to this long to gather a larger group
    /// (fewer syncs, higher latency).
    Interval(Duration),
    /// After `write` only: survives a process crash, not a power loss. For benchmarks.
    None,
}

impl std::str::FromStr for Durability {
    type Err = String;

    /// `always`, `none`, or `interval:<milliseconds>`.
    fn from_str(s: &str) -> Result<Durability, String> {
        match s {
            "always" => Ok(Durability::Always),
            "none" => Ok(Durability::None),
            _ => s
                .strip_prefix("interval:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .filter(|ms| (1..=10_000).contains(ms))
                .map(|ms| Durability::Interval(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    format!("durability `{s}` is not always, none or interval:<1..10000 ms>")
                }),
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::Always => f.write_str("always"),
            Durability::None => f.write_str("none"),
            Durability::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// The settings of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Tree hash, fixed at creation.
    pub hash: HashAlg,
    /// The checkpoint origin line (a schema-less URL-like name). Empty in a new log's
    /// settings: one of its own is chosen when it is created ([`LogConfig::for_new_log`]).
    pub origin: String,
    /// Roll to a new segment once the active one would grow past this.
    pub segment_bytes: u64,
    /// The acknowledgement policy.
    pub durability: Durability,
    /// How often a checkpoint is signed while the tree grows (zero: only on demand and
    /// when the log closes).
    pub checkpoint_interval: Duration,
    /// Personal data sealed per data subject (docs/PRIVACY.md); `None`: stored in the
    /// clear. Fixed at creation.
    pub sealing: Option<Sealing>,
}

/// How a log seals personal data: e-mail, IP address and user agent always, and these
/// metadata fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealing {
    /// Metadata fields (top-level names) sealed with the rest, at most 32 of 1 to 64
    /// bytes.
    pub personal_metadata: Vec<String>,
}

/// Default checkpoint cadence: every 10 seconds while the tree grows.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

fn default_checkpoint_interval_ms() -> u64 {
    DEFAULT_CHECKPOINT_INTERVAL.as_millis() as u64
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            hash: HashAlg::Sha256,
            origin: String::new(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            durability: Durability::Always,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            sealing: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    format_version: u16,
    hash: HashAlg,
    origin: String,
    segment_bytes: u64,
    durability: String,
    /// Absent in version-1 files.
    #[serde(default = "default_checkpoint_interval_ms")]
    checkpoint_interval_ms: u64,
    /// Absent before version 4, and in logs that do not seal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealing: Option<Sealing>,
}

impl LogConfig {
    /// Checks the settings' ranges.
    pub fn check(&self) -> Result<()> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(Error::InvalidArgument(format!(
                "segment size {} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES} bytes",
                self.segment_bytes
            )));
        }
        // Format 1 allowed spaces; a new log's origin must also name its checkpoint key
        // (see `check_new`).
        let origin_ok = !self.origin.is_empty()
            && self.origin.len() <= 256
            && !self
                .origin
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() && c != ' ');
        if !origin_ok {
            return Err(Error::InvalidArgument(format!(
                "origin `{}` must be one printable line",
                self.origin
            )));
        }
        if self.checkpoint_interval > Duration::from_secs(86_400) {
            return Err(Error::InvalidArgument(
                "the checkpoint interval is at most a day".into(),
            ));
        }
        if let Some(sealing) = &self.sealing {
            use crate::privacy::{MAX_FIELD_NAME_BYTES, MAX_PERSONAL_FIELDS};
            let names = &sealing.personal_metadata;
            let bad = names
                .iter()
                .find(|n| n.is_empty() || n.len() > MAX_FIELD_NAME_BYTES);
            if names.len() > MAX_PERSONAL_FIELDS || bad.is_some() {
                return Err(Error::InvalidArgument(format!(
                    "personal metadata fields: at most {MAX_PERSONAL_FIELDS} names of 1 to \
                     {MAX_FIELD_NAME_BYTES} bytes"
                )));
            }
        }
        Ok(())
    }

    /// [`LogConfig::check`], and for a new log an origin that can name its checkpoint
    /// key (c2sp.org/signed-note): no spaces, no `+`.
    pub fn check_new(&self) -> Result<()> {
        self.check()?;
        if !crate::checkpoint::is_valid_name(&self.origin) {
            return Err(Error::InvalidArgument(format!(
                "origin `{}` must be a name without spaces or `+`, e.g. audit.example.com/prod",
                self.origin
            )));
        }
        let marked = self.origin.ends_with(BLAKE3_ORIGIN_MARK);
        match (self.hash, marked) {
            (HashAlg::Blake3, false) => Err(Error::InvalidArgument(format!(
                "a BLAKE3 log's origin ends in `{BLAKE3_ORIGIN_MARK}`, so that tools made for \
                 SHA-256 logs see it is not one: e.g. `{}{BLAKE3_ORIGIN_MARK}`",
                self.origin
            ))),
            (HashAlg::Sha256, true) => Err(Error::InvalidArgument(format!(
                "origin `{}` ends in `{BLAKE3_ORIGIN_MARK}`, which marks BLAKE3 logs; this one \
                 is SHA-256",
                self.origin
            ))),
            _ => Ok(()),
        }
    }

    /// These settings as a new log gets them: an empty origin replaced by one of its own
    /// (`auditlog.local/` and 16 random hex digits, marked for BLAKE3), then checked as
    /// [`LogConfig::check_new`] does. A default origin names one log only, as C2SP
    /// tlog-checkpoint requires, even for logs made without thought for it.
    pub fn for_new_log(&self) -> Result<LogConfig> {
        let mut config = self.clone();
        if config.origin.is_empty() {
            let mut id = [0u8; 8];
            getrandom::fill(&mut id)
                .map_err(|e| Error::InvalidArgument(format!("no random origin: {e}")))?;
            let mark = match config.hash {
                HashAlg::Blake3 => BLAKE3_ORIGIN_MARK,
                HashAlg::Sha256 => "",
            };
            config.origin = format!("{DEFAULT_ORIGIN_HOST}/{}{mark}", crate::hex::encode(&id));
        }
        config.check_new()?;
        Ok(config)
    }

    /// Reads `config.json` of the log in `dir`, checking its format version is one this
    /// build reads.
    pub fn load(storage: &dyn Storage, dir: &Path) -> Result<LogConfig> {
        let path = dir.join(CONFIG_FILE);
        let bytes = read_all(storage, &path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let file: ConfigFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
        let supported =
            crate::envelope::OLDEST_SUPPORTED_FORMAT_VERSION..=crate::envelope::FORMAT_VERSION;
        if !supported.contains(&file.format_version) {
            return Err(Error::InvalidArgument(format!(
                "{}: format version {} is not supported (this build reads {}..={})",
                path.display(),
                file.format_version,
                supported.start(),
                supported.end()
            )));
        }
        let config = LogConfig {
            hash: file.hash,
            origin: file.origin,
            segment_bytes: file.segment_bytes,
            durability: file.durability.parse().map_err(Error::InvalidArgument)?,
            checkpoint_interval: Duration::from_millis(file.checkpoint_interval_ms),
            sealing: file.sealing,
        };
        config.check()?;
        Ok(config)
    }

    pub(crate) fn store(&self, storage: &dyn Storage, dir: &Path) -> Result<()> {
        let file = ConfigFile {
            format_version: crate::envelope::FORMAT_VERSION,
            hash: self.hash,
            origin: self.origin.clone(),
            segment_bytes: self.segment_bytes,
            durability: self.durability.to_string(),
            checkpoint_interval_ms: u64::try_from(self.checkpoint_interval.as_millis())
                .unwrap_or(u64::MAX),
            sealing: self.sealing.clone(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        bytes.push(b'\n');
        let path = dir.join(CONFIG_FILE);
        write_atomically(storage, &path, &bytes)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_parses_and_prints() {
        for text in ["always", "none", "interval:5"] {
            let d: Durability = text.parse().unwrap_or(Durability::Always);
            assert_eq!(d.to_string(), text);
        }
        assert!("interval:0".parse::<Durability>().is_err());
        assert!("sometimes".parse::<Durability>().is_err());
    }

    #[test]
    fn new_logs_get_origins_of_their_own_and_blake3_ones_say_so() {
        let sha = LogConfig::default().for_new_log().expect("sha256");
        let other = LogConfig::default().for_new_log().expect("sha256");
        assert_eq!(sha.hash, HashAlg::Sha256, "SHA-256 by default");
        assert!(sha.origin.starts_with("auditlog.local/"), "{}", sha.origin);
        assert_eq!(sha.origin.len(), "auditlog.local/".len() + 16);
        assert_ne!(sha.origin, other.origin, "two logs, two origins");
        let blake3 = LogConfig {
            hash: HashAlg::Blake3,
            ..LogConfig::default()
        };
        let made = blake3.for_new_log().expect("blake3");
        assert!(made.origin.ends_with("#blake3"), "{}", made.origin);

        let named = |hash, origin: &str| LogConfig {
            hash,
            origin: origin.into(),
            ..LogConfig::default()
        };
        let chosen = named(HashAlg::Sha256, "audit.example.com/prod");
        assert_eq!(chosen.for_new_log().expect("kept").origin, chosen.origin);
        let unmarked = named(HashAlg::Blake3, "audit.example.com/prod").for_new_log();
        assert!(
            matches!(&unmarked, Err(Error::InvalidArgument(m)) if m.contains("audit.example.com/prod#blake3")),
            "{unmarked:?}"
        );
        let mislabelled = named(HashAlg::Sha256, "audit.example.com/prod#blake3").for_new_log();
        assert!(mislabelled.is_err(), "{mislabelled:?}");
    }
}
