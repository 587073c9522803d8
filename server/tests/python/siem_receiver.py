"""SIEM receivers for the sink tests, each checking what its vendor documents and
refusing, as the vendor does, what breaks it:

- otlp-http: POST /v1/logs, `application/x-protobuf`, decoded with the PyPI
  `opentelemetry-proto` types; answers an ExportLogsServiceResponse.
- otlp-grpc: opentelemetry.proto.collector.logs.v1.LogsService/Export on grpcio, with
  the same types.
- hec: Splunk HTTP Event Collector, POST /services/collector/event with
  `Authorization: Splunk TOKEN`; the body is event objects one after another, each with
  `event` and a numeric `time`, only HEC's keys; at most 1,000,000 bytes; answers
  `{"text":"Success","code":0}` and HEC's codes for its errors.
- datadog: Datadog logs intake v2, POST /api/v2/logs with `DD-API-KEY`, gzip JSON
  arrays of at most 1,000 entries and 5,000,000 bytes before compression, each entry at
  most 1,000,000 bytes; answers 202.

A credential (`--secret S`; for OTLP in header `--header NAME`) is required. The first
`--fail N` requests are answered 503 with `Retry-After: 1` (gRPC: UNAVAILABLE). OTLP
records whose event name is `--refuse ACTION` are refused through partial success.
Each request taken is kept as DIR/<n>.json: its events, each as
{seq, action, tenant, actor, outcome, event_id, time_us, metadata}, and for OTLP the
batch range its resource names; attempts are noted in DIR/attempts.log, refusals of
ours (a broken request) in DIR/rejected.log. Listens on 127.0.0.1 only; prints
{"port": N} once listening.

Kind `redirect` answers every request 307 to /elsewhere on itself, noting each path
it is asked for in DIR/attempts.log (a sink must not follow it).

Usage: siem_receiver.py KIND DIR --secret S [--header NAME] [--fail N] [--refuse ACTION]
       [--index INDEX]
"""

import gzip
import json
import os
import sys
import threading
from concurrent import futures
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

kind, out_dir = sys.argv[1], sys.argv[2]


def option(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


secret = option("--secret")
header = option("--header", "authorization")
fail = int(option("--fail", "0"))
refuse = option("--refuse")
index = option("--index")
lock = threading.Lock()
taken = [0]

# The attributes the OTLP mapping reads into fields (docs/OTLP.md), and ours.
MAPPED = {
    "enduser.id", "user.id", "user.email", "audit.actor.kind", "audit.tenant.id",
    "audit.tenant.name", "audit.resource.type", "audit.resource.id", "audit.outcome",
    "client.address", "user_agent.original", "audit.event_id", "log.record.uid",
    "audit.seq",
}


def note(name, line):
    with lock, open(os.path.join(out_dir, name), "a") as f:
        f.write(line + "\n")


def failing():
    """Whether this attempt is one of the first --fail."""
    global fail
    with lock:
        if fail > 0:
            fail -= 1
            return True
    return False


def keep(events, **extra):
    with lock:
        n = taken[0]
        taken[0] += 1
    partial = os.path.join(out_dir, f"{n}.partial")
    with open(partial, "w") as f:
        json.dump({"events": events, **extra}, f)
    os.replace(partial, os.path.join(out_dir, f"{n}.json"))


def micros(rfc3339):
    moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1_000_000)


def of_event(event):
    """The compared fields of an event in the query API's JSON."""
    return {
        "seq": event["seq"],
        "action": event["action"],
        "tenant": event["organization"]["id"],
        "actor": event["actor"]["user_id"],
        "outcome": event["outcome"],
        "event_id": event.get("event_id"),
        "time_us": micros(event["timestamp"]),
        "metadata": event.get("metadata"),
    }


def any_value(value):
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def of_record(record):
    """The compared fields of an OTLP log record, read by the mapping of docs/OTLP.md."""
    attributes = {kv.key: any_value(kv.value) for kv in record.attributes}
    metadata = {k: v for k, v in attributes.items() if k not in MAPPED}
    return {
        "seq": attributes["audit.seq"],
        "action": record.event_name,
        "tenant": attributes["audit.tenant.id"],
        "actor": attributes["enduser.id"],
        "outcome": attributes["audit.outcome"],
        "event_id": attributes.get("log.record.uid"),
        "time_us": record.time_unix_nano // 1000,
        "metadata": metadata or None,
    }


