//! Per-action rules: how each catalogue entry is classified (resource and
//! metadata kind, outcome probabilities, which user agent it carries).

/// How an action's resource and metadata are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    AuthLogin,
    AuthSsoLogin,
    AuthOther,
    Invoice,
    PaymentMethod,
    PlanChange,
    Subscription,
    FlagToggle,
    FlagOverride,
    FlagUpdate,
    FlagOther,
    Secret,
    Webhook,
    ConfigRead,
    ConfigUpdate,
    KeyUse,
    KeyCreate,
    KeyOther,
    RoleWithTarget,
    RoleOther,
    UserInvite,
    UserUpdate,
    UserOther,
    ExportSpec,
    ExportDownload,
}

/// Which outcome probabilities apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeClass {
    /// `auth.login`, `auth.mfa.challenge`: 90% success, 8.5% failure, 1.5% denied.
    LoginLike,
    /// Privileged actions: 93% success, 5.5% denied, 1.5% failure.
    Privileged,
    /// Everything else: 97.5% success, 1.7% failure, 0.8% denied.
    Normal,
}

/// Which of the user's two user agents an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UaClass {
    /// `api_key.*`: always the API client.
    Api,
    /// `config.*`, `feature_flag.*`: the API client 25% of the time.
    Sometimes,
    /// Everything else: the browser.
    Browser,
}

/// An event outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    /// The JSON value (without quotes).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Everything the generator needs to know about one catalogue entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionInfo {
    pub(crate) name: &'static str,
    pub(crate) detail: Detail,
    pub(crate) outcome: OutcomeClass,
    pub(crate) ua: UaClass,
}

/// Classifies an action with the same string tests as the Python generator.
pub(crate) fn classify(name: &'static str, privileged: bool) -> ActionInfo {
    let ns = name.split('.').next().unwrap_or(name);
    let detail = match ns {
        "auth" => match name {
            "auth.login" => Detail::AuthLogin,
            "auth.sso.login" => Detail::AuthSsoLogin,
            _ => Detail::AuthOther,
        },
        "billing" if name.contains("invoice") => Detail::Invoice,
        "billing" if name.contains("payment_method") => Detail::PaymentMethod,
        "billing" if name == "billing.plan.change" => Detail::PlanChange,
        "billing" => Detail::Subscription,
        "feature_flag" => match name {
            "feature_flag.toggle" => Detail::FlagToggle,
            _ if name.starts_with("feature_flag.override") => Detail::FlagOverride,
            "feature_flag.update" => Detail::FlagUpdate,
            _ => Detail::FlagOther,
        },
        "config" if name.contains("secret") => Detail::Secret,
        "config" if name.contains("webhook") => Detail::Webhook,
        "config" if name == "config.update" => Detail::ConfigUpdate,
        "config" => Detail::ConfigRead,
        "api_key" => match name {
            "api_key.use" => Detail::KeyUse,
            "api_key.create" => Detail::KeyCreate,
            _ => Detail::KeyOther,
        },
        "permission" => match name {
            "permission.role.assign" | "permission.role.revoke" => Detail::RoleWithTarget,
            _ => Detail::RoleOther,
        },
        "user" => match name {
            "user.invite" => Detail::UserInvite,
            "user.update" => Detail::UserUpdate,
            _ => Detail::UserOther,
        },
        _ => match name {
            "data_export.create" | "data_export.schedule" => Detail::ExportSpec,
            _ => Detail::ExportDownload,
        },
    };
    let outcome = if name == "auth.login" || name == "auth.mfa.challenge" {
        OutcomeClass::LoginLike
    } else if privileged {
        OutcomeClass::Privileged
    } else {
        OutcomeClass::Normal
    };
    let ua = match ns {
        "api_key" => UaClass::Api,
        "config" | "feature_flag" => UaClass::Sometimes,
        _ => UaClass::Browser,
    };
    ActionInfo {
        name,
        detail,
        outcome,
        ua,
    }
}

