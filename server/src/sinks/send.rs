//! Sending a batch: an HTTP POST (webhook, OTLP/HTTP, Splunk HEC, Datadog) or an
//! OTLP/gRPC export. Any 2xx (gRPC: OK) acknowledges the batch; redirects are not
//! followed (a POST redirected becomes a GET without its body: a 2xx to that would
//! acknowledge a batch nobody received). Errors name the destination by its origin
//! only: a URL's path or query may carry a token, and errors reach `_system` events.
//! A receiver's credential travels in a header marked sensitive (never in a debug
//! print).

use std::time::{Duration, SystemTime};

use auditlog_proto::opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use ring::hmac;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::encode::Payload;
use super::spec::{Destination, OtlpProtocol};
use super::webhook;

/// Why an attempt failed, and how long the receiver asked to wait (429 and 503 with
/// `Retry-After`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) why: String,
    pub(crate) retry_after: Option<Duration>,
}

/// The longest OTLP answer read (its refusal message, cut to 200 characters, is all that
/// is kept of it).
const MAX_OTLP_ANSWER: usize = 64 << 10;

/// A receiver's answer to a batch it took: whether it refused some of its events
/// (OTLP's partial success: they are not sent again, as the protocol asks).
pub(crate) type Taken = Option<String>;

/// Where a sink's batches go, ready to send.
#[derive(Debug)]
pub(crate) struct Sender {
    /// `scheme://host:port`, what errors say.
    origin: String,
    way: Way,
}

#[derive(Debug)]
enum Way {
    Http {
        client: reqwest::Client,
        url: String,
        /// The credential's header, if any.
        headers: HeaderMap,
        /// A webhook's signing key.
        signing: Option<hmac::Key>,
        /// Whether the answer is an OTLP export response.
        otlp: bool,
    },
    Grpc {
        client: tonic::client::Grpc<Channel>,
        credential: Option<(AsciiMetadataKey, AsciiMetadataValue)>,
    },
}

