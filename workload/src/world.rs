//! The simulated world: organizations (unique names, domains, flags, API keys,
//! plan) and their users (ids, emails, habitual IPs, user agents), all derived
//! from the seed, plus the Zipf activity tables over them.

use std::collections::{BTreeSet, HashSet};

use crate::json;
use crate::rng::{Cumulative, Rng};
use crate::vocab::{
    API_UA_WEIGHTS, BROWSER_UA_WEIGHTS, FIRST, FLAG_A, FLAG_B, FLAG_C, IPV4_NETS, LAST, ORG_ADJ,
    ORG_NOUN, ORG_SUFFIX, PLANS, TLDS,
};

/// Alphabet of the random id parts.
const B36: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Zipf exponent of user activity inside an organization.
const USER_ZIPF: f64 = 0.8;

/// One user and the attributes that stay fixed across its events.
#[derive(Debug)]
pub(crate) struct User {
    /// `usr_` + 10 base36 characters.
    pub(crate) id: String,
    /// Pre-encoded `{"user_id":"…","email":"…"}`.
    pub(crate) actor_json: String,
    /// 1–3 habitual IP addresses (10% IPv6).
    pub(crate) ips: Vec<String>,
    /// Index into `vocab::BROWSER_UAS`.
    pub(crate) browser_ua: usize,
    /// Index into `vocab::API_UAS`.
    pub(crate) api_ua: usize,
}

/// One organization.
#[derive(Debug)]
pub(crate) struct Org {
    /// `org_` + 8 base36 characters.
    pub(crate) id: String,
    /// Pre-encoded `{"id":"…","name":"…"}`.
    pub(crate) json: String,
    /// At least three users.
    pub(crate) users: Vec<User>,
    /// Zipf(0.8) activity over `users`.
    pub(crate) user_cum: Cumulative,
    /// Sorted, distinct feature-flag keys such as `new-billing-flow`.
    pub(crate) flags: Vec<String>,
    /// 1–6 API key ids (`key_` + 12 base36 characters).
    pub(crate) keys: Vec<String>,
    /// Index into `vocab::PLANS`.
    pub(crate) plan: usize,
}

/// All organizations plus their activity distribution.
#[derive(Debug)]
pub(crate) struct World {
    /// Organizations in generation order, which is also their activity rank.
    pub(crate) orgs: Vec<Org>,
    /// Zipf(s) activity over `orgs`: rank r gets weight 1/r^s.
    pub(crate) org_cum: Cumulative,
}

/// Number of distinct organization names the vocabulary can form.
pub(crate) fn max_org_names() -> usize {
    let suffixes: HashSet<&str> = ORG_SUFFIX.iter().copied().collect();
    ORG_ADJ.len() * ORG_NOUN.len() * suffixes.len()
}

/// Largest number of users one organization may get: half of the distinct email
/// local parts (`first.last` plus the suffixes 2..=99), so that the unique-email
/// rejection loop always finishes quickly.
pub(crate) fn max_users_in_org() -> usize {
    FIRST.len() * LAST.len() * 99 / 2
}

/// Number of users of an organization: `max(3, round(factor * mean))`, rounding
/// half to even like Python's `round`.
pub(crate) fn users_for(mean: usize, factor: f64) -> usize {
    ((factor * mean as f64).round_ties_even() as usize).max(3)
}

/// Appends `n` random base36 characters.
fn push_b36(out: &mut String, rng: &mut Rng, n: usize) {
    for _ in 0..n {
        out.push(char::from(*rng.choose(B36)));
    }
}

/// `prefix` followed by `n` random base36 characters.
fn rid(rng: &mut Rng, prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    push_b36(&mut s, rng, n);
    s
}

/// Appends a random address from the IPv4 documentation ranges (`.1`–`.254`).
pub(crate) fn push_ipv4(out: &mut String, rng: &mut Rng) {
    out.push_str(rng.pick(IPV4_NETS));
    json::push_dec(out, rng.range_inclusive(1, 254), 0);
}

/// Appends a random `2001:db8:%x:%x::%x` documentation address.
pub(crate) fn push_ipv6(out: &mut String, rng: &mut Rng) {
    out.push_str("2001:db8:");
    json::push_hex(out, rng.range_inclusive(0, 0xffff), 0);
    out.push(':');
    json::push_hex(out, rng.range_inclusive(0, 0xffff), 0);
    out.push_str("::");
    json::push_hex(out, rng.range_inclusive(1, 0xffff), 0);
}

/// A fresh unique "Adjective Noun [Suffix]" name.
fn org_name(rng: &mut Rng, used: &mut HashSet<String>) -> String {
    loop {
        let parts = [rng.pick(ORG_ADJ), rng.pick(ORG_NOUN), rng.pick(ORG_SUFFIX)];
        let name = parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if used.insert(name.clone()) {
            return name;
        }
    }
}

