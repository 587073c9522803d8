"""The official OpenTelemetry Python SDK as a client of auditlogd's OTLP logs receiver:
the same audit records sent through the OTLP/gRPC exporter and the OTLP/HTTP
(protobuf) exporter, each plain and gzip-compressed, from inside a span (so the
records carry trace context), with a resource naming the service and the tenant.

Usage: otel.py GRPC_ADDR HTTP_ADDR KEY
Prints one JSON object: what was sent, record by record, for the Rust test to find
field by field in the log (server/tests/otlp.rs).
"""

import json
import sys

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from grpc import Compression as GrpcCompression

RECORDS = 25
BASE_NS = 1_772_980_321_000_000_000


def exporters(grpc_addr, http_addr, key):
    yield "grpc", GrpcExporter(
        endpoint=grpc_addr, insecure=True, headers={"authorization": f"Bearer {key}"}
    )
    yield "grpc-gzip", GrpcExporter(
        endpoint=grpc_addr,
        insecure=True,
        headers={"authorization": f"Bearer {key}"},
        compression=GrpcCompression.Gzip,
    )
    yield "http", HttpExporter(
        endpoint=f"http://{http_addr}/v1/logs",
        headers={"Authorization": f"Bearer {key}"},
    )
    yield "http-gzip", HttpExporter(
        endpoint=f"http://{http_addr}/v1/logs",
        headers={"Authorization": f"Bearer {key}"},
        compression=HttpCompression.Gzip,
    )


def send(tag, exporter, offset, tracer):
    service = f"billing-{tag}"
    resource = Resource.create(
        {
            "service.name": service,
            "audit.tenant.id": "org_otel",
            "audit.tenant.name": "OTel Corp",
        }
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("billing.audit", "1.0.0")
    sent = []
    with tracer.start_as_current_span(f"approve-{tag}") as span:
        context = span.get_span_context()
        for i in range(RECORDS):
            ns = BASE_NS + (offset * RECORDS + i) * 1_001_000_000 + 123_456_789
            outcome = ["success", "denied", "failure", "error"][i % 4]
            attributes = {
                "enduser.id": f"usr_{i % 7}",
                "user.email": f"user{i % 7}@example.com",
                "audit.actor.kind": "user",
                "audit.outcome": outcome,
                "audit.resource.type": "invoice",
                "audit.resource.id": f"inv_{tag}_{i}",
                "client.address": "2001:db8::5" if i % 2 else "203.0.113.5",
                "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) \"quoted\"",
                "log.record.uid": f"{tag}-{i}",
                "http.route": "/invoices/{id}/approve",
                "retries": i,
                "amount": 12.5 + i,
                "approved": outcome == "success",
                "labels": ["finance", tag],
            }
            body = {"note": f"approval {i} by {tag}", "lines": i + 1}
            logger.emit(
                timestamp=ns,
                event_name="invoice.approve",
                severity_number=SeverityNumber.INFO,
                body=body,
                attributes=attributes,
            )
            sent.append(
                {
                    "transport": tag,
                    "time_unix_nano": ns,
                    "attributes": attributes,
                    "body": body,
                    "service": service,
                    "trace_id": format(context.trace_id, "032x"),
                    "span_id": format(context.span_id, "016x"),
                }
            )
        # A record that cannot be an audit event (no actor): refused, not stored.
        logger.emit(
            timestamp=BASE_NS,
            event_name="invoice.approve",
            attributes={"audit.outcome": "success", "log.record.uid": f"{tag}-orphan"},
        )
    if not provider.force_flush(30_000):
        raise SystemExit(f"{tag}: the exporter did not flush")
    provider.shutdown()
    return sent


def main(grpc_addr, http_addr, key):
    tracer = TracerProvider().get_tracer("billing")
    sent = []
    for offset, (tag, exporter) in enumerate(exporters(grpc_addr, http_addr, key)):
        sent.extend(send(tag, exporter, offset, tracer))
    print(json.dumps({"sent": sent}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
