//! Where an archive lives: an object store, and the prefix of the archive's objects in it.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::error::{ArchiveError, Result};
use crate::lock::{LockClient, Locking, Retention};

/// S3 settings given as flags; the rest comes from the usual AWS environment variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...). A flag wins over its variable. `Debug` leaves the secret
/// out.
#[derive(Clone, Default)]
pub struct S3Options {
    /// The S3 endpoint, for stores other than AWS (e.g. `http://127.0.0.1:8333`); an
    /// `http://` endpoint allows plain HTTP.
    pub endpoint: Option<String>,
    /// The region (AWS default: `us-east-1`).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "(hidden)"),
            )
            .finish()
    }
}

/// An archive: its store, the prefix of its objects, and the URL it was named by.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
    /// Object Lock requests, for an S3 archive.
    lock: Option<LockClient>,
    /// How long archived segments are kept, in days after their newest event.
    retention_days: Option<u64>,
    /// Whether a run writes each archived segment's events as Parquet beside it.
    parquet: bool,
    /// The settings it was opened with, to open it again with clients of its own.
    s3: S3Options,
}

impl Archive {
    /// The archive at `url`: `s3://bucket[/prefix]` or `file:///absolute/path` (the
    /// directory is made if missing).
    pub fn open(url: &str, s3: &S3Options) -> Result<Archive> {
        let bad = |why: String| ArchiveError::Location {
            url: url.to_owned(),
            why,
        };
        install_tls_provider();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket: use s3://bucket/prefix".into()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            } else if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://")) {
                builder = builder.with_allow_http(true);
            }
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if let Some(id) = &s3.access_key_id {
                builder = builder.with_access_key_id(id);
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            let region = builder
                .get_config_value(&AmazonS3ConfigKey::Region)
                .unwrap_or_else(|| "us-east-1".to_owned());
            let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
            let virtual_hosted = builder
                .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
                .is_some_and(|v| v == "true");
            // Where object_store sends a bucket's requests.
            let bucket_url = match (endpoint, virtual_hosted) {
                (Some(endpoint), true) => endpoint,
                (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
                (None, _) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            };
            let store = Arc::new(builder.build().map_err(|e| bad(e.to_string()))?);
            return Ok(Archive {
                lock: Some(LockClient::new(Arc::clone(&store), bucket_url, region)),
                store,
                prefix: parse_prefix(prefix).map_err(bad)?,
                url: url.to_owned(),
                retention_days: None,
                parquet: true,
                s3: s3.clone(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file URL names an absolute path: file:///path".into()));
            }
            std::fs::create_dir_all(path).map_err(|e| bad(format!("making {path}: {e}")))?;
            // Each object synced before it is named: a manifest entry must never outlive
            // its objects through a power cut.
            let store = LocalFileSystem::new_with_prefix(path)
                .map_err(|e| bad(e.to_string()))?
                .with_fsync(true);
            return Ok(Archive {
                store: Arc::new(store),
                prefix: ObjectPath::default(),
                url: url.to_owned(),
                lock: None,
                retention_days: None,
                parquet: true,
                s3: s3.clone(),
            });
        }
        Err(bad(
            "unknown scheme: use s3://bucket/prefix or file:///path".into(),
        ))
    }

    /// The same archive with clients of its own, for whoever runs its requests on a
    /// runtime of its own: a connection pooled while another runtime drove it is driven
    /// only while that runtime runs, and a request sent on it from elsewhere stalls until
    /// it times out (30 seconds), then goes again on a new connection.
    pub(crate) fn with_own_clients(&self) -> Result<Archive> {
        let mut fresh = Archive::open(&self.url, &self.s3)?;
        fresh.retention_days = self.retention_days;
        fresh.parquet = self.parquet;
        Ok(fresh)
    }

    /// A runtime of one worker for this archive's requests, run beside a caller that
    /// is not async (its errors name the archive).
    pub(crate) fn worker_runtime(&self) -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| ArchiveError::Location {
                url: self.url.clone(),
                why: format!("starting a runtime: {e}"),
            })
    }

    /// The archive with its retention: archived segments are kept `days` after their
    /// newest event, and where the bucket has S3 Object Lock each archived object is
    /// locked in COMPLIANCE mode until then.
    pub fn with_retention_days(mut self, days: u64) -> Archive {
        self.retention_days = Some(days);
        self
    }

    /// The archive without Parquet: a run copies segments and index files only, and
    /// writes no `segments/<base>.parquet` (docs/FORMAT.md, "Parquet in the archive").
    pub fn without_parquet(mut self) -> Archive {
        self.parquet = false;
        self
    }

