//! What a query selects: equality on tenant, actor, resource type and id; actions exact
//! or by prefix; outcomes; a time range. [`Filter::matches`] is the definition every
//! index-driven plan must agree with (the property tests hold it to that).

use std::ops::Range;

use crate::event::{Event, Outcome, RawEvent};
use crate::log::TimeRange;

/// An action filter: `auth.login` matches that action only; `permission.*` (any text
/// ending in `*`) matches every action starting with the text before the `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActionPattern {
    /// This action exactly.
    Exact(String),
    /// Every action starting with this text (for `permission.*`, `permission.`).
    Prefix(String),
}

impl ActionPattern {
    /// Parses `x.y` (exact) or `x.*` (prefix).
    pub fn parse(text: &str) -> Result<ActionPattern, String> {
        let pattern = match text.strip_suffix('*') {
            Some(prefix) => ActionPattern::Prefix(prefix.to_owned()),
            None => ActionPattern::Exact(text.to_owned()),
        };
        let body = match &pattern {
            ActionPattern::Exact(a) | ActionPattern::Prefix(a) => a,
        };
        if body.contains('*') {
            return Err(format!(
                "action pattern `{text}`: `*` may only end a pattern, as in `permission.*`"
            ));
        }
        if body.is_empty() && matches!(pattern, ActionPattern::Exact(_)) {
            return Err("an empty action matches nothing".into());
        }
        Ok(pattern)
    }

    /// Whether `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        self.matches_bytes(action.as_bytes())
    }

    fn matches_bytes(&self, action: &[u8]) -> bool {
        match self {
            ActionPattern::Exact(a) => action == a.as_bytes(),
            ActionPattern::Prefix(p) => action.starts_with(p.as_bytes()),
        }
    }
}

impl std::fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionPattern::Exact(a) => f.write_str(a),
            ActionPattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// Which events a query selects. Empty lists and `None` select everything; the parts
/// combine with AND, the entries of a list with OR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `organization.id`.
    pub tenant: Option<String>,
    /// `actor.user_id`.
    pub actor: Option<String>,
    /// Any of these action patterns.
    pub actions: Vec<ActionPattern>,
    /// Any of these outcomes.
    pub outcomes: Vec<Outcome>,
    /// `resource.type`.
    pub resource_type: Option<String>,
    /// `resource.id`.
    pub resource_id: Option<String>,
    /// The event's own timestamp in `[from, to)`.
    pub time: TimeRange,
    /// Sequence numbers in this range.
    pub seqs: Option<Range<u64>>,
}

impl Filter {
    /// The sequence range of `--from-seq`/`--to-seq` style bounds, either of which may
    /// be absent (`None`: no bound at all).
    pub fn seqs_between(from: Option<u64>, to: Option<u64>) -> Option<Range<u64>> {
        match (from, to) {
            (None, None) => None,
            (from, to) => Some(from.unwrap_or(0)..to.unwrap_or(u64::MAX)),
        }
    }

    /// Narrows the filter to the events of actor `subject`, or to none when `None` (an
    /// e-mail address no live subject was seen with). A filter on another actor then
    /// selects nothing.
    pub fn narrow_to_actor(&mut self, subject: Option<&str>) {
        match (subject, &self.actor) {
            (Some(subject), None) => self.actor = Some(subject.to_owned()),
            (Some(subject), Some(actor)) if actor == subject => {}
            _ => self.seqs = Some(0..0),
        }
    }

    /// Whether `event`, number `seq`, is selected.
    pub fn matches(&self, seq: u64, event: &Event<'_>) -> bool {
        self.matches_raw(seq, &event.raw())
    }

    /// [`Filter::matches`] on the event's stored fields.
    pub fn matches_raw(&self, seq: u64, event: &RawEvent<'_>) -> bool {
        let equal = |wanted: &Option<String>, value: Option<&[u8]>| {
            wanted
                .as_deref()
                .is_none_or(|w| value == Some(w.as_bytes()))
        };
        self.seqs.as_ref().is_none_or(|r| r.contains(&seq))
            && equal(&self.tenant, Some(event.tenant_id))
            && equal(&self.actor, Some(event.actor_id))
            && (self.actions.is_empty()
                || self.actions.iter().any(|p| p.matches_bytes(event.action)))
            && (self.outcomes.is_empty() || self.outcomes.contains(&event.outcome))
            && equal(&self.resource_type, event.resource_type)
            && equal(&self.resource_id, event.resource_id)
            && self.time.contains(event.timestamp)
    }

