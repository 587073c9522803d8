//! What a sink is: its tenants, its filter, its destination and batch size, as stored
//! (serde) and as the protocol has it, checked on the way in.

use std::collections::BTreeSet;

use auditlog_engine::Outcome;
use auditlog_engine::query::{ActionPattern, Filter};
use auditlog_proto::convert::{outcome_from_proto, outcome_to_proto};
use auditlog_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::keys::Tenants;
use crate::status::invalid_field;

/// Events per batch unless the sink says otherwise, and the most it may say.
pub(crate) const DEFAULT_BATCH: u32 = 500;
pub(crate) const MAX_BATCH: u32 = 1_000;

/// A sink's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SinkSpec {
    pub(crate) name: String,
    pub(crate) tenants: Tenants,
    pub(crate) filter: SinkFilter,
    pub(crate) destination: Destination,
    pub(crate) batch_size: u32,
}

/// The query filters a sink may use (tenants are its scope; time and sequence numbers
/// are where its cursor stands).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SinkFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) actions: Vec<String>,
    /// Outcome names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outcomes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource_id: Option<String>,
}

/// Where batches go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum Destination {
    /// Standard Webhooks: signed JSON POSTed to `url`.
    Webhook { url: String },
}

impl Destination {
    /// The URL batches are sent to.
    pub(crate) fn url(&self) -> &str {
        match self {
            Destination::Webhook { url } => url,
        }
    }
}

impl SinkSpec {
    /// The spec of a request, checked; INVALID_ARGUMENT naming the field otherwise.
    pub(crate) fn from_proto(spec: pb::SinkSpec) -> Result<SinkSpec, Status> {
        let scope = spec.scope.unwrap_or_default();
        let tenants = match (scope.all_tenants, scope.tenants.is_empty()) {
            (true, true) => Tenants::All,
            (true, false) => {
                return Err(invalid_field(
                    "spec.scope",
                    "name tenants or ask for all, not both",
                ));
            }
            (false, true) => {
                return Err(invalid_field(
                    "spec.scope",
                    "a sink delivers the events of some tenants: name them, or ask for all",
                ));
            }
            (false, false) => Tenants::Only(scope.tenants.into_iter().collect::<BTreeSet<_>>()),
        };
        let filter = SinkFilter::from_proto(spec.filter.unwrap_or_default())?;
        let destination = match spec.destination {
            Some(pb::sink_spec::Destination::Webhook(webhook)) => {
                check_url(&webhook.url)?;
                Destination::Webhook { url: webhook.url }
            }
            None => {
                return Err(invalid_field(
                    "spec.destination",
                    "a sink needs a destination",
                ));
            }
        };
        let batch_size = match spec.batch_size {
            0 => DEFAULT_BATCH,
            n if n <= MAX_BATCH => n,
            _ => {
                return Err(invalid_field(
                    "spec.batch_size",
                    &format!("at most {MAX_BATCH} events per batch"),
                ));
            }
        };
        Ok(SinkSpec {
            name: spec.name,
            tenants,
            filter,
            destination,
            batch_size,
        })
    }

    pub(crate) fn to_proto(&self) -> pb::SinkSpec {
        let scope = match &self.tenants {
            Tenants::All => pb::SinkScope {
                tenants: Vec::new(),
                all_tenants: true,
            },
            Tenants::Only(set) => pb::SinkScope {
                tenants: set.iter().cloned().collect(),
                all_tenants: false,
            },
            Tenants::None => pb::SinkScope::default(),
        };
        let destination = match &self.destination {
            Destination::Webhook { url } => {
                pb::sink_spec::Destination::Webhook(pb::WebhookDestination { url: url.clone() })
            }
        };
        pb::SinkSpec {
            name: self.name.clone(),
            scope: Some(scope),
            filter: Some(self.filter.to_proto()),
            destination: Some(destination),
            batch_size: self.batch_size,
        }
    }

    /// The engine's filter of the sink's events (one tenant is filtered by its index;
    /// several are checked event by event: [`SinkSpec::takes_tenant`]).
    pub(crate) fn engine_filter(&self) -> Filter {
        let tenant = match &self.tenants {
            Tenants::Only(set) if set.len() == 1 => set.iter().next().cloned(),
            _ => None,
        };
        Filter {
            tenant,
            actor: self.filter.actor.clone(),
            actions: (self.filter.actions.iter())
                .filter_map(|a| ActionPattern::parse(a).ok())
                .collect(),
            outcomes: (self.filter.outcomes.iter())
                .filter_map(|o| Outcome::from_name(o))
                .collect(),
            resource_type: self.filter.resource_type.clone(),
            resource_id: self.filter.resource_id.clone(),
            ..Filter::default()
        }
    }

    /// Whether events of `tenant` are the sink's.
    pub(crate) fn takes_tenant(&self, tenant: &[u8]) -> bool {
        match &self.tenants {
            Tenants::All => true,
            Tenants::None => false,
            Tenants::Only(set) => std::str::from_utf8(tenant).is_ok_and(|t| set.contains(t)),
        }
    }
}

impl SinkFilter {
    fn from_proto(f: pb::Filter) -> Result<SinkFilter, Status> {
        let not_here = |field: &'static str| {
            invalid_field(
                field,
                "not a sink filter: a sink's tenants are its scope, and its cursor says \
                 where in the log it stands",
            )
        };
        if f.tenant.is_some() {
            return Err(not_here("spec.filter.tenant"));
        }
        if f.from.is_some() || f.to.is_some() {
            return Err(not_here("spec.filter.from"));
        }
        if f.from_seq.is_some() || f.to_seq.is_some() {
            return Err(not_here("spec.filter.from_seq"));
        }
        if f.email.is_some() {
            return Err(not_here("spec.filter.email"));
        }
        for action in &f.actions {
            ActionPattern::parse(action)
                .map_err(|e| invalid_field("spec.filter.actions", &e.to_string()))?;
        }
        let outcomes = (f.outcomes.iter())
            .map(|&o| {
                outcome_from_proto(o)
                    .map(|o| o.as_str().to_owned())
                    .ok_or_else(|| invalid_field("spec.filter.outcomes", "unknown outcome"))
            })
            .collect::<Result<_, _>>()?;
        Ok(SinkFilter {
            actor: f.actor,
            actions: f.actions,
            outcomes,
            resource_type: f.resource_type,
            resource_id: f.resource_id,
        })
    }

    fn to_proto(&self) -> pb::Filter {
        pb::Filter {
            actor: self.actor.clone(),
            actions: self.actions.clone(),
            outcomes: (self.outcomes.iter())
                .filter_map(|o| Outcome::from_name(o))
                .map(|o| outcome_to_proto(o) as i32)
                .collect(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            ..pb::Filter::default()
        }
    }
}

/// An http:// or https:// URL with a host.
fn check_url(url: &str) -> Result<(), Status> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| invalid_field("spec.destination.webhook.url", &e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid_field(
            "spec.destination.webhook.url",
            "an http:// or https:// URL with a host",
        ));
    }
    Ok(())
}
