//! The audit log viewer's side of the server: viewer tokens ([`token`]), what a
//! request made with one may ask (here), and the pages ([`ui`]). A token reads one tenant, and within it what
//! its narrowing selects; a request may narrow further but never widen: a filter that
//! names another actor, resource, outcome or action than the token's is refused, and
//! time ranges are intersected.

pub(crate) mod token;
pub(crate) mod ui;

use auditlog_engine::TimeRange;
use auditlog_engine::query::{ActionPattern, Filter};
use tonic::Status;

pub(crate) use token::{Narrowing, TokenRecord, Viewer, ViewerTokens};

/// The privileged actions when `--privileged-actions` names none: those of our
/// workload's catalogue (docs/VIEWER.md).
pub(crate) const DEFAULT_PRIVILEGED_ACTIONS: [&str; 13] = [
    "permission.*",
    "api_key.create",
    "api_key.rotate",
    "api_key.revoke",
    "user.suspend",
    "user.delete",
    "data_export.*",
    "config.secret.*",
    "billing.payment_method.update",
    "billing.plan.change",
    "billing.subscription.cancel",
    "feature_flag.delete",
    "auth.session.revoke",
];

/// How the viewer's pages are served and what their preset selects.
#[derive(Debug, Clone)]
pub(crate) struct ViewerConfig {
    /// The CSP `frame-ancestors` sources.
    pub(crate) frame_ancestors: String,
    /// Action patterns, as given.
    pub(crate) privileged_actions: Vec<String>,
    /// The same, parsed.
    pub(crate) privileged: Vec<ActionPattern>,
}

impl ViewerConfig {
    /// The configuration of `--viewer-frame-ancestors` and `--privileged-actions`
    /// (empty: the default list), refused when a source could break out of its
    /// directive or a pattern is not one.
    pub(crate) fn new(frame_ancestors: &str, privileged: &[String]) -> anyhow::Result<Self> {
        let sources = frame_ancestors.trim();
        anyhow::ensure!(
            !sources.is_empty()
                && sources
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != ';' && c != ',' || c == ' '),
            "--viewer-frame-ancestors: CSP sources separated by spaces (as `'self' https://app.example.com`), without `;` or `,`"
        );
        let privileged_actions: Vec<String> = if privileged.is_empty() {
            DEFAULT_PRIVILEGED_ACTIONS.map(str::to_owned).to_vec()
        } else {
            privileged.iter().map(|p| p.trim().to_owned()).collect()
        };
        let parsed = privileged_actions
            .iter()
            .map(|p| ActionPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--privileged-actions: {e}"))?;
        Ok(ViewerConfig {
            frame_ancestors: sources.to_owned(),
            privileged_actions,
            privileged: parsed,
        })
    }
}

impl Viewer {
    /// `asked` (already scoped to the token's tenant) within what the token reads.
    pub(crate) fn narrow(&self, mut asked: Filter) -> Result<Filter, Status> {
        let mine = &self.filter;
        same(&mut asked.tenant, &mine.tenant, "tenant")?;
        same(&mut asked.actor, &mine.actor, "actor")?;
        same(
            &mut asked.resource_type,
            &mine.resource_type,
            "resource type",
        )?;
        same(&mut asked.resource_id, &mine.resource_id, "resource id")?;
        if !mine.actions.is_empty() {
            if asked.actions.is_empty() {
                asked.actions = mine.actions.clone();
            } else if let Some(wider) = asked
                .actions
                .iter()
                .find(|a| !mine.actions.iter().any(|m| within(a, m)))
            {
                return Err(Status::permission_denied(format!(
                    "this viewer token may not read actions `{wider}`"
                )));
            }
        }
        if !mine.outcomes.is_empty() {
            if asked.outcomes.is_empty() {
                asked.outcomes = mine.outcomes.clone();
            } else if let Some(other) = asked.outcomes.iter().find(|o| !mine.outcomes.contains(o)) {
                return Err(Status::permission_denied(format!(
                    "this viewer token may not read events of outcome `{}`",
                    other.as_str()
                )));
            }
        }
        asked.time = TimeRange {
            from: asked.time.from.max(mine.time.from),
            to: match (asked.time.to, mine.time.to) {
                (Some(a), Some(m)) => Some(a.min(m)),
                (a, m) => a.or(m),
            },
        };
        Ok(asked)
    }
}

/// Sets `asked` to the token's value, or refuses another one.
fn same(asked: &mut Option<String>, mine: &Option<String>, what: &str) -> Result<(), Status> {
    match (mine, &asked) {
        (None, _) => Ok(()),
        (Some(m), None) => {
            *asked = Some(m.clone());
            Ok(())
        }
        (Some(m), Some(a)) if m == a => Ok(()),
        (Some(_), Some(a)) => Err(Status::permission_denied(format!(
            "this viewer token may not read events of {what} `{a}`"
        ))),
    }
}

