//! The cluster's API keys: every node publishes its own keys under
//! `/auditlog/<cluster>/keys/<id>` (the record its key file holds: a BLAKE3 hash of the
//! token, never the token) and, every second, reads the others' into its key store, so a
//! key made on one node works on every node within about a second. A key revoked on any
//! node is published revoked and taken in, durably, by the node that made it: a
//! revocation wins.

use std::sync::Arc;
use std::time::Duration;

use super::etcd::{EtcdError, Guard};
use super::{ClusterError, Membership, parse};
use crate::State;
use crate::keys::KeyRecord;

/// How often a node reads the cluster's keys.
const EVERY: Duration = Duration::from_secs(1);

impl Membership {
    fn key_key(&self, id: &str) -> String {
        format!("/auditlog/{}/keys/{id}", self.cluster)
    }

    /// Every key published in the cluster, as read: one that is not a key record of its
    /// own id (garbled, or a later build's) is no key, and is passed over.
    async fn published_keys(&self) -> Result<Published, ClusterError> {
        let prefix = self.key_key("");
        let mut published = Published::default();
        for kv in self.etcd.under(&prefix).await? {
            let id = kv.key.strip_prefix(&prefix).unwrap_or_default().to_owned();
            match parse::<KeyRecord>(&kv.key, &kv.value) {
                Ok(key) if key.id == id => published.keys.push(key),
                _ => published.garbled.push(kv.key.clone()),
            }
            published.revisions.insert(id, kv.mod_revision);
        }
        Ok(published)
    }

    /// Publishes `key`, this node's, as it is now, over the entry read at `revision`
    /// (`None`: there was none): an entry changed since (a revocation published
    /// meanwhile) is left for the next round, which takes it in first.
    async fn publish_key(&self, key: &KeyRecord, revision: Option<i64>) -> Result<(), EtcdError> {
        let value = serde_json::to_vec(key).expect("a key record serializes");
        let at = self.key_key(&key.id);
        let guard = match revision {
            Some(revision) => Guard::Unchanged(at.clone(), revision),
            None => Guard::Absent(at.clone()),
        };
        self.etcd.put_if(&[guard], &at, &value, 0).await.map(drop)
    }
}

/// The cluster's keys as read from the map.
#[derive(Debug, Default)]
struct Published {
    keys: Vec<KeyRecord>,
    /// The entries that are no key record (their etcd keys): never written over.
    garbled: Vec<String>,
    /// Each entry's revision, by id.
    revisions: std::collections::HashMap<String, i64>,
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
    let Published {
        keys,
        garbled,
        revisions,
    } = cluster.published_keys().await?;
    let taking = Arc::clone(state);
    // A revocation taken in is written to the key file (an fsync): off the workers.
    let ours = tokio::task::spawn_blocking(move || taking.keys.take_in(keys, read_at)).await??;
    for key in &ours {
        let at = cluster.key_key(&key.id);
        if garbled.contains(&at) {
            continue; // not ours to overwrite blindly: said on stderr
        }
        cluster
            .publish_key(key, revisions.get(&key.id).copied())
            .await?;
    }
    Ok(garbled)
}
