//! Tenant shards (docs/SCALING.md): several `auditlogd` nodes, each with its own log,
//! checkpoints and key, share one shard map kept in etcd, under `/auditlog/<cluster>/`:
//!
//! - `nodes/<node>`: what a node publishes of itself ([`NodeRecord`]), attached to the
//!   node's lease, and created only where absent: while one process holds a name, a
//!   second one of that name is refused.
//! - `tenants/<tenant>`: the node that writes the tenant ([`Assignment`]), not leased: a
//!   tenant stays with its node through the node's restarts and failures. A node claims
//!   an unassigned tenant at its first write, in one transaction that also requires the
//!   node's own key to be attached to its live lease.
//!
//! A node writes a tenant only while the map names it and its lease lives: it counts its
//! lease alive until the TTL etcd granted at the last renewal, measured from before the
//! renewal was sent, less a margin, so it stops writing before etcd could let the lease
//! expire. Nobody else writes a tenant without a hand-over from its node (`moves`).

pub(crate) mod etcd;
mod keys;
mod moves;
mod writes;

pub(crate) use keys::share_keys;
pub(crate) use writes::unreachable;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use auditlog_engine::handover::TakenOver;
use etcd::{Etcd, EtcdError, Guard};

/// How long before the lease's end a node stops counting it alive.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// How long another node's record (or its absence) read from etcd is used before it is
/// read again: a node that stopped is refused as down, and one restarted elsewhere is
/// found, within this.
const NODE_RECORD_AGE: Duration = Duration::from_secs(2);

/// What a node publishes of itself in the shard map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    /// Its name, unique in the cluster.
    pub(crate) node: String,
    /// Where clients reach its gRPC API.
    pub(crate) grpc: String,
    /// Where clients reach its HTTP API.
    pub(crate) http: String,
    /// Its log's checkpoint origin.
    pub(crate) origin: String,
    /// Its log's checkpoint verifier key.
    pub(crate) verifier_key: Option<String>,
}

/// The log a node's name stands for, for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    origin: String,
    verifier_key: Option<String>,
}

/// Which node writes a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Assignment {
    pub(crate) node: String,
    /// A hand-over to `node` it has not taken over yet: its first event of the tenant
    /// is to be the `taken_over` record of this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) handover: Option<TakenOver>,
}

/// Why the cluster could not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// Another live process holds this node's name.
    #[error(
        "node {node} is a member of cluster {cluster} already (its lease {lease:x} lives): \
         another auditlogd runs with this name, or one just died (its lease ends within \
         {ttl} s)"
    )]
    NameTaken {
        node: String,
        cluster: String,
        lease: i64,
        ttl: i64,
    },
    /// The name belongs to another log (another origin or key) in this cluster.
    #[error(
        "node {node} of cluster {cluster} keeps the log {theirs}, not this one ({ours}): a \
         node's tenants stay with the log that holds their history; give this log its own \
         name"
    )]
    AnotherLog {
        node: String,
        cluster: String,
        theirs: String,
        ours: String,
    },
    /// A value in the map that is not what this build writes.
    #[error("{key} in etcd is not what auditlogd writes: {why}")]
    Garbled { key: String, why: String },
}

/// Who writes a tenant, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Writer {
    /// This node: it may append the tenant's events.
    Here,
    /// Another node, named in the map.
    Elsewhere(String),
    /// This node, or a tenant it would claim, but its lease is not alive: no writes.
    NoLease,
    /// This node, handed the tenant by another: it writes the tenant once it has
    /// recorded the hand-over (the map's value is at `revision`).
    TakeOver { revision: i64, from: TakenOver },
}

/// A tenant this node is handing over: its events are refused meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// The hand-over is under way.
    Moving,
    /// etcd did not say whether the map took the hand-over: the map is read again before
    /// the tenant is written here.
    Unsure,
}

