//! Sinks (docs/SINKS.md): the log streamed to receivers. Each sink reads the log, not
//! ingest's memory, from a durable cursor of its own (`store`), in batches of its
//! tenants' events that match its filter (`spec`), written as its destination takes them
//! (`encode`; `proofs` for webhook batches with proofs) and delivered at least once
//! (`send`; `webhook` signs) by a task of its own on the sinks' thread (`run`), retried
//! with backoff; a sink that fails on is marked failing and keeps its place.

pub(crate) mod admin;
mod encode;
mod proofs;
mod run;
mod send;
pub(crate) mod spec;
mod store;
mod webhook;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

pub(crate) use run::start;
pub(crate) use spec::SinkSpec;
use spec::{Destination, NewSecret};
pub(crate) use store::SinkRecord;
use store::{Place, SinkStore};

use crate::auth::Caller;
use tonic::Status;

/// Failed attempts in a row after which a sink is failing (a `_system` event, the
/// metric); it keeps retrying at the longest backoff.
pub(crate) const FAILING_AFTER: u32 = 5;

/// Every sink of the server: their definitions and where each stands.
#[derive(Debug)]
pub(crate) struct Sinks {
    store: SinkStore,
    status: Mutex<HashMap<String, Arc<SinkStatus>>>,
    /// The hosts destinations may name (`host` or `host:port`); any when None.
    hosts: Option<Vec<String>>,
}

/// What a sink is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    Delivering = 0,
    CaughtUp = 1,
    Retrying = 2,
    Failing = 3,
    Paused = 4,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Delivering => "delivering",
            State::CaughtUp => "caught_up",
            State::Retrying => "retrying",
            State::Failing => "failing",
            State::Paused => "paused",
        }
    }
}

/// Where one sink stands, shared by its task, the admin API and `/metrics`.
#[derive(Debug)]
pub(crate) struct SinkStatus {
    /// The cursor and the replays, changed together (and the cursor file with them)
    /// under the lock: a batch acknowledged after a replay moves nothing.
    position: Mutex<Position>,
    /// The place last written, for readers: they never wait on the lock's fsyncs.
    published: parking_lot::RwLock<Place>,
    state: AtomicU8,
    failures: AtomicU32,
    delivered: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Wakes the task: paused, resumed, replayed or deleted.
    wake: tokio::sync::Notify,
}

#[derive(Debug, Clone, Copy)]
struct Position {
    place: Place,
    deleted: bool,
}

impl SinkStatus {
    fn new(place: Place) -> SinkStatus {
        SinkStatus {
            position: Mutex::new(Position {
                place,
                deleted: false,
            }),
            published: parking_lot::RwLock::new(place),
            state: AtomicU8::new(State::Delivering as u8),
            failures: AtomicU32::new(0),
            delivered: AtomicU64::new(0),
            last_error: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.published.read().cursor
    }

    fn place(&self) -> Place {
        *self.published.read()
    }

    /// Writes `place` durably and publishes it; the caller holds `position`.
    fn move_to(
        &self,
        store: &SinkStore,
        id: &str,
        position: &mut Position,
        place: Place,
    ) -> anyhow::Result<()> {
        store.write_place(id, place)?;
        position.place = place;
        *self.published.write() = place;
        Ok(())
    }

    pub(crate) fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::Delivering,
            1 => State::CaughtUp,
            2 => State::Retrying,
            3 => State::Failing,
            _ => State::Paused,
        }
    }

    fn set_state(&self, state: State) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub(crate) fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

impl Sinks {
    /// The sinks under `data`, each at its stored cursor, delivering only to `hosts`
    /// (any host when empty).
    pub(crate) fn open(data: &Path, hosts: &[String]) -> anyhow::Result<Sinks> {
        let store = SinkStore::open(data)?;
        let mut status = HashMap::new();
        for sink in store.list().iter() {
            let place = store.place(&sink.id)?;
            status.insert(sink.id.clone(), Arc::new(SinkStatus::new(place)));
        }
        Ok(Sinks {
            store,
            status: Mutex::new(status),
            hosts: (!hosts.is_empty()).then(|| hosts.to_vec()),
        })
    }

    /// Refuses (INVALID_ARGUMENT) a destination on a host the server does not deliver
    /// to (`auditlogd --sink-hosts`).
    pub(crate) fn check_destination(&self, destination: &Destination) -> Result<(), Status> {
        let Some(hosts) = &self.hosts else {
            return Ok(());
        };
        let url = destination.url();
        let parsed = reqwest::Url::parse(url).ok();
        let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("");
        let port = parsed
            .as_ref()
            .and_then(reqwest::Url::port_or_known_default);
        let with_port = port.map(|p| format!("{host}:{p}"));
        if hosts
            .iter()
            .any(|h| h == host || Some(h) == with_port.as_ref())
        {
            return Ok(());
        }
        Err(crate::status::invalid_field(
            "spec.destination",
            &format!(
                "this server delivers only to {} (auditlogd --sink-hosts)",
                hosts.join(", ")
            ),
        ))
    }

    /// Every sink with where it stands, oldest first.
    pub(crate) fn list(&self) -> Vec<(SinkRecord, Arc<SinkStatus>)> {
        let status = self.status.lock();
        (self.store.list().iter())
            .filter_map(|s| Some((s.clone(), Arc::clone(status.get(&s.id)?))))
            .collect()
    }