/// A fresh unique email local part: `first.last`, or on a clash `first.lastNN`
/// with NN in 2..=99 (retrying from scratch if that clashes too).
fn email_local(rng: &mut Rng, used: &mut HashSet<String>) -> String {
    loop {
        let mut local = format!("{}.{}", rng.pick(FIRST), rng.pick(LAST));
        if used.contains(&local) {
            json::push_dec(&mut local, rng.range_inclusive(2, 99), 0);
        }
        if used.insert(local.clone()) {
            return local;
        }
    }
}

/// Weighted choice tables of the browser and API user agents.
#[derive(Debug)]
struct UaTables {
    browser: Cumulative,
    api: Cumulative,
}

fn build_user(
    rng: &mut Rng,
    domain: &str,
    used_emails: &mut HashSet<String>,
    uas: &UaTables,
) -> User {
    let local = email_local(rng, used_emails);
    let id = rid(rng, "usr_", 10);
    let n_ips = rng.range_inclusive(1, 3);
    let ips = (0..n_ips)
        .map(|_| {
            let mut ip = String::with_capacity(24);
            if rng.chance(0.1) {
                push_ipv6(&mut ip, rng);
            } else {
                push_ipv4(&mut ip, rng);
            }
            ip
        })
        .collect();
    let browser_ua = uas.browser.sample(rng);
    let api_ua = uas.api.sample(rng);
    let mut actor_json = String::with_capacity(64);
    actor_json.push_str("{\"user_id\":");
    json::push_str(&mut actor_json, &id);
    actor_json.push_str(",\"email\":");
    json::push_str(&mut actor_json, &format!("{local}@{domain}"));
    actor_json.push('}');
    User {
        id,
        actor_json,
        ips,
        browser_ua,
        api_ua,
    }
}

fn build_org(
    rng: &mut Rng,
    used_names: &mut HashSet<String>,
    users_mean: usize,
    uas: &UaTables,
) -> Org {
    let name = org_name(rng, used_names);
    let id = rid(rng, "org_", 8);
    let mut domain: String = name
        .split(' ')
        .filter(|w| !ORG_SUFFIX.contains(w))
        .map(str::to_lowercase)
        .collect();
    domain.push('.');
    domain.push_str(rng.pick(TLDS));

    let n_users = users_for(users_mean, rng.uniform(0.4, 1.6));
    let mut used_emails = HashSet::with_capacity(n_users);
    let users: Vec<User> = (0..n_users)
        .map(|_| build_user(rng, &domain, &mut used_emails, uas))
        .collect();

    let n_flags = rng.range_inclusive(5, 40);
    let flags: BTreeSet<String> = (0..n_flags)
        .map(|_| {
            format!(
                "{}-{}-{}",
                rng.pick(FLAG_A),
                rng.pick(FLAG_B),
                rng.pick(FLAG_C)
            )
        })
        .collect();

    let mut json_text = String::with_capacity(64);
    json_text.push_str("{\"id\":");
    json::push_str(&mut json_text, &id);
    json_text.push_str(",\"name\":");
    json::push_str(&mut json_text, &name);
    json_text.push('}');

    let n_keys = rng.range_inclusive(1, 6);
    let keys = (0..n_keys).map(|_| rid(rng, "key_", 12)).collect();
    let plan = rng.index(PLANS.len());
    Org {
        id,
        json: json_text,
        user_cum: Cumulative::zipf(users.len(), USER_ZIPF),
        users,
        flags: flags.into_iter().collect(),
        keys,
        plan,
    }
}

