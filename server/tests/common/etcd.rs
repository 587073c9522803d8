//! etcd on loopback for the shard tests (Debian's `etcd-server`, scripts/etcd.sh): the
//! suite's (`AUDITLOG_TEST_ETCD`, started once by scripts/test.sh), else one started for
//! this test process and stopped when it ends.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// etcd's URL.
pub(crate) fn etcd_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("AUDITLOG_TEST_ETCD") {
            return url;
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root
            .join("target")
            .join(format!("etcd-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(root.join("scripts/etcd.sh"))
            .arg("start")
            .arg(&dir)
            .arg(std::process::id().to_string())
            .output()
            .expect("bash runs");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scripts/etcd.sh start: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        said.lines()
            .find_map(|l| l.strip_prefix("AUDITLOG_TEST_ETCD="))
            .expect("etcd.sh prints its URL")
            .to_owned()
    })
}

/// A cluster name no other test uses.
pub(crate) fn fresh_cluster(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}
