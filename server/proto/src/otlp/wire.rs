//! The fast reader: an `ExportLogsServiceRequest` read from its protobuf bytes straight
//! into a [`Logs`] view that borrows them. It checks what prost checks (wire types of
//! known fields, UTF-8 of every string, lengths, varints, with prost's own key and
//! varint decoding) for every field, kept or not, and stops, leaving the request to
//! prost, at anything prost reads with rules of its own: a kept singular message field
//! given twice (merged; a second instrumentation scope, which is only checked, is
//! checked again), a value with two members of its oneof, groups, nesting deeper than
//! [`MAX_DEPTH`]. Whatever it reads, prost reads the same; what it leaves, prost
//! decides, so a request is accepted or refused as prost would have it (one exception:
//! past the record limit it stops, and the request is refused as too large even if
//! malformed further on). `fuzz/fuzz_targets/otlp_logs.rs` holds the two to it.

use prost::encoding::{WireType, decode_key, decode_varint};

use super::view::{Attribute, Logs, Place, Record, Run, Value};

/// Values nested deeper than this are left to prost (whose limit, 100 messages, counts
/// the request's own levels too).
pub const MAX_DEPTH: usize = 32;

/// Why the fast reader did not give a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// More records than the caller takes: refused whatever the rest holds.
    TooManyRecords,
    /// Something to read by prost's rules (which may refuse it).
    ToProst,
}

/// Reads `body`, taking at most `max_records` log records.
pub fn read(body: &[u8], max_records: usize) -> Result<Logs<'_>, Stop> {
    let mut reader = Reader {
        logs: Logs::default(),
        max_records,
    };
    each_element(body, |b| reader.resource_logs(b))?;
    Ok(reader.logs)
}

/// One field's value, by its wire type.
#[derive(Clone, Copy)]
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    /// Read only to be skipped (the one such field, `flags`, is not mapped).
    Fixed32,
    Bytes(&'a [u8]),
}

/// Calls `each` with every field of the message `buf` in order (unknown ones too, for
/// the caller to ignore).
fn each_field<'a>(
    mut buf: &'a [u8],
    mut each: impl FnMut(u32, Field<'a>) -> Result<(), Stop>,
) -> Result<(), Stop> {
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(|_| Stop::ToProst)?;
        let field = match wire_type {
            WireType::Varint => Field::Varint(decode_varint(&mut buf).map_err(|_| Stop::ToProst)?),
            WireType::SixtyFourBit => Field::Fixed64(u64::from_le_bytes(take(&mut buf)?)),
            WireType::ThirtyTwoBit => take::<4>(&mut buf).map(|_| Field::Fixed32)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|_| Stop::ToProst)?;
                let len = usize::try_from(len).map_err(|_| Stop::ToProst)?;
                if len > buf.len() {
                    return Err(Stop::ToProst);
                }
                let (bytes, rest) = buf.split_at(len);
                buf = rest;
                Field::Bytes(bytes)
            }
            WireType::StartGroup | WireType::EndGroup => return Err(Stop::ToProst),
        };
        each(tag, field)?;
    }
    Ok(())
}

/// Calls `each` with every element of a message whose one field, 1, is a repeated
/// message (`ExportLogsServiceRequest`, `ArrayValue`, `KeyValueList`).
fn each_element<'a>(
    buf: &'a [u8],
    mut each: impl FnMut(&'a [u8]) -> Result<(), Stop>,
) -> Result<(), Stop> {
    each_field(buf, |tag, field| match (tag, field) {
        (1, Field::Bytes(b)) => each(b),
        (1, _) => refused(),
        _ => Ok(()),
    })
}

fn take<const N: usize>(buf: &mut &[u8]) -> Result<[u8; N], Stop> {
    let (head, rest) = buf.split_first_chunk::<N>().ok_or(Stop::ToProst)?;
    *buf = rest;
    Ok(*head)
}

fn utf8(bytes: &[u8]) -> Result<&str, Stop> {
    std::str::from_utf8(bytes).map_err(|_| Stop::ToProst)
}

/// A field prost would refuse for its wire type, or one set twice where prost merges.
fn refused<T>() -> Result<T, Stop> {
    Err(Stop::ToProst)
}

/// The view being filled.
struct Reader<'a> {
    logs: Logs<'a>,
    max_records: usize,
}

