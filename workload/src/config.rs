//! Generator options ([`Config`]) and their validation ([`ConfigError`]).

use std::fmt;

use crate::calendar::{self, SECS_PER_DAY};
use crate::world;

/// Options of the generator; the same options always give the same output.
///
/// The defaults match `gen_events.py`: 1000 events, seed 1, 1000 organizations,
/// 120 days from 2026-01-01T00:00:00Z, 50 users per organization on average,
/// Zipf exponent 1.0 for organization activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of events to produce.
    pub count: u64,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
    /// Number of organizations (1 ..= 12480, the number of distinct names).
    pub orgs: usize,
    /// Length of the time span in days (at least 1). The hourly rate table costs
    /// 8 bytes per hour of the span.
    pub days: u32,
    /// First instant of the time span, UTC, formatted `YYYY-MM-DDTHH:MM:SSZ`.
    pub start: String,
    /// Mean number of users per organization; each organization gets
    /// `max(3, round(uniform(0.4, 1.6) * users_per_org))` users.
    pub users_per_org: usize,
    /// Zipf exponent `s` of organization activity: the organization of rank `r`
    /// gets weight `1 / r^s`. Must be finite.
    pub zipf: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            count: 1000,
            seed: 1,
            orgs: 1000,
            days: 120,
            start: "2026-01-01T00:00:00Z".to_owned(),
            users_per_org: 50,
            zipf: 1.0,
        }
    }
}

/// Why a [`Config`] cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// `start` is not a valid `YYYY-MM-DDTHH:MM:SSZ` timestamp.
    InvalidStart(String),
    /// The time span would end after 9999-12-31.
    SpanOutOfRange {
        /// The configured start.
        start: String,
        /// The configured number of days.
        days: u32,
    },
    /// `days` is zero.
    ZeroDays,
    /// `orgs` is zero.
    ZeroOrgs,
    /// More organizations than distinct organization names.
    TooManyOrgs {
        /// The configured number of organizations.
        orgs: usize,
        /// The largest supported number.
        max: usize,
    },
    /// `users_per_org` is so large that an organization could need more
    /// distinct email addresses than the name vocabulary comfortably provides.
    TooManyUsers {
        /// The configured mean number of users.
        users_per_org: usize,
        /// The largest supported mean.
        max: usize,
    },
    /// `zipf` is NaN or infinite.
    InvalidZipf(f64),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidStart(s) => {
                write!(
                    f,
                    "invalid start {s:?}: expected YYYY-MM-DDTHH:MM:SSZ (UTC)"
                )
            }
            ConfigError::SpanOutOfRange { start, days } => {
                write!(f, "{days} days from {start} extend beyond the year 9999")
            }
            ConfigError::ZeroDays => f.write_str("days must be at least 1"),
            ConfigError::ZeroOrgs => f.write_str("orgs must be at least 1"),
            ConfigError::TooManyOrgs { orgs, max } => {
                write!(
                    f,
                    "{orgs} organizations requested, but only {max} distinct names exist"
                )
            }
            ConfigError::TooManyUsers { users_per_org, max } => {
                write!(
                    f,
                    "users_per_org {users_per_org} is too large (at most {max})"
                )
            }
            ConfigError::InvalidZipf(s) => write!(f, "zipf exponent must be finite, got {s}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks the options without building anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.start_epoch().map(|_| ())
    }

    /// Validates the options and returns `start` as seconds since the Unix epoch.
    pub(crate) fn start_epoch(&self) -> Result<i64, ConfigError> {
        let start = calendar::parse_timestamp(&self.start)
            .ok_or_else(|| ConfigError::InvalidStart(self.start.clone()))?;
        if self.days == 0 {
            return Err(ConfigError::ZeroDays);
        }
        let limit = calendar::days_from_civil(9999, 12, 31) * SECS_PER_DAY;
        if start + i64::from(self.days) * SECS_PER_DAY > limit {
            return Err(ConfigError::SpanOutOfRange {
                start: self.start.clone(),
                days: self.days,
            });
        }
        if self.orgs == 0 {
            return Err(ConfigError::ZeroOrgs);
        }
        let max_orgs = world::max_org_names();
        if self.orgs > max_orgs {
            return Err(ConfigError::TooManyOrgs {
                orgs: self.orgs,
                max: max_orgs,
            });
        }
        let max_mean = (world::max_users_in_org() as f64 / 1.6) as usize;
        if self.users_per_org > max_mean {
            return Err(ConfigError::TooManyUsers {
                users_per_org: self.users_per_org,
                max: max_mean,
            });
        }
        if !self.zipf.is_finite() {
            return Err(ConfigError::InvalidZipf(self.zipf));
        }
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.start_epoch(), Ok(1_767_225_600));
        assert_eq!(
            (c.count, c.seed, c.orgs, c.days, c.users_per_org),
            (1000, 1, 1000, 120, 50)
        );
        assert_eq!(c.zipf, 1.0);
    }

    #[test]
    fn bad_options_are_rejected() {
        let base = Config::default();
        let cases = [
            (
                Config {
                    start: "2026-01-01".into(),
                    ..base.clone()
                },
                "invalid start",
            ),
            (
                Config {
                    start: "9999-12-01T00:00:00Z".into(),
                    ..base.clone()
                },
                "beyond",
            ),
            (
                Config {
                    days: 0,
                    ..base.clone()
                },
                "days",
            ),
            (
                Config {
                    orgs: 0,
                    ..base.clone()
                },
                "orgs",
            ),
            (
                Config {
                    orgs: 12_481,
                    ..base.clone()
                },
                "distinct names",
            ),
            (
                Config {
                    users_per_org: 1_000_000,
                    ..base.clone()
                },
                "too large",
            ),
            (
                Config {
                    zipf: f64::NAN,
                    ..base.clone()
                },
                "finite",
            ),
        ];
        for (config, needle) in cases {
            let err = config.validate().expect_err(needle);
            assert!(err.to_string().contains(needle), "{err}");
        }
        let ok = Config {
            orgs: 12_480,
            users_per_org: 0,
            zipf: -0.5,
            ..base
        };
        assert_eq!(ok.validate(), Ok(()));
    }
}
