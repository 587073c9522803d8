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

/// Where batches go. URLs are stored whole (the vendor's path added when given none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum Destination {
    /// Standard Webhooks: signed JSON POSTed to `url`; with `proofs`, each batch is
    /// proven against a signed checkpoint.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        proofs: bool,
    },
    /// OTLP logs over gRPC or HTTP/protobuf; the secret, if any, in `secret_header`.
    Otlp {
        url: String,
        protocol: OtlpProtocol,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_header: Option<String>,
    },
    /// Splunk HTTP Event Collector; the secret is the HEC token.
    SplunkHec {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        sourcetype: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// Datadog logs intake v2; the secret is the API key.
    Datadog {
        url: String,
        service: String,
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tags: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
    },
}

/// How OTLP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

/// `sourcetype`, `service` and `ddsource` when the spec names none.
const DEFAULT_NAME: &str = "auditlog";
/// The longest name a destination sends with every event (HEC's index, source,
/// sourcetype and host; Datadog's service, source and hostname), and Datadog's tags:
/// repeated in every entry, they must leave an event far within the vendors' limits.
const MAX_LABEL: usize = 256;
const MAX_TAGS: usize = 1024;

impl Destination {
    /// The URL batches are sent to.
    pub(crate) fn url(&self) -> &str {
        match self {
            Destination::Webhook { url, .. }
            | Destination::Otlp { url, .. }
            | Destination::SplunkHec { url, .. }
            | Destination::Datadog { url, .. } => url,
        }
    }

