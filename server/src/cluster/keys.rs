//! The cluster's API keys: every node publishes its own keys under
//! `/auditlog/<cluster>/keys/<id>` (the record its key file holds: a BLAKE3 hash of the
//! token, never the token) and, every second, reads the others' into its key store, so a
//! key made on one node works on every node within about a second. A key revoked on any
//! node is published revoked and taken in, durably, by the node that made it: a
//! revocation wins.

use std::sync::Arc;
use std::time::Duration;

use super::etcd::EtcdError;
use super::{ClusterError, Membership, parse};
use crate::State;
use crate::keys::KeyRecord;

/// How often a node reads the cluster's keys.
const EVERY: Duration = Duration::from_secs(1);

impl Membership {
    fn key_key(&self, id: &str) -> String {
        format!("/auditlog/{}/keys/{id}", self.cluster)
    }

    /// Every key published in the cluster, and the entries passed over: one that is not
    /// a key record of its own id (garbled, or a later build's) is no key.
    async fn published_keys(&self) -> Result<(Vec<KeyRecord>, Vec<String>), ClusterError> {
        let prefix = self.key_key("");
        let (mut keys, mut garbled) = (Vec::new(), Vec::new());
        for kv in self.etcd.under(&prefix).await? {
            let id = kv.key.strip_prefix(&prefix).unwrap_or_default();
            match parse::<KeyRecord>(&kv.key, &kv.value) {
                Ok(key) if key.id == id => keys.push(key),
                _ => garbled.push(kv.key),
            }
        }
        Ok((keys, garbled))
    }

    /// Publishes `key`, this node's, as it is now.
    async fn publish_key(&self, key: &KeyRecord) -> Result<(), EtcdError> {
        let value = serde_json::to_vec(key).expect("a key record serializes");
        self.etcd
            .put_if(&[], &self.key_key(&key.id), &value, 0)
            .await
            .map(drop)
    }
}

/// Shares `state`'s keys with the cluster for as long as the server runs; a failure is
/// said on stderr when it starts and when it ends (the keys read last stay in use).
pub(crate) async fn share_keys(state: Arc<State>) {
    let Some(cluster) = state.cluster.clone() else {
        return;
    };
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut passed_over = Vec::new();
    loop {
        ticks.tick().await;
        match share_once(&state, &cluster).await {
            Ok(garbled) => {
                if failing {
                    eprintln!("auditlogd: the cluster's API keys are read again");
                    failing = false;
                }
                if garbled != passed_over && !garbled.is_empty() {
                    eprintln!(
                        "auditlogd: passing over entries of the shard map that are not API \
                         keys auditlogd publishes: {}",
                        garbled.join(", ")
                    );
                }
                passed_over = garbled;
            }
            Err(e) if !failing => {
                eprintln!("auditlogd: sharing the cluster's API keys: {e:#}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Reads the cluster's keys, takes them in and publishes this node's: the entries passed
/// over.
async fn share_once(state: &Arc<State>, cluster: &Membership) -> anyhow::Result<Vec<String>> {
    // Trusted from before the read: what was revoked before it started is in it.
    let read_at = std::time::Instant::now();
    let (published, garbled) = cluster.published_keys().await?;
    let taking = Arc::clone(state);
    // A revocation taken in is written to the key file (an fsync): off the workers.
    let ours =
        tokio::task::spawn_blocking(move || taking.keys.take_in(published, read_at)).await??;
    for key in &ours {
        cluster.publish_key(key).await?;
    }
    Ok(garbled)
}