    /// Sink `id` with where it stands.
    pub(crate) fn get(&self, id: &str) -> Option<(SinkRecord, Arc<SinkStatus>)> {
        let sink = self.store.get(id)?;
        let status = Arc::clone(self.status.lock().get(id)?);
        Some((sink, status))
    }

    /// Creates a sink delivering from `cursor`; returns it and its secret. Blocks on
    /// fsyncs.
    pub(crate) fn create(
        &self,
        spec: SinkSpec,
        secret: NewSecret,
        cursor: u64,
        created_by: &str,
    ) -> anyhow::Result<(SinkRecord, Arc<SinkStatus>, String)> {
        let (sink, secret) = self.store.create(spec, secret, cursor, created_by)?;
        let status = Arc::new(SinkStatus::new(Place::at(cursor, 0)));
        self.status
            .lock()
            .insert(sink.id.clone(), Arc::clone(&status));
        Ok((sink, status, secret))
    }

    /// Pauses or resumes sink `id`; None when there is none. Blocks on an fsync.
    pub(crate) fn set_paused(
        &self,
        id: &str,
        paused: bool,
    ) -> anyhow::Result<Option<(SinkRecord, Arc<SinkStatus>)>> {
        let Some(sink) = self.store.set_paused(id, paused)? else {
            return Ok(None);
        };
        let status = self.status.lock().get(id).map(Arc::clone);
        Ok(status.map(|status| {
            status.wake.notify_one();
            (sink, status)
        }))
    }

    /// Moves sink `id`'s cursor to `cursor`, a replay; None when there is none. Blocks
    /// on an fsync.
    pub(crate) fn replay(
        &self,
        id: &str,
        cursor: u64,
    ) -> anyhow::Result<Option<(SinkRecord, Arc<SinkStatus>)>> {
        let Some((sink, status)) = self.get(id) else {
            return Ok(None);
        };
        {
            let mut position = status.position.lock();
            if position.deleted {
                return Ok(None);
            }
            let place = Place::at(cursor, position.place.replays + 1);
            status.move_to(&self.store, id, &mut position, place)?;
        }
        status.wake.notify_one();
        Ok(Some((sink, status)))
    }

    /// Deletes sink `id`, its cursor and its secret; None when there is none. Blocks on
    /// an fsync.
    pub(crate) fn delete(&self, id: &str) -> anyhow::Result<Option<(SinkRecord, Arc<SinkStatus>)>> {
        let status = self.status.lock().get(id).map(Arc::clone);
        let Some(status) = status else {
            return Ok(None);
        };
        let deleted = {
            let mut position = status.position.lock();
            let deleted = self.store.delete(id)?;
            // Only ever set: a second delete, finding nothing, must not clear it.
            position.deleted |= deleted.is_some();
            deleted
        };
        self.status.lock().remove(id);
        status.wake.notify_one();
        Ok(deleted.map(|sink| (sink, status)))
    }

    /// Records that the sink examined the log through `to` from `from`, and, if `told`,
    /// that the receiver acknowledged the batch of it: false (nothing written) if the sink
    /// was replayed or deleted since.
    fn advance(
        &self,
        id: &str,
        status: &SinkStatus,
        from: Place,
        to: u64,
        told: bool,
    ) -> anyhow::Result<bool> {
        let mut position = status.position.lock();
        if position.deleted || position.place.replays != from.replays {
            return Ok(false);
        }
        if to > position.place.cursor || told {
            let since = if told { to } else { from.since };
            let place = Place {
                cursor: to,
                since,
                ..from
            };
            status.move_to(&self.store, id, &mut position, place)?;
        }
        Ok(true)
    }
}

/// The sinks' lines of `/metrics`, of the sinks `caller` manages (another tenant's sink
/// is not revealed): per sink, events delivered since the start, failed attempts in a
/// row, whether it is failing, and its lag (events of the log past its cursor, its own
/// or not).
pub(crate) fn render_metrics(sinks: &Sinks, caller: &Caller, tree_size: u64, text: &mut String) {
    use std::fmt::Write;
    let mut sinks = sinks.list();
    sinks.retain(|(sink, _)| caller.manages(&sink.spec.tenants));
    if sinks.is_empty() {
        return;
    }
    /// A metric's name, type, help, and value for a sink at a tree size.
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&SinkStatus, u64) -> u64,
    );
    let families: [Family; 4] = [
        (
            "auditlog_sink_delivered_events_total",
            "counter",
            "Events a sink delivered (acknowledged by its receiver) since the server started.",
            |s, _| s.delivered(),
        ),
        (
            "auditlog_sink_failures",
            "gauge",
            "A sink's failed delivery attempts in a row.",
            |s, _| u64::from(s.failures()),
        ),
        (
            "auditlog_sink_failing",
            "gauge",
            "1 when a sink has failed too often in a row (it keeps retrying).",
            |s, _| u64::from(s.failures() >= FAILING_AFTER),
        ),
        (
            "auditlog_sink_lag_events",
            "gauge",
            "Events appended past a sink's cursor (of its tenants or not).",
            |s, size| size.saturating_sub(s.cursor()),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (sink, status) in &sinks {
            let _ = writeln!(
                text,
                "{name}{{sink=\"{}\"}} {}",
                sink.id,
                value(status, tree_size)
            );
        }
    }
}
