//! API keys: random bearer secrets, kept only as BLAKE3 hashes in
//! `DIR/server/api-keys.json` (replaced atomically on every change), each with a scope.
//!
//! A secret reads `alk_<id>_<secret>`: 8 random bytes of public id, by which the key is
//! found, and 32 random bytes of secret, in hex. The hash covers the whole token and is
//! compared in constant time; a 256-bit random secret needs no slow password hash.
//!
//! In a cluster of tenant shards the keys are the cluster's: each node publishes its own
//! in the shard map and takes in the others' (`cluster::keys`), so one key works on every
//! node; a revocation, on any node, wins everywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlog_engine::Timestamp;
use auditlog_engine::hex;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::json_file;

mod shared;

use shared::{Found, SharedKeys};

/// Tenants a key may act on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Tenants {
    /// None at all.
    #[default]
    None,
    /// These.
    Only(BTreeSet<String>),
    /// Every tenant.
    All,
}

impl Tenants {
    fn is_none(&self) -> bool {
        *self == Tenants::None
    }

    /// Whether every one of `tenants` is among them (`All` only in `All`; no tenant at
    /// all, a scope no sink is made with, only in `All` too).
    pub(crate) fn covers(&self, tenants: &Tenants) -> bool {
        match (self, tenants) {
            (Tenants::All, _) => true,
            (Tenants::Only(mine), Tenants::Only(theirs)) => theirs.is_subset(mine),
            _ => false,
        }
    }

    /// Whether `tenant` is among them.
    pub(crate) fn allows(&self, tenant: &str) -> bool {
        match self {
            Tenants::None => false,
            Tenants::Only(set) => set.contains(tenant),
            Tenants::All => true,
        }
    }
}

/// What a key may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Scope {
    /// Append events of these tenants.
    pub(crate) ingest: Tenants,
    /// Read (query, count, export, prove) events of these tenants.
    pub(crate) read: Tenants,
    /// Manage keys; implies every other right.
    pub(crate) admin: bool,
    /// Administer these tenants: their sinks. A key made with it reads them too.
    #[serde(default, skip_serializing_if = "Tenants::is_none")]
    pub(crate) admin_tenants: Tenants,
}

/// Rates a key may not exceed (none by default). Over them a request is answered
/// RESOURCE_EXHAUSTED (HTTP 429) with the time to wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyLimits {
    /// Requests per second, of any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) requests_per_second: Option<u32>,
    /// Events ingested per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events_per_second: Option<u32>,
}

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// The public id.
    pub(crate) id: String,
    /// A label for people.
    pub(crate) name: String,
    pub(crate) scope: Scope,
    /// Absent in files written before limits existed: none.
    #[serde(default)]
    pub(crate) limits: KeyLimits,
    /// RFC 3339.
    pub(crate) created: String,
    /// RFC 3339, once revoked.
    pub(crate) revoked: Option<String>,
    /// BLAKE3 of the whole token, hex.
    pub(crate) secret_hash: String,
}

/// The key file's members (`json_file` adds its version).
#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<KeyRecord>,
}

const KEY_FILE_VERSION: u32 = 1;
const PREFIX: &str = "alk_";

/// Why a bearer token was refused. The messages say no more than a client may know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("missing `authorization: Bearer <key>`")]
    Missing,
    #[error("unknown or malformed API key")]
    Unknown,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the viewer token expired")]
    Expired,
    #[error("the viewer token was revoked")]
    TokenRevoked,
    /// A cluster's node that has not read the cluster's keys lately (etcd out of reach).
    #[error(
        "this node of the cluster has not read the cluster's API keys lately (its shard \
         map is out of reach): try again"
    )]
    KeysUnread,
}

/// The keys of one server, loaded once and written through on each change.
#[derive(Debug)]
pub(crate) struct KeyStore {
    path: PathBuf,
    /// What requests authenticate against; swapped whole after each durable change, so
    /// a request never waits for a change's fsync.
    keys: RwLock<Arc<Vec<KeyRecord>>>,
    /// Held through a change, one at a time.
    changing: Mutex<()>,
    /// The other nodes' keys, as last read from the cluster's shard map.
    shared: RwLock<SharedKeys>,
}

