//! Integration tests: every generated line has the documented shape, key order and
//! compact formatting; output is deterministic per seed; and 50,000 events follow
//! the distributions stated in the generator's README.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use auditlog_workload::{Config, Generator, PRIVILEGED_ACTIONS, is_privileged, write_jsonl};
use common::check::check_line;
use common::json::{Json, parse};

fn generate(config: &Config) -> String {
    let mut out = Vec::new();
    let n = write_jsonl(config, &mut out).expect("generate");
    assert_eq!(n, out.len() as u64);
    String::from_utf8(out).expect("UTF-8 output")
}

/// 50,000 events with the default options and seed 42, shared by the tests.
fn sample() -> &'static str {
    static SAMPLE: OnceLock<String> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        generate(&Config {
            count: 50_000,
            seed: 42,
            ..Config::default()
        })
    })
}

#[test]
fn every_line_has_the_documented_shape() {
    let text = sample();
    assert!(text.ends_with('\n'));
    let mut prev_ts = String::new();
    let mut users: HashMap<String, (String, String)> = HashMap::new();
    let mut orgs: HashMap<String, String> = HashMap::new();
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        let event = check_line(line).unwrap_or_else(|e| panic!("line {}: {e}\n{line}", i + 1));
        let ts = event.str_at("timestamp");
        assert!(ts >= prev_ts.as_str(), "line {}: {ts} < {prev_ts}", i + 1);
        assert!(
            ("2026-01-01T00:00:00Z".."2026-05-01T00:00:00Z").contains(&ts),
            "{ts}"
        );
        prev_ts = ts.to_owned();

        let actor = event.get("actor").expect("checked");
        let org = event.get("organization").expect("checked");
        let identity = (
            actor.str_at("email").to_owned(),
            org.str_at("id").to_owned(),
        );
        let known = users
            .entry(actor.str_at("user_id").to_owned())
            .or_insert_with(|| identity.clone());
        assert_eq!(*known, identity, "user attributes must be stable");
        let org_name = orgs
            .entry(org.str_at("id").to_owned())
            .or_insert_with(|| org.str_at("name").into());
        assert_eq!(org_name, org.str_at("name"), "org name must be stable");
        lines += 1;
    }
    assert_eq!(lines, 50_000);
    let names: HashSet<&String> = orgs.values().collect();
    assert_eq!(names.len(), orgs.len(), "org names are unique");
    assert!(
        orgs.len() > 900,
        "most of the 1000 orgs appear: {}",
        orgs.len()
    );
}

#[test]
fn api_client_user_agent_is_escaped_like_python() {
    // json.dumps escapes neither '/' nor '+'.
    let raw = r#""user_agent":"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)""#;
    assert!(sample().contains(raw));
    assert!(!sample().contains("\\/"));
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let config = Config {
        count: 5_000,
        seed: 77,
        orgs: 200,
        ..Config::default()
    };
    let a = generate(&config);
    assert_eq!(a, generate(&config));
    let via_iterator: String = Generator::new(&config).expect("valid").collect();
    assert_eq!(a, via_iterator);
    let b = generate(&Config { seed: 78, ..config });
    assert_ne!(a, b);
    let same_lines = a.lines().zip(b.lines()).filter(|(x, y)| x == y).count();
    assert_eq!(same_lines, 0);
}

#[test]
fn non_default_options_keep_the_shape() {
    let config = Config {
        count: 20_000,
        seed: 5,
        orgs: 3,
        days: 2,
        start: "2024-02-28T13:30:00Z".into(),
        users_per_org: 0,
        zipf: 0.0,
    };
    let text = generate(&config);
    let mut prev = "";
    let mut orgs = HashSet::new();
    for line in text.lines() {
        let event = check_line(line).unwrap_or_else(|e| panic!("{e}\n{line}"));
        let ts = &line[14..34];
        assert!(
            ts >= prev && ("2024-02-28T13:30:00Z"..="2024-03-01T13:30:00Z").contains(&ts),
            "{ts}"
        );
        prev = ts;
        orgs.insert(
            event
                .get("organization")
                .expect("checked")
                .str_at("id")
                .to_owned(),
        );
    }
    assert_eq!(orgs.len(), 3);
    assert!(
        text.contains("\"timestamp\":\"2024-02-29T"),
        "leap day is covered"
    );
}