    /// `scheme://host:port`: how errors and events name the destination (a URL's path
    /// or query may carry a token).
    pub(crate) fn origin(&self) -> String {
        reqwest::Url::parse(self.url())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// Whether its batches carry proofs.
    pub(crate) fn proofs(&self) -> bool {
        matches!(self, Destination::Webhook { proofs: true, .. })
    }

    /// The destination's kind, as its spec names it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Destination::Webhook { .. } => "webhook",
            Destination::Otlp { .. } => "otlp",
            Destination::SplunkHec { .. } => "splunk_hec",
            Destination::Datadog { .. } => "datadog",
        }
    }

    /// Whether the sink's secret is made by the server (a webhook's signing secret), or
    /// given by its creator (a credential of the receiver's): required, optional or
    /// refused.
    fn secret_rule(&self) -> SecretRule {
        match self {
            Destination::Webhook { .. } => SecretRule::Made,
            Destination::Otlp {
                secret_header: Some(_),
                ..
            }
            | Destination::SplunkHec { .. }
            | Destination::Datadog { .. } => SecretRule::Given,
            Destination::Otlp { .. } => SecretRule::None,
        }
    }

    /// The destination of a request, checked, its URL completed with the vendor's path.
    fn from_proto(destination: Option<pb::sink_spec::Destination>) -> Result<Self, Status> {
        use pb::sink_spec::Destination as D;
        let given = |text: String| (!text.is_empty()).then_some(text);
        let named = |text: String| given(text).unwrap_or_else(|| DEFAULT_NAME.to_owned());
        Ok(match destination {
            Some(D::Webhook(webhook)) => Destination::Webhook {
                url: checked_url("spec.webhook.url", webhook.url, None)?,
                proofs: webhook.proofs,
            },
            Some(D::Otlp(otlp)) => {
                let protocol = match pb::OtlpProtocol::try_from(otlp.protocol) {
                    Ok(pb::OtlpProtocol::Grpc) => OtlpProtocol::Grpc,
                    Ok(pb::OtlpProtocol::Unspecified | pb::OtlpProtocol::HttpProtobuf) => {
                        OtlpProtocol::HttpProtobuf
                    }
                    Err(_) => return Err(invalid_field("spec.otlp.protocol", "unknown protocol")),
                };
                let path = match protocol {
                    OtlpProtocol::HttpProtobuf => Some("/v1/logs"),
                    OtlpProtocol::Grpc => None,
                };
                let url = checked_url("spec.otlp.url", otlp.url, path)?;
                if protocol == OtlpProtocol::Grpc && !url_has_no_path(&url) {
                    return Err(invalid_field(
                        "spec.otlp.url",
                        "an OTLP/gRPC URL is `http(s)://host:port`, without a path",
                    ));
                }
                let secret_header = given(otlp.secret_header.to_ascii_lowercase());
                if let Some(name) = &secret_header {
                    check_header_name("spec.otlp.secret_header", name)?;
                }
                Destination::Otlp {
                    url,
                    protocol,
                    secret_header,
                }
            }
            Some(D::SplunkHec(hec)) => {
                for (field, text) in [
                    ("spec.splunk_hec.index", &hec.index),
                    ("spec.splunk_hec.source", &hec.source),
                    ("spec.splunk_hec.sourcetype", &hec.sourcetype),
                    ("spec.splunk_hec.host", &hec.host),
                ] {
                    check_label(field, text, MAX_LABEL)?;
                }
                Destination::SplunkHec {
                    url: checked_url(
                        "spec.splunk_hec.url",
                        hec.url,
                        Some("/services/collector/event"),
                    )?,
                    index: given(hec.index),
                    source: given(hec.source),
                    sourcetype: named(hec.sourcetype),
                    host: given(hec.host),
                }
            }
            Some(D::Datadog(dd)) => {
                for (field, text, max) in [
                    ("spec.datadog.service", &dd.service, MAX_LABEL),
                    ("spec.datadog.source", &dd.source, MAX_LABEL),
                    ("spec.datadog.tags", &dd.tags, MAX_TAGS),
                    ("spec.datadog.hostname", &dd.hostname, MAX_LABEL),
                ] {
                    check_label(field, text, max)?;
                }
                Destination::Datadog {
                    url: checked_url("spec.datadog.url", dd.url, Some("/api/v2/logs"))?,
                    service: named(dd.service),
                    source: named(dd.source),
                    tags: given(dd.tags),
                    hostname: given(dd.hostname),
                }
            }
            None => {
                return Err(invalid_field(
                    "spec.destination",
                    "a sink needs a destination",
                ));
            }
        })
    }

    fn to_proto(&self) -> pb::sink_spec::Destination {
        use pb::sink_spec::Destination as D;
        let text = |t: &Option<String>| t.clone().unwrap_or_default();
        match self {
            Destination::Webhook { url, proofs } => D::Webhook(pb::WebhookDestination {
                url: url.clone(),
                proofs: *proofs,
            }),
            Destination::Otlp {
                url,
                protocol,
                secret_header,
            } => D::Otlp(pb::OtlpDestination {
                url: url.clone(),
                protocol: match protocol {
                    OtlpProtocol::HttpProtobuf => pb::OtlpProtocol::HttpProtobuf,
                    OtlpProtocol::Grpc => pb::OtlpProtocol::Grpc,
                } as i32,
                secret_header: text(secret_header),
            }),
            Destination::SplunkHec {
                url,
                index,
                source,
                sourcetype,
                host,
            } => D::SplunkHec(pb::SplunkHecDestination {
                url: url.clone(),
                index: text(index),
                source: text(source),
                sourcetype: sourcetype.clone(),
                host: text(host),
            }),
            Destination::Datadog {
                url,
                service,
                source,
                tags,
                hostname,
            } => D::Datadog(pb::DatadogDestination {
                url: url.clone(),
                service: service.clone(),
                source: source.clone(),
                tags: text(tags),
                hostname: text(hostname),
            }),
        }
    }
}

/// Who provides a sink's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretRule {
    /// The server (shown once).
    Made,
    /// The sink's creator (never shown).
    Given,
    /// Nobody: the destination takes none.
    None,
}

/// The secret a sink is made with: made by the server, or the one its creator gave
/// (never in a debug print).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum NewSecret {
    /// A webhook signing secret, made when the sink is.
    Made,
    /// A receiver's credential, stored as given (an empty one for none).
    Given(String),
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewSecret::Made => f.write_str("Made"),
            NewSecret::Given(_) => f.write_str("Given(..)"),
        }
    }
}

