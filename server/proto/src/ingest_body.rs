//! The body of an HTTP ingest request (`POST /v1/events`): one JSON event, a JSON array
//! of events, or NDJSON (one event per line), gzip-compressed or not. The body is
//! untrusted bytes: every way it can be wrong is an [`BodyError`] naming what was
//! wrong, and a gzip body is never inflated past the request limit.
//!
//! A body that cannot be read as a whole (bad gzip, not JSON at the top, an empty
//! batch) is refused whole. Within a readable body each event stands alone: one that
//! does not parse or validate is refused by itself, and the rest may still be stored.

use std::borrow::Cow;
use std::io::Read;

use auditlog_engine::Event;
use auditlog_engine::event::{EventError, parse_json};
use serde_json::value::RawValue;

/// The most events (or OTLP log records) one request may hold. Each event refused alone
/// costs memory for its refusal and its answer, far more than its bytes when it is
/// tiny (`1\n` is an NDJSON event, refused): the request-size limit alone would let a
/// 4 MiB body cost a gigabyte. 20,000 events of 200 bytes are 4 MB.
pub const MAX_EVENTS: usize = 20_000;

/// How the events are laid out, from the `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: one event object, or an array of them.
    Json,
    /// `application/x-ndjson` (or `application/jsonl`): one event per line; blank lines
    /// are not events.
    Ndjson,
}

impl BodyFormat {
    /// The format a `Content-Type` names (its parameters, such as `charset`, ignored).
    pub fn from_content_type(value: Option<&str>) -> Result<BodyFormat, BodyError> {
        let Some(value) = value else {
            return Err(BodyError::UnsupportedMediaType(
                "a Content-Type is required: application/json or application/x-ndjson".into(),
            ));
        };
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json") {
            Ok(BodyFormat::Json)
        } else if ["application/x-ndjson", "application/jsonl"]
            .iter()
            .any(|t| essence.eq_ignore_ascii_case(t))
        {
            Ok(BodyFormat::Ndjson)
        } else {
            Err(BodyError::UnsupportedMediaType(format!(
                "Content-Type `{essence}` is not accepted: send application/json or \
                 application/x-ndjson"
            )))
        }
    }
}

/// How the body is compressed, from the `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Gzip,
}

impl BodyEncoding {
    /// The encoding a `Content-Encoding` names (absent: none).
    pub fn from_content_encoding(value: Option<&str>) -> Result<BodyEncoding, BodyError> {
        match value.map(str::trim) {
            None => Ok(BodyEncoding::Identity),
            Some(v) if v.eq_ignore_ascii_case("identity") || v.is_empty() => {
                Ok(BodyEncoding::Identity)
            }
            Some(v) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
                Ok(BodyEncoding::Gzip)
            }
            Some(v) => Err(BodyError::UnsupportedEncoding(format!(
                "Content-Encoding `{v}` is not accepted: send gzip or none"
            ))),
        }
    }
}

/// Why a body was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
    /// Larger than the server's limit (after inflating, for gzip).
    #[error("the request body is larger than the server's limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the gzip body cannot be inflated: {0}")]
    BadGzip(String),
    #[error("{0}")]
    Json(String),
    #[error("the request holds no event")]
    Empty,
    #[error("the request holds more than {max} events: send them in several requests")]
    TooManyEvents { max: usize },
}

