//! etcd on loopback for the shard tests (Debian's `etcd-server`, scripts/etcd.sh): the
//! suite's (`AUDITLOG_TEST_ETCD`, started once by scripts/test.sh), else one started for
//! this test process and stopped when it ends.

use std::sync::OnceLock;

/// etcd's URL.
pub(crate) fn etcd_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("AUDITLOG_TEST_ETCD") {
        Ok(url) => url,
        Err(_) => auditlog_archive::testing::start_service("etcd")("AUDITLOG_TEST_ETCD"),
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
