//! OTLP/JSON, as the OTLP specification defines it over proto3's JSON mapping: keys in
//! lowerCamelCase (the original snake_case names are accepted too, as proto3 parsers
//! do), `traceId` and `spanId` in hex (not base64), enums as integers, 64-bit integers
//! as numbers or strings, `bytesValue` in base64, `null` as absent, unknown keys
//! ignored. Read into the generated protobuf types, so one mapping serves both
//! encodings.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::opentelemetry::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use crate::opentelemetry::proto::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::opentelemetry::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::opentelemetry::proto::resource::v1::Resource;

/// Why an OTLP/JSON body was refused: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    pub path: String,
    pub message: String,
}

/// Reads an `ExportLogsServiceRequest` from its OTLP/JSON form.
pub fn request_from_json(bytes: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| JsonError {
        path: "body".into(),
        message: format!("not JSON: {e}"),
    })?;
    let at = Path::root();
    let object = at.object(&value)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: at.list(object, "resourceLogs", "resource_logs", resource_logs)?,
    })
}

/// The OTLP/JSON form of a response: `{}`, or
/// `{"partialSuccess":{"rejectedLogRecords":"N","errorMessage":"…"}}`.
pub fn response_to_json(response: &ExportLogsServiceResponse) -> String {
    let mut object = Map::new();
    if let Some(partial) = &response.partial_success {
        object.insert(
            "partialSuccess".into(),
            serde_json::json!({
                // int64 is a string in proto3's JSON.
                "rejectedLogRecords": partial.rejected_log_records.to_string(),
                "errorMessage": partial.error_message,
            }),
        );
    }
    Value::Object(object).to_string()
}

/// Where in the body a value is, for errors.
#[derive(Debug, Clone)]
struct Path(String);

impl Path {
    fn root() -> Path {
        Path(String::new())
    }

    fn key(&self, key: &str) -> Path {
        if self.0.is_empty() {
            Path(key.to_owned())
        } else {
            Path(format!("{}.{key}", self.0))
        }
    }

    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            path: if self.0.is_empty() {
                "body".into()
            } else {
                self.0.clone()
            },
            message: message.into(),
        }
    }

    fn object<'v>(&self, value: &'v Value) -> Result<&'v Map<String, Value>, JsonError> {
        value
            .as_object()
            .ok_or_else(|| self.error("expected an object"))
    }

    /// The member `camel` (or `snake`) of `object`; None if absent or null.
    fn member<'v>(object: &'v Map<String, Value>, camel: &str, snake: &str) -> Option<&'v Value> {
        object
            .get(camel)
            .or_else(|| object.get(snake))
            .filter(|v| !v.is_null())
    }

    /// The member `name` read by `read`; None if absent or null.
    fn optional<T>(
        &self,
        object: &Map<String, Value>,
        name: &str,
        read: fn(&Path, &Value) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        Path::member(object, name, name)
            .map(|value| read(&self.key(name), value))
            .transpose()
    }

    /// `droppedAttributesCount`.
    fn dropped(&self, object: &Map<String, Value>) -> Result<u32, JsonError> {
        self.unsigned32(object, "droppedAttributesCount", "dropped_attributes_count")
    }

    fn list<T>(
        &self,
        object: &Map<String, Value>,
        camel: &str,
        snake: &str,
        item: fn(&Path, &Value) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let Some(value) = Path::member(object, camel, snake) else {
            return Ok(Vec::new());
        };
        let at = self.key(camel);
        let items = value
            .as_array()
            .ok_or_else(|| at.error("expected an array"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(&at.index(i), v))
            .collect()
    }

    fn string(
        &self,
        object: &Map<String, Value>,
        camel: &str,
        snake: &str,
    ) -> Result<String, JsonError> {
        match Path::member(object, camel, snake) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.key(camel).error("expected a string")),
        }
    }

    /// An unsigned integer of up to 64 bits, as a number or a string of digits.
    fn unsigned(
        &self,
        object: &Map<String, Value>,
        camel: &str,
        snake: &str,
    ) -> Result<u64, JsonError> {
        let at = self.key(camel);
        match Path::member(object, camel, snake) {
            None => Ok(0),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| at.error("expected an unsigned integer")),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| at.error("expected an unsigned integer")),
            Some(_) => Err(at.error("expected an unsigned integer")),
        }
    }

    fn unsigned32(
        &self,
        object: &Map<String, Value>,
        camel: &str,
        snake: &str,
    ) -> Result<u32, JsonError> {
        let n = self.unsigned(object, camel, snake)?;
        u32::try_from(n).map_err(|_| self.key(camel).error("out of range for 32 bits"))
    }

    /// Hex bytes (trace and span ids, as OTLP/JSON has them).
    fn hex(
        &self,
        object: &Map<String, Value>,
        camel: &str,
        snake: &str,
    ) -> Result<Vec<u8>, JsonError> {
        let text = self.string(object, camel, snake)?;
        auditlog_engine::hex::decode(&text.to_ascii_lowercase())
            .ok_or_else(|| self.key(camel).error("expected hex digits"))
    }
}

