//! The event stream: [`Generator`] draws timestamps from the hourly rate curve
//! (monotone inverse CDF), picks org, user and action, and assembles each JSON line.

use std::fmt;
use std::iter::FusedIterator;

use crate::actions::ACTIONS;
use crate::calendar::{self, SECS_PER_DAY, SECS_PER_HOUR};
use crate::config::{Config, ConfigError};
use crate::details;
use crate::json;
use crate::rng::{Cumulative, Rng};
use crate::rules::{self, ActionInfo, UaClass};
use crate::vocab::{API_UAS, BROWSER_UAS};
use crate::world::{self, World};

/// Relative activity per hour of the day, indexed by hour since `start` modulo 24
/// (UTC business hours busiest when `start` is at midnight).
const DIURNAL: [f64; 24] = [
    0.25, 0.2, 0.2, 0.2, 0.22, 0.3, 0.45, 0.65, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95,
    0.9, 0.85, 0.75, 0.6, 0.45, 0.33,
];

/// Activity factor of Saturdays and Sundays (UTC).
const WEEKEND_FACTOR: f64 = 0.35;

/// Share of events sent from one of the user's habitual IP addresses.
const HABITUAL_IP: f64 = 0.9;

/// Share of IPv6 among the non-habitual addresses.
const IPV6_SHARE: f64 = 0.1;

/// Share of `config.*` / `feature_flag.*` events sent by the user's API client.
const API_CLIENT_SHARE: f64 = 0.25;

/// Cumulative activity of each hour of the span.
fn hour_table(start_epoch: i64, days: u32) -> Cumulative {
    Cumulative::new((0..i64::from(days) * 24).map(|h| {
        let t = start_epoch + h * SECS_PER_HOUR;
        let weekend = calendar::weekday(t.div_euclid(SECS_PER_DAY)) >= 5;
        DIURNAL[(h % 24) as usize] * if weekend { WEEKEND_FACTOR } else { 1.0 }
    }))
}

/// Deterministic generator of audit events as compact JSON lines.
///
/// Events come out in non-decreasing timestamp order. Besides
/// [`next_line`](Generator::next_line), which appends into a caller-owned buffer,
/// the generator is an [`Iterator`] of owned lines (each ending in `'\n'`).
pub struct Generator {
    rng: Rng,
    world: World,
    actions: Vec<ActionInfo>,
    action_cum: Cumulative,
    hours: Cumulative,
    start_epoch: i64,
    count: u64,
    produced: u64,
    cached_day: Option<i64>,
    day_prefix: String,
    browser_ua_json: Vec<String>,
    api_ua_json: Vec<String>,
    meta: String,
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("orgs", &self.world.orgs.len())
            .field("start_epoch", &self.start_epoch)
            .field("count", &self.count)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// Validates `config` and builds the world (organizations and users) from its seed.
    pub fn new(config: &Config) -> Result<Generator, ConfigError> {
        let start_epoch = config.start_epoch()?;
        let mut rng = Rng::new(config.seed);
        let world = World::build(&mut rng, config.orgs, config.users_per_org, config.zipf);
        Ok(Generator {
            rng,
            world,
            actions: ACTIONS
                .iter()
                .map(|&(name, _, p)| rules::classify(name, p))
                .collect(),
            action_cum: Cumulative::new(ACTIONS.iter().map(|a| a.1)),
            hours: hour_table(start_epoch, config.days),
            start_epoch,
            count: config.count,
            produced: 0,
            cached_day: None,
            day_prefix: String::with_capacity(11),
            browser_ua_json: BROWSER_UAS.iter().map(|ua| json::quoted(ua)).collect(),
            api_ua_json: API_UAS.iter().map(|ua| json::quoted(ua)).collect(),
            meta: String::with_capacity(128),
        })
    }

    /// Number of events still to come.
    pub fn remaining(&self) -> u64 {
        self.count - self.produced
    }