impl NewSecret {
    /// The secret a create request brings for `destination`, checked: a credential where
    /// the destination takes one, none where it does not.
    pub(crate) fn of(destination: &Destination, given: Option<String>) -> Result<Self, Status> {
        let given = given.filter(|s| !s.is_empty());
        match (destination.secret_rule(), given) {
            (SecretRule::Made, None) => Ok(NewSecret::Made),
            (SecretRule::Made, Some(_)) => Err(invalid_field(
                "secret",
                "a webhook's signing secret is made by the server, and shown once",
            )),
            (SecretRule::None, None) => Ok(NewSecret::Given(String::new())),
            (SecretRule::None, Some(_)) => Err(invalid_field(
                "secret",
                "this destination sends no credential: name spec.otlp.secret_header",
            )),
            (SecretRule::Given, None) => Err(invalid_field(
                "secret",
                "this destination needs its credential (a HEC token, an API key, the \
                 header's value)",
            )),
            (SecretRule::Given, Some(secret)) => {
                // Sent as a header: visible ASCII only, so it can never split one.
                if secret.len() > 4096 || !secret.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                    return Err(invalid_field(
                        "secret",
                        "at most 4096 printable ASCII characters",
                    ));
                }
                // A credential crosses the network in the clear only to this host.
                if !carried_safely(destination.url()) {
                    return Err(invalid_field(
                        "secret",
                        "a credential is sent over https:// only (or to a loopback address)",
                    ));
                }
                Ok(NewSecret::Given(secret))
            }
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
        let destination = Destination::from_proto(spec.destination)?;
        if let Destination::Webhook { proofs: true, .. } = destination {
            let one_or_all = match &tenants {
                Tenants::All => true,
                Tenants::Only(set) => set.len() == 1,
                Tenants::None => false,
            };
            if !one_or_all || filter != SinkFilter::default() {
                return Err(invalid_field(
                    "spec.webhook.proofs",
                    "a batch proves it holds every event of its range, so a sink with proofs \
                     takes them all: one tenant or all, and no filter",
                ));
            }
        }
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
        pb::SinkSpec {
            name: self.name.clone(),
            scope: Some(scope),
            filter: Some(self.filter.to_proto()),
            destination: Some(self.destination.to_proto()),
            batch_size: self.batch_size,
        }
    }

    /// The engine's filter of the sink's events (one tenant is filtered by its index;
    /// several are checked event by event: [`SinkSpec::takes_tenant`]).
    pub(crate) fn engine_filter(&self) -> Filter {
        let tenant = self.single_tenant().map(str::to_owned);
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

    /// The tenant a sink of one tenant delivers.
    pub(crate) fn single_tenant(&self) -> Option<&str> {
        match &self.tenants {
            Tenants::Only(set) if set.len() == 1 => set.iter().next().map(String::as_str),
            _ => None,
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

/// `url` checked to be http:// or https:// with a host, with `path` added when it has
/// none.
/// Stored as parsed (lower-case scheme and host), so every later reading of it agrees;
/// a URL with a user name or password is refused (a credential goes in `secret`).
fn checked_url(field: &str, url: String, path: Option<&str>) -> Result<String, Status> {
    let mut parsed = reqwest::Url::parse(&url).map_err(|e| invalid_field(field, &e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid_field(
            field,
            "an http:// or https:// URL with a host",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid_field(
            field,
            "a URL without a user name or password (give the credential as `secret`)",
        ));
    }
    if let Some(path) = path
        && has_no_path(&parsed)
    {
        parsed.set_path(path);
    }
    Ok(parsed.into())
}

/// Whether `url` is https, or names a loopback address.
fn carried_safely(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || (host.trim_start_matches('[').trim_end_matches(']'))
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    url.scheme() == "https" || loopback
}

fn has_no_path(url: &reqwest::Url) -> bool {
    url.path() == "/" && url.query().is_none()
}

fn url_has_no_path(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| has_no_path(&u))
}

/// A name sent with every event: at most `max` bytes, no control characters.
fn check_label(field: &str, text: &str, max: usize) -> Result<(), Status> {
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(invalid_field(
            field,
            &format!("at most {max} bytes, without control characters"),
        ));
    }
    Ok(())
}

/// A header name (lower-case) that HTTP and gRPC metadata both take, and not one the
/// sink sets itself.
fn check_header_name(field: &str, name: &str) -> Result<(), Status> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with("grpc-")
        && !name.ends_with("-bin")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    let reserved = [
        "content-type",
        "content-encoding",
        "content-length",
        "host",
        "te",
        "user-agent",
        // HTTP/2 forbids the hop-by-hop ones.
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "expect",
    ];
    if !valid || reserved.contains(&name) {
        return Err(invalid_field(
            field,
            "a header name (letters, digits, `-`, `_`, `.`), not one the sink sets itself",
        ));
    }
    Ok(())
}
