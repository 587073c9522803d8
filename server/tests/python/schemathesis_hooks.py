"""Schemathesis hooks for auditlogd's API (server/tests/schemathesis.rs).

NDJSON request bodies (POST /v1/events, documented as a string of lines) are sent as
their text, as schemathesis sends text/plain.
"""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