fn resource_logs(at: &Path, value: &Value) -> Result<ResourceLogs, JsonError> {
    let object = at.object(value)?;
    Ok(ResourceLogs {
        resource: at.optional(object, "resource", resource)?,
        scope_logs: at.list(object, "scopeLogs", "scope_logs", scope_logs)?,
        schema_url: at.string(object, "schemaUrl", "schema_url")?,
    })
}

fn resource(at: &Path, value: &Value) -> Result<Resource, JsonError> {
    let object = at.object(value)?;
    Ok(Resource {
        attributes: at.list(object, "attributes", "attributes", key_value)?,
        dropped_attributes_count: at.dropped(object)?,
        entity_refs: Vec::new(),
    })
}

fn scope_logs(at: &Path, value: &Value) -> Result<ScopeLogs, JsonError> {
    let object = at.object(value)?;
    Ok(ScopeLogs {
        scope: at.optional(object, "scope", scope)?,
        log_records: at.list(object, "logRecords", "log_records", log_record)?,
        schema_url: at.string(object, "schemaUrl", "schema_url")?,
    })
}

fn scope(at: &Path, value: &Value) -> Result<InstrumentationScope, JsonError> {
    let object = at.object(value)?;
    Ok(InstrumentationScope {
        name: at.string(object, "name", "name")?,
        version: at.string(object, "version", "version")?,
        attributes: at.list(object, "attributes", "attributes", key_value)?,
        dropped_attributes_count: at.dropped(object)?,
    })
}

fn log_record(at: &Path, value: &Value) -> Result<LogRecord, JsonError> {
    let object = at.object(value)?;
    let severity = match Path::member(object, "severityNumber", "severity_number") {
        None => 0,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| at.key("severityNumber").error("expected an integer"))?,
        Some(_) => {
            return Err(at
                .key("severityNumber")
                .error("expected an integer (OTLP/JSON writes enums as integers)"));
        }
    };
    Ok(LogRecord {
        time_unix_nano: at.unsigned(object, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: at.unsigned(
            object,
            "observedTimeUnixNano",
            "observed_time_unix_nano",
        )?,
        severity_number: severity,
        severity_text: at.string(object, "severityText", "severity_text")?,
        body: at.optional(object, "body", any_value)?,
        attributes: at.list(object, "attributes", "attributes", key_value)?,
        dropped_attributes_count: at.dropped(object)?,
        flags: at.unsigned32(object, "flags", "flags")?,
        trace_id: at.hex(object, "traceId", "trace_id")?,
        span_id: at.hex(object, "spanId", "span_id")?,
        event_name: at.string(object, "eventName", "event_name")?,
    })
}

fn key_value(at: &Path, value: &Value) -> Result<KeyValue, JsonError> {
    let object = at.object(value)?;
    Ok(KeyValue {
        key: at.string(object, "key", "key")?,
        value: at.optional(object, "value", any_value)?,
        key_strindex: 0,
    })
}

