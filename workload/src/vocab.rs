//! Fixed vocabularies: organization names, TLDs, person names, flag words,
//! config keys, roles, plans, environments, API scopes and user-agent strings.

/// First word of an organization name.
pub(crate) const ORG_ADJ: &[&str] = &[
    "Acme", "Blue", "Red", "Green", "Silver", "Golden", "Iron", "Quantum", "Nimble", "Bright",
    "North", "South", "East", "West", "Summit", "Rapid", "Clear", "Bold", "Swift", "Prime",
    "Atlas", "Vector", "Stellar", "Lunar", "Solar", "Coastal", "Urban", "Alpine", "Crimson",
    "Amber", "Cobalt", "Ivory", "Onyx", "Maple", "Cedar", "Pine", "Harbor", "River", "Canyon",
    "Meadow",
];

/// Second word of an organization name.
pub(crate) const ORG_NOUN: &[&str] = &[
    "Labs",
    "Systems",
    "Works",
    "Dynamics",
    "Logistics",
    "Analytics",
    "Health",
    "Capital",
    "Robotics",
    "Networks",
    "Foods",
    "Media",
    "Energy",
    "Software",
    "Cloud",
    "Data",
    "Retail",
    "Motors",
    "Bio",
    "Security",
    "Finance",
    "Learning",
    "Travel",
    "Studios",
    "Partners",
    "Ventures",
    "Industries",
    "Devices",
    "Pay",
    "Commerce",
    "Insights",
    "Games",
    "Markets",
    "Supply",
    "Freight",
    "Legal",
    "Realty",
    "Design",
    "Telecom",
];

/// Optional legal suffix of an organization name (`""` = none, 3 of 10).
pub(crate) const ORG_SUFFIX: &[&str] = &[
    "Inc", "Corp", "LLC", "Ltd", "GmbH", "Co", "Group", "", "", "",
];

/// Top-level domains of organization domains (`com` weighted 3).
pub(crate) const TLDS: &[&str] = &["com", "com", "com", "io", "co", "dev", "ai", "net"];

/// Given names (email local parts are `first.last[NN]`).
pub(crate) const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yusuf", "zoe",
    "amir", "bea", "chen", "diego", "elena", "farah", "goran", "hana", "igor", "jin", "kenji",
    "lara", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sanjay", "tara", "uma", "vera",
    "wei", "xavier", "yara", "zain",
];

/// Family names.
pub(crate) const LAST: &[&str] = &[
    "smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "anderson", "thomas",
    "taylor", "moore", "martin", "lee", "perez", "white", "harris", "clark", "lewis", "young",
    "walker", "hall", "allen", "king", "wright", "scott", "green", "baker", "adams", "nelson",
    "hill", "campbell", "mitchell", "roberts", "carter", "phillips", "evans", "turner", "torres",
    "parker", "collins", "edwards", "stewart", "morris", "murphy", "cook", "rogers", "kim",
    "nguyen", "patel", "singh", "muller", "rossi", "novak",
];

/// First word of a feature-flag key.
pub(crate) const FLAG_A: &[&str] = &[
    "new", "beta", "legacy", "fast", "smart", "async", "v2", "unified", "instant", "bulk",
];

/// Second word of a feature-flag key.
pub(crate) const FLAG_B: &[&str] = &[
    "billing",
    "checkout",
    "search",
    "onboarding",
    "dashboard",
    "export",
    "sso",
    "pricing",
    "editor",
    "reports",
    "inbox",
    "audit",
    "sync",
    "notifications",
];

/// Third word of a feature-flag key.
pub(crate) const FLAG_C: &[&str] = &[
    "flow",
    "ui",
    "api",
    "rollout",
    "experiment",
    "page",
    "engine",
    "v3",
];

/// Configuration keys.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "session.timeout",
    "sso.enforce",
    "ip.allowlist",
    "retention.days",
    "webhook.url",
    "mfa.required",
    "locale.default",
    "billing.email",
    "api.rate_limit",
    "export.format",
];

/// Role names (`user.invite` draws from indices 3..6).
pub(crate) const ROLES: &[&str] = &[
    "admin",
    "owner",
    "billing_admin",
    "developer",
    "viewer",
    "auditor",
    "support",
];

/// Subscription plans, in upgrade order.
pub(crate) const PLANS: &[&str] = &["free", "starter", "pro", "business", "enterprise"];

/// Flag/config environments (`production` weighted 2).
pub(crate) const ENVS: &[&str] = &["production", "production", "staging", "development"];

/// API key scopes.
pub(crate) const SCOPES: &[&str] = &[
    "read",
    "write",
    "admin",
    "flags:read",
    "flags:write",
    "audit:read",
    "billing:read",
];

/// IPv4 documentation networks (RFC 5737), each completed with `.1`..`.254`.
pub(crate) const IPV4_NETS: &[&str] = &["192.0.2.", "198.51.100.", "203.0.113."];

