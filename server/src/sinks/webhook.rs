//! Webhook signatures per the Standard Webhooks specification: a batch is one JSON body
//! POSTed (`send`) with `webhook-id` (the same on every retry of the batch, so a
//! receiver drops repeats), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature` (`v1,` and base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
//! with the bytes the `whsec_` secret encodes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

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
}