/// `auditlogd`'s cluster flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Be one node of a cluster of tenant shards whose shard map is in the etcd at this
    /// URL (its v3 JSON gateway, e.g. `http://127.0.0.1:2379`): write only the tenants
    /// the map gives this node (docs/SCALING.md).
    #[arg(long = "cluster-etcd", value_name = "URL", requires_all = ["node", "advertise_grpc", "advertise_http"])]
    pub(crate) etcd: Option<String>,
    /// The cluster's name: its keys are under `/auditlog/<NAME>/` in etcd.
    #[arg(long = "cluster", value_name = "NAME", default_value = "default")]
    pub(crate) cluster: String,
    /// This node's name, unique in the cluster (letters, digits, `-`, `_`, `.`).
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// The URL clients reach this node's gRPC API at, given to them by other nodes.
    #[arg(long, value_name = "URL")]
    pub(crate) advertise_grpc: Option<String>,
    /// The URL clients reach this node's HTTP API at.
    #[arg(long, value_name = "URL")]
    pub(crate) advertise_http: Option<String>,
    /// The node's lease in etcd, in seconds: a node out of touch with etcd for this long
    /// stops writing (it stops 1 s before).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub(crate) lease_seconds: i64,
}

impl ClusterArgs {
    /// Joins the cluster if one is given, publishing the log's origin and key. A name
    /// still held by a lease (a node killed a moment ago) is tried again until that
    /// lease has had time to end.
    pub(crate) fn join(
        &self,
        log: &auditlog_engine::Log,
        verifier: &auditlog_engine::checkpoint::NoteVerifier,
    ) -> anyhow::Result<Option<Membership>> {
        let Some(url) = &self.etcd else {
            return Ok(None);
        };
        let name = self.node.clone().unwrap_or_default();
        for (what, value) in [("--node", &name), ("--cluster", &self.cluster)] {
            let fine = !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            anyhow::ensure!(
                fine,
                "{what} `{value}`: 1 to 64 letters, digits, `-`, `_` or `.`"
            );
        }
        for (what, url) in [
            ("--advertise-grpc", &self.advertise_grpc),
            ("--advertise-http", &self.advertise_http),
        ] {
            let url = url.as_deref().unwrap_or_default();
            let fine = (url.starts_with("http://") || url.starts_with("https://"))
                && url.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
            anyhow::ensure!(
                fine,
                "{what} `{url}`: an http:// or https:// URL with a host, where clients reach \
                 this node"
            );
        }
        anyhow::ensure!(
            (3..=3600).contains(&self.lease_seconds),
            "--lease-seconds {}: between 3 and 3600 (renewed every third of it, counted \
             alive until 1 s before its end)",
            self.lease_seconds
        );
        let me = NodeRecord {
            node: name,
            grpc: self.advertise_grpc.clone().unwrap_or_default(),
            http: self.advertise_http.clone().unwrap_or_default(),
            origin: log.config().origin.clone(),
            verifier_key: Some(verifier.to_text()),
        };
        let etcd = Etcd::new(url, Duration::from_secs(5))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(self.lease_seconds as u64 + 2);
        loop {
            let joined = runtime.block_on(Membership::join(
                etcd.clone(),
                &self.cluster,
                me.clone(),
                self.lease_seconds,
            ));
            match joined {
                // A name leased by a process that died, or etcd not answering yet.
                Err(ClusterError::NameTaken { .. } | ClusterError::Etcd(_))
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(500));
                }
                joined => {
                    let joined = joined?;
                    eprintln!(
                        "auditlogd: node {} of cluster {} (etcd {url})",
                        joined.name(),
                        self.cluster
                    );
                    return Ok(Some(joined));
                }
            }
        }
    }
}

/// Refuses a read selecting `filter` on this node when it selects one tenant whose events
/// are all on another node (see [`Membership::require_reader`]); always passes outside a
/// cluster, and for reads of every tenant.
pub(crate) async fn reads_here(
    state: &crate::State,
    filter: &auditlog_engine::query::Filter,
) -> Result<(), tonic::Status> {
    match (&state.cluster, &filter.tenant) {
        (Some(cluster), Some(tenant)) => cluster.require_reader(tenant, &state.log).await,
        _ => Ok(()),
    }
}