impl KeyStore {
    /// Opens the key file under `data` (creating it when missing). When the store holds
    /// no key at all it creates an admin key and returns its token: the bootstrap key,
    /// shown once.
    pub(crate) fn open(data: &Path) -> anyhow::Result<(KeyStore, Option<String>)> {
        let store = KeyStore::with_keys(data, Vec::new());
        let keys = json_file::read::<KeyFile>(&store.path, "key", KEY_FILE_VERSION)?
            .map_or_else(Vec::new, |file| file.keys);
        *store.keys.write() = Arc::new(keys);
        let bootstrap = if store.keys.read().is_empty() {
            let admin = Scope {
                admin: true,
                ..Scope::default()
            };
            Some(
                store
                    .create("bootstrap admin", admin, KeyLimits::default())?
                    .1,
            )
        } else {
            None
        };
        Ok((store, bootstrap))
    }

    /// The key store of a read replica: no key of its own (it makes none, and has no
    /// bootstrap key); its primary's keys are taken in ([`KeyStore::take_in`]) and, as a
    /// cluster node's peers' keys, trusted only while fresh.
    pub(crate) fn for_replica(data: &Path) -> KeyStore {
        let store = KeyStore::with_keys(data, Vec::new());
        store.join_cluster();
        store
    }

    /// A store of `keys`, kept in its file under `data`.
    fn with_keys(data: &Path, keys: Vec<KeyRecord>) -> KeyStore {
        KeyStore {
            path: data.join("server").join("api-keys.json"),
            keys: RwLock::new(Arc::new(keys)),
            changing: Mutex::new(()),
            shared: RwLock::new(SharedKeys::default()),
        }
    }

    /// Creates a key and returns it with its token (which is kept nowhere). Blocks on an
    /// fsync: call it off the async runtime.
    pub(crate) fn create(
        &self,
        name: &str,
        scope: Scope,
        limits: KeyLimits,
    ) -> anyhow::Result<(KeyRecord, String)> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id)
            .and_then(|()| getrandom::fill(&mut secret))
            .map_err(|e| anyhow::anyhow!("drawing a random key: {e}"))?;
        let id = hex::encode(&id);
        let token = format!("{PREFIX}{id}_{}", hex::encode(&secret));
        let record = KeyRecord {
            id,
            name: name.to_owned(),
            scope,
            limits,
            created: Timestamp::now().to_rfc3339(),
            revoked: None,
            secret_hash: hex::encode(blake3::hash(token.as_bytes()).as_bytes()),
        };
        self.change(|keys| {
            keys.push(record.clone());
            Ok(())
        })?;
        Ok((record, token))
    }

    /// Revokes key `id`; `None` when there is no such key. Blocks on an fsync. Another
    /// node's key is kept here, revoked, and so published: the revocation wins.
    pub(crate) fn revoke(&self, id: &str) -> anyhow::Result<Option<KeyRecord>> {
        let mut revoked = None;
        let theirs = match self.find(id) {
            Found::Unread => anyhow::bail!(
                "this node has not read the cluster's API keys lately (its shard map is out \
                 of reach): it cannot tell whether key `{id}` is another node's; try again"
            ),
            Found::Key(key) => Some(*key),
            Found::None => None,
        };
        self.change(|keys| {
            if !keys.iter().any(|k| k.id == id) {
                keys.extend(theirs);
            }
            if let Some(key) = keys.iter_mut().find(|k| k.id == id) {
                key.revoked
                    .get_or_insert_with(|| Timestamp::now().to_rfc3339());
                revoked = Some(key.clone());
            }
            Ok(())
        })?;
        Ok(revoked)
    }

    /// Applies `edit` to a copy of the keys, writes the copy durably, then lets requests
    /// see it: a key is never handed out, nor a revocation acknowledged, unless the file
    /// says so.
    fn change(
        &self,
        edit: impl FnOnce(&mut Vec<KeyRecord>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.changing.lock();
        let mut next = Vec::clone(&self.keys.read());
        edit(&mut next)?;
        self.persist(&next)?;
        *self.keys.write() = Arc::new(next);
        Ok(())
    }

    /// Key `id`, unless it is revoked, unknown, or another node's while the cluster's
    /// keys are not known now ([`AuthError::KeysUnread`]): one lookup.
    pub(crate) fn active(&self, id: &str) -> Result<KeyRecord, AuthError> {
        match self.find(id) {
            Found::Key(key) if key.revoked.is_some() => Err(AuthError::Revoked),
            Found::Key(key) => Ok(*key),
            Found::Unread => Err(AuthError::KeysUnread),
            Found::None => Err(AuthError::Unknown),
        }
    }

    /// Every key, this node's oldest first, then the other nodes' (as read lately).
    pub(crate) fn list(&self) -> Vec<KeyRecord> {
        let mut all = Vec::clone(&self.keys.read());
        if let Some(theirs) = self.shared.read().fresh() {
            let mut theirs: Vec<KeyRecord> = theirs
                .values()
                .filter(|k| !all.iter().any(|o| o.id == k.id))
                .cloned()
                .collect();
            theirs.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            all.extend(theirs);
        }
        all
    }

    /// The scope of the key whose token this is.
    pub(crate) fn authenticate(&self, token: &str) -> Result<KeyRecord, AuthError> {
        let id = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .ok_or(AuthError::Unknown)?;
        let hash = blake3::hash(token.as_bytes());
        let key = match self.find(id) {
            Found::Key(key) => *key,
            Found::Unread => return Err(AuthError::KeysUnread),
            Found::None => return Err(AuthError::Unknown),
        };
        let stored = hex::decode(&key.secret_hash).unwrap_or_default();
        if !constant_time_eq(&stored, hash.as_bytes()) {
            return Err(AuthError::Unknown);
        }
        if key.revoked.is_some() {
            return Err(AuthError::Revoked);
        }
        Ok(key)
    }

    /// Replaces the key file (`json_file`: atomically, readable by the owner only, its
    /// directory made durable first, else a crash could lose the file of a bootstrap
    /// key already printed).
    fn persist(&self, keys: &[KeyRecord]) -> anyhow::Result<()> {
        let file = KeyFile {
            keys: keys.to_vec(),
        };
        json_file::write(&self.path, KEY_FILE_VERSION, file)
    }
}