/// The body inflated (when gzip), at most `limit` bytes of it; a body sent plain is
/// borrowed, not copied.
pub fn inflate(
    body: &[u8],
    encoding: BodyEncoding,
    limit: usize,
) -> Result<Cow<'_, [u8]>, BodyError> {
    match encoding {
        BodyEncoding::Identity if body.len() > limit => Err(BodyError::TooLarge { limit }),
        BodyEncoding::Identity => Ok(Cow::Borrowed(body)),
        BodyEncoding::Gzip => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            // One byte past the limit tells "exactly the limit" from "more".
            let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            flate2::read::MultiGzDecoder::new(body)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(|e| BodyError::BadGzip(e.to_string()))?;
            if out.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// The events of an (inflated) body in order, each parsed and validated or refused
/// alone; more than [`MAX_EVENTS`] refuse the body.
pub fn split_events(
    body: &[u8],
    format: BodyFormat,
) -> Result<Vec<Result<Event<'_>, EventError>>, BodyError> {
    let too_many = BodyError::TooManyEvents { max: MAX_EVENTS };
    let events: Vec<_> = match format {
        BodyFormat::Json => {
            let text = body.trim_ascii();
            match text.first() {
                Some(b'[') => {
                    let items: Vec<&RawValue> = serde_json::from_slice(text).map_err(|e| {
                        BodyError::Json(format!("the body is not a JSON array of events: {e}"))
                    })?;
                    if items.len() > MAX_EVENTS {
                        return Err(too_many);
                    }
                    items
                        .into_iter()
                        .map(|raw| parse_json(raw.get().as_bytes()))
                        .collect()
                }
                Some(b'{') => vec![parse_json(text)],
                Some(_) => {
                    return Err(BodyError::Json(
                        "the body is neither a JSON event object nor an array of them".into(),
                    ));
                }
                None => Vec::new(),
            }
        }
        BodyFormat::Ndjson => {
            let lines = body
                .split(|&b| b == b'\n')
                .map(<[u8]>::trim_ascii)
                .filter(|line| !line.is_empty());
            if lines.clone().nth(MAX_EVENTS).is_some() {
                return Err(too_many);
            }
            lines.map(parse_json).collect()
        }
    };
    if events.is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const EVENT: &str = r#"{"timestamp":"2026-01-02T03:04:05.000000Z","actor":{"user_id":"u1"},"organization":{"id":"t1"},"action":"user.login","outcome":"success"}"#;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("write");
        encoder.finish().expect("finish")
    }

    #[test]
    fn one_object_an_array_and_ndjson_give_their_events_in_order() {
        let one = split_events(EVENT.as_bytes(), BodyFormat::Json).expect("one");
        assert_eq!(one.len(), 1);
        assert!(one[0].is_ok());
        let array = format!("[{EVENT}, {{\"bad\":1}}, {EVENT}]");
        let array = split_events(array.as_bytes(), BodyFormat::Json).expect("array");
        assert_eq!(array.len(), 3);
        assert!(array[0].is_ok() && array[1].is_err() && array[2].is_ok());
        let lines = format!("{EVENT}\r\n\n  \nnot json\n{EVENT}");
        let lines = split_events(lines.as_bytes(), BodyFormat::Ndjson).expect("ndjson");
        assert_eq!(lines.len(), 3, "blank lines are not events");
        assert!(lines[0].is_ok() && lines[1].is_err() && lines[2].is_ok());
    }

    #[test]
    fn bodies_that_cannot_be_read_whole_are_refused_whole() {
        for (body, format) in [
            ("", BodyFormat::Json),
            ("[]", BodyFormat::Json),
            ("\n\n", BodyFormat::Ndjson),
        ] {
            assert_eq!(split_events(body.as_bytes(), format), Err(BodyError::Empty));
        }
        let many = "1\n".repeat(MAX_EVENTS + 1);
        assert_eq!(
            split_events(many.as_bytes(), BodyFormat::Ndjson),
            Err(BodyError::TooManyEvents { max: MAX_EVENTS })
        );
        let many = format!("[{}1]", "1,".repeat(MAX_EVENTS));
        assert_eq!(
            split_events(many.as_bytes(), BodyFormat::Json),
            Err(BodyError::TooManyEvents { max: MAX_EVENTS })
        );
        for body in ["[{\"a\":1}", "42", "\"x\""] {
            let refused = split_events(body.as_bytes(), BodyFormat::Json);
            assert!(
                matches!(refused, Err(BodyError::Json(_))),
                "{body}: {refused:?}"
            );
        }
    }

    #[test]
    fn gzip_is_inflated_but_never_past_the_limit() {
        let body = EVENT.repeat(100);
        let packed = gzip(body.as_bytes());
        let limit = body.len();
        assert_eq!(
            &inflate(&packed, BodyEncoding::Gzip, limit).expect("fits")[..],
            body.as_bytes()
        );
        assert_eq!(
            inflate(&packed, BodyEncoding::Gzip, limit - 1),
            Err(BodyError::TooLarge { limit: limit - 1 })
        );
        // A bomb: a GiB of zeros would inflate, only the limit's worth is read.
        let bomb = gzip(&vec![0u8; 16 << 20]);
        assert_eq!(
            inflate(&bomb, BodyEncoding::Gzip, 1 << 20),
            Err(BodyError::TooLarge { limit: 1 << 20 })
        );
        assert!(matches!(
            inflate(b"not gzip", BodyEncoding::Gzip, 1 << 20),
            Err(BodyError::BadGzip(_))
        ));
        assert_eq!(
            inflate(b"12345", BodyEncoding::Identity, 4),
            Err(BodyError::TooLarge { limit: 4 })
        );
    }

    #[test]
    fn content_types_and_encodings_are_named_or_refused() {
        let json = Some("Application/JSON; charset=utf-8");
        assert_eq!(BodyFormat::from_content_type(json), Ok(BodyFormat::Json));
        let ndjson = Some("application/x-ndjson");
        assert_eq!(
            BodyFormat::from_content_type(ndjson),
            Ok(BodyFormat::Ndjson)
        );
        for refused in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert!(matches!(
                BodyFormat::from_content_type(refused),
                Err(BodyError::UnsupportedMediaType(_))
            ));
        }
        assert_eq!(
            BodyEncoding::from_content_encoding(Some("GZIP")),
            Ok(BodyEncoding::Gzip)
        );
        assert!(matches!(
            BodyEncoding::from_content_encoding(Some("br")),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
