"""Schemathesis hooks for auditlogd's API (server/tests/schemathesis.rs).

NDJSON request bodies (POST /v1/events, documented as a string of lines) are sent as
their text, as schemathesis sends text/plain; OTLP protobuf bodies (POST /v1/logs,
documented as binary) as their bytes, as it sends application/octet-stream.
"""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
