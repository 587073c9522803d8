//! A client of etcd's v3 API through its JSON gateway (`POST /v3/…`; keys and values in
//! base64, 64-bit numbers as decimal strings, fields at their default left out): the few
//! calls the shard map needs (leases, a transaction that creates a key only where it is
//! absent, reads by key and by prefix, a delete) over the HTTP client the server has
//! already, rather than a gRPC etcd crate and its generated code.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EtcdError {
    /// No answer: etcd down, unreachable, or slower than the client's timeout.
    #[error("etcd at {url}: {why}")]
    Unreachable { url: String, why: String },
    /// An answer other than success.
    #[error("etcd at {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    /// A success whose body is not what the v3 API gives.
    #[error("etcd at {url}: not an answer of the v3 API ({why})")]
    Garbled { url: String, why: String },
}

/// One key-value pair as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kv {
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    /// The lease it is attached to (0: none).
    pub(crate) lease: i64,
    /// The revision that created it.
    pub(crate) create_revision: i64,
    /// The revision that last changed it.
    pub(crate) mod_revision: i64,
}

/// A lease granted: its id and how many seconds it lives without a keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) id: i64,
    pub(crate) ttl: i64,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Guard {
    /// The key does not exist.
    Absent(String),
    /// The key exists, attached to this lease.
    HeldBy(String, i64),
    /// The key was last changed at this revision (unchanged since it was read).
    Unchanged(String, i64),
}

/// etcd's v3 JSON gateway at one URL.
#[derive(Debug, Clone)]
pub(crate) struct Etcd {
    client: reqwest::Client,
    url: String,
}

fn b64(text: &str) -> String {
    STANDARD.encode(text.as_bytes())
}

/// A 64-bit number of an answer: a decimal string, absent when 0.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Null => Some(0),
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

impl Etcd {
    /// The gateway at `url` (`http://host:2379`), each call bounded by `timeout`. No
    /// connection is kept between calls: they are few (renewals, a claim per new
    /// tenant), and made from more than one runtime, where a pooled connection would
    /// stall once the runtime that opened it is gone.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Etcd, EtcdError> {
        let client = crate::worker::http_client_builder(timeout, timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| EtcdError::Unreachable {
                url: url.to_owned(),
                why: e.to_string(),
            })?;
        Ok(Etcd {
            client,
            url: url.trim_end_matches('/').to_owned(),
        })
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let unreachable = |e: reqwest::Error| EtcdError::Unreachable {
            url: self.url.clone(),
            why: e.to_string(),
        };
        let answer = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        let status = answer.status();
        let bytes = answer.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(EtcdError::Refused {
                url: self.url.clone(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| self.garbled(e.to_string()))
    }

    fn garbled(&self, why: String) -> EtcdError {
        EtcdError::Garbled {
            url: self.url.clone(),
            why,
        }
    }

    /// A new lease of `ttl` seconds.
    pub(crate) async fn grant(&self, ttl: i64) -> Result<Lease, EtcdError> {
        let answer = self
            .call("/v3/lease/grant", json!({ "TTL": ttl.to_string() }))
            .await?;
        let id = number(&answer["ID"]).filter(|&id| id != 0);
        let ttl = number(&answer["TTL"]).filter(|&ttl| ttl > 0);
        match (id, ttl) {
            (Some(id), Some(ttl)) => Ok(Lease { id, ttl }),
            _ => Err(self.garbled(format!("a lease without an id or a TTL: {answer}"))),
        }
    }

    /// Renews lease `id`: the seconds it now has, 0 if it is gone (expired or revoked).
    pub(crate) async fn keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        let answer = self
            .call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        // An answer without `result` (an error in the stream, a leader changing) says
        // nothing of the lease: it is an error, not the lease's end.
        let Some(result) = answer.get("result").filter(|r| r.is_object()) else {
            return Err(self.garbled(format!("a keep-alive without a result: {answer}")));
        };
        number(&result["TTL"])
            .map(|ttl| ttl.max(0))
            .ok_or_else(|| self.garbled(format!("a keep-alive without a TTL: {answer}")))
    }