impl<'a> Reader<'a> {
    /// `ResourceLogs`: 1 resource, 2 scope_logs, 3 schema_url.
    fn resource_logs(&mut self, buf: &'a [u8]) -> Result<(), Stop> {
        let resource = self.logs.resources.len();
        self.logs.resources.push(Run::default());
        let (mut scope, mut seen) = (0, false);
        each_field(buf, |tag, field| match (tag, field) {
            (1, Field::Bytes(b)) if !seen => {
                seen = true;
                self.logs.resources[resource] = self.resource(b)?;
                Ok(())
            }
            (2, Field::Bytes(b)) => {
                self.scope_logs(b, resource, scope)?;
                scope += 1;
                Ok(())
            }
            (3, Field::Bytes(b)) => utf8(b).map(drop),
            (1..=3, _) => refused(),
            _ => Ok(()),
        })
    }

    /// `Resource`: 1 attributes, 2 dropped_attributes_count, 3 entity_refs.
    fn resource(&mut self, buf: &'a [u8]) -> Result<Run, Stop> {
        let start = self.logs.attributes.len();
        each_field(buf, |tag, field| match (tag, field) {
            (1, Field::Bytes(b)) => {
                let attribute = key_value(b, 0)?;
                self.logs.attributes.push(attribute);
                Ok(())
            }
            (2, Field::Varint(_)) => Ok(()),
            (3, Field::Bytes(b)) => entity_ref(b),
            (1..=3, _) => refused(),
            _ => Ok(()),
        })?;
        Ok(Run {
            start,
            end: self.logs.attributes.len(),
        })
    }

    /// `ScopeLogs`: 1 scope, 2 log_records, 3 schema_url.
    fn scope_logs(&mut self, buf: &'a [u8], resource: usize, scope: usize) -> Result<(), Stop> {
        let mut record = 0;
        each_field(buf, |tag, field| match (tag, field) {
            // Read to be checked; a second one would merge, which checks the same.
            (1, Field::Bytes(b)) => instrumentation_scope(b),
            (2, Field::Bytes(b)) => {
                let place = Place {
                    resource,
                    scope,
                    record,
                };
                self.record(b, place)?;
                record += 1;
                Ok(())
            }
            (3, Field::Bytes(b)) => utf8(b).map(drop),
            (1..=3, _) => refused(),
            _ => Ok(()),
        })
    }

    /// `LogRecord`: 1 time_unix_nano, 2 severity_number, 3 severity_text, 5 body,
    /// 6 attributes, 7 dropped_attributes_count, 8 flags, 9 trace_id, 10 span_id,
    /// 11 observed_time_unix_nano, 12 event_name.
    fn record(&mut self, buf: &'a [u8], place: Place) -> Result<(), Stop> {
        if self.logs.records.len() == self.max_records {
            return Err(Stop::TooManyRecords);
        }
        let mut record = Record {
            place,
            time_unix_nano: 0,
            observed_time_unix_nano: 0,
            event_name: "",
            body: Value::Empty,
            trace_id: &[],
            span_id: &[],
            attributes: Run::default(),
        };
        let start = self.logs.attributes.len();
        let mut body_seen = false;
        each_field(buf, |tag, field| {
            match (tag, field) {
                (1, Field::Fixed64(t)) => record.time_unix_nano = t,
                (11, Field::Fixed64(t)) => record.observed_time_unix_nano = t,
                (2 | 7, Field::Varint(_)) | (8, Field::Fixed32) => {}
                (3, Field::Bytes(b)) => drop(utf8(b)?),
                (5, Field::Bytes(b)) if !body_seen => {
                    body_seen = true;
                    record.body = any_value(b, 0)?;
                }
                (6, Field::Bytes(b)) => {
                    let attribute = key_value(b, 0)?;
                    self.logs.attributes.push(attribute);
                }
                (9, Field::Bytes(b)) => record.trace_id = b,
                (10, Field::Bytes(b)) => record.span_id = b,
                (12, Field::Bytes(b)) => record.event_name = utf8(b)?,
                (1..=3 | 5..=12, _) => return refused(),
                _ => {}
            }
            Ok(())
        })?;
        record.attributes = Run {
            start,
            end: self.logs.attributes.len(),
        };
        self.logs.records.push(record);
        Ok(())
    }
}

/// `KeyValue`: 1 key, 2 value, 3 key_strindex.
fn key_value(buf: &[u8], depth: usize) -> Result<Attribute<'_>, Stop> {
    let mut attribute = Attribute {
        key: "",
        value: Value::Empty,
    };
    let mut value_seen = false;
    each_field(buf, |tag, field| {
        match (tag, field) {
            (1, Field::Bytes(b)) => attribute.key = utf8(b)?,
            (2, Field::Bytes(b)) if !value_seen => {
                value_seen = true;
                attribute.value = any_value(b, depth + 1)?;
            }
            (3, Field::Varint(_)) => {}
            (1..=3, _) => return refused(),
            _ => {}
        }
        Ok(())
    })?;
    Ok(attribute)
}

