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

    /// Every key published in the cluster.
    async fn published_keys(&self) -> Result<Vec<KeyRecord>, ClusterError> {
        let mut all = Vec::new();
        for kv in self.etcd.under(&self.key_key("")).await? {
            all.push(parse(&kv.key, &kv.value)?);
        }
        Ok(all)
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
    loop {
        ticks.tick().await;
        match share_once(&state, &cluster).await {
            Ok(()) if failing => {
                eprintln!("auditlogd: the cluster's API keys are read again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                eprintln!("auditlogd: sharing the cluster's API keys: {e:#}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

async fn share_once(state: &Arc<State>, cluster: &Membership) -> anyhow::Result<()> {
    let published = cluster.published_keys().await?;
    let taking = Arc::clone(state);
    // A revocation taken in is written to the key file (an fsync): off the workers.
    let ours = tokio::task::spawn_blocking(move || taking.keys.take_in(published)).await??;
    for key in &ours {
        cluster.publish_key(key).await?;
    }
    Ok(())
}
