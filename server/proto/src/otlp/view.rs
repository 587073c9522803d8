//! An OTLP logs request as the mapping reads it: its log records in order, each with
//! where it is, and every string and byte string borrowed from where the request was
//! decoded. Made two ways with the same result: straight from protobuf bytes
//! ([`super::wire`]), a few vectors per request (and one per array or key-value list
//! value) where prost makes a `String` for every attribute key and value (decoding and
//! freeing those was half the server's CPU on OTLP ingest); or from the generated types
//! (OTLP/JSON, and protobuf that the fast reader leaves to prost). An attribute without
//! a value and one whose value is empty read the same (`Value::Empty`: null in
//! `metadata`).

use crate::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};

/// Where a log record is in its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub resource: usize,
    pub scope: usize,
    pub record: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resource_logs[{}].scope_logs[{}].log_records[{}]",
            self.resource, self.scope, self.record
        )
    }
}

/// A request's log records, with their resources' attributes. Two views are equal when
/// they read the same, wherever their attributes sit.
#[derive(Debug, Default)]
pub struct Logs<'a> {
    /// Each `resource_logs` entry's resource attributes, in `attributes`.
    pub(super) resources: Vec<Run>,
    pub(super) records: Vec<Record<'a>>,
    /// The attributes of every resource and record, each one's in a run.
    pub(super) attributes: Vec<Attribute<'a>>,
}

/// Where one list of attributes is in [`Logs::attributes`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// One log record: the fields the mapping reads.
#[derive(Debug)]
pub struct Record<'a> {
    pub place: Place,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub event_name: &'a str,
    pub body: Value<'a>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub(super) attributes: Run,
}

/// A key and its value.
#[derive(Debug, PartialEq)]
pub struct Attribute<'a> {
    pub key: &'a str,
    pub value: Value<'a>,
}

/// An `AnyValue`; `Empty` when it has none or is missing. Doubles are equal when
/// their bits are (a NaN is itself).
#[derive(Debug)]
pub enum Value<'a> {
    Empty,
    String(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(Vec<Value<'a>>),
    Kvlist(Vec<Attribute<'a>>),
    /// A string in a dictionary the logs signal does not have: refused where a string
    /// is wanted, null in `metadata`.
    Strindex(i32),
}

impl<'a> Logs<'a> {
    /// The view of a request decoded into the generated types.
    pub fn of_request(request: &'a ExportLogsServiceRequest) -> Logs<'a> {
        let mut logs = Logs::default();
        for (r, resource_logs) in request.resource_logs.iter().enumerate() {
            let resource: &[KeyValue] = resource_logs
                .resource
                .as_ref()
                .map_or(&[], |r| &r.attributes);
            let run = logs.push_attributes(resource);
            logs.resources.push(run);
            for (s, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
                for (l, record) in scope_logs.log_records.iter().enumerate() {
                    let attributes = logs.push_attributes(&record.attributes);
                    logs.records.push(Record {
                        place: Place {
                            resource: r,
                            scope: s,
                            record: l,
                        },
                        time_unix_nano: record.time_unix_nano,
                        observed_time_unix_nano: record.observed_time_unix_nano,
                        event_name: &record.event_name,
                        body: Value::of_any(record.body.as_ref()),
                        trace_id: &record.trace_id,
                        span_id: &record.span_id,
                        attributes,
                    });
                }
            }
        }
        logs
    }

    fn push_attributes(&mut self, list: &'a [KeyValue]) -> Run {
        let start = self.attributes.len();
        self.attributes
            .extend(list.iter().map(Attribute::of_key_value));
        Run {
            start,
            end: self.attributes.len(),
        }
    }

    /// The log records, in request order.
    pub fn records(&self) -> &[Record<'a>] {
        &self.records
    }

    /// The attributes of `record`.
    pub fn attributes_of(&self, record: &Record<'a>) -> &[Attribute<'a>] {
        self.run(record.attributes)
    }

    /// The attributes of the resource of `record`.
    pub fn resource_of(&self, record: &Record<'a>) -> &[Attribute<'a>] {
        self.resources
            .get(record.place.resource)
            .map_or(&[], |&run| self.run(run))
    }

    fn run(&self, run: Run) -> &[Attribute<'a>] {
        self.attributes.get(run.start..run.end).unwrap_or_default()
    }
}

impl<'a> Attribute<'a> {
    fn of_key_value(kv: &'a KeyValue) -> Attribute<'a> {
        Attribute {
            key: &kv.key,
            value: Value::of_any(kv.value.as_ref()),
        }
    }
}

impl<'a> Value<'a> {
    fn of_any(value: Option<&'a AnyValue>) -> Value<'a> {
        use any_value::Value as V;
        match value.and_then(|v| v.value.as_ref()) {
            None => Value::Empty,
            Some(V::StringValue(s)) => Value::String(s),
            Some(V::BoolValue(b)) => Value::Bool(*b),
            Some(V::IntValue(i)) => Value::Int(*i),
            Some(V::DoubleValue(d)) => Value::Double(*d),
            Some(V::BytesValue(b)) => Value::Bytes(b),
            Some(V::ArrayValue(a)) => {
                Value::Array(a.values.iter().map(|v| Value::of_any(Some(v))).collect())
            }
            Some(V::KvlistValue(list)) => {
                Value::Kvlist(list.values.iter().map(Attribute::of_key_value).collect())
            }
            Some(V::StringValueStrindex(i)) => Value::Strindex(*i),
        }
    }
}

impl PartialEq for Logs<'_> {
    fn eq(&self, other: &Self) -> bool {
        let same_resources = self.resources.len() == other.resources.len()
            && self
                .resources
                .iter()
                .zip(&other.resources)
                .all(|(&a, &b)| self.run(a) == other.run(b));
        let same_record = |a: &Record<'_>, b: &Record<'_>| {
            a.place == b.place
                && a.time_unix_nano == b.time_unix_nano
                && a.observed_time_unix_nano == b.observed_time_unix_nano
                && a.event_name == b.event_name
                && a.body == b.body
                && a.trace_id == b.trace_id
                && a.span_id == b.span_id
                && self.run(a.attributes) == other.run(b.attributes)
        };
        same_resources
            && self.records.len() == other.records.len()
            && self
                .records
                .iter()
                .zip(&other.records)
                .all(|(a, b)| same_record(a, b))
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Empty, Value::Empty) => true,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Kvlist(a), Value::Kvlist(b)) => a == b,
            (Value::Strindex(a), Value::Strindex(b)) => a == b,
            _ => false,
        }
    }
}
