//! The other nodes' keys in a cluster of tenant shards (docs/SCALING.md, "API keys are
//! the cluster's"): read from the shard map every second (`cluster::keys`), trusted for a
//! while after each read, merged with this node's so that a revocation wins.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{KeyRecord, KeyStore};

/// How long the other nodes' keys read from the shard map are trusted: past it (etcd out
/// of reach), a key this node did not make is answered UNAVAILABLE, so that a key revoked
/// elsewhere meanwhile does not go on working here.
const SHARED_KEYS_AGE: Duration = Duration::from_secs(10);

/// The other nodes' keys in a cluster, as last read from the shard map.
#[derive(Debug, Default)]
pub(super) struct SharedKeys {
    /// Whether this node is in a cluster: a key it does not know may be another node's.
    pub(super) clustered: bool,
    /// When the map was last read, and the keys it held that are not this node's.
    pub(super) read: Option<(Instant, Arc<HashMap<String, KeyRecord>>)>,
}

impl SharedKeys {
    /// The keys read, unless they are too old to trust (`None`: unread, or stale).
    pub(super) fn fresh(&self) -> Option<&HashMap<String, KeyRecord>> {
        let (read, keys) = self.read.as_ref()?;
        (read.elapsed() < SHARED_KEYS_AGE).then_some(keys.as_ref())
    }
}

/// What a lookup of a key id found.
pub(super) enum Found {
    Key(Box<KeyRecord>),
    /// None of this node's, and the cluster's keys are not known now.
    Unread,
    None,
}

impl KeyStore {
    /// Marks this node as one of a cluster's: a key it did not make is looked up among
    /// the cluster's keys, and answered UNAVAILABLE until they have been read.
    pub(crate) fn join_cluster(&self) {
        self.shared.write().clustered = true;
    }

    /// Takes in the cluster's keys as the shard map holds them (`published`, one record
    /// per id): a revocation of one of this node's keys is kept (durably; a revocation
    /// wins), the others' keys are used from now on. Returns this node's keys to publish:
    /// those the map lacks, or holds otherwise, unless both copies are revoked (whenever
    /// each was). Blocks on an fsync when a revocation is taken in.
    pub(crate) fn take_in(
        &self,
        published: Vec<KeyRecord>,
        read_at: Instant,
    ) -> anyhow::Result<Vec<KeyRecord>> {
        let published: HashMap<String, KeyRecord> =
            published.into_iter().map(|k| (k.id.clone(), k)).collect();
        let revoked_there = |key: &KeyRecord| {
            key.revoked.is_none() && published.get(&key.id).is_some_and(|p| p.revoked.is_some())
        };
        if self.keys.read().iter().any(revoked_there) {
            self.change(|keys| {
                for key in keys.iter_mut() {
                    if let Some(when) = published.get(&key.id).and_then(|p| p.revoked.clone()) {
                        key.revoked.get_or_insert(when);
                    }
                }
                Ok(())
            })?;
        }
        let ours = Arc::clone(&self.keys.read());
        let theirs: HashMap<String, KeyRecord> = published
            .iter()
            .filter(|(id, _)| !ours.iter().any(|k| k.id == **id))
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect();
        self.shared.write().read = Some((read_at, Arc::new(theirs)));
        Ok(ours
            .iter()
            .filter(|k| match published.get(&k.id) {
                None => true,
                Some(p) if p.revoked.is_some() && k.revoked.is_some() => false,
                Some(p) => p != *k,
            })
            .cloned()
            .collect())
    }

    /// Key `id`: this node's, or another node's of its cluster.
    pub(super) fn find(&self, id: &str) -> Found {
        let ours = Arc::clone(&self.keys.read());
        if let Some(key) = ours.iter().find(|k| k.id == id) {
            return Found::Key(Box::new(key.clone()));
        }
        let shared = self.shared.read();
        match (shared.clustered, shared.fresh()) {
            (false, _) => Found::None,
            (true, None) => Found::Unread,
            (true, Some(keys)) => keys
                .get(id)
                .map_or(Found::None, |k| Found::Key(Box::new(k.clone()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AuthError, KeyLimits, Scope};
    use super::*;

    #[test]
    fn a_clusters_keys_work_on_every_node_and_a_revocation_wins() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, _) = KeyStore::open(a_dir.path()).unwrap();
        let (b, _) = KeyStore::open(b_dir.path()).unwrap();
        let (made, token) = a
            .create("app", Scope::default(), KeyLimits::default())
            .unwrap();
        // Outside a cluster, another node's key is unknown; in one, before the map is
        // read, it is not known either way: try again.
        assert_eq!(b.authenticate(&token), Err(AuthError::Unknown));
        a.join_cluster();
        b.join_cluster();
        assert_eq!(b.authenticate(&token), Err(AuthError::KeysUnread));
        // The map, as each node publishes what the map lacks.
        let mut map: Vec<KeyRecord> = Vec::new();
        let share = |store: &KeyStore, map: &mut Vec<KeyRecord>| {
            for key in store.take_in(map.clone(), Instant::now()).unwrap() {
                map.retain(|k| k.id != key.id);
                map.push(key);
            }
        };
        share(&a, &mut map);
        assert_eq!(map.len(), 2, "a's bootstrap key and the app's");
        share(&b, &mut map);
        assert_eq!(b.authenticate(&token).unwrap().id, made.id);
        assert!(b.active(&made.id).is_ok());
        // Revoked on b, which did not make it: published revoked, and kept so by a.
        assert!(b.revoke(&made.id).unwrap().unwrap().revoked.is_some());
        assert_eq!(b.authenticate(&token), Err(AuthError::Revoked));
        share(&b, &mut map);
        share(&a, &mut map);
        assert_eq!(a.authenticate(&token), Err(AuthError::Revoked));
        // Revoked on both (at other times): nobody publishes again, and a keeps it across
        // a restart.
        a.revoke(&made.id).unwrap();
        assert!(a.take_in(map.clone(), Instant::now()).unwrap().is_empty());
        assert!(b.take_in(map.clone(), Instant::now()).unwrap().is_empty());
        // A map read too long ago is not trusted for other nodes' keys.
        b.shared.write().read = Some((
            Instant::now() - SHARED_KEYS_AGE,
            Arc::new([(made.id.clone(), made.clone())].into()),
        ));
        let (_, fresh) = a
            .create("new", Scope::default(), KeyLimits::default())
            .unwrap();
        assert_eq!(b.authenticate(&fresh), Err(AuthError::KeysUnread));
        drop(a);
        let (a, _) = KeyStore::open(a_dir.path()).unwrap();
        assert_eq!(a.authenticate(&token), Err(AuthError::Revoked));
    }
}