impl Sender {
    /// The sender of `destination`, with its `secret` (a webhook's signing secret, or
    /// the receiver's credential, empty for none).
    pub(crate) fn new(
        client: reqwest::Client,
        sink: &str,
        destination: &Destination,
        secret: &str,
    ) -> anyhow::Result<Sender> {
        let url = destination.url();
        let origin = destination.origin();
        let credential = |name: &str, value: String| -> anyhow::Result<HeaderMap> {
            let mut headers = HeaderMap::new();
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| anyhow::anyhow!("the sink's credential is not a header value"))?;
            value.set_sensitive(true);
            headers.insert(HeaderName::try_from(name)?, value);
            Ok(headers)
        };
        let http = |headers, signing, otlp| Way::Http {
            client,
            url: url.to_owned(),
            headers,
            signing,
            otlp,
        };
        let way = match destination {
            Destination::Webhook { .. } => {
                http(HeaderMap::new(), Some(webhook::signing_key(secret)?), false)
            }
            Destination::SplunkHec { .. } => {
                let mut headers = credential("authorization", format!("Splunk {secret}"))?;
                // A channel of the sink's own: a token with indexer acknowledgement
                // refuses requests without one (acknowledgements are not polled: a 2xx
                // means received).
                headers.insert(
                    "x-splunk-request-channel",
                    HeaderValue::try_from(hec_channel(sink))?,
                );
                http(headers, None, false)
            }
            Destination::Datadog { .. } => {
                http(credential("dd-api-key", secret.to_owned())?, None, false)
            }
            Destination::Otlp {
                protocol: OtlpProtocol::HttpProtobuf,
                secret_header,
                ..
            } => {
                let headers = match secret_header {
                    Some(name) => credential(name, secret.to_owned())?,
                    None => HeaderMap::new(),
                };
                http(headers, None, true)
            }
            Destination::Otlp {
                protocol: OtlpProtocol::Grpc,
                secret_header,
                ..
            } => {
                let mut endpoint = Endpoint::from_shared(url.to_owned())?
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(Duration::from_secs(30));
                if reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https") {
                    endpoint = endpoint.tls_config(ClientTlsConfig::new().with_native_roots())?;
                }
                let credential = match secret_header {
                    Some(name) => {
                        let mut value = AsciiMetadataValue::try_from(secret).map_err(|_| {
                            anyhow::anyhow!("the sink's credential is not a metadata value")
                        })?;
                        value.set_sensitive(true);
                        Some((AsciiMetadataKey::from_bytes(name.as_bytes())?, value))
                    }
                    None => None,
                };
                Way::Grpc {
                    client: tonic::client::Grpc::new(endpoint.connect_lazy()),
                    credential,
                }
            }
        };
        Ok(Sender { origin, way })
    }

    /// Sends `payload` as message `id`; Ok once the receiver took it.
    pub(crate) async fn send(&self, id: &str, payload: &Payload) -> Result<Taken, Failure> {
        match (&self.way, payload) {
            (
                Way::Http {
                    client,
                    url,
                    headers,
                    signing,
                    otlp,
                },
                Payload::Http {
                    body,
                    content_type,
                    gzip,
                },
            ) => {
                let mut request = client
                    .post(url)
                    .headers(headers.clone())
                    .header("content-type", *content_type);
                if *gzip {
                    request = request.header("content-encoding", "gzip");
                }
                if let Some(key) = signing {
                    let timestamp = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    request = request
                        .header("webhook-id", id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header("webhook-signature", webhook::sign(key, id, timestamp, body));
                }
                let answer = request
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| Failure {
                        why: format!("{}: {}", self.origin, error_chain(&e.without_url())),
                        retry_after: None,
                    })?;
                self.answered(answer, *otlp).await
            }
            (Way::Grpc { client, credential }, Payload::Grpc(export)) => {
                let mut request = tonic::Request::new(export.clone());
                if let Some((name, value)) = credential {
                    request.metadata_mut().insert(name.clone(), value.clone());
                }
                let mut client = client.clone();
                client.ready().await.map_err(|e| Failure {
                    why: format!("{}: {}", self.origin, error_chain(&e)),
                    retry_after: None,
                })?;
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                );
                let answer = client
                    .unary(request, path, Encoded)
                    .await
                    .map_err(|status| Failure {
                        why: format!(
                            "{} answered {:?}: {}",
                            self.origin,
                            status.code(),
                            cut(status.message())
                        ),
                        retry_after: None,
                    })?;
                Ok(partly_rejected(&answer.into_inner()))
            }
            _ => Err(Failure {
                why: "a batch made for another destination (the sink changed)".to_owned(),
                retry_after: None,
            }),
        }
    }

    /// What an HTTP answer means for the batch.
    async fn answered(&self, answer: reqwest::Response, otlp: bool) -> Result<Taken, Failure> {
        let status = answer.status();
        if status.is_success() {
            if !otlp {
                return Ok(None);
            }
            // An OTLP receiver says in its answer which records it refused; an answer
            // that does not read as one (or is longer than any honest one) refused none.
            let mut answer = answer;
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = answer.chunk().await {
                if body.len() + chunk.len() > MAX_OTLP_ANSWER {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(ExportLogsServiceResponse::decode(body.as_slice())
                .ok()
                .and_then(|r| partly_rejected(&r)));
        }
        if status.is_redirection() {
            return Err(Failure {
                why: format!(
                    "{} answered {status}: a sink follows no redirect (give the URL it names)",
                    self.origin
                ),
                retry_after: None,
            });
        }
        let retry_after = match status.as_u16() {
            429 | 503 => answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            _ => None,
        };
        Err(Failure {
            why: format!("{} answered {status}", self.origin),
            retry_after,
        })
    }
}

/// The HEC channel of sink `sink`: a UUID made of its id, the same across restarts.
fn hec_channel(sink: &str) -> String {
    let hash = blake3::hash(sink.as_bytes());
    let h = auditlog_engine::hex::encode(&hash.as_bytes()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The codec of an export written already (`encode`): its bytes go as they are; the
/// answer is read as prost reads it.
#[derive(Debug, Clone, Copy)]
struct Encoded;

impl Codec for Encoded {
    type Encode = bytes::Bytes;
    type Decode = ExportLogsServiceResponse;
    type Encoder = Encoded;
    type Decoder = AnswerDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        Encoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        AnswerDecoder
    }
}

impl Encoder for Encoded {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: bytes::Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        use bytes::BufMut;
        dst.reserve(item.len());
        dst.put_slice(&item);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct AnswerDecoder;

impl Decoder for AnswerDecoder {
    type Item = ExportLogsServiceResponse;
    type Error = tonic::Status;

    /// An OK answer took the batch: one that does not decode refused nothing (as over
    /// HTTP), rather than failing a batch the receiver has (which would resend it).
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        use bytes::Buf;
        let answer = ExportLogsServiceResponse::decode(src.chunk()).unwrap_or_default();
        src.advance(src.remaining());
        Ok(Some(answer))
    }
}

/// The refusal an OTLP receiver's answer holds, if it holds one.
fn partly_rejected(answer: &ExportLogsServiceResponse) -> Taken {
    let partial = answer.partial_success.as_ref()?;
    (partial.rejected_log_records > 0).then(|| {
        format!(
            "{} records refused: {}",
            partial.rejected_log_records,
            cut(&partial.error_message)
        )
    })
}

/// A receiver's text cut to 200 characters, for errors and events.
fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

/// `Retry-After` as seconds or as an HTTP date (at most a day: a receiver cannot park a
/// sink for longer than that by one answer).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value.trim())
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(Duration::from_secs(86_400)))
}

/// An error with its causes, for the sink's `last_error`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_bounded() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("999999999"),
            Some(Duration::from_secs(86_400))
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&later).expect("a date");
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }

    proptest::proptest! {
        /// A receiver's header is untrusted bytes: any text reads as a bounded wait, or
        /// as none, and never panics.
        #[test]
        fn any_retry_after_reads_bounded_or_not_at_all(value in "\\PC{0,40}") {
            if let Some(wait) = parse_retry_after(&value) {
                proptest::prop_assert!(wait <= Duration::from_secs(86_400));
            }
        }
    }
}