impl World {
    /// Builds `n_orgs` organizations with on average `users_mean` users each;
    /// the organization generated r-th gets activity weight `1 / r^zipf_s`.
    ///
    /// The caller guarantees `1 <= n_orgs <= max_org_names()` and that
    /// `users_for(users_mean, 1.6) <= max_users_in_org()`.
    pub(crate) fn build(rng: &mut Rng, n_orgs: usize, users_mean: usize, zipf_s: f64) -> World {
        let uas = UaTables {
            browser: Cumulative::new(BROWSER_UA_WEIGHTS.iter().copied()),
            api: Cumulative::new(API_UA_WEIGHTS.iter().copied()),
        };
        let mut used_names = HashSet::with_capacity(n_orgs);
        let orgs = (0..n_orgs)
            .map(|_| build_org(rng, &mut used_names, users_mean, &uas))
            .collect();
        World {
            orgs,
            org_cum: Cumulative::zipf(n_orgs, zipf_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities() {
        assert_eq!(max_org_names(), 40 * 39 * 8);
        assert_eq!(max_users_in_org(), 47 * 53 * 99 / 2);
        assert_eq!(users_for(50, 0.4), 20);
        assert_eq!(users_for(50, 1.59), 80);
        assert_eq!(users_for(1, 0.4), 3);
        assert_eq!(users_for(0, 1.0), 3);
        assert_eq!(users_for(5, 0.5), 3); // 2.5 rounds to even 2, then max(3, ..)
        assert_eq!(users_for(7, 0.5), 4); // 3.5 rounds to even 4
    }

    #[test]
    fn world_invariants() {
        let mut rng = Rng::new(3);
        let world = World::build(&mut rng, 300, 50, 1.0);
        assert_eq!(world.orgs.len(), 300);
        assert_eq!(world.org_cum.len(), 300);
        let names: HashSet<&str> = world.orgs.iter().map(|o| o.json.as_str()).collect();
        assert_eq!(names.len(), 300);
        let mut total_users = 0;
        let mut ips = 0usize;
        let mut v6 = 0usize;
        for org in &world.orgs {
            assert!(org.id.starts_with("org_") && org.id.len() == 12);
            assert!(
                org.json
                    .starts_with(&format!("{{\"id\":\"{}\",\"name\":\"", org.id))
            );
            assert!((20..=80).contains(&org.users.len()), "{}", org.users.len());
            assert_eq!(org.user_cum.len(), org.users.len());
            assert!(
                org.flags.windows(2).all(|w| w[0] < w[1]),
                "flags sorted and distinct"
            );
            assert!(!org.flags.is_empty() && org.flags.len() <= 40);
            assert!((1..=6).contains(&org.keys.len()));
            assert!(
                org.keys
                    .iter()
                    .all(|k| k.starts_with("key_") && k.len() == 16)
            );
            assert!(org.plan < PLANS.len());
            let mut emails = HashSet::new();
            for user in &org.users {
                assert!(user.id.starts_with("usr_") && user.id.len() == 14);
                let email = user
                    .actor_json
                    .split("\"email\":\"")
                    .nth(1)
                    .unwrap_or_default();
                assert!(emails.insert(email.to_owned()), "duplicate email {email}");
                assert!((1..=3).contains(&user.ips.len()));
                ips += user.ips.len();
                v6 += user
                    .ips
                    .iter()
                    .filter(|ip| ip.starts_with("2001:db8:"))
                    .count();
            }
            total_users += org.users.len();
        }
        let mean = total_users as f64 / 300.0;
        assert!((45.0..55.0).contains(&mean), "mean users {mean}");
        let v6_share = v6 as f64 / ips as f64;
        assert!((0.08..0.12).contains(&v6_share), "IPv6 share {v6_share}");
    }

    #[test]
    fn emails_get_numeric_suffixes_when_names_clash() {
        let mut rng = Rng::new(5);
        let mut used = HashSet::new();
        let locals: Vec<String> = (0..3000)
            .map(|_| email_local(&mut rng, &mut used))
            .collect();
        assert_eq!(used.len(), 3000);
        let suffixed = locals
            .iter()
            .filter(|l| l.ends_with(|c: char| c.is_ascii_digit()))
            .count();
        assert!(suffixed > 500, "{suffixed}");
        for l in &locals {
            let digits = l.trim_end_matches(|c: char| c.is_ascii_digit());
            let n = &l[digits.len()..];
            assert!(
                n.is_empty() || (2..=99).contains(&n.parse::<u32>().unwrap_or(0)),
                "{l}"
            );
            assert_eq!(digits.matches('.').count(), 1, "{l}");
        }
    }

    #[test]
    fn ip_formats() {
        let mut rng = Rng::new(11);
        for _ in 0..1000 {
            let mut s = String::new();
            push_ipv4(&mut s, &mut rng);
            let (net, host) = s.rsplit_once('.').unwrap_or_default();
            assert!(IPV4_NETS.contains(&format!("{net}.").as_str()), "{s}");
            assert!((1..=254).contains(&host.parse::<u32>().unwrap_or(0)), "{s}");
            s.clear();
            push_ipv6(&mut s, &mut rng);
            let groups: Vec<&str> = s.split(':').collect();
            assert_eq!(groups.len(), 6, "{s}");
            assert_eq!(
                (groups[0], groups[1], groups[4]),
                ("2001", "db8", ""),
                "{s}"
            );
            for g in [groups[2], groups[3], groups[5]] {
                assert!(!g.is_empty() && g.len() <= 4 && !(g.len() > 1 && g.starts_with('0')));
            }
            assert_ne!(groups[5], "0");
        }
    }
}
