//! A read replica (`--replica-of URL`, docs/SCALING.md "Read replicas"): a copy of one
//! node's log, started from `auditlog restore` of its archive, that follows the node (the
//! primary) over its HTTP API and serves every read with the same code as the primary.
//!
//! - **Following** (`follow`): every `--replica-every-ms`, the primary's newest checkpoint,
//!   checked consistent with the newest one kept before anything is written, then the
//!   records between as a bundle, checked offline with the primary's key, appended in
//!   order, and the checkpoint kept once they make it (the engine's `Log::check_followed`
//!   and `Log::follow_bundle`).
//! - **Keys**: the primary's API keys (their records: hashes, never tokens), read every
//!   second and trusted for 10 s, as a cluster node trusts its peers' keys.
//! - **Writes** are refused, UNAVAILABLE, naming the primary; so is anything that would
//!   change the replica's copy or the primary's settings (keys, sinks, holds, viewer
//!   tokens).
//! - **Its own records**: a replica records nothing in its copy (any record of its own
//!   would fork it from the primary). The bulk reads a node records (exports, bundles,
//!   query streams of many pages) are recorded on the primary, durably, before their
//!   first byte leaves the replica.

mod follow;
mod status;

pub(crate) use follow::{PrimaryKeys, follow, share_keys};
pub(crate) use status::ReplicaStatus;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tonic::Status;
use tonic::metadata::MetadataValue;

/// The command-line options of a replica.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ReplicaArgs {
    /// Serve reads as a replica of the node whose HTTP API is at URL (e.g.
    /// `https://primary.example:7080`), from a data directory `auditlog restore` made of
    /// its archive; writes are refused, naming it (docs/SCALING.md, "Read replicas").
    #[arg(
        long,
        value_name = "URL",
        requires = "replica_key_file",
        conflicts_with_all = ["archive", "expire", "witness_key", "witnessed_by", "etcd"]
    )]
    pub(crate) replica_of: Option<String>,
    /// A file holding an admin key of the primary: the replica reads the primary's
    /// records, checkpoints and key records with it, and records its bulk reads there.
    #[arg(long, value_name = "FILE", requires = "replica_of")]
    pub(crate) replica_key_file: Option<PathBuf>,
    /// Milliseconds between two looks at the primary's newest checkpoint.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        requires = "replica_of"
    )]
    pub(crate) replica_every_ms: u64,
}

/// A replica's link to its primary.
#[derive(Debug)]
pub(crate) struct Replica {
    /// The primary's HTTP API, without a trailing `/`.
    pub(crate) primary: String,
    /// The bearer token of the primary's key.
    token: String,
    client: reqwest::Client,
    pub(crate) every: Duration,
    /// How many records to ask for at once (halved after a page fails).
    pub(crate) page: std::sync::atomic::AtomicU64,
    pub(crate) status: ReplicaStatus,
}

impl ReplicaArgs {
    /// The replica these options make, if they make one: its primary over plain HTTP
    /// only on loopback, unless `allow_plaintext` (the replica's admin key and the key
    /// records it takes in would cross the network in the clear).
    pub(crate) fn open(&self, allow_plaintext: bool) -> anyhow::Result<Option<Replica>> {
        let (Some(url), Some(key_file)) = (&self.replica_of, &self.replica_key_file) else {
            return Ok(None);
        };
        let token = std::fs::read_to_string(key_file)
            .with_context(|| format!("reading the primary's key from {}", key_file.display()))?
            .trim()
            .to_owned();
        anyhow::ensure!(
            !token.is_empty(),
            "{} holds no key of the primary",
            key_file.display()
        );
        let primary = url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&primary)
            .with_context(|| format!("--replica-of {url}: not a URL"))?;
        let loopback = match parsed.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback || allow_plaintext => {}
            "http" => anyhow::bail!(
                "refusing to follow {primary} over plain HTTP off loopback: use https, or \
                 --allow-plaintext"
            ),
            _ => anyhow::bail!(
                "--replica-of {url}: an http:// or https:// URL of the primary's HTTP API"
            ),
        }
        let client = crate::worker::http_client(Duration::from_secs(5), Duration::from_secs(60))
            .context("building the replica's HTTP client")?;
        Ok(Some(Replica {
            primary,
            token,
            client,
            every: Duration::from_millis(self.replica_every_ms.max(10)),
            page: std::sync::atomic::AtomicU64::new(follow::PAGE_RECORDS),
            status: ReplicaStatus::default(),
        }))
    }
}

