//! A batch as its destination takes it (docs/SINKS.md): the webhook's JSON envelope, an
//! OTLP `ExportLogsServiceRequest`, Splunk HEC's concatenated event objects, Datadog's
//! gzip JSON array. Each event is written as it is read from the log, and a request
//! stops short of its destination's size limit: the events left out start the next
//! batch (a first event always fits: an event's JSON is under 64 KiB, every limit is
//! past a megabyte).

use std::io::Write;

use auditlog_engine::Timestamp;
use auditlog_engine::event::{NotUtf8, RawEvent};
use auditlog_proto::opentelemetry::proto::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use auditlog_proto::opentelemetry::proto::resource::v1::Resource;
use auditlog_proto::otlp::write_record;
use prost::Message;

use super::spec::{Destination, OtlpProtocol};

/// The most bytes of an OTLP request: gRPC's default message limit, which the
/// OpenTelemetry Collector keeps (4 MiB).
const OTLP_MAX_BYTES: usize = 4 << 20;
/// The most bytes of a HEC request: Splunk Cloud's limit (Splunk Enterprise takes more).
const HEC_MAX_BYTES: usize = 1_000_000;
/// Datadog's limits: bytes of a request before compression, entries of its array, bytes
/// of one entry.
const DATADOG_MAX_BYTES: usize = 5_000_000;
const DATADOG_MAX_ENTRIES: usize = 1_000;
/// (Datadog truncates a longer entry rather than refusing it. None is: an event is
/// under 64 KiB, the spec's names and tags add at most 2 KiB.)
const DATADOG_MAX_ENTRY_BYTES: usize = 1_000_000;

/// A batch's body, ready to send.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// A body to POST.
    Http {
        body: bytes::Bytes,
        content_type: &'static str,
        gzip: bool,
    },
    /// An OTLP/gRPC export: an `ExportLogsServiceRequest`, encoded.
    Grpc(bytes::Bytes),
}

/// The range a batch tells (see `read_batch`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) expired: Option<(u64, u64)>,
}

/// A batch being written for one destination.
pub(crate) struct Encoder<'a> {
    sink: &'a str,
    destination: &'a Destination,
    events: usize,
    written: Written,
    /// One OTLP record at a time, before it is framed.
    scratch: Vec<u8>,
}

enum Written {
    /// Events as JSON, comma-separated (webhook and Datadog: the envelope is added at the
    /// end).
    Json(Vec<u8>),
    /// Log records, each framed as a `log_records` field of `ScopeLogs`.
    Otlp(Vec<u8>),
    /// HEC event objects, one per line.
    Hec(Vec<u8>),
    /// Nothing: a webhook batch with proofs is written by the bundle writer
    /// (`proofs::proven_batch`); this pass only finds its range.
    Counted,
}

impl<'a> Encoder<'a> {
    pub(crate) fn new(sink: &'a str, destination: &'a Destination) -> Self {
        let written = match destination {
            Destination::Webhook { proofs: true, .. } => Written::Counted,
            Destination::Webhook { .. } | Destination::Datadog { .. } => {
                Written::Json(Vec::with_capacity(64 << 10))
            }
            Destination::Otlp { .. } => Written::Otlp(Vec::with_capacity(256 << 10)),
            Destination::SplunkHec { .. } => Written::Hec(Vec::with_capacity(64 << 10)),
        };
        Encoder {
            sink,
            destination,
            events: 0,
            written,
            scratch: Vec::new(),
        }
    }

    /// The events written so far.
    pub(crate) fn events(&self) -> usize {
        self.events
    }