    /// Appends the next event as one JSON line (with the trailing `'\n'`) to `out`;
    /// returns `false` (leaving `out` untouched) once `count` events were produced.
    pub fn next_line(&mut self, out: &mut String) -> bool {
        if self.produced >= self.count {
            return false;
        }
        let i = self.produced;
        self.produced += 1;
        let Generator {
            rng,
            world,
            actions,
            action_cum,
            hours,
            meta,
            ..
        } = self;

        // --- timestamp: monotone inverse CDF of the hourly rate function
        let u = (i as f64 + rng.next_f64()) / self.count as f64 * hours.total();
        let h = hours.locate(u);
        let (lo, hi) = (hours.lower(h), hours.upper(h));
        let frac = (u - lo) / (hi - lo);
        let ts = self.start_epoch + h as i64 * SECS_PER_HOUR + (frac * 3600.0) as i64;
        let day = ts.div_euclid(SECS_PER_DAY);
        if self.cached_day != Some(day) {
            self.day_prefix.clear();
            calendar::push_date_prefix(&mut self.day_prefix, day);
            self.cached_day = Some(day);
        }

        // --- who
        let org = &world.orgs[world.org_cum.sample(rng)];
        let user = &org.users[org.user_cum.sample(rng)];

        // --- what
        let action = &actions[action_cum.sample(rng)];
        let outcome = rules::outcome(action.outcome, rng.next_f64());

        out.push_str("{\"timestamp\":\"");
        out.push_str(&self.day_prefix);
        calendar::push_time_suffix(out, ts.rem_euclid(SECS_PER_DAY) as u32);
        out.push_str("\",\"actor\":");
        out.push_str(&user.actor_json);
        out.push_str(",\"organization\":");
        out.push_str(&org.json);
        out.push_str(",\"action\":");
        json::push_str(out, action.name);
        out.push_str(",\"resource\":");
        meta.clear();
        details::push_details(out, meta, action.detail, outcome, org, rng);
        out.push_str(",\"outcome\":\"");
        out.push_str(outcome.as_str());

        // --- where from: habitual IP 90%, otherwise a random documentation address
        out.push_str("\",\"ip_address\":\"");
        if rng.chance(HABITUAL_IP) {
            out.push_str(rng.choose(&user.ips).as_str());
        } else if rng.chance(IPV6_SHARE) {
            world::push_ipv6(out, rng);
        } else {
            world::push_ipv4(out, rng);
        }
        let api_like = match action.ua {
            UaClass::Api => true,
            UaClass::Sometimes => rng.chance(API_CLIENT_SHARE),
            UaClass::Browser => false,
        };
        out.push_str("\",\"user_agent\":");
        out.push_str(if api_like {
            &self.api_ua_json[user.api_ua]
        } else {
            &self.browser_ua_json[user.browser_ua]
        });
        if !meta.is_empty() {
            out.push_str(",\"metadata\":");
            out.push_str(meta);
        }
        out.push_str("}\n");
        true
    }
}

impl Iterator for Generator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut line = String::with_capacity(512);
        self.next_line(&mut line).then_some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        (n, usize::try_from(self.remaining()).ok())
    }
}

impl FusedIterator for Generator {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_table_follows_diurnal_curve_and_weekends() {
        // 2026-01-01 is a Thursday: days 0-1 weekdays, 2-3 weekend, 4 Monday
        let start = calendar::parse_timestamp("2026-01-01T00:00:00Z").unwrap_or_default();
        let t = hour_table(start, 7);
        assert_eq!(t.len(), 7 * 24);
        let w = |h: usize| t.upper(h) - t.lower(h);
        assert!((w(0) - 0.25).abs() < 1e-12);
        assert!((w(10) - 1.0).abs() < 1e-12);
        assert!((w(2 * 24 + 10) - 0.35).abs() < 1e-12);
        assert!((w(3 * 24 + 23) - 0.33 * 0.35).abs() < 1e-12);
        assert!((w(4 * 24 + 10) - 1.0).abs() < 1e-12);
        let weekday_total: f64 = DIURNAL.iter().sum();
        assert!((t.total() - weekday_total * (5.0 + 2.0 * 0.35)).abs() < 1e-9);
    }

    #[test]
    fn produces_exactly_count_lines_then_stops() {
        let config = Config {
            count: 25,
            orgs: 20,
            ..Config::default()
        };
        let mut g = Generator::new(&config).expect("valid config");
        assert_eq!(g.size_hint(), (25, Some(25)));
        let mut buf = String::new();
        let mut n = 0;
        while g.next_line(&mut buf) {
            n += 1;
            assert!(buf.ends_with("}\n"));
            assert_eq!(buf.matches('\n').count(), n);
        }
        assert_eq!(n, 25);
        let len = buf.len();
        assert!(!g.next_line(&mut buf));
        assert_eq!(buf.len(), len);
        assert_eq!(g.next(), None);
        assert_eq!(g.remaining(), 0);
    }

    #[test]
    fn timestamps_cover_the_span_in_order() {
        let config = Config {
            count: 5000,
            orgs: 50,
            days: 3,
            ..Config::default()
        };
        let lines: Vec<String> = Generator::new(&config).expect("valid config").collect();
        let stamps: Vec<&str> = lines.iter().map(|l| &l[14..34]).collect();
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
        assert!(stamps[0].starts_with("2026-01-01T00:"), "{}", stamps[0]);
        assert!(stamps[stamps.len() - 1].starts_with("2026-01-03T23:"));
        // hour 10 (weight 1.0) is much busier than hour 2 (weight 0.2)
        let at = |hh: &str| stamps.iter().filter(|s| &s[11..13] == hh).count();
        assert!(at("10") > 3 * at("02"), "{} vs {}", at("10"), at("02"));
    }

    #[test]
    fn invalid_config_is_reported() {
        let config = Config {
            start: "yesterday".into(),
            ..Config::default()
        };
        assert!(matches!(
            Generator::new(&config),
            Err(ConfigError::InvalidStart(_))
        ));
    }
}
