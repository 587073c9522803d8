//! A sink as JSON (`SinkInfo` with the field names of sink.proto, outcomes by name): what
//! `GET /v1/sinks` answers and `auditlog sink list --json` prints, one shape for both.

use serde_json::{Value, json};

use crate::convert::outcome_from_proto;
use crate::v1 as pb;

/// `sink` as JSON.
pub fn sink_info(sink: &pb::SinkInfo) -> Value {
    let spec = sink.spec.clone().unwrap_or_default();
    let scope = spec.scope.unwrap_or_default();
    let filter = spec.filter.unwrap_or_default();
    let outcomes: Vec<&str> = (filter.outcomes.iter())
        .filter_map(|&o| outcome_from_proto(o))
        .map(|o| o.as_str())
        .collect();
    let mut spec_json = json!({
        "name": spec.name,
        "scope": {"tenants": scope.tenants, "all_tenants": scope.all_tenants},
        "filter": {
            "actor": filter.actor,
            "actions": filter.actions,
            "outcomes": outcomes,
            "resource_type": filter.resource_type,
            "resource_id": filter.resource_id,
        },
        "batch_size": spec.batch_size,
    });
    use pb::sink_spec::Destination as D;
    match spec.destination {
        Some(D::Webhook(webhook)) => {
            spec_json["webhook"] = json!({"url": webhook.url, "proofs": webhook.proofs});
        }
        Some(D::Otlp(otlp)) => {
            let protocol = match pb::OtlpProtocol::try_from(otlp.protocol) {
                Ok(pb::OtlpProtocol::Grpc) => "grpc",
                _ => "http_protobuf",
            };
            spec_json["otlp"] = json!({
                "url": otlp.url,
                "protocol": protocol,
                "secret_header": otlp.secret_header,
            });
        }
        Some(D::SplunkHec(hec)) => {
            spec_json["splunk_hec"] = json!({
                "url": hec.url,
                "index": hec.index,
                "source": hec.source,
                "sourcetype": hec.sourcetype,
                "host": hec.host,
            });
        }
        Some(D::Datadog(dd)) => {
            spec_json["datadog"] = json!({
                "url": dd.url,
                "service": dd.service,
                "source": dd.source,
                "tags": dd.tags,
                "hostname": dd.hostname,
            });
        }
        None => {}
    }
    json!({
        "id": sink.id,
        "spec": spec_json,
        "created": sink.created,
        "paused": sink.paused,
        "cursor": sink.cursor,
        "state": sink.state,
        "failures": sink.failures,
        "last_error": sink.last_error,
        "delivered": sink.delivered,
        "created_by": sink.created_by,
    })
}
