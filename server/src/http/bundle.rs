//! `GET /v1/bundle`: a tenant's evidence bundle (docs/FORMAT.md, "Evidence bundle"), the
//! bytes `auditlog export --bundle` writes from the data directory, streamed as the
//! engine writes it; and `GET /v1/verifier-key`, the key its checkpoints are checked
//! with.
//!
//! A bundle holds every event of its tenant in its range, so that their completeness can
//! be proven: a key (or viewer token) narrowed below the tenant (to an actor, actions,
//! outcomes or a resource) may not have one. A time range narrows a bundle, as it
//! narrows a viewer token.

use std::io::{self, Write};
use std::sync::Arc;

use auditlog_engine::Timestamp;
use auditlog_engine::bundle::{Selection, write_bundle, write_bundle_against};
use auditlog_engine::query::{Filter, Query};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query as Params, State as Shared};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::Status;

use super::{HttpError, caller, time_range, whole_tenant};
use crate::State;
use crate::conn::GuardedInfo;
use crate::export::record_bulk_read;
use crate::status::{from_engine, invalid_field, task_failed};

/// The bytes of one chunk of the body.
const CHUNK_BYTES: usize = 256 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BundleParams {
    tenant: Option<String>,
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/bundle?tenant=&from_seq=&to_seq=&from=&to=`: JSON Lines, proven against the
/// newest checkpoint (or the one at `to_seq`); check it with `auditlog verify-bundle`.
pub(crate) async fn bundle(
    Shared(state): Shared<Arc<State>>,
    connection: Option<Extension<GuardedInfo>>,
    headers: HeaderMap,
    given: Result<Params<BundleParams>, QueryRejection>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    let Params(p) = given.map_err(|e| Status::invalid_argument(e.body_text()))?;
    let asked = Filter {
        tenant: p.tenant.clone(),
        time: time_range(&p.from, &p.to)?,
        seqs: Filter::seqs_between(p.from_seq, p.to_seq),
        ..Filter::default()
    };
    if let (Some(from), Some(to)) = (p.from_seq, p.to_seq)
        && to < from
    {
        return Err(invalid_field("to_seq", "below from_seq").into());
    }
    let filter = whole_tenant(&caller, asked, "a bundle")?;
    crate::cluster::reads_here(&state, &filter).await?;
    // A log whose oldest events were deleted past retention starts at its first kept
    // one: a bundle from before it could prove nothing complete.
    let from_seq = p.from_seq.unwrap_or(0).max(state.log.first_kept());
    let selection = Selection {
        from_seq,
        to_seq: p.to_seq,
        from: filter.time.from.map(Timestamp::to_rfc3339),
        to: filter.time.to.map(Timestamp::to_rfc3339),
        tenant: filter.tenant.clone(),
    };
    if state.log.latest_checkpoint().is_none() {
        return Err(Status::failed_precondition(
            "no checkpoint has been signed yet: a bundle is proven against one",
        )
        .into());
    }
    let slot = state.limits.open_stream(&caller.key)?;
    let mut details = serde_json::Map::new();
    details.insert("api".to_owned(), "http".into());
    details.insert("format".to_owned(), "bundle".into());
    let query = Query {
        filter,
        ..Query::default()
    };
    let resource = ("export", "bundle".to_owned());
    record_bulk_read(
        &state,
        &caller,
        "auditlog.export.run",
        resource,
        &query,
        details,
    )
    .await?;
    stream_bundle(state, caller, (selection, None), slot, connection).await
}

/// Streams the bundle of a selection as the engine writes it, proven against the
/// checkpoint at the size given with it (else as [`write_bundle`] picks one), for
/// `caller` (checked still valid before each chunk), holding its stream `slot` until the
/// writing ends.
pub(super) async fn stream_bundle(
    state: Arc<State>,
    caller: crate::auth::Caller,
    (selection, against): (Selection, Option<u64>),
    slot: crate::limits::StreamSlot,
    connection: Option<Extension<GuardedInfo>>,
) -> Result<Response, HttpError> {
    // The engine writes on the blocking pool into a bounded channel: a slow client
    // holds one chunk in it, and one that leaves ends the writing at its next chunk.
    // The connection counts busy until the writing ends: the proof and the tenant's
    // head are made after the last event, with no byte moving meanwhile.
    let busy = connection.map(|Extension(info)| info.busy.enter());
    let (chunks, mut received) = mpsc::channel::<Result<Bytes, Status>>(1);
    let checked = Arc::clone(&state);
    let writing = tokio::task::spawn_blocking(move || {
        let (_slot, _busy) = (slot, busy);
        let mut out = ChunkSender {
            chunks: chunks.clone(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
            still_valid: Box::new(move || caller.still_valid(&checked)),
            stopped: None,
        };
        let written = match against {
            Some(size) => write_bundle_against(&state.log, &selection, size, &mut out),
            None => write_bundle(&state.log, &selection, &mut out),
        };
        let ended = written.map(drop).and_then(|()| {
            out.flush()
                .map_err(|e| auditlog_engine::Error::io("writing the bundle", e))
        });
        if let Err(error) = ended {
            // Why the writer stopped it (revoked, the client gone) over the engine's
            // account of the failed write.
            let status = out.stopped.take().unwrap_or_else(|| from_engine(error));
            let _ = chunks.blocking_send(Err(status));
        }
    });
    // An error before the first byte is answered as one; a task that failed is an
    // error, never the end of a complete bundle.
    let mut writing = Some(writing);
    let first = match received.recv().await {
        Some(Ok(first)) => first,
        Some(Err(status)) => return Err(status.into()),
        None => {
            ended(writing.take()).await?;
            Bytes::new()
        }
    };
    let rest = futures_util::stream::unfold(
        (received, writing),
        |(mut received, mut writing)| async move {
            match received.recv().await {
                Some(next) => {
                    let next = next.map_err(|status| io::Error::other(status.message().to_owned()));
                    Some((next, (received, writing)))
                }
                None => match ended(writing.take()).await {
                    Ok(()) => None,
                    Err(status) => Some((
                        Err(io::Error::other(status.message().to_owned())),
                        (received, None),
                    )),
                },
            }
        },
    );
    let body = futures_util::stream::once(async { Ok::<_, io::Error>(first) });
    let body = futures_util::StreamExt::chain(body, rest);
    let headers = [(header::CONTENT_TYPE, "application/x-ndjson")];
    Ok((headers, Body::from_stream(body)).into_response())
}

/// The writing task's end: an error if it panicked.
async fn ended(writing: Option<JoinHandle<()>>) -> Result<(), Status> {
    match writing {
        Some(task) => task.await.map_err(task_failed),
        None => Ok(()),
    }
}

/// Sends what is written in chunks of [`CHUNK_BYTES`], each once the caller is found
/// still valid; a write fails at once when the client has left.
struct ChunkSender {
    chunks: mpsc::Sender<Result<Bytes, Status>>,
    buffer: Vec<u8>,
    still_valid: Box<dyn Fn() -> Result<(), Status> + Send>,
    /// Why the sender stopped the writing, if it did.
    stopped: Option<Status>,
}

impl ChunkSender {
    fn stop(&mut self, status: Status) -> io::Error {
        let error = io::Error::other(status.message().to_owned());
        self.stopped = Some(status);
        error
    }
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.chunks.is_closed() {
            return Err(self.stop(Status::cancelled("the client left")));
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if let Err(status) = (self.still_valid)() {
            return Err(self.stop(status));
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        if self.chunks.blocking_send(Ok(chunk)).is_err() {
            return Err(self.stop(Status::cancelled("the client left")));
        }
        Ok(())
    }
}

/// `GET /v1/verifier-key`: the note verifier key of the log's checkpoints (text), for
/// any key. A server can only vouch for itself: compare it with one obtained another way.
pub(crate) async fn verifier_key(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    caller(&state, &headers)?.require_any_read()?;
    let text = format!("{}\n", state.verifier.to_text());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