fn share(count: usize, total: usize) -> f64 {
    100.0 * count as f64 / total as f64
}

fn assert_within(name: &str, value: f64, range: std::ops::Range<f64>) {
    assert!(
        range.contains(&value),
        "{name} = {value:.3}% not in {range:?}"
    );
}

#[test]
fn distributions_match_the_readme() {
    let events: Vec<Json> = sample()
        .lines()
        .map(|l| parse(l).expect("valid JSON"))
        .collect();
    let n = events.len();
    let count = |pred: &dyn Fn(&Json) -> bool| events.iter().filter(|e| pred(e)).count();
    let action = |e: &Json| e.str_at("action").to_owned();

    assert_within(
        "auth.*",
        share(count(&|e| action(e).starts_with("auth.")), n),
        55.2..57.7,
    );
    assert_within(
        "api_key.use",
        share(count(&|e| action(e) == "api_key.use"), n),
        16.2..18.1,
    );
    let privileged = count(&|e| is_privileged(e.str_at("action")));
    assert_eq!(
        privileged,
        count(&|e| PRIVILEGED_ACTIONS.contains(&e.str_at("action")))
    );
    assert_within("privileged", share(privileged, n), 2.9..3.65);

    let outcome = |o: &'static str| move |e: &Json| e.str_at("outcome") == o;
    assert_within("success", share(count(&outcome("success")), n), 94.2..95.2);
    assert_within("failure", share(count(&outcome("failure")), n), 3.7..4.5);
    assert_within("denied", share(count(&outcome("denied")), n), 1.0..1.45);
    let logins: Vec<&Json> = events
        .iter()
        .filter(|e| ["auth.login", "auth.mfa.challenge"].contains(&e.str_at("action")))
        .collect();
    let failed_logins = logins
        .iter()
        .filter(|e| e.str_at("outcome") != "success")
        .count();
    assert_within(
        "login non-success",
        share(failed_logins, logins.len()),
        9.0..11.0,
    );
    let denied_privileged =
        count(&|e| is_privileged(e.str_at("action")) && e.str_at("outcome") == "denied");
    assert_within(
        "privileged denied",
        share(denied_privileged, privileged),
        3.5..7.5,
    );

    assert_within(
        "IPv6",
        share(count(&|e| e.str_at("ip_address").contains(':')), n),
        6.0..15.0,
    );
    assert_within(
        "metadata",
        share(count(&|e| e.get("metadata").is_some()), n),
        68.0..70.5,
    );
    let api_ua = count(&|e| !e.str_at("user_agent").starts_with("Mozilla/"));
    assert_within("API-client UA", share(api_ua, n), 21.0..24.0);

    let mut per_org: HashMap<&str, usize> = HashMap::new();
    for e in &events {
        *per_org
            .entry(e.get("organization").expect("org").str_at("id"))
            .or_default() += 1;
    }
    let mut sizes: Vec<usize> = per_org.into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_within("top org", share(sizes[0], n), 12.6..14.1);
    assert_within("rank-10 org", share(sizes[9], n), 1.0..1.7);
    assert_within(
        "top 100 orgs",
        share(sizes[..100].iter().sum(), n),
        65.0..72.0,
    );

    // 2026-01-03 and -04 are a weekend; Saturdays and Sundays carry 35% of the weekday rate
    let weekend = count(&|e| {
        let ts = e.str_at("timestamp");
        let day: u32 = ts[8..10].parse().unwrap_or(0);
        let month: u32 = ts[5..7].parse().unwrap_or(0);
        let day_of_year = [0, 31, 59, 90][month as usize - 1] + day - 1;
        (day_of_year + 3) % 7 >= 5 // 2026-01-01 is a Thursday (Monday = 0)
    });
    assert_within("weekend", share(weekend, n), 11.2..13.2);
    let in_hour = |h: &'static str| count(&move |e: &Json| &e.str_at("timestamp")[11..13] == h);
    let ratio = in_hour("10") as f64 / in_hour("02") as f64;
    assert!((4.0..6.0).contains(&ratio), "hour 10 / hour 02 = {ratio}");
}