    /// Adds event `seq`; false, and the event left out, when it would take the request
    /// past its destination's limit.
    pub(crate) fn push(&mut self, seq: u64, raw: &RawEvent<'_>) -> Result<bool, NotUtf8> {
        let first = self.events == 0;
        let added = match (&mut self.written, self.destination) {
            (Written::Json(out), Destination::Webhook { .. }) => {
                if !first {
                    out.push(b',');
                }
                raw.write_json(Some(seq), out)?;
                true
            }
            (Written::Json(out), Destination::Datadog { .. }) => {
                let mark = out.len();
                if !first {
                    out.push(b',');
                }
                self.write_datadog_entry(seq, raw, mark)?
            }
            (Written::Otlp(records), _) => {
                let mark = records.len();
                let event = raw.to_event()?;
                scratch_record(&mut self.scratch, &event, seq);
                // `log_records` (2), its length, the record.
                records.push(2 << 3 | 2);
                prost::encoding::encode_varint(self.scratch.len() as u64, records);
                records.extend_from_slice(&self.scratch);
                // Room kept for the envelope (a few hundred bytes).
                if !first && records.len() > OTLP_MAX_BYTES - 1024 {
                    records.truncate(mark);
                    false
                } else {
                    true
                }
            }
            (Written::Hec(out), Destination::SplunkHec { .. }) => {
                let mark = out.len();
                write_hec_event(self.destination, seq, raw, out)?;
                if !first && out.len() > HEC_MAX_BYTES {
                    out.truncate(mark);
                    false
                } else {
                    true
                }
            }
            (Written::Counted, _) => true,
            (Written::Json(_) | Written::Hec(_), _) => unreachable!("written as made"),
        };
        if added {
            self.events += 1;
        }
        Ok(added)
    }

    /// Writes a Datadog log entry after `mark` (and its comma): the event's own members
    /// beside Datadog's reserved attributes; false, the entry taken back, when the
    /// request would pass Datadog's limits.
    fn write_datadog_entry(
        &mut self,
        seq: u64,
        raw: &RawEvent<'_>,
        mark: usize,
    ) -> Result<bool, NotUtf8> {
        let Written::Json(out) = &mut self.written else {
            unreachable!("Datadog batches are JSON");
        };
        let Destination::Datadog {
            service,
            source,
            tags,
            hostname,
            ..
        } = self.destination
        else {
            unreachable!("a Datadog encoder");
        };
        let event = raw.to_event()?;
        let start = out.len();
        let string = |out: &mut Vec<u8>, text: &str| {
            serde_json::to_writer(out, text).expect("a string writes to memory");
        };
        out.extend_from_slice(b"{\"ddsource\":");
        string(out, source);
        out.extend_from_slice(b",\"service\":");
        string(out, service);
        out.extend_from_slice(b",\"ddtags\":");
        let sink_tag = format!("sink:{}", self.sink);
        match tags {
            Some(tags) => string(out, &format!("{sink_tag},{tags}")),
            None => string(out, &sink_tag),
        }
        if let Some(hostname) = hostname {
            out.extend_from_slice(b",\"hostname\":");
            string(out, hostname);
        }
        out.extend_from_slice(b",\"message\":");
        let message = format!(
            "{} {}: {} in {}",
            event.action,
            event.outcome.as_str(),
            event.actor_id,
            event.tenant_id
        );
        string(out, &message);
        out.push(b',');
        // The event's members follow, its opening brace dropped.
        let members = out.len();
        raw.write_json(Some(seq), out)?;
        out.remove(members);
        let entry = out.len() - start;
        // The array's brackets count too.
        let total = out.len() + 2;
        if self.events > 0
            && (total > DATADOG_MAX_BYTES
                || self.events >= DATADOG_MAX_ENTRIES
                || entry > DATADOG_MAX_ENTRY_BYTES)
        {
            out.truncate(mark);
            return Ok(false);
        }
        Ok(true)
    }

    /// The request of the events written, telling `range`.
    pub(crate) fn finish(self, range: Range) -> anyhow::Result<Payload> {
        let json = |body: Vec<u8>| Payload::Http {
            body: body.into(),
            content_type: "application/json",
            gzip: false,
        };
        Ok(match (self.written, self.destination) {
            (Written::Json(events), Destination::Datadog { .. }) => {
                let mut gzip = flate2::write::GzEncoder::new(
                    Vec::with_capacity(events.len() / 4 + 64),
                    flate2::Compression::fast(),
                );
                gzip.write_all(b"[")?;
                gzip.write_all(&events)?;
                gzip.write_all(b"]")?;
                Payload::Http {
                    body: gzip.finish()?.into(),
                    content_type: "application/json",
                    gzip: true,
                }
            }
            (Written::Json(events), _) => json(webhook_body(self.sink, range, &events, None)?),
            (Written::Counted, _) => json(webhook_body(self.sink, range, &[], None)?),
            (Written::Hec(events), _) => Payload::Http {
                body: events.into(),
                content_type: "application/json",
                gzip: false,
            },
            (Written::Otlp(records), destination) => {
                let request = otlp_request(self.sink, range, &records);
                match destination {
                    Destination::Otlp {
                        protocol: OtlpProtocol::Grpc,
                        ..
                    } => Payload::Grpc(request.into()),
                    _ => Payload::Http {
                        body: request.into(),
                        content_type: "application/x-protobuf",
                        gzip: false,
                    },
                }
            }
        })
    }
}