/// Endpoints named in `api_key.use` metadata.
pub(crate) const API_ENDPOINTS: &[&str] = &["/v1/flags", "/v1/events", "/v1/config", "/v1/users"];

/// Datasets named in data-export metadata.
pub(crate) const EXPORT_DATASETS: &[&str] = &["users", "audit_logs", "billing", "flags"];

/// Real-world browser user agents, one per user.
pub(crate) const BROWSER_UAS: &[&str] = &[
    concat!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/122.0.6261.112 Safari/537.36",
    ),
    concat!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/121.0.6167.185 Safari/537.36",
    ),
    concat!(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/122.0.6261.94 Safari/537.36",
    ),
    concat!(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        " Version/17.3.1 Safari/605.1.15",
    ),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.3; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    concat!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/122.0.6261.111 Safari/537.36",
    ),
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
    concat!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.80",
    ),
    concat!(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML,",
        " like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    ),
    concat!(
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        " Version/17.2 Mobile/15E148 Safari/604.1",
    ),
    concat!(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/122.0.6261.105 Mobile Safari/537.36",
    ),
    concat!(
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)",
        " Chrome/121.0.6167.178 Mobile Safari/537.36",
    ),
];

/// Relative weights of [`BROWSER_UAS`].
pub(crate) const BROWSER_UA_WEIGHTS: &[f64] = &[
    18.0, 8.0, 14.0, 10.0, 4.0, 4.0, 5.0, 2.0, 8.0, 6.0, 2.0, 3.0, 3.0,
];

/// API-client user agents, one per user; used for `api_key.*` and some config/flag events.
pub(crate) const API_UAS: &[&str] = &[
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "axios/1.6.7",
    "acme-cli/2.4.1 (linux; amd64)",
    "Terraform/1.7.4 terraform-provider-acme/0.9.2",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
];

/// Relative weights of [`API_UAS`].
pub(crate) const API_UA_WEIGHTS: &[f64] = &[25.0, 10.0, 18.0, 6.0, 15.0, 12.0, 8.0, 6.0];

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lists() -> Vec<&'static [&'static str]> {
        vec![
            ORG_ADJ,
            ORG_NOUN,
            ORG_SUFFIX,
            TLDS,
            FIRST,
            LAST,
            FLAG_A,
            FLAG_B,
            FLAG_C,
            CONFIG_KEYS,
            ROLES,
            PLANS,
            ENVS,
            SCOPES,
            IPV4_NETS,
            API_ENDPOINTS,
            EXPORT_DATASETS,
            BROWSER_UAS,
            API_UAS,
        ]
    }

    #[test]
    fn sizes_match_the_python_generator() {
        assert_eq!(ORG_ADJ.len(), 40);
        assert_eq!(ORG_NOUN.len(), 39);
        assert_eq!(ORG_SUFFIX.len(), 10);
        assert_eq!(TLDS.len(), 8);
        assert_eq!(FIRST.len(), 47);
        assert_eq!(LAST.len(), 53);
        assert_eq!((FLAG_A.len(), FLAG_B.len(), FLAG_C.len()), (10, 14, 8));
        assert_eq!(CONFIG_KEYS.len(), 10);
        assert_eq!(ROLES.len(), 7);
        assert_eq!(PLANS.len(), 5);
        assert_eq!(ENVS.len(), 4);
        assert_eq!(SCOPES.len(), 7);
        assert_eq!(BROWSER_UAS.len(), 13);
        assert_eq!(BROWSER_UA_WEIGHTS.len(), BROWSER_UAS.len());
        assert_eq!(API_UAS.len(), 8);
        assert_eq!(API_UA_WEIGHTS.len(), API_UAS.len());
    }

    #[test]
    fn words_are_plain_printable_ascii() {
        for list in all_lists() {
            for w in list {
                assert!(
                    w.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"'),
                    "{w}"
                );
                assert_eq!(w.trim(), *w);
            }
        }
        // names contain no digits, so a numeric email suffix can never recreate a base name
        for w in FIRST.iter().chain(LAST) {
            assert!(w.bytes().all(|b| b.is_ascii_lowercase()), "{w}");
        }
    }

    #[test]
    fn user_agents_are_joined_correctly() {
        assert_eq!(
            BROWSER_UAS[0],
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/122.0.6261.112 Safari/537.36"
        );
        for ua in BROWSER_UAS {
            assert!(ua.starts_with("Mozilla/5.0 ("), "{ua}");
            assert!(!ua.contains("  "), "{ua}");
        }
        let total: f64 = BROWSER_UA_WEIGHTS.iter().sum();
        assert_eq!(total, 87.0);
        assert_eq!(API_UA_WEIGHTS.iter().sum::<f64>(), 100.0);
    }
}