/// `AnyValue`, a oneof: 1 string, 2 bool, 3 int, 4 double, 5 array, 6 kvlist, 7 bytes,
/// 8 string_value_strindex.
fn any_value(buf: &[u8], depth: usize) -> Result<Value<'_>, Stop> {
    if depth > MAX_DEPTH {
        return Err(Stop::ToProst);
    }
    let mut value = None;
    each_field(buf, |tag, field| {
        let read = match (tag, field) {
            (1, Field::Bytes(b)) => Value::String(utf8(b)?),
            (2, Field::Varint(v)) => Value::Bool(v != 0),
            (3, Field::Varint(v)) => Value::Int(v as i64),
            (4, Field::Fixed64(v)) => Value::Double(f64::from_bits(v)),
            (5, Field::Bytes(b)) => {
                let mut values = Vec::new();
                each_element(b, |b| any_value(b, depth + 1).map(|v| values.push(v)))?;
                Value::Array(values)
            }
            (6, Field::Bytes(b)) => {
                let mut members = Vec::new();
                each_element(b, |b| key_value(b, depth + 1).map(|m| members.push(m)))?;
                Value::Kvlist(members)
            }
            (7, Field::Bytes(b)) => Value::Bytes(b),
            (8, Field::Varint(v)) => Value::Strindex(v as i32),
            (1..=8, _) => return refused(),
            _ => return Ok(()),
        };
        // A second member replaces or merges by prost's rules: left to prost.
        if value.replace(read).is_some() {
            return refused();
        }
        Ok(())
    })?;
    Ok(value.unwrap_or(Value::Empty))
}

/// `InstrumentationScope`, checked and dropped: 1 name, 2 version, 3 attributes,
/// 4 dropped_attributes_count.
fn instrumentation_scope(buf: &[u8]) -> Result<(), Stop> {
    each_field(buf, |tag, field| match (tag, field) {
        (1 | 2, Field::Bytes(b)) => utf8(b).map(drop),
        (3, Field::Bytes(b)) => key_value(b, 0).map(drop),
        (4, Field::Varint(_)) => Ok(()),
        (1..=4, _) => refused(),
        _ => Ok(()),
    })
}