    /// Ends lease `id` now, deleting the keys attached to it.
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
            .map(drop)
    }

    /// Puts `value` at `key` (attached to `lease`, unless 0) if every guard holds; else
    /// changes nothing and gives what `key` holds now.
    pub(crate) async fn put_if(
        &self,
        guards: &[Guard],
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> Result<Result<(), Option<Kv>>, EtcdError> {
        let compare: Vec<Value> = guards
            .iter()
            .map(|guard| match guard {
                Guard::Absent(key) => json!({
                    "key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"
                }),
                Guard::HeldBy(key, lease) => json!({
                    "key": b64(key), "target": "LEASE", "result": "EQUAL", "lease": lease.to_string()
                }),
                Guard::Unchanged(key, revision) => json!({
                    "key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string()
                }),
            })
            .collect();
        let mut put = json!({ "key": b64(key), "value": STANDARD.encode(value) });
        if lease != 0 {
            put["lease"] = json!(lease.to_string());
        }
        let answer = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": compare,
                    "success": [{ "request_put": put }],
                    "failure": [{ "request_range": { "key": b64(key) } }],
                }),
            )
            .await?;
        if answer["succeeded"].as_bool() == Some(true) {
            return Ok(Ok(()));
        }
        let range = &answer["responses"][0]["response_range"];
        Ok(Err(self.kvs(range)?.into_iter().next()))
    }

    /// What `key` holds, if anything.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Kv>, EtcdError> {
        let answer = self
            .call("/v3/kv/range", json!({ "key": b64(key) }))
            .await?;
        Ok(self.kvs(&answer)?.into_iter().next())
    }

    /// Every key under `prefix`, in key order.
    pub(crate) async fn under(&self, prefix: &str) -> Result<Vec<Kv>, EtcdError> {
        let answer = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix), "range_end": STANDARD.encode(prefix_end(prefix)) }),
            )
            .await?;
        self.kvs(&answer)
    }

    /// The pairs of a range answer.
    fn kvs(&self, range: &Value) -> Result<Vec<Kv>, EtcdError> {
        let Some(kvs) = range.get("kvs") else {
            return Ok(Vec::new());
        };
        let kvs = kvs
            .as_array()
            .ok_or_else(|| self.garbled(format!("kvs is not a list: {range}")))?;
        kvs.iter().map(|kv| self.kv(kv)).collect()
    }

    fn kv(&self, kv: &Value) -> Result<Kv, EtcdError> {
        let bytes = |field: &str| -> Result<Vec<u8>, EtcdError> {
            match kv[field].as_str() {
                None => Ok(Vec::new()),
                Some(text) => STANDARD
                    .decode(text)
                    .map_err(|e| self.garbled(format!("{field}: {e}"))),
            }
        };
        let key = String::from_utf8(bytes("key")?)
            .map_err(|_| self.garbled("a key that is not UTF-8".into()))?;
        let field = |name: &str| {
            number(&kv[name]).ok_or_else(|| self.garbled(format!("{name} of {key}: {kv}")))
        };
        Ok(Kv {
            value: bytes("value")?,
            lease: field("lease")?,
            create_revision: field("create_revision")?,
            mod_revision: field("mod_revision")?,
            key,
        })
    }
}

/// The end of the range of keys starting with `prefix`: the prefix with its last byte
/// below 0xff raised by one, and what follows it cut (etcd's convention).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_raised() {
        assert_eq!(prefix_end("/auditlog/c/tenants/"), b"/auditlog/c/tenants0");
        assert_eq!(
            prefix_end("a\u{ff}"),
            [b'a', 0xc3, 0xc0],
            "0xc3 0xbf: 0xbf raised"
        );
    }

    #[test]
    fn numbers_are_strings_and_absent_means_zero() {
        assert_eq!(number(&json!("42")), Some(42));
        assert_eq!(number(&Value::Null), Some(0));
        assert_eq!(number(&json!("x")), None);
        assert_eq!(number(&json!([1])), None);
    }
}