/// Standard base64 with or without padding; URL-safe too, as proto3's JSON allows.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn any_value(at: &Path, value: &Value) -> Result<AnyValue, JsonError> {
    use any_value::Value as V;
    let object = at.object(value)?;
    let member = |camel, snake| Path::member(object, camel, snake);
    let value = if let Some(v) = member("stringValue", "string_value") {
        let at = at.key("stringValue");
        V::StringValue(
            v.as_str()
                .ok_or_else(|| at.error("expected a string"))?
                .to_owned(),
        )
    } else if let Some(v) = member("boolValue", "bool_value") {
        V::BoolValue(
            v.as_bool()
                .ok_or_else(|| at.key("boolValue").error("expected a boolean"))?,
        )
    } else if let Some(v) = member("intValue", "int_value") {
        let at = at.key("intValue");
        let int = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        V::IntValue(int.ok_or_else(|| at.error("expected a 64-bit integer"))?)
    } else if let Some(v) = member("doubleValue", "double_value") {
        let at = at.key("doubleValue");
        let double = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                other => other.parse().ok(),
            },
            _ => None,
        };
        V::DoubleValue(double.ok_or_else(|| at.error("expected a number"))?)
    } else if let Some(v) = member("bytesValue", "bytes_value") {
        let at = at.key("bytesValue");
        let text = v.as_str().ok_or_else(|| at.error("expected base64"))?;
        let bytes = BASE64
            .decode(text)
            .or_else(|_| BASE64_URL.decode(text))
            .map_err(|_| at.error("expected base64"))?;
        V::BytesValue(bytes)
    } else if let Some(v) = member("arrayValue", "array_value") {
        let at = at.key("arrayValue");
        let object = at.object(v)?;
        V::ArrayValue(ArrayValue {
            values: at.list(object, "values", "values", any_value)?,
        })
    } else if let Some(v) = member("kvlistValue", "kvlist_value") {
        let at = at.key("kvlistValue");
        let object = at.object(v)?;
        V::KvlistValue(KeyValueList {
            values: at.list(object, "values", "values", key_value)?,
        })
    } else {
        // An empty value (no member set) is valid OTLP.
        return Ok(AnyValue { value: None });
    };
    Ok(AnyValue { value: Some(value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_json_reads_as_its_protobuf() {
        // The shape of the OTLP specification's own example (examples/logs.json).
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
          "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":1544712660300000000,
            "severityNumber":10,"severityText":"Information","traceId":"5B8EFFF798038103D269B633813FC60C",
            "spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},"eventName":"user.login",
            "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},
              {"key":"boolean.attribute","value":{"boolValue":true}},
              {"key":"int.attribute","value":{"intValue":"10"}},
              {"key":"double.attribute","value":{"doubleValue":637.704}},
              {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"intValue":2}]}}},
              {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}},
              {"key":"bytes.attribute","value":{"bytesValue":"aGVsbG8"}},
              {"key":"empty.attribute","value":{}}],
            "unknownField":{"ignored":true}}]}]}]}"#;
        let request = request_from_json(body).expect("reads");
        let resource = &request.resource_logs[0];
        assert_eq!(
            resource.resource.as_ref().expect("resource").attributes[0].key,
            "service.name"
        );
        let record = &resource.scope_logs[0].log_records[0];
        assert_eq!(record.time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.observed_time_unix_nano, 1_544_712_660_300_000_000);
        assert_eq!(record.severity_number, 10);
        assert_eq!(record.trace_id[0], 0x5b);
        assert_eq!(record.span_id.len(), 8);
        assert_eq!(record.event_name, "user.login");
        let values: Vec<_> = record
            .attributes
            .iter()
            .map(|kv| crate::otlp::map::any_to_json(kv.value.as_ref()))
            .collect();
        assert_eq!(
            Value::Array(values),
            serde_json::json!(["some string", true, 10, 637.704, ["many", 2], {"some.map.key": "some value"}, "aGVsbG8=", null])
        );
    }

    #[test]
    fn wrong_types_are_refused_with_their_path() {
        for (body, path) in [
            (&br#"{"resourceLogs":{}}"#[..], "resourceLogs"),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0].traceId",
            ),
            (
                br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"INFO"}]}]}]}"#,
                "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber",
            ),
            (br#"[1]"#, "body"),
            (br#"{"#, "body"),
        ] {
            let error = request_from_json(body).expect_err("refused");
            assert_eq!(error.path, path, "{error}");
        }
        // snake_case and nulls are read as proto3's JSON allows.
        let request =
            request_from_json(br#"{"resource_logs":[{"scope_logs":null,"resource":null}]}"#)
                .expect("reads");
        assert_eq!(request.resource_logs.len(), 1);
    }

    #[test]
    fn a_response_is_empty_or_says_how_many_were_rejected() {
        use crate::opentelemetry::proto::collector::logs::v1::ExportLogsPartialSuccess;
        assert_eq!(
            response_to_json(&ExportLogsServiceResponse::default()),
            "{}"
        );
        let partial = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "why".into(),
            }),
        };
        assert_eq!(
            response_to_json(&partial),
            r#"{"partialSuccess":{"errorMessage":"why","rejectedLogRecords":"2"}}"#
        );
    }
}
