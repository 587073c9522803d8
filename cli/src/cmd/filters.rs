//! The filter flags `query` and `export` share, and their translation to an engine
//! [`Filter`].

use auditlog_engine::query::{ActionPattern, EmailNarrowing, Filter, Order, parse_since};
use auditlog_engine::{Outcome, TimeRange, Timestamp};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FilterArgs {
    /// Events of this tenant (`organization.id`).
    #[arg(long)]
    tenant: Option<String>,
    /// Events of this actor (`actor.user_id`).
    #[arg(long)]
    actor: Option<String>,
    /// Events of the data subject this e-mail address was seen with (a sealing log, read
    /// from its data directory with its key-encryption key, or through a server: the
    /// address is looked up in the blind index, which forgets it at erasure).
    #[arg(long, value_name = "ADDRESS", conflicts_with = "actor")]
    email: Option<String>,
    /// Actions: `auth.login` exactly, or `permission.*` by prefix; repeat the flag or
    /// separate with commas for any of several.
    #[arg(long, value_delimiter = ',')]
    action: Vec<String>,
    /// Outcomes (success, failure, denied, error); repeat or separate with commas.
    #[arg(long, value_delimiter = ',', value_parser = parse_outcome)]
    outcome: Vec<Outcome>,
    /// Events on resources of this type (`resource.type`).
    #[arg(long)]
    resource_type: Option<String>,
    /// Events on the resource with this id (`resource.id`).
    #[arg(long)]
    resource_id: Option<String>,
    /// Events of the last DURATION by the event's own timestamp: `90d`, `12h`, `30m`,
    /// `45s`, `2w`.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"], value_parser = parse_since)]
    since: Option<i64>,
    /// Events at or after this RFC 3339 time.
    #[arg(long, value_parser = Timestamp::parse)]
    from: Option<Timestamp>,
    /// Events before this RFC 3339 time.
    #[arg(long, value_parser = Timestamp::parse)]
    to: Option<Timestamp>,
    /// Events numbered from this sequence number (inclusive).
    #[arg(long)]
    from_seq: Option<u64>,
    /// Events numbered below this sequence number.
    #[arg(long)]
    to_seq: Option<u64>,
}

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OrderArg {
    /// Most recently appended first.
    Newest,
    /// First appended first.
    Oldest,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Order {
        match o {
            OrderArg::Newest => Order::NewestFirst,
            OrderArg::Oldest => Order::OldestFirst,
        }
    }
}

fn parse_outcome(text: &str) -> Result<Outcome, String> {
    Outcome::from_name(text)
        .ok_or_else(|| format!("`{text}` is not an outcome (success, failure, denied, error)"))
}

impl FilterArgs {
    /// The engine filter; `--since` counts back from now.
    pub(crate) fn filter(&self) -> anyhow::Result<Filter> {
        let actions = self
            .action
            .iter()
            .map(|a| ActionPattern::parse(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let time = match self.since {
            Some(micros) => TimeRange {
                from: Some(Timestamp(Timestamp::now().0.saturating_sub(micros))),
                to: None,
            },
            None => TimeRange {
                from: self.from,
                to: self.to,
            },
        };
        Ok(Filter {
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
            actions,
            outcomes: self.outcome.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            time,
            seqs: Filter::seqs_between(self.from_seq, self.to_seq),
        })
    }

    /// [`filter`](Self::filter), with `--email` resolved to its subject through a local
    /// `reader` by the engine's rule (`Log::narrow_to_email`: an address seen with no
    /// subject selects nothing; several are named); a server resolves it itself (see
    /// [`to_proto`](Self::to_proto)).
    pub(crate) fn filter_on(&self, reader: &super::Reader) -> anyhow::Result<Filter> {
        let mut filter = self.filter()?;
        let (Some(email), super::Reader::Local(log)) = (&self.email, reader) else {
            return Ok(filter);
        };
        match log.narrow_to_email(&mut filter, email)? {
            EmailNarrowing::Narrowed => Ok(filter),
            EmailNarrowing::Several(many) => anyhow::bail!(
                "{email} was seen with {} subjects ({}): query each with --actor",
                many.len(),
                many.join(", ")
            ),
        }
    }

    /// The request's form of `filter` (made by [`filter_on`](Self::filter_on)) for a
    /// server, with `--email` for the server to resolve.
    pub(crate) fn to_proto(&self, filter: &Filter) -> auditlog_proto::v1::Filter {
        auditlog_proto::v1::Filter {
            email: self.email.clone(),
            ..auditlog_proto::convert::filter_to_proto(filter)
        }
    }

    /// Whether any flag beyond tenant, time and sequence range is set (what an evidence
    /// bundle can select).
    pub(crate) fn beyond_bundle(&self) -> bool {
        self.actor.is_some()
            || self.email.is_some()
            || !self.action.is_empty()
            || !self.outcome.is_empty()
            || self.resource_type.is_some()
            || self.resource_id.is_some()
            || self.since.is_some()
    }

    /// Whether the time range counts back from now (`--since`).
    pub(crate) fn is_relative(&self) -> bool {
        self.since.is_some()
    }

    pub(crate) fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    pub(crate) fn time(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        (self.from, self.to)
    }

    pub(crate) fn seq_range(&self) -> (u64, Option<u64>) {
        (self.from_seq.unwrap_or(0), self.to_seq)
    }
}
