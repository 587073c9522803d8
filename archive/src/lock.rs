//! S3 Object Lock on an archive's bucket: whether the bucket has it, and each archived
//! object's retention (COMPLIANCE mode until its date, so no one, the operator included,
//! can delete it earlier). object_store makes none of these requests, so they are made
//! here with its own SigV4 signer and the store's credentials.

use std::sync::Arc;

use auditlog_engine::Timestamp;
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::{HttpRequest, HttpRequestBody};

use crate::error::{ArchiveError, Result};

/// What object lock requests need of an S3 archive.
#[derive(Debug, Clone)]
pub(crate) struct LockClient {
    s3: Arc<AmazonS3>,
    /// `endpoint/bucket` (path style) or `https://bucket.s3.region.amazonaws.com`.
    bucket_url: String,
    region: String,
    client: reqwest::Client,
}

/// How a run locks what it archives: COMPLIANCE mode until `days` after the newest event
/// of the segment an object belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locking<'a> {
    pub(crate) client: &'a LockClient,
    pub(crate) days: u64,
}

impl Locking<'_> {
    /// The retention date of a segment whose newest event is `newest`, in whole seconds;
    /// `None` if it has passed already (nothing to lock).
    pub(crate) fn until(&self, newest: Timestamp) -> Option<Timestamp> {
        const DAY_MICROS: i64 = 86_400 * 1_000_000;
        let days = i64::try_from(self.days).unwrap_or(i64::MAX / DAY_MICROS);
        let until = newest.0.saturating_add(days.saturating_mul(DAY_MICROS));
        let until = Timestamp(until.div_euclid(1_000_000).saturating_add(1) * 1_000_000);
        (until > Timestamp::now()).then_some(until)
    }

    /// Locks the object at `key` (named `name` in errors) until `until`.
    pub(crate) async fn lock(&self, key: &str, name: &str, until: Timestamp) -> Result<()> {
        self.client.retain(key, until, name).await
    }
}

/// An object's retention, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// The date until which the object version cannot be deleted (RFC 3339).
    pub retain_until: String,
}

impl LockClient {
    pub(crate) fn new(s3: Arc<AmazonS3>, bucket_url: String, region: String) -> LockClient {
        LockClient {
            s3,
            bucket_url: bucket_url.trim_end_matches('/').to_owned(),
            region,
            client: reqwest::Client::new(),
        }
    }

    /// Whether the bucket has Object Lock enabled.
    pub(crate) async fn enabled(&self) -> Result<bool> {
        let url = format!("{}?object-lock=", self.bucket_url);
        let (status, body) = self.send("GET", &url, Vec::new(), "the bucket").await?;
        if status == 404 || body.contains("ObjectLockConfigurationNotFound") {
            return Ok(false);
        }
        self.check(
            status,
            &body,
            "reading the Object Lock setting of",
            "the bucket",
        )?;
        Ok(body.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>"))
    }

    /// Locks the current version of `key` in COMPLIANCE mode until `until`.
    pub(crate) async fn retain(&self, key: &str, until: Timestamp, name: &str) -> Result<()> {
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>\
             <RetainUntilDate>{}</RetainUntilDate></Retention>",
            until.to_rfc3339()
        );
        let url = format!("{}/{}?retention=", self.bucket_url, encode_key(key));
        let (status, answer) = self.send("PUT", &url, body.into_bytes(), name).await?;
        self.check(status, &answer, "locking", name)
    }

    /// The retention of the current version of `key`, if it has one (none, too, in a
    /// bucket without Object Lock, which S3 answers `InvalidRequest`).
    pub(crate) async fn retention(&self, key: &str, name: &str) -> Result<Option<Retention>> {
        let url = format!("{}/{}?retention=", self.bucket_url, encode_key(key));
        let (status, body) = self.send("GET", &url, Vec::new(), name).await?;
        let none = [
            "NoSuchObjectLockConfiguration",
            "<Code>InvalidRequest</Code>",
        ];
        if status == 404 || none.iter().any(|code| body.contains(code)) {
            return Ok(None);
        }
        self.check(status, &body, "reading the retention of", name)?;
        Ok(Some(Retention {
            mode: element(&body, "Mode").unwrap_or_default(),
            retain_until: element(&body, "RetainUntilDate").unwrap_or_default(),
        }))
    }

    /// Deletes version `version` of `key` for good (a locked one is refused by the store).
    pub(crate) async fn delete_version(&self, key: &str, version: &str, name: &str) -> Result<()> {
        let url = format!(
            "{}/{}?versionId={}",
            self.bucket_url,
            encode_key(key),
            encode_key(version)
        );
        let (status, body) = self.send("DELETE", &url, Vec::new(), name).await?;
        self.check(status, &body, "deleting", name)
    }

    fn check(&self, status: u16, body: &str, action: &str, name: &str) -> Result<()> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let code = element(body, "Code").unwrap_or_else(|| format!("HTTP {status}"));
        let message = element(body, "Message").unwrap_or_default();
        Err(ArchiveError::Conflict(format!(
            "{action} {name}: the store answered {code} {message}"
        )))
    }

    /// Signs and sends one request; the status and body of the answer.
    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Vec<u8>,
        name: &str,
    ) -> Result<(u16, String)> {
        let failed = |why: String| ArchiveError::Conflict(format!("{name}: {why}"));
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(|e| failed(format!("no credentials: {e}")))?;
        let mut request = HttpRequest::new(HttpRequestBody::from(body.clone()));
        *request.method_mut() = method.parse().map_err(|_| failed("bad method".into()))?;
        *request.uri_mut() = url
            .parse()
            .map_err(|e| failed(format!("bad URL {url}: {e}")))?;
        if !body.is_empty() {
            // S3 wants the body's MD5 on a retention change.
            use base64::Engine as _;
            use md5::Digest as _;
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
            let value = md5.parse().map_err(|_| failed("bad Content-MD5".into()))?;
            request.headers_mut().insert("content-md5", value);
        }
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(|e| failed(format!("signing: {e}")))?;
        let (parts, _) = request.into_parts();
        let answer = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| failed(format!("{method} {url}: {e}")))?;
        let status = answer.status().as_u16();
        let text = answer
            .text()
            .await
            .map_err(|e| failed(format!("reading the answer: {e}")))?;
        Ok((status, text))
    }
}

/// The text of the first `<tag>` element of an S3 XML answer.
fn element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml.get(start..)?.find(&format!("</{tag}>"))? + start;
    xml.get(start..end).map(str::to_owned)
}

/// An object key as a URL path: each byte but the unreserved ones and `/` escaped.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_and_escapes_keys() {
        let xml = "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2027-01-01T00:00:00Z</RetainUntilDate></Retention>";
        assert_eq!(element(xml, "Mode").as_deref(), Some("COMPLIANCE"));
        assert_eq!(
            element(xml, "RetainUntilDate").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(element(xml, "Code"), None);
        assert_eq!(encode_key("a b/c+d"), "a%20b/c%2Bd");
    }
}