    /// Whether a run writes each segment's events as Parquet beside it.
    pub fn writes_parquet(&self) -> bool {
        self.parquet
    }

    /// The retention given, in days.
    pub fn retention_days(&self) -> Option<u64> {
        self.retention_days
    }

    /// How objects are locked as they are archived: `None` where the store has no Object
    /// Lock (or is not S3). A bucket with Object Lock and no retention given is refused:
    /// its objects would go unlocked.
    pub(crate) async fn locking(&self) -> Result<Option<Locking<'_>>> {
        let Some(client) = &self.lock else {
            return Ok(None);
        };
        if !client.enabled().await? {
            return Ok(None);
        }
        match self.retention_days {
            Some(days) => Ok(Some(Locking { client, days })),
            None => Err(ArchiveError::Conflict(format!(
                "{}: the bucket has S3 Object Lock: give the log's retention (--retain-days) \
                 so each archived object is locked until its date",
                self.url
            ))),
        }
    }

    /// Locks the object at `relative` in COMPLIANCE mode until `until`, as `locking` says.
    pub(crate) async fn lock(
        &self,
        locking: Locking<'_>,
        relative: &str,
        until: auditlog_engine::Timestamp,
    ) -> Result<()> {
        let key = self.object(relative);
        locking
            .lock(key.as_ref(), &self.name(relative), until)
            .await
    }

    /// The Object Lock retention of the object at `relative`, if the store reports one
    /// (`None` also for a store that is not S3).
    pub async fn retention_of(&self, relative: &str) -> Result<Option<Retention>> {
        match &self.lock {
            Some(client) => {
                let key = self.object(relative);
                client.retention(key.as_ref(), &self.name(relative)).await
            }
            None => Ok(None),
        }
    }

    /// For tests: deletes the current version of `relative` for good, as an operator with
    /// the archive's credentials would try to (refused while it is locked).
    #[cfg(feature = "testing")]
    pub async fn delete_current_version(&self, relative: &str) -> Result<()> {
        use object_store::ObjectStoreExt;
        let object = self.object(relative);
        let name = self.name(relative);
        let version = self
            .store
            .head(&object)
            .await
            .map_err(|cause| ArchiveError::Store {
                action: "reading",
                object: name.clone(),
                cause,
            })?
            .version
            .ok_or_else(|| ArchiveError::Conflict(format!("{name} has no version id")))?;
        let client = self
            .lock
            .as_ref()
            .ok_or_else(|| ArchiveError::Conflict("not an S3 archive".into()))?;
        client
            .delete_version(object.as_ref(), &version, &name)
            .await
    }

    /// The client of Object Lock and version requests (an S3 archive's).
    pub(crate) fn lock_client(&self) -> Option<&LockClient> {
        self.lock.as_ref()
    }

    /// The URL the archive was opened by.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    /// The object at `relative` (slash-separated) under the archive's prefix.
    pub(crate) fn object(&self, relative: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in relative.split('/') {
            path = path.join(part);
        }
        path
    }

    /// The path of `object` relative to the archive's prefix.
    pub(crate) fn relative(&self, object: &ObjectPath) -> String {
        match object.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/"),
            None => object.to_string(),
        }
    }

    /// How errors and reports name `object`: the URL it lives at.
    pub(crate) fn name(&self, relative: &str) -> String {
        format!("{}/{relative}", self.url.trim_end_matches('/'))
    }
}

/// object_store's HTTP client takes TLS from rustls's process-wide provider: ring, already
/// built for the servers' TLS (an error means one is installed already).
pub(crate) fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn parse_prefix(prefix: &str) -> std::result::Result<ObjectPath, String> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(ObjectPath::default());
    }
    ObjectPath::parse(trimmed).map_err(|e| format!("prefix `{prefix}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_store_and_a_prefix() {
        let s3 = S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            ..S3Options::default()
        };
        let archive = Archive::open("s3://bucket/a/b/", &s3).unwrap();
        assert_eq!(
            archive.object("manifest/x.json").as_ref(),
            "a/b/manifest/x.json"
        );
        assert_eq!(
            archive.relative(&archive.object("segments/1.seg")),
            "segments/1.seg"
        );
        assert_eq!(archive.name("log.json"), "s3://bucket/a/b/log.json");
        for bad in ["s3:///x", "http://x/y", "file://relative/path", "gs://b"] {
            let err = Archive::open(bad, &s3).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
