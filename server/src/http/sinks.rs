//! `/v1/sinks`: sinks managed over HTTP (docs/SINKS.md), the same operations and rules
//! as gRPC's `SinkService` (`sinks::admin`), in JSON shaped like its messages (field
//! names as in sink.proto; outcomes by name; `auditlog_proto::sink_json`).

use std::sync::Arc;

use auditlog_engine::Outcome;
use auditlog_proto::convert::outcome_to_proto;
use auditlog_proto::sink_json::sink_info;
use auditlog_proto::v1 as pb;
use axum::extract::{Path, State as Shared};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Status;

use super::{HttpError, caller, json_body};
use crate::State;
use crate::sinks::admin::{self, ReplayFrom};
use crate::status::invalid_field;

/// The most bytes of a sink request's body.
const MAX_BODY: usize = 64 << 10;

/// (No `Debug`: it holds the receiver's credential.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    spec: SpecBody,
    from_seq: Option<u64>,
    secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: ScopeBody,
    #[serde(default)]
    filter: FilterBody,
    #[serde(default, deserialize_with = "present")]
    webhook: Option<WebhookBody>,
    #[serde(default, deserialize_with = "present")]
    otlp: Option<OtlpBody>,
    #[serde(default, deserialize_with = "present")]
    splunk_hec: Option<SplunkHecBody>,
    #[serde(default, deserialize_with = "present")]
    datadog: Option<DatadogBody>,
    #[serde(default)]
    batch_size: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    all_tenants: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterBody {
    actor: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    outcomes: Vec<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
    #[serde(default)]
    proofs: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpBody {
    url: String,
    /// `http_protobuf` (the default) or `grpc`.
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    secret_header: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplunkHecBody {
    url: String,
    #[serde(default)]
    index: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    sourcetype: String,
    #[serde(default)]
    host: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatadogBody {
    url: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    hostname: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    from_seq: Option<u64>,
    from_time: Option<String>,
}

/// A destination that is there: named with `null`, it is refused (as the document's
/// schema says), not taken for absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A JSON body of type `T`, or 400 saying what is wrong with it.
async fn body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, HttpError> {
    json_body(headers, body, MAX_BODY).await
}

impl SpecBody {
    fn into_proto(self) -> Result<pb::SinkSpec, Status> {
        let outcomes = (self.filter.outcomes.iter())
            .map(|name| {
                Outcome::from_name(name)
                    .map(|o| outcome_to_proto(o) as i32)
                    .ok_or_else(|| {
                        invalid_field(
                            "spec.filter.outcomes",
                            &format!("`{name}`: success, failure, denied or error"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        use pb::sink_spec::Destination as D;
        let mut destinations = Vec::new();
        if let Some(w) = self.webhook {
            destinations.push(D::Webhook(pb::WebhookDestination {
                url: w.url,
                proofs: w.proofs,
            }));
        }
        if let Some(o) = self.otlp {
            let protocol = match o.protocol.as_deref() {
                None | Some("http_protobuf") => pb::OtlpProtocol::HttpProtobuf,
                Some("grpc") => pb::OtlpProtocol::Grpc,
                Some(other) => {
                    return Err(invalid_field(
                        "spec.otlp.protocol",
                        &format!("`{other}`: http_protobuf or grpc"),
                    ));
                }
            };
            destinations.push(D::Otlp(pb::OtlpDestination {
                url: o.url,
                protocol: protocol as i32,
                secret_header: o.secret_header,
            }));
        }
        if let Some(h) = self.splunk_hec {
            destinations.push(D::SplunkHec(pb::SplunkHecDestination {
                url: h.url,
                index: h.index,
                source: h.source,
                sourcetype: h.sourcetype,
                host: h.host,
            }));
        }
        if let Some(d) = self.datadog {
            destinations.push(D::Datadog(pb::DatadogDestination {
                url: d.url,
                service: d.service,
                source: d.source,
                tags: d.tags,
                hostname: d.hostname,
            }));
        }
        if destinations.len() > 1 {
            return Err(invalid_field(
                "spec.destination",
                "one destination per sink: webhook, otlp, splunk_hec or datadog",
            ));
        }
        Ok(pb::SinkSpec {
            name: self.name,
            scope: Some(pb::SinkScope {
                tenants: self.scope.tenants,
                all_tenants: self.scope.all_tenants,
            }),
            filter: Some(pb::Filter {
                actor: self.filter.actor,
                actions: self.filter.actions,
                outcomes,
                resource_type: self.filter.resource_type,
                resource_id: self.filter.resource_id,
                ..pb::Filter::default()
            }),
            destination: destinations.pop(),
            batch_size: self.batch_size,
        })
    }
}

fn sink_answer(sink: &pb::SinkInfo) -> Response {
    axum::Json(json!({"sink": sink_info(sink)})).into_response()
}

/// `GET /v1/sinks`: the sinks the key manages.
pub(crate) async fn list(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let sinks = admin::list(&state, &caller)?;
    let sinks: Vec<Value> = sinks.sinks.iter().map(sink_info).collect();
    Ok(axum::Json(json!({ "sinks": sinks })).into_response())
}

/// `POST /v1/sinks`: creates a sink; the answer holds its secret, shown only here.
pub(crate) async fn create(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    request: axum::body::Body,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let given: CreateBody = body(&headers, request).await?;
    let request = pb::CreateSinkRequest {
        spec: Some(given.spec.into_proto()?),
        from_seq: given.from_seq,
        secret: given.secret,
    };
    let created = admin::create(&state, caller, request).await?;
    let sink = created.sink.unwrap_or_default();
    let answer = json!({"sink": sink_info(&sink), "secret": created.secret});
    Ok(axum::Json(answer).into_response())
}

/// `GET /v1/sinks/{id}`.
pub(crate) async fn get(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    Ok(sink_answer(&admin::get(&state, &caller, &id)?))
}

/// `DELETE /v1/sinks/{id}`: the sink, its cursor and its secret.
pub(crate) async fn delete(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    Ok(sink_answer(&admin::delete(&state, caller, id).await?))
}

/// `POST /v1/sinks/{id}/pause`.
pub(crate) async fn pause(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    Ok(sink_answer(
        &admin::set_paused(&state, caller, id, true).await?,
    ))
}

/// `POST /v1/sinks/{id}/resume`.
pub(crate) async fn resume(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    Ok(sink_answer(
        &admin::set_paused(&state, caller, id, false).await?,
    ))
}

/// `POST /v1/sinks/{id}/replay` with `{"from_seq": N}` or `{"from_time": "RFC 3339"}`.
pub(crate) async fn replay(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: axum::body::Body,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let given: ReplayBody = body(&headers, request).await?;
    let from = ReplayFrom::named(given.from_seq, given.from_time, ["from_seq", "from_time"])?;
    Ok(sink_answer(&admin::replay(&state, caller, id, from).await?))
}