/// The webhook's body: `{"type":"auditlog.events","timestamp":…,"data":{…,"events":[…]}}`,
/// with `"proof":{"header":…,"trailer":…}` after the events when the bundle lines that
/// prove them are given.
pub(crate) fn webhook_body(
    sink: &str,
    range: Range,
    events: &[u8],
    proof: Option<(&str, &str)>,
) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(events.len() + 256);
    body.extend_from_slice(br#"{"type":"auditlog.events","timestamp":"#);
    serde_json::to_writer(&mut body, &Timestamp::now().to_rfc3339())?;
    body.extend_from_slice(br#","data":{"sink":"#);
    serde_json::to_writer(&mut body, sink)?;
    let Range { from, to, expired } = range;
    body.extend_from_slice(format!(r#","from_seq":{from},"to_seq":{to}"#).as_bytes());
    if let Some((from, to)) = expired {
        body.extend_from_slice(
            format!(r#","expired":{{"from_seq":{from},"to_seq":{to}}}"#).as_bytes(),
        );
    }
    body.extend_from_slice(br#","events":["#);
    body.extend_from_slice(events);
    body.push(b']');
    if let Some((header, trailer)) = proof {
        body.extend_from_slice(br#","proof":{"header":"#);
        body.extend_from_slice(header.as_bytes());
        body.extend_from_slice(br#","trailer":"#);
        body.extend_from_slice(trailer.as_bytes());
        body.push(b'}');
    }
    body.extend_from_slice(b"}}");
    Ok(body)
}

/// One HEC event object and its newline: `time` (Unix seconds, to the millisecond, as
/// Splunk documents it), the spec's `host`, `source`, `sourcetype` and `index`, and the
/// event's JSON as `event`.
fn write_hec_event(
    destination: &Destination,
    seq: u64,
    raw: &RawEvent<'_>,
    out: &mut Vec<u8>,
) -> Result<(), NotUtf8> {
    let Destination::SplunkHec {
        index,
        source,
        sourcetype,
        host,
        ..
    } = destination
    else {
        unreachable!("a HEC encoder");
    };
    // Truncated to the millisecond toward zero, the sign written apart (-1.5 s is
    // `-1.500`).
    let micros = raw.timestamp.0;
    let sign = if micros < 0 { "-" } else { "" };
    let (seconds, millis) = (
        micros.unsigned_abs() / 1_000_000,
        micros.unsigned_abs() % 1_000_000 / 1000,
    );
    out.extend_from_slice(format!("{{\"time\":{sign}{seconds}.{millis:03}").as_bytes());
    let mut member = |name: &str, value: &str| {
        out.extend_from_slice(format!(",\"{name}\":").as_bytes());
        serde_json::to_writer(&mut *out, value).expect("a string writes to memory");
    };
    if let Some(host) = host {
        member("host", host);
    }
    if let Some(source) = source {
        member("source", source);
    }
    member("sourcetype", sourcetype);
    if let Some(index) = index {
        member("index", index);
    }
    out.extend_from_slice(b",\"event\":");
    raw.write_json(Some(seq), out)?;
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// The record of `event` with its `audit.seq`, in `scratch`.
fn scratch_record(scratch: &mut Vec<u8>, event: &auditlog_engine::Event<'_>, seq: u64) {
    scratch.clear();
    write_record(event, &[("audit.seq", seq.cast_signed())], scratch);
}

/// A length-delimited field: its tag, its length, `content`.
fn put_field(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    put_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// The export request of `records` (framed `log_records`), encoded: one resource naming
/// the sink and the range the batch tells (attributes a receiver mapping records to
/// events leaves aside), one scope. The lengths are known first, so the records are
/// copied once, into place.
fn otlp_request(sink: &str, range: Range, records: &[u8]) -> Vec<u8> {
    let resource = otlp_resource(sink, range).encode_to_vec();
    let scope = InstrumentationScope {
        name: "auditlog".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..InstrumentationScope::default()
    }
    .encode_to_vec();
    let framed = |len: usize| 1 + prost::encoding::encoded_len_varint(len as u64) + len;
    // ScopeLogs { scope = 1, log_records = 2 … }
    let scope_logs = framed(scope.len()) + records.len();
    // ResourceLogs { resource = 1, scope_logs = 2 }
    let resource_logs = framed(resource.len()) + framed(scope_logs);
    // ExportLogsServiceRequest { resource_logs = 1 }
    let mut request = Vec::with_capacity(framed(resource_logs));
    put_header(&mut request, 1, resource_logs);
    put_field(&mut request, 1, &resource);
    put_header(&mut request, 2, scope_logs);
    put_field(&mut request, 1, &scope);
    request.extend_from_slice(records);
    request
}

/// A length-delimited field's tag and length.
fn put_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag << 3 | 2);
    prost::encoding::encode_varint(len as u64, out);
}

/// The resource of a batch: the sink and the range it tells.
fn otlp_resource(sink: &str, range: Range) -> Resource {
    let text = |key: &str, value: &str| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    };
    let int = |key: &str, value: u64| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value.cast_signed())),
        }),
        key_strindex: 0,
    };
    let mut attributes = vec![
        text("auditlog.sink.id", sink),
        int("auditlog.batch.from_seq", range.from),
        int("auditlog.batch.to_seq", range.to),
    ];
    if let Some((from, to)) = range.expired {
        attributes.push(int("auditlog.batch.expired.from_seq", from));
        attributes.push(int("auditlog.batch.expired.to_seq", to));
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

#[cfg(test)]
mod tests {
    use auditlog_proto::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
    use auditlog_proto::otlp::record_of;

    use super::*;

    /// An OTLP batch, written record by record, is the request prost reads: one
    /// resource naming the sink and the range, one scope, each event's record as
    /// `record_of` maps it with its `audit.seq`.
    #[test]
    fn an_otlp_batch_reads_as_the_request_of_its_records() {
        let lines = [
            r#"{"timestamp":"2026-03-08T14:32:01.123456Z","actor":{"user_id":"usr_1","email":"a@example.com"},"organization":{"id":"org_a"},"action":"invoice.approve","outcome":"denied","metadata":{"n":3,"body":"b"},"event_id":"e1"}"#,
            r#"{"timestamp":"2026-03-08T14:32:02Z","actor":{"user_id":"u"},"organization":{"id":"t"},"action":"a.b","outcome":"success"}"#,
        ];
        let destination = Destination::Otlp {
            url: "http://127.0.0.1:4318/v1/logs".into(),
            protocol: OtlpProtocol::HttpProtobuf,
            secret_header: None,
        };
        let mut encoder = Encoder::new("snk_1", &destination);
        let mut records = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let event = auditlog_engine::event::parse_json(line.as_bytes()).expect("an event");
            assert!(encoder.push(40 + i as u64, &event.raw()).expect("pushed"));
            let mut record = record_of(&event);
            record.attributes.push(KeyValue {
                key: "audit.seq".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(40 + i as i64)),
                }),
                key_strindex: 0,
            });
            records.push(record);
        }
        let range = Range {
            from: 38,
            to: 42,
            expired: None,
        };
        let Payload::Http { body, .. } = encoder.finish(range).expect("finished") else {
            panic!("OTLP/HTTP posts");
        };
        let request = ExportLogsServiceRequest::decode(body).expect("decodes");
        let [resource_logs] = request.resource_logs.as_slice() else {
            panic!("one resource");
        };
        assert_eq!(resource_logs.resource, Some(otlp_resource("snk_1", range)));
        let [scope_logs] = resource_logs.scope_logs.as_slice() else {
            panic!("one scope");
        };
        assert_eq!(scope_logs.scope.as_ref().expect("scope").name, "auditlog");
        assert_eq!(scope_logs.log_records, records);
    }
}