    /// Whether a record must be read to decide (the index holds no resource fields).
    pub(crate) fn needs_record(&self) -> bool {
        self.resource_type.is_some() || self.resource_id.is_some()
    }

    /// Outcome codes selected, as a bit mask (bit `code`).
    pub(crate) fn outcome_mask(&self) -> u8 {
        if self.outcomes.is_empty() {
            return 0xff;
        }
        self.outcomes.iter().fold(0, |m, o| m | 1 << o.code())
    }

    /// A stable digest of the filter, so that a cursor is used only with its own query.
    pub(crate) fn fingerprint(&self) -> [u8; 8] {
        let mut h = blake3::Hasher::new();
        let mut part = |tag: &str, value: Option<&str>| {
            h.update(tag.as_bytes());
            match value {
                Some(v) => {
                    h.update(&(v.len() as u64).to_le_bytes());
                    h.update(v.as_bytes());
                }
                None => {
                    h.update(&[0xff]);
                }
            }
        };
        part("tenant", self.tenant.as_deref());
        part("actor", self.actor.as_deref());
        let mut actions: Vec<String> = self.actions.iter().map(|a| a.to_string()).collect();
        actions.sort();
        actions.dedup();
        for a in &actions {
            part("action", Some(a));
        }
        let mut outcomes: Vec<&str> = self.outcomes.iter().map(|o| o.as_str()).collect();
        outcomes.sort_unstable();
        outcomes.dedup();
        for o in outcomes {
            part("outcome", Some(o));
        }
        part("resource_type", self.resource_type.as_deref());
        part("resource_id", self.resource_id.as_deref());
        let from = self.time.from.map(|t| t.0.to_string());
        let to = self.time.to.map(|t| t.0.to_string());
        part("from", from.as_deref());
        part("to", to.as_deref());
        let seqs = self
            .seqs
            .as_ref()
            .map(|r| format!("{}..{}", r.start, r.end));
        part("seqs", seqs.as_deref());
        let mut out = [0u8; 8];
        out.copy_from_slice(h.finalize().as_bytes().get(..8).unwrap_or(&[0; 8]));
        out
    }
}

/// A `since` duration (`90d`, `12h`, `30m`, `45s`, `2w`) in microseconds: how far back
/// from now a query's window starts.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a duration like 90d, 12h, 30m, 45s or 2w");
    // The unit is the last character, whatever its width: a byte index could fall
    // inside a multi-byte one.
    let (split, _) = text.char_indices().last().ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(seconds)
        .and_then(|s| s.checked_mul(1_000_000))
        .filter(|&us| us >= 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_match() {
        let p = ActionPattern::parse("permission.*").unwrap();
        assert_eq!(p, ActionPattern::Prefix("permission.".into()));
        assert!(p.matches("permission.role.assign"));
        assert!(!p.matches("permissions.x"));
        assert!(!p.matches("permission"));
        let e = ActionPattern::parse("auth.login").unwrap();
        assert!(e.matches("auth.login") && !e.matches("auth.login.x"));
        assert!(ActionPattern::parse("a*b").is_err());
        assert!(ActionPattern::parse("").is_err());
        assert_eq!(
            ActionPattern::parse("*").unwrap(),
            ActionPattern::Prefix(String::new())
        );
    }

    #[test]
    fn fingerprints_ignore_list_order_but_not_values() {
        let a = Filter {
            actions: vec![
                ActionPattern::parse("a.*").unwrap(),
                ActionPattern::parse("b.c").unwrap(),
            ],
            ..Filter::default()
        };
        let mut b = a.clone();
        b.actions.reverse();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.tenant = Some("org_1".into());
        assert_ne!(a.fingerprint(), b.fingerprint());
        let c = Filter {
            actor: Some("org_1".into()),
            ..a.clone()
        };
        assert_ne!(b.fingerprint(), c.fingerprint());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_since("90d"), Ok(90 * 86_400 * 1_000_000));
        assert_eq!(parse_since("2w"), Ok(14 * 86_400 * 1_000_000));
        assert_eq!(parse_since("45s"), Ok(45_000_000));
        assert!(parse_since("d").is_err());
        assert!(parse_since("90").is_err());
        assert!(parse_since("-1d").is_err());
        assert!(parse_since("99999999999999d").is_err());
        assert!(parse_since("").is_err());
        // A multi-byte last character is refused, never split inside.
        assert!(parse_since("1\u{d8}").is_err());
        assert!(parse_since("\u{d8}").is_err());
        assert!(parse_since("1d\u{1f600}").is_err());
    }
}