/// Whether every action `asked` matches is one `mine` matches.
fn within(asked: &ActionPattern, mine: &ActionPattern) -> bool {
    match (mine, asked) {
        (ActionPattern::Exact(m), ActionPattern::Exact(a)) => m == a,
        (ActionPattern::Prefix(m), ActionPattern::Exact(a) | ActionPattern::Prefix(a)) => {
            a.starts_with(m.as_str())
        }
        (ActionPattern::Exact(_), ActionPattern::Prefix(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use auditlog_engine::Timestamp;

    use super::*;
    use crate::viewer::token::Claims;

    fn viewer(narrowing: Narrowing) -> Viewer {
        let filter = narrowing.filter("org_a").unwrap();
        let claims = Claims {
            id: "1".into(),
            tenant: "org_a".into(),
            narrowing,
            expires: i64::MAX,
        };
        Viewer {
            claims,
            filter,
            issuer: "k1".into(),
        }
    }

    fn actions(patterns: &[&str]) -> Vec<ActionPattern> {
        patterns
            .iter()
            .map(|p| ActionPattern::parse(p).unwrap())
            .collect()
    }

    #[test]
    fn the_configuration_refuses_what_could_break_out_of_its_place() {
        let config = ViewerConfig::new("'self' https://app.example.com", &[]).unwrap();
        assert_eq!(
            config.privileged_actions.len(),
            DEFAULT_PRIVILEGED_ACTIONS.len()
        );
        let given = ["billing.*".to_owned(), "user.delete".to_owned()];
        let config = ViewerConfig::new("'none'", &given).unwrap();
        assert_eq!(config.privileged.len(), 2);
        for sources in ["'self'; script-src *", "a,b", "", "x\ny"] {
            assert!(ViewerConfig::new(sources, &[]).is_err(), "{sources:?}");
        }
        assert!(ViewerConfig::new("'self'", &["a*b".to_owned()]).is_err());
    }

    #[test]
    fn a_request_narrows_a_token_but_never_widens_it() {
        let v = viewer(Narrowing {
            actor: Some("usr_1".into()),
            actions: vec!["document.*".into(), "auth.login".into()],
            from: Some("2026-01-01T00:00:00Z".into()),
            ..Narrowing::default()
        });
        // Nothing asked: the token's own filter.
        let whole = v.narrow(Filter::default()).unwrap();
        assert_eq!(whole, v.filter);

        // Narrower asks pass as asked; times are intersected.
        let t = |text: &str| Timestamp::parse(text).unwrap();
        let asked = Filter {
            actions: actions(&["document.read", "document.x.*", "auth.login"]),
            time: TimeRange {
                from: Some(t("2025-01-01T00:00:00Z")),
                to: Some(t("2026-02-01T00:00:00Z")),
            },
            ..Filter::default()
        };
        let narrowed = v.narrow(asked.clone()).unwrap();
        assert_eq!(narrowed.actions, asked.actions);
        assert_eq!(narrowed.actor.as_deref(), Some("usr_1"));
        assert_eq!(narrowed.tenant.as_deref(), Some("org_a"));
        assert_eq!(narrowed.time.from, Some(t("2026-01-01T00:00:00Z")));
        assert_eq!(narrowed.time.to, Some(t("2026-02-01T00:00:00Z")));

        // Wider or other asks are refused.
        let refused = [
            Filter {
                tenant: Some("org_b".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("usr_2".into()),
                ..Filter::default()
            },
            Filter {
                actions: actions(&["document.read", "auth.*"]),
                ..Filter::default()
            },
            Filter {
                actions: actions(&["doc*"]),
                ..Filter::default()
            },
        ];
        for asked in refused {
            let status = v.narrow(asked.clone()).unwrap_err();
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{asked:?}");
        }

        // Outcomes: a subset passes, another is refused.
        let v = viewer(Narrowing {
            outcomes: vec!["failure".into(), "denied".into()],
            ..Narrowing::default()
        });
        let failure = auditlog_engine::Outcome::from_name("failure").unwrap();
        let success = auditlog_engine::Outcome::from_name("success").unwrap();
        let only_failures = Filter {
            outcomes: vec![failure],
            ..Filter::default()
        };
        assert_eq!(v.narrow(only_failures).unwrap().outcomes, vec![failure]);
        let with_success = Filter {
            outcomes: vec![failure, success],
            ..Filter::default()
        };
        assert!(v.narrow(with_success).is_err());
    }
}