/// Renews `membership`'s lease at once, then every third of its TTL counted from each
/// renewal's start, for as long as the server runs; a failure is said on stderr when it
/// starts and when it ends.
pub(crate) async fn renew(membership: std::sync::Arc<Membership>) {
    let every = Duration::from_millis(u64::try_from(membership.ttl()).unwrap_or(3) * 1000 / 3);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        match membership.renew().await {
            Ok(_) if failing => {
                eprintln!("auditlogd: the cluster lease is renewed again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) if !failing => {
                eprintln!("auditlogd: renewing the cluster lease: {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Gives up `membership`'s lease once the server has stopped writing (from outside any
/// runtime); a failure is said on stderr (the lease then ends by itself).
pub(crate) fn leave(membership: &Membership) {
    let Some(runtime) = crate::worker::own_runtime("leaving the cluster") else {
        return;
    };
    if let Err(e) = runtime.block_on(membership.leave()) {
        eprintln!("auditlogd: leaving the cluster (the lease ends by itself): {e}");
    }
}

/// The lease this node holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: i64,
    /// Until when it counts as alive.
    alive_until: Instant,
}

/// This node's membership of a cluster: its lease, and the shard map as far as it has
/// read it.
#[derive(Debug)]
pub(crate) struct Membership {
    etcd: Etcd,
    cluster: String,
    me: NodeRecord,
    ttl: i64,
    held: Mutex<Option<Held>>,
    /// Tenants whose writer this node has read or claimed, and when: its own are
    /// authoritative (only it hands them over); another node's are read again after
    /// [`NODE_RECORD_AGE`] (a tenant moved here must be found).
    writers: RwLock<HashMap<String, (Instant, String)>>,
    /// Other nodes' records (none: not a live member), and when each was read.
    nodes: RwLock<HashMap<String, (Instant, Option<NodeRecord>)>>,
    /// Tenants being handed over by this node.
    leaving: Mutex<HashMap<String, Leaving>>,
    /// Held (shared) from a batch's last check until it is with the writer, and
    /// (exclusive) while a tenant starts leaving: every batch of the tenant checked
    /// before is queued ahead of its `handed_over` record, none after it.
    gate: RwLock<()>,
    /// One take-over at a time.
    taking: Mutex<()>,
}

impl Membership {
    /// Joins `cluster` through `etcd` as `me`, with a lease of `ttl` seconds; refused
    /// while another live process holds the name.
    pub(crate) async fn join(
        etcd: Etcd,
        cluster: &str,
        me: NodeRecord,
        ttl: i64,
    ) -> Result<Membership, ClusterError> {
        let membership = Membership {
            etcd,
            cluster: cluster.to_owned(),
            me,
            ttl,
            held: Mutex::new(None),
            writers: RwLock::new(HashMap::new()),
            nodes: RwLock::new(HashMap::new()),
            leaving: Mutex::new(HashMap::new()),
            gate: RwLock::new(()),
            taking: Mutex::new(()),
        };
        membership.check_identity().await?;
        membership.register().await?;
        Ok(membership)
    }

    /// Binds the node's name to its log (origin and key) for good, at its first join:
    /// `identities/<node>`, not leased. A later join of the name with another log (a new
    /// data directory, another key) is refused: the tenants the name writes have their
    /// history in the first log.
    async fn check_identity(&self) -> Result<(), ClusterError> {
        let key = format!("/auditlog/{}/identities/{}", self.cluster, self.me.node);
        let ours = Identity {
            origin: self.me.origin.clone(),
            verifier_key: self.me.verifier_key.clone(),
        };
        let value = serde_json::to_vec(&ours).expect("an identity serializes");
        let theirs = match self
            .etcd
            .put_if(&[Guard::Absent(key.clone())], &key, &value, 0)
            .await?
        {
            Ok(()) | Err(None) => return Ok(()),
            Err(Some(kv)) => parse::<Identity>(&kv.key, &kv.value)?,
        };
        if theirs == ours {
            return Ok(());
        }
        let text = |i: &Identity| {
            format!(
                "{} ({})",
                i.origin,
                i.verifier_key.as_deref().unwrap_or("no key")
            )
        };
        Err(ClusterError::AnotherLog {
            node: self.me.node.clone(),
            cluster: self.cluster.clone(),
            theirs: text(&theirs),
            ours: text(&ours),
        })
    }

    fn node_key(&self, node: &str) -> String {
        format!("/auditlog/{}/nodes/{node}", self.cluster)
    }

    fn tenant_key(&self, tenant: &str) -> String {
        format!("/auditlog/{}/tenants/{tenant}", self.cluster)
    }

    /// This node's name.
    pub(crate) fn name(&self) -> &str {
        &self.me.node
    }

    /// Takes a new lease and puts this node's record under it, if its name is free.
    async fn register(&self) -> Result<(), ClusterError> {
        let sent = Instant::now();
        let lease = self.etcd.grant(self.ttl).await?;
        let key = self.node_key(&self.me.node);
        let record = serde_json::to_vec(&self.me).expect("a node record serializes");
        match self
            .etcd
            .put_if(&[Guard::Absent(key.clone())], &key, &record, lease.id)
            .await?
        {
            Ok(()) => {
                *self.held.lock() = Some(Held {
                    id: lease.id,
                    alive_until: alive_until(sent, lease.ttl),
                });
                Ok(())
            }
            Err(holder) => {
                let _ = self.etcd.revoke(lease.id).await;
                Err(ClusterError::NameTaken {
                    node: self.me.node.clone(),
                    cluster: self.cluster.clone(),
                    lease: holder.map_or(0, |kv| kv.lease),
                    ttl: self.ttl,
                })
            }
        }
    }

    /// Renews the lease, or takes a new one (registering again) if it is gone: whether
    /// the node may write now.
    pub(crate) async fn renew(&self) -> Result<bool, ClusterError> {
        let held = *self.held.lock();
        if let Some(held) = held {
            let sent = Instant::now();
            let ttl = self.etcd.keep_alive(held.id).await?;
            if ttl > 0 {
                if let Some(h) = self.held.lock().as_mut().filter(|h| h.id == held.id) {
                    h.alive_until = alive_until(sent, ttl);
                }
                return Ok(self.writable());
            }
            // Expired while etcd was out of reach, or revoked: writes stopped already.
            *self.held.lock() = None;
        }
        self.register().await?;
        Ok(self.writable())
    }

    /// Whether the lease counts as alive: the node may write its tenants.
    pub(crate) fn writable(&self) -> bool {
        self.live_lease().is_some()
    }

    /// The lease, if it counts as alive.
    fn live_lease(&self) -> Option<Held> {
        (*self.held.lock()).filter(|h| Instant::now() < h.alive_until)
    }

    /// Who writes `tenant`; claims it for this node if nobody does (and the lease lives).
    pub(crate) async fn writer_of(&self, tenant: &str) -> Result<Writer, ClusterError> {
        if let Some(writer) = self.known_writer(tenant) {
            return Ok(writer);
        }
        // No claim, and no call to etcd, without a live lease: an outage costs a request
        // nothing but its refusal.
        let Some(held) = self.live_lease() else {
            return Ok(Writer::NoLease);
        };
        let key = self.tenant_key(tenant);
        let guards = [
            Guard::Absent(key.clone()),
            Guard::HeldBy(self.node_key(&self.me.node), held.id),
        ];
        let node = match self
            .etcd
            .put_if(&guards, &key, &self.own_entry(), 0)
            .await?
        {
            Ok(()) => self.me.node.clone(),
            Err(Some(kv)) => match parse::<Assignment>(&kv.key, &kv.value)? {
                Assignment {
                    node,
                    handover: Some(from),
                } if node == self.me.node => {
                    return Ok(Writer::TakeOver {
                        revision: kv.mod_revision,
                        from,
                    });
                }
                assignment => assignment.node,
            },
            // Unassigned, and this node's key is not under its lease: the lease is gone
            // (unless a renewal registered again meanwhile: that lease stays).
            Err(None) => {
                let mut now = self.held.lock();
                if now.is_some_and(|h| h.id == held.id) {
                    *now = None;
                }
                return Ok(Writer::NoLease);
            }
        };
        self.learn_writer(tenant, node);
        Ok(self.known_writer(tenant).expect("just recorded"))
    }

    /// A tenant's entry in the map giving it to this node, with no hand-over pending.
    fn own_entry(&self) -> Vec<u8> {
        let mine = Assignment {
            node: self.me.node.clone(),
            handover: None,
        };
        serde_json::to_vec(&mine).expect("an assignment serializes")
    }

    /// Records that `node` writes `tenant`, as read now.
    fn learn_writer(&self, tenant: &str, node: String) {
        self.writers
            .write()
            .insert(tenant.to_owned(), (Instant::now(), node));
    }

    /// Who writes `tenant`, from what this node has read (another node's tenant, lately).
    fn known_writer(&self, tenant: &str) -> Option<Writer> {
        let writers = self.writers.read();
        let (read, node) = writers.get(tenant)?;
        if *node != self.me.node && read.elapsed() >= NODE_RECORD_AGE {
            return None;
        }
        Some(match (*node == self.me.node, self.writable()) {
            (true, true) => Writer::Here,
            (true, false) => Writer::NoLease,
            (false, _) => Writer::Elsewhere(node.clone()),
        })
    }

    /// The record of `node`, if it is a live member.
    pub(crate) async fn node(&self, node: &str) -> Result<Option<NodeRecord>, ClusterError> {
        let record: Option<NodeRecord> = match self.etcd.get(&self.node_key(node)).await? {
            Some(kv) => Some(parse(&kv.key, &kv.value)?),
            None => None,
        };
        self.nodes
            .write()
            .insert(node.to_owned(), (Instant::now(), record.clone()));
        Ok(record)
    }

    /// What was read of `node` within [`NODE_RECORD_AGE`]: its record, or `Some(None)`
    /// for a node found down; `None` if it is to be read.
    fn known_node(&self, node: &str) -> Option<Option<NodeRecord>> {
        let nodes = self.nodes.read();
        let (read, record) = nodes.get(node)?;
        (read.elapsed() < NODE_RECORD_AGE).then(|| record.clone())
    }

    /// The lease's TTL in seconds: renew well within it.
    pub(crate) fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The node the map gives `tenant`, if any: read, never claimed.
    pub(crate) async fn assigned(&self, tenant: &str) -> Result<Option<String>, ClusterError> {
        match self.etcd.get(&self.tenant_key(tenant)).await? {
            Some(kv) => Ok(Some(parse::<Assignment>(&kv.key, &kv.value)?.node)),
            None => Ok(None),
        }
    }

    /// Every live member's record.
    pub(crate) async fn members(&self) -> Result<Vec<NodeRecord>, ClusterError> {
        let prefix = self.node_key("");
        let mut all = Vec::new();
        for kv in self.etcd.under(&prefix).await? {
            all.push(parse(&kv.key, &kv.value)?);
        }
        Ok(all)
    }

    /// Every tenant in the map and its node.
    pub(crate) async fn assignments(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let prefix = self.tenant_key("");
        let mut all = Vec::new();
        for kv in self.etcd.under(&prefix).await? {
            let tenant = kv.key.strip_prefix(&prefix).unwrap_or(&kv.key).to_owned();
            all.push((tenant, parse::<Assignment>(&kv.key, &kv.value)?.node));
        }
        Ok(all)
    }

    /// Leaves the cluster: the lease ends now, and the name is free.
    pub(crate) async fn leave(&self) -> Result<(), ClusterError> {
        let held = self.held.lock().take();
        if let Some(held) = held {
            self.etcd.revoke(held.id).await?;
        }
        Ok(())
    }
}

/// The instant a lease renewed with `ttl` seconds, the renewal sent at `sent`, stops
/// counting as alive.
fn alive_until(sent: Instant, ttl: i64) -> Instant {
    let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
    sent + ttl.saturating_sub(LEASE_MARGIN)
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, ClusterError> {
    serde_json::from_slice(value).map_err(|e| ClusterError::Garbled {
        key: key.to_owned(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
