//! The action catalogue (40 dotted action types, weights, privileged flags)
//! and the shared "privileged action" definitions.

/// The action catalogue: `(name, relative weight, privileged)`.
///
/// 40 action types in 8 namespaces; a weight is the relative per-event frequency
/// (the weights sum to 876.6). 19 types are privileged, together ~3.3% of events.
pub const ACTIONS: &[(&str, f64, bool)] = &[
    // auth.* : by far the most common
    ("auth.login", 240.0, false),
    ("auth.logout", 80.0, false),
    ("auth.sso.login", 90.0, false),
    ("auth.mfa.challenge", 70.0, false),
    ("auth.mfa.enroll", 4.0, false),
    ("auth.password.reset", 8.0, false),
    ("auth.session.revoke", 3.0, true),
    // billing.*
    ("billing.invoice.view", 12.0, false),
    ("billing.invoice.download", 6.0, false),
    ("billing.payment_method.update", 1.5, true),
    ("billing.plan.change", 1.0, true),
    ("billing.subscription.cancel", 0.3, true),
    // feature_flag.*
    ("feature_flag.create", 8.0, false),
    ("feature_flag.update", 30.0, false),
    ("feature_flag.toggle", 25.0, false),
    ("feature_flag.override.create", 14.0, false),
    ("feature_flag.override.delete", 6.0, false),
    ("feature_flag.delete", 2.0, true),
    // config.*
    ("config.read", 60.0, false),
    ("config.update", 18.0, false),
    ("config.webhook.create", 2.0, false),
    ("config.secret.read", 5.0, true),
    ("config.secret.rotate", 1.0, true),
    // api_key.*
    ("api_key.use", 150.0, false),
    ("api_key.create", 2.0, true),
    ("api_key.rotate", 1.0, true),
    ("api_key.revoke", 1.0, true),
    // permission.* : all privileged
    ("permission.role.assign", 3.0, true),
    ("permission.role.revoke", 1.5, true),
    ("permission.role.create", 0.5, true),
    ("permission.policy.update", 1.0, true),
    // user.*
    ("user.invite", 5.0, false),
    ("user.create", 4.0, false),
    ("user.update", 6.0, false),
    ("user.profile.update", 10.0, false),
    ("user.suspend", 0.5, true),
    ("user.delete", 0.5, true),
    // data_export.* : all privileged
    ("data_export.create", 1.5, true),
    ("data_export.download", 2.0, true),
    ("data_export.schedule", 0.3, true),
];

/// The 19 privileged action names, in catalogue order (the entries of [`ACTIONS`]
/// whose flag is `true`).
pub const PRIVILEGED_ACTIONS: &[&str] = &[
    "auth.session.revoke",
    "billing.payment_method.update",
    "billing.plan.change",
    "billing.subscription.cancel",
    "feature_flag.delete",
    "config.secret.read",
    "config.secret.rotate",
    "api_key.create",
    "api_key.rotate",
    "api_key.revoke",
    "permission.role.assign",
    "permission.role.revoke",
    "permission.role.create",
    "permission.policy.update",
    "user.suspend",
    "user.delete",
    "data_export.create",
    "data_export.download",
    "data_export.schedule",
];

/// The privileged subset expressed as action-name prefixes, as an application
/// would configure it. Every prefix matches only privileged actions of
/// [`ACTIONS`], and together they match all of them.
pub const PRIVILEGED_PREFIXES: &[&str] = &[
    "auth.session.revoke",
    "billing.payment_method.",
    "billing.plan.",
    "billing.subscription.",
    "feature_flag.delete",
    "config.secret.",
    "api_key.create",
    "api_key.rotate",
    "api_key.revoke",
    "permission.",
    "user.suspend",
    "user.delete",
    "data_export.",
];

/// True if `action` starts with one of [`PRIVILEGED_PREFIXES`].
///
/// ```
/// assert!(auditlog_workload::is_privileged("permission.role.assign"));
/// assert!(!auditlog_workload::is_privileged("auth.login"));
/// ```
pub fn is_privileged(action: &str) -> bool {
    PRIVILEGED_PREFIXES.iter().any(|p| action.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_has_40_unique_actions_in_8_namespaces() {
        assert_eq!(ACTIONS.len(), 40);
        let names: HashSet<&str> = ACTIONS.iter().map(|a| a.0).collect();
        assert_eq!(names.len(), 40);
        let namespaces: HashSet<&str> = ACTIONS
            .iter()
            .map(|a| a.0.split('.').next().unwrap_or_default())
            .collect();
        assert_eq!(namespaces.len(), 8);
        assert!(ACTIONS.iter().all(|a| a.1 > 0.0 && a.0.contains('.')));
        let total: f64 = ACTIONS.iter().map(|a| a.1).sum();
        assert!((total - 876.6).abs() < 1e-9, "{total}");
    }

    #[test]
    fn prefixes_match_exactly_the_privileged_actions() {
        let flagged: Vec<&str> = ACTIONS.iter().filter(|a| a.2).map(|a| a.0).collect();
        assert_eq!(flagged, PRIVILEGED_ACTIONS);
        assert_eq!(flagged.len(), 19);
        for &(name, _, privileged) in ACTIONS {
            assert_eq!(is_privileged(name), privileged, "{name}");
        }
        for p in PRIVILEGED_PREFIXES {
            assert!(
                ACTIONS.iter().any(|a| a.0.starts_with(p)),
                "unused prefix {p}"
            );
        }
    }

    #[test]
    fn privileged_share_is_about_3_3_percent() {
        let total: f64 = ACTIONS.iter().map(|a| a.1).sum();
        let privileged: f64 = ACTIONS.iter().filter(|a| a.2).map(|a| a.1).sum();
        let share = privileged / total;
        assert!((0.032..0.034).contains(&share), "{share}");
    }
}
