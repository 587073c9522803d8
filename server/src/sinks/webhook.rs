//! Webhook delivery per the Standard Webhooks specification: a batch is one JSON body
//! POSTed with `webhook-id` (the same on every retry of the batch, so a receiver drops
//! repeats), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//! (`v1,` and base64 of HMAC-SHA256 over `id.timestamp.body`, keyed with the bytes the
//! `whsec_` secret encodes). Any 2xx acknowledges the batch; redirects are not followed
//! (a POST redirected becomes a GET without its body: a 2xx to that would acknowledge
//! a batch nobody received). Errors name the destination by its origin only: a URL's
//! path or query may carry a token, and errors reach `_system` events.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// Why an attempt failed, and how long the receiver asked to wait (429 and 503 with
/// `Retry-After`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) why: String,
    pub(crate) retry_after: Option<Duration>,
}

/// One webhook destination.
#[derive(Debug)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    url: String,
    /// `scheme://host:port`, what errors say.
    origin: String,
    key: hmac::Key,
}

impl Webhook {
    /// `secret` is the sink's `whsec_…` secret.
    pub(crate) fn new(client: reqwest::Client, url: &str, secret: &str) -> anyhow::Result<Webhook> {
        let origin = reqwest::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Webhook {
            client,
            url: url.to_owned(),
            origin,
            key: signing_key(secret)?,
        })
    }

    /// POSTs `body` as message `id`; Ok once the receiver answered 2xx.
    pub(crate) async fn send(&self, id: &str, body: bytes::Bytes) -> Result<(), Failure> {
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = sign(&self.key, id, timestamp, &body);
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure {
                why: format!("{}: {}", self.origin, error_chain(&e.without_url())),
                retry_after: None,
            })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
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

/// The HMAC key a `whsec_` secret encodes.
pub(crate) fn signing_key(secret: &str) -> anyhow::Result<hmac::Key> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| anyhow::anyhow!("the webhook secret is not base64: {e}"))?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// `webhook-signature` for message `id` sent at `timestamp` with `body`.
pub(crate) fn sign(key: &hmac::Key, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
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

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signatures_match_the_specification_s_example() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

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