impl Replica {
    /// The refusal of a write (or of a change to the primary's settings) sent here.
    pub(crate) fn refuse_write(&self) -> Status {
        let mut status = Status::unavailable(format!(
            "this server is a read replica of {}: send writes and changes there",
            self.primary
        ));
        if let Ok(value) = MetadataValue::try_from(self.primary.as_str()) {
            status.metadata_mut().insert(PRIMARY_METADATA, value);
        }
        status
    }

    /// Records on the primary a bulk read `caller` made here (as a node records its own,
    /// `crate::export::record_bulk_read`), and waits until the primary has it durably.
    pub(crate) async fn record_on_primary(
        &self,
        caller: &crate::auth::Caller,
        action: &str,
        resource: (&str, String),
        details: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Status> {
        let body = serde_json::json!({
            "action": action,
            "key": caller.key.id,
            "resource": {"type": resource.0, "id": resource.1},
            "details": details,
        });
        self.post("/v1/replica/record", &body)
            .await
            .map(drop)
            .map_err(|e| {
                Status::unavailable(format!(
                    "recording `{action}` on the primary, as every bulk read is recorded: {e:#}"
                ))
            })
    }

    /// A GET of `path_and_query` on the primary with the replica's key: the body (at most
    /// `cap` bytes: a longer one is an error, read no further), or why not.
    pub(crate) async fn get(&self, path_and_query: &str, cap: usize) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path_and_query}", self.primary);
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        answered(response, &url, cap).await
    }

    /// A POST of `body` (JSON) to `path` on the primary with the replica's key.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.primary);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        answered(response, &url, SMALL_ANSWER).await
    }
}

/// Where the reads of this node's records by each key (a replica's) since it started
/// stopped, the newest [`FOLLOWER_ENDS`]: a call that goes on from one of them is not
/// recorded again (several replicas may share a key, each going on from its own end).
#[derive(Debug, Default)]
pub(crate) struct Followers(
    parking_lot::Mutex<std::collections::HashMap<String, std::collections::VecDeque<u64>>>,
);

/// The ends kept per key.
const FOLLOWER_ENDS: usize = 64;

impl Followers {
    /// Whether `key`'s read from `from_seq` goes on from where one of its reads ended.
    pub(crate) fn goes_on(&self, key: &str, from_seq: u64) -> bool {
        self.0
            .lock()
            .get(key)
            .is_some_and(|ends| ends.contains(&from_seq))
    }

    /// `key` read the records up to `to_seq`.
    pub(crate) fn read_to(&self, key: &str, to_seq: u64) {
        let mut followers = self.0.lock();
        let ends = followers.entry(key.to_owned()).or_default();
        if !ends.contains(&to_seq) {
            if ends.len() == FOLLOWER_ENDS {
                ends.pop_front();
            }
            ends.push_back(to_seq);
        }
    }
}

/// An answer longer than the cap it was read with.
#[derive(Debug, thiserror::Error)]
#[error("{url} answered more than {cap} bytes")]
pub(crate) struct TooLong {
    url: String,
    cap: usize,
}

/// Whether a replica serves an HTTP request of `method` on `path` itself: reads of the
/// log only. The rest (writes, and the primary's settings: keys, sinks, viewer tokens,
/// the cluster, the viewer's pages) is refused, naming the primary.
pub(crate) fn serves_http(method: &http::Method, path: &str) -> bool {
    const READS: [&str; 14] = [
        "/healthz",
        "/openapi.json",
        "/metrics",
        "/checkpoint",
        "/v1/events",
        "/v1/events/count",
        "/v1/export",
        "/v1/proofs/inclusion",
        "/v1/proofs/consistency",
        "/v1/checkpoint",
        "/v1/verifier-key",
        "/v1/bundle",
        "/v1/reports",
        "/v1/replica",
    ];
    (method == http::Method::GET || method == http::Method::HEAD)
        && (READS.contains(&path) || path.starts_with("/tile/"))
}

/// The gRPC metadata (and HTTP header) naming a replica's primary on a refusal.
pub(crate) const PRIMARY_METADATA: &str = "auditlog-primary";

/// The most bytes read of an answer other than records (a checkpoint, a proof, the
/// keys, an error).
pub(crate) const SMALL_ANSWER: usize = 16 << 20;

/// The body of a success (at most `cap` bytes), or an error with the primary's answer.
async fn answered(
    mut response: reqwest::Response,
    url: &str,
    cap: usize,
) -> anyhow::Result<Vec<u8>> {
    let status = response.status();
    let cap = if status.is_success() { cap } else { 4 << 10 };
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading the answer of {url}"))?
    {
        if body.len() + chunk.len() > cap {
            if !status.is_success() {
                break;
            }
            return Err(TooLong {
                url: url.to_owned(),
                cap,
            }
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
        anyhow::bail!("{url} answered {status}: {}", text.trim());
    }
    Ok(body)
}