/// Maps a uniform draw `r` in `[0, 1)` to an outcome.
pub(crate) fn outcome(class: OutcomeClass, r: f64) -> Outcome {
    use Outcome::{Denied, Failure, Success};
    match class {
        OutcomeClass::LoginLike if r < 0.90 => Success,
        OutcomeClass::LoginLike if r < 0.985 => Failure,
        OutcomeClass::LoginLike => Denied,
        OutcomeClass::Privileged if r < 0.93 => Success,
        OutcomeClass::Privileged if r < 0.985 => Denied,
        OutcomeClass::Privileged => Failure,
        OutcomeClass::Normal if r < 0.975 => Success,
        OutcomeClass::Normal if r < 0.992 => Failure,
        OutcomeClass::Normal => Denied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ACTIONS;

    fn info(name: &str) -> ActionInfo {
        let &(n, _, p) = ACTIONS.iter().find(|a| a.0 == name).expect("known action");
        classify(n, p)
    }

    #[test]
    fn classification_follows_the_python_rules() {
        assert_eq!(info("auth.login").detail, Detail::AuthLogin);
        assert_eq!(info("auth.sso.login").detail, Detail::AuthSsoLogin);
        assert_eq!(info("auth.mfa.enroll").detail, Detail::AuthOther);
        assert_eq!(info("billing.invoice.download").detail, Detail::Invoice);
        assert_eq!(
            info("billing.payment_method.update").detail,
            Detail::PaymentMethod
        );
        assert_eq!(info("billing.plan.change").detail, Detail::PlanChange);
        assert_eq!(
            info("billing.subscription.cancel").detail,
            Detail::Subscription
        );
        assert_eq!(
            info("feature_flag.override.delete").detail,
            Detail::FlagOverride
        );
        assert_eq!(info("feature_flag.delete").detail, Detail::FlagOther);
        assert_eq!(info("config.secret.rotate").detail, Detail::Secret);
        assert_eq!(info("config.webhook.create").detail, Detail::Webhook);
        assert_eq!(info("config.read").detail, Detail::ConfigRead);
        assert_eq!(info("api_key.revoke").detail, Detail::KeyOther);
        assert_eq!(
            info("permission.role.revoke").detail,
            Detail::RoleWithTarget
        );
        assert_eq!(info("permission.policy.update").detail, Detail::RoleOther);
        assert_eq!(info("user.profile.update").detail, Detail::UserOther);
        assert_eq!(info("data_export.schedule").detail, Detail::ExportSpec);
        assert_eq!(info("data_export.download").detail, Detail::ExportDownload);

        assert_eq!(info("auth.mfa.challenge").outcome, OutcomeClass::LoginLike);
        assert_eq!(info("auth.sso.login").outcome, OutcomeClass::Normal);
        assert_eq!(info("user.delete").outcome, OutcomeClass::Privileged);
        assert_eq!(info("api_key.use").ua, UaClass::Api);
        assert_eq!(info("feature_flag.toggle").ua, UaClass::Sometimes);
        assert_eq!(info("config.read").ua, UaClass::Sometimes);
        assert_eq!(info("auth.login").ua, UaClass::Browser);
    }

    #[test]
    fn outcome_thresholds() {
        use Outcome::{Denied, Failure, Success};
        let cases = [
            (
                OutcomeClass::LoginLike,
                [(0.0, Success), (0.9, Failure), (0.985, Denied)],
            ),
            (
                OutcomeClass::Privileged,
                [(0.929, Success), (0.93, Denied), (0.985, Failure)],
            ),
            (
                OutcomeClass::Normal,
                [(0.974, Success), (0.975, Failure), (0.992, Denied)],
            ),
        ];
        for (class, points) in cases {
            for (r, expected) in points {
                assert_eq!(outcome(class, r), expected, "{class:?} {r}");
            }
        }
    }
}