/// Whether `a == b`, in a time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_authenticates_until_revoked_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, bootstrap) = KeyStore::open(dir.path()).unwrap();
        let admin = bootstrap.expect("an empty store makes a bootstrap key");
        assert!(store.authenticate(&admin).unwrap().scope.admin);
        let scope = Scope {
            read: Tenants::Only(["org_a".to_owned()].into()),
            ..Scope::default()
        };
        let (record, token) = store
            .create("reader", scope.clone(), KeyLimits::default())
            .unwrap();
        assert_eq!(store.authenticate(&token).unwrap().scope, scope);
        let file = dir.path().join("server/api-keys.json");
        let on_disk = std::fs::read_to_string(&file).unwrap();
        assert!(
            !on_disk.contains(&token[token.len() - 64..]),
            "no secret on disk"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(&file.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "readable by the owner only");

        // A changed secret, another prefix or garbage: all unknown.
        let mut wrong = token.clone();
        wrong.pop();
        wrong.push(if token.ends_with('0') { '1' } else { '0' });
        for bad in [wrong.as_str(), "alk_", "", "Bearer x", &token[1..]] {
            assert_eq!(store.authenticate(bad), Err(AuthError::Unknown), "{bad}");
        }

        // Reopened: the same keys, no second bootstrap key.
        drop(store);
        let (store, bootstrap) = KeyStore::open(dir.path()).unwrap();
        assert_eq!(bootstrap, None);
        assert_eq!(store.list().len(), 2);
        assert!(store.active(&record.id).is_ok());
        store.revoke(&record.id).unwrap().unwrap();
        assert_eq!(store.authenticate(&token), Err(AuthError::Revoked));
        assert_eq!(store.active(&record.id).err(), Some(AuthError::Revoked));
        assert!(store.authenticate(&admin).is_ok());
        assert_eq!(store.revoke("nope").unwrap(), None);
    }
}
