//! For tests (feature `testing`): the real S3-compatible store they run against,
//! SeaweedFS on loopback, started once per test process by `scripts/seaweedfs.sh` (or
//! the one `scripts/test.sh` started for the whole suite, named by
//! `AUDITLOG_TEST_S3_ENDPOINT`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::location::S3Options;

/// The bucket of ordinary tests.
pub const BUCKET: &str = "auditlog-test";
/// A bucket of its own for key store backups (apart from the archives' bucket).
pub const KEYS_BUCKET: &str = "auditlog-keys";
/// A bucket made with Object Lock enabled.
pub const LOCKED_BUCKET: &str = "auditlog-locked";

/// A running SeaweedFS.
#[derive(Debug, Clone)]
pub struct SeaweedFs {
    /// Its S3 endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key id it takes.
    pub access_key_id: String,
    /// The secret access key it takes.
    pub secret_access_key: String,
}

impl SeaweedFs {
    /// The settings that reach it.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
        }
    }

    /// `bucket` read directly (not through an [`Archive`](crate::Archive)), to check what
    /// a run left there.
    pub fn bucket(&self, bucket: &str) -> std::sync::Arc<dyn object_store::ObjectStore> {
        crate::location::install_tls_provider();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()
            .expect("an S3 store");
        std::sync::Arc::new(store)
    }

    /// Gives `command` (a binary of ours) the AWS variables that reach this store.
    pub fn env<'c>(&self, command: &'c mut std::process::Command) -> &'c mut std::process::Command {
        command
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
    }

    /// A URL in `bucket` that no other test uses.
    pub fn fresh_url(&self, bucket: &str, name: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("s3://{bucket}/{name}-{}-{nanos}-{n}", std::process::id())
    }
}

/// The suite's SeaweedFS, started at the first call if the environment names none.
pub fn seaweedfs() -> &'static SeaweedFs {
    static STORE: OnceLock<SeaweedFs> = OnceLock::new();
    STORE.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("AUDITLOG_TEST_S3_ENDPOINT") {
            let var = |name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is unset"));
            return SeaweedFs {
                endpoint,
                access_key_id: var("AWS_ACCESS_KEY_ID"),
                secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            };
        }
        start()
    })
}

fn start() -> SeaweedFs {
    let value = start_service("seaweedfs");
    SeaweedFs {
        endpoint: value("AUDITLOG_TEST_S3_ENDPOINT"),
        access_key_id: value("AWS_ACCESS_KEY_ID"),
        secret_access_key: value("AWS_SECRET_ACCESS_KEY"),
    }
}

/// Starts a test service of the project's for this process (`scripts/<name>.sh start
/// target/<name>-<pid> <pid>`: on loopback, stopped when the process ends), for a test
/// run outside scripts/test.sh, which starts each once for the suite. What it printed:
/// the value of each `NAME=value` line, by name.
pub fn start_service(name: &str) -> impl Fn(&str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root
        .join("target")
        .join(format!("{name}-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(root.join(format!("scripts/{name}.sh")))
        .arg("start")
        .arg(&dir)
        .arg(std::process::id().to_string())
        .output()
        .expect("bash runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scripts/{name}.sh start: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = name.to_owned();
    move |var: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(var)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name}.sh printed no {var}: {said}"))
            .to_owned()
    }
}

/// How many segment files (`.seg`) the data directory `data` holds: the sealed segments
/// not released to an archive, and the active one.
pub fn local_segment_files(data: &std::path::Path) -> usize {
    std::fs::read_dir(data.join("segments"))
        .unwrap_or_else(|e| panic!("{}: {e}", data.display()))
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))
        })
        .count()
}

/// The bytes of `object` in `store` (a test's direct look at what a run left).
pub async fn read_object(
    store: &dyn object_store::ObjectStore,
    object: &object_store::path::Path,
) -> Vec<u8> {
    use object_store::ObjectStoreExt;
    let got = store
        .get(object)
        .await
        .unwrap_or_else(|e| panic!("{object}: {e}"));
    got.bytes().await.expect("the object's bytes").to_vec()
}

/// Every object under `prefix` in `store`, by name, with its bytes.
pub async fn objects_under(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
) -> Vec<(String, Vec<u8>)> {
    use futures_util::TryStreamExt;
    let prefix = object_store::path::Path::from(prefix);
    let mut listed: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .expect("a listing");
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut out = Vec::new();
    for meta in listed {
        let bytes = read_object(store, &meta.location).await;
        out.push((meta.location.to_string(), bytes));
    }
    out
}