/// `EntityRef`, checked and dropped: 1 schema_url, 2 type, 3 id_keys, 4
/// description_keys, all strings.
fn entity_ref(buf: &[u8]) -> Result<(), Stop> {
    each_field(buf, |tag, field| match (tag, field) {
        (1..=4, Field::Bytes(b)) => utf8(b).map(drop),
        (1..=4, _) => refused(),
        _ => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost::encoding::{WireType, encode_key, encode_varint};

    use super::*;
    use crate::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;

    /// A length-delimited field.
    fn message(tag: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(tag, WireType::LengthDelimited, &mut out);
        encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    }

    fn varint(tag: u32, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(tag, WireType::Varint, &mut out);
        encode_varint(value, &mut out);
        out
    }

    fn string_value(text: &str) -> Vec<u8> {
        message(1, text.as_bytes())
    }

    fn key_value(key: &str, value: &[u8]) -> Vec<u8> {
        [message(1, key.as_bytes()), message(2, value)].concat()
    }

    /// A request of one resource (its fields `resource`) and one scope of `records`.
    fn request(resource: &[u8], records: &[Vec<u8>]) -> Vec<u8> {
        let scope: Vec<u8> = records.iter().flat_map(|r| message(2, r)).collect();
        message(1, &[resource.to_vec(), message(2, &scope)].concat())
    }

    fn record(fields: &[Vec<u8>]) -> Vec<u8> {
        let mut time = Vec::new();
        encode_key(1, WireType::SixtyFourBit, &mut time);
        time.extend_from_slice(&1_772_980_321_000_000_000u64.to_le_bytes());
        [vec![time], fields.to_vec()].concat().concat()
    }

    /// Both readers on `body`: the fast one's view, which must equal prost's.
    fn fast(body: &[u8]) -> Result<Logs<'_>, Stop> {
        let logs = read(body, usize::MAX)?;
        let decoded = ExportLogsServiceRequest::decode(body).expect("prost reads it too");
        assert_eq!(logs, Logs::of_request(&decoded));
        Ok(logs)
    }

    #[test]
    fn a_resource_after_its_records_still_serves_them() {
        let attribute = key_value("audit.tenant.id", &string_value("org_a"));
        let records = message(2, &message(2, &record(&[])));
        // Field 2 (scope_logs) before field 1 (resource): legal, and read the same.
        let body = message(1, &[records, message(1, &message(1, &attribute))].concat());
        let logs = fast(&body).expect("read");
        let record = &logs.records()[0];
        assert_eq!(logs.resource_of(record)[0].key, "audit.tenant.id");
        assert_eq!(logs.resource_of(record)[0].value, Value::String("org_a"));
    }

    #[test]
    fn what_prost_merges_is_left_to_prost() {
        let body_field = message(5, &string_value("a"));
        // A body given twice; a value with two members; a resource given twice.
        let twice = request(&[], &[record(&[body_field.clone(), body_field])]);
        let two_members = [string_value("a"), varint(2, 1)].concat();
        let two = request(&[], &[record(&[message(6, &key_value("k", &two_members))])]);
        let resource = message(1, &message(1, &key_value("a", &string_value("x"))));
        let resources = request(&[resource.clone(), resource].concat(), &[record(&[])]);
        for body in [twice, two, resources] {
            assert_eq!(read(&body, usize::MAX).err(), Some(Stop::ToProst));
            // The view of prost's reading still maps it.
            let records =
                crate::otlp::read_logs(&body, crate::otlp::Encoding::Protobuf, 10, |logs| {
                    logs.records().len()
                });
            assert_eq!(records.expect("prost reads it"), 1);
        }
    }

    #[test]
    fn what_prost_refuses_the_fast_reader_does_not_read() {
        let bad_utf8 = request(&[], &[record(&[message(3, &[0xff, 0xfe])])]);
        let wrong_type = request(&[], &[record(&[varint(12, 7)])]);
        let truncated = {
            let mut body = request(&[], &[record(&[])]);
            body.pop();
            body
        };
        let group = [vec![0x0b], vec![0x0c]].concat();
        for body in [bad_utf8, wrong_type, truncated, group] {
            assert_eq!(read(&body, usize::MAX).err(), Some(Stop::ToProst));
            assert!(ExportLogsServiceRequest::decode(&body[..]).is_err());
        }
    }

    #[test]
    fn deep_values_are_left_to_prost_and_counted_records_stop_early() {
        let mut value = string_value("leaf");
        for _ in 0..=MAX_DEPTH {
            value = message(5, &message(1, &value));
        }
        let deep = request(&[], &[record(&[message(5, &value)])]);
        assert_eq!(read(&deep, usize::MAX).err(), Some(Stop::ToProst));
        assert!(ExportLogsServiceRequest::decode(&deep[..]).is_ok());
        let three = request(&[], &[record(&[]), record(&[]), record(&[])]);
        assert_eq!(fast(&three).expect("read").records().len(), 3);
        assert_eq!(read(&three, 2).err(), Some(Stop::TooManyRecords));
    }

    #[test]
    fn unknown_fields_are_skipped_and_every_value_type_read() {
        let mut fixed32 = Vec::new();
        encode_key(8, WireType::ThirtyTwoBit, &mut fixed32);
        fixed32.extend_from_slice(&1u32.to_le_bytes());
        let mut double = Vec::new();
        encode_key(4, WireType::SixtyFourBit, &mut double);
        double.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        let values = [
            string_value("s"),
            varint(2, 1),
            varint(3, u64::MAX),
            double,
            message(5, &message(1, &string_value("in"))),
            message(6, &message(1, &key_value("k", &varint(2, 0)))),
            message(7, &[0, 1, 2]),
            varint(8, 3),
            vec![],
        ];
        let mut fields: Vec<Vec<u8>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| message(6, &key_value(&format!("a{i}"), v)))
            .collect();
        fields.extend([fixed32, varint(2, 9), varint(99, 1), message(9, &[7; 16])]);
        let body = request(&[], &[record(&fields)]);
        let logs = fast(&body).expect("read");
        let attributes = logs.attributes_of(&logs.records()[0]);
        assert_eq!(attributes.len(), values.len());
        assert_eq!(attributes[2].value, Value::Int(-1));
        assert_eq!(attributes[3].value, Value::Double(f64::NAN));
        assert_eq!(attributes[8].value, Value::Empty);
        assert_eq!(logs.records()[0].trace_id, &[7; 16]);
    }
}