def take_export(request):
    """Keeps an export's records; the count and message of those refused."""
    events, refused = [], 0
    batch = {}
    for resource_logs in request.resource_logs:
        for kv in resource_logs.resource.attributes:
            if kv.key.startswith("auditlog.batch."):
                batch[kv.key] = any_value(kv.value)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if record.event_name == refuse:
                    refused += 1
                    continue
                events.append(of_record(record))
    keep(events, range=[batch.get("auditlog.batch.from_seq"), batch.get("auditlog.batch.to_seq")],
         refused=refused)
    response = logs_service_pb2.ExportLogsServiceResponse()
    if refused:
        response.partial_success.rejected_log_records = refused
        response.partial_success.error_message = f"{refuse} is not taken here"
    return response


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body=b"", content_type="application/json", extra=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def broken(self, status, body, why):
        note("rejected.log", f"{self.path}: {why}")
        self.answer(status, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        note("attempts.log", f"{self.path} {len(body)}")
        if failing():
            self.answer(503, {"text": "Server is busy", "code": 9}, extra=[("Retry-After", "1")])
            return
        {"otlp-http": self.otlp, "hec": self.hec, "datadog": self.datadog,
         "redirect": self.redirect}[kind](body)

    def do_GET(self):
        note("attempts.log", f"GET {self.path}")
        self.answer(200, {})

    def redirect(self, body):
        self.answer(307, b"", extra=[("Location", "/elsewhere")])

    def otlp(self, body):
        if self.path != "/v1/logs":
            return self.broken(404, b"", "not /v1/logs")
        if self.headers.get("content-type") != "application/x-protobuf":
            return self.broken(415, b"", f"content-type {self.headers.get('content-type')}")
        if self.headers.get(header) != secret:
            return self.broken(401, b"", "wrong credential")
        request = logs_service_pb2.ExportLogsServiceRequest.FromString(body)
        response = take_export(request)
        self.answer(200, response.SerializeToString(), "application/x-protobuf")

    def hec(self, body):
        if self.path != "/services/collector/event":
            return self.broken(404, {"text": "The requested URL was not found", "code": 404},
                               "path")
        authorization = self.headers.get("authorization")
        if authorization is None:
            return self.broken(401, {"text": "Token is required", "code": 2}, "no token")
        if not authorization.startswith("Splunk "):
            return self.broken(401, {"text": "Invalid authorization", "code": 3}, "scheme")
        if authorization[len("Splunk "):] != secret:
            return self.broken(403, {"text": "Invalid token", "code": 4}, "token")
        if len(body) > 1_000_000:
            return self.broken(413, {"text": "Content too large", "code": 413}, "size")
        text, decoder, at, events = body.decode(), json.JSONDecoder(), 0, []
        if not text.strip():
            return self.broken(400, {"text": "No data", "code": 5}, "empty")
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at == len(text):
                break
            try:
                item, at = decoder.raw_decode(text, at)
            except ValueError:
                return self.broken(400, {"text": "Invalid data format", "code": 6}, "JSON")
            unknown = set(item) - {"time", "host", "source", "sourcetype", "index", "event",
                                   "fields"}
            if unknown:
                return self.broken(400, {"text": "Invalid data format", "code": 6},
                                   f"keys {unknown}")
            if "event" not in item:
                return self.broken(400, {"text": "Event field is required", "code": 12},
                                   "event")
            if not item["event"]:
                return self.broken(400, {"text": "Event field cannot be blank", "code": 13},
                                   "blank")
            time = item.get("time")
            if not isinstance(time, (int, float)) or isinstance(time, bool):
                return self.broken(400, {"text": "Invalid data format", "code": 6}, "time")
            if index is not None and item.get("index") != index:
                return self.broken(400, {"text": "Incorrect index", "code": 7}, "index")
            event = of_event(item["event"])
            if abs(time * 1_000_000 - event["time_us"]) >= 1000:
                return self.broken(400, {"text": "Invalid data format", "code": 6},
                                   "time is not the event's")
            event["sourcetype"] = item.get("sourcetype")
            events.append(event)
        keep(events)
        self.answer(200, {"text": "Success", "code": 0})

    def datadog(self, body):
        if self.path != "/api/v2/logs":
            return self.broken(404, {"errors": ["Not found"]}, "path")
        if self.headers.get("dd-api-key") != secret:
            return self.broken(403, {"errors": ["Forbidden"]}, "API key")
        if self.headers.get("content-type") != "application/json":
            return self.broken(400, {"errors": ["Bad content type"]}, "content-type")
        if self.headers.get("content-encoding") != "gzip":
            return self.broken(400, {"errors": ["Not gzip"]}, "content-encoding")
        body = gzip.decompress(body)
        if len(body) > 5_000_000:
            return self.broken(413, {"errors": ["Payload too large"]}, f"{len(body)} bytes")
        entries = json.loads(body)
        if not isinstance(entries, list) or len(entries) > 1000:
            return self.broken(400, {"errors": ["Too many entries"]}, "array")
        events = []
        for entry in entries:
            if len(json.dumps(entry, separators=(",", ":")).encode()) > 1_000_000:
                return self.broken(413, {"errors": ["Log too large"]}, "entry")
            for name in ("ddsource", "service", "ddtags", "message"):
                if not isinstance(entry.get(name), str):
                    return self.broken(400, {"errors": [f"{name}"]}, name)
            event = of_event(entry)
            event["ddtags"] = entry["ddtags"]
            events.append(event)
        keep(events, bytes=len(body))
        self.answer(202, {})

    def log_message(self, *args):
        pass


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        import grpc

        note("attempts.log", "Export")
        if failing():
            context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
        if dict(context.invocation_metadata()).get(header) != secret:
            note("rejected.log", "Export: wrong credential")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong credential")
        return take_export(request)


if kind == "otlp-grpc":
    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(json.dumps({"port": port}), flush=True)
    server.wait_for_termination()
else:
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(json.dumps({"port": http.server_address[1]}), flush=True)
    http.serve_forever()
