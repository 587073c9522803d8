//! Deterministic synthetic audit-event workload generator (JSON Lines).
//!
//! A dependency-free port of `gen_events.py`: the same event shape, key order,
//! compact formatting, vocabularies and distributions, driven by a seeded
//! xoshiro256** generator (so the output is deterministic per [`Config`], but not
//! byte-identical to the Python generator).
//!
//! Each event is one compact line (no whitespace between tokens, `\n`-terminated;
//! wrapped here for reading) such as
//!
//! ```text
//! {"timestamp":"2026-03-08T14:32:01Z",
//!  "actor":{"user_id":"usr_hqxqrsxqd3","email":"jin.scott@boldfinance.com"},
//!  "organization":{"id":"org_s4ukkfk6","name":"Bold Finance Corp"},
//!  "action":"feature_flag.override.create",
//!  "resource":{"type":"flag","id":"new-billing-flow"},
//!  "outcome":"success",
//!  "ip_address":"203.0.113.42",
//!  "user_agent":"Mozilla/5.0 (...) Chrome/122.0.6261.112 Safari/537.36",
//!  "metadata":{"environment":"production","target":"user","value":true}}
//! ```
//!
//! `metadata` is present in about 69% of events. Organization activity is
//! Zipf(`zipf`), user activity within an organization Zipf(0.8), actions follow
//! the weights of [`ACTIONS`] (auth.* ≈ 56%, `api_key.use` ≈ 17%, privileged
//! ≈ 3.3%), outcomes are ≈ 94.7% success / 4.1% failure / 1.2% denied, and
//! timestamps follow an hourly rate curve (weekends at 35%) in non-decreasing order.
//!
//! ```
//! use auditlog_workload::{Config, Generator};
//!
//! let config = Config { count: 3, orgs: 10, ..Config::default() };
//! let mut generator = Generator::new(&config)?;
//! let mut buf = String::new();
//! while generator.next_line(&mut buf) {}
//! assert_eq!(buf.lines().count(), 3);
//! assert!(buf.starts_with("{\"timestamp\":\"2026-"));
//! # Ok::<(), auditlog_workload::ConfigError>(())
//! ```
#![deny(missing_docs)]

mod actions;
mod calendar;
mod config;
mod details;
mod generate;
mod json;
mod rng;
mod rules;
mod vocab;
mod world;

use std::io::{self, Write};

pub use actions::{ACTIONS, PRIVILEGED_ACTIONS, PRIVILEGED_PREFIXES, is_privileged};
pub use config::{Config, ConfigError};
pub use generate::Generator;

/// `epoch` (seconds since the Unix epoch) in the form [`Config::start`] takes,
/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn start_at(epoch: i64) -> String {
    let mut start = String::with_capacity(20);
    calendar::push_timestamp(&mut start, epoch);
    start
}

/// Size of the chunks [`write_jsonl`] hands to the writer.
const CHUNK_BYTES: usize = 1 << 20;

/// Writes all `config.count` events to `out` as JSON Lines, in chunks of about
/// 1 MiB, then flushes `out`. Returns the total number of bytes written.
///
/// An invalid `config` is reported as an [`io::ErrorKind::InvalidInput`] error
/// wrapping the [`ConfigError`], before anything is written.
pub fn write_jsonl<W: Write>(config: &Config, mut out: W) -> io::Result<u64> {
    let mut generator =
        Generator::new(config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut buf = String::with_capacity(CHUNK_BYTES + 4096);
    let mut total = 0u64;
    while generator.next_line(&mut buf) {
        if buf.len() >= CHUNK_BYTES {
            out.write_all(buf.as_bytes())?;
            total += buf.len() as u64;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        out.write_all(buf.as_bytes())?;
        total += buf.len() as u64;
    }
    out.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_jsonl_matches_the_generator_and_counts_bytes() {
        let config = Config {
            count: 3000,
            orgs: 100,
            seed: 9,
            ..Config::default()
        };
        let mut out = Vec::new();
        let n = write_jsonl(&config, &mut out).expect("write to Vec");
        assert_eq!(n, out.len() as u64);
        let expected: String = Generator::new(&config).expect("valid").collect();
        assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
    }

    #[test]
    fn write_jsonl_rejects_bad_config() {
        let config = Config {
            orgs: 0,
            ..Config::default()
        };
        let mut out = Vec::new();
        let err = write_jsonl(&config, &mut out).expect_err("zero orgs");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty());
    }

    #[test]
    fn zero_events_write_nothing() {
        let config = Config {
            count: 0,
            orgs: 5,
            ..Config::default()
        };
        let mut out = Vec::new();
        assert_eq!(write_jsonl(&config, &mut out).expect("ok"), 0);
        assert!(out.is_empty());
    }
}
