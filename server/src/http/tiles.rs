//! The C2SP tlog-tiles API at the HTTP root (docs/PROOFS.md, "Tiles"): `/checkpoint`,
//! the newest signed checkpoint; `/tile/<L>/<N>[.p/<W>]`, hash tiles read from the
//! level files; `/tile/entries/<N>[.p/<W>]`, entry bundles of the records as stored.
//! Tiles exist for the newest checkpoint's tree (and every smaller one) and never change,
//! so they are cached for a year, privately: every route needs a key, and a shared cache
//! must not hand one caller's answer to another. SHA-256 logs only.

use std::sync::Arc;

use auditlog_engine::{Error, TilePath};
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, caller};
use crate::State;
use crate::status::{from_engine, task_failed};

/// The answer of every tiles route on a BLAKE3 log.
fn not_standard() -> Status {
    Status::not_found("this log's tree is BLAKE3: tlog-tiles serves SHA-256 trees only")
}

/// `GET /checkpoint`: the newest checkpoint the log signed, or with witnesses the newest
/// they cosigned, with their cosignatures (never one signed for the request: any key may
/// ask), for clients that fetch tiles against it.
pub(crate) async fn checkpoint(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_any_read()?;
    if !state.log.is_standard_tree() {
        return Err(not_standard().into());
    }
    let signed = crate::access::published_checkpoint(&state)?;
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    Ok((headers, signed.to_text()).into_response())
}

/// `GET /tile/{*path}`: a hash tile (any key: tiles hold hashes only, as proofs do) or
/// an entry bundle (a key that reads every tenant: a bundle holds 256 events of any).
pub(crate) async fn tile(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    uri: Uri,
    Path(path): Path<String>,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_any_read()?;
    // One tile, one name: a percent-encoded spelling of it is not that name.
    let tile = TilePath::parse(&path).filter(|_| !uri.path().contains('%'));
    let Some(tile) = tile else {
        return Err(Status::not_found(format!("`tile/{path}` names no tile")).into());
    };
    if tile.level.is_none() {
        caller.require_read_all("entry bundles hold events of every tenant")?;
    }
    let bytes = spawn_blocking(move || {
        let size = state
            .log
            .latest_checkpoint()
            .map_or(0, |c| c.checkpoint.tree_size);
        match tile.level {
            Some(level) => state.log.tile(level, tile.index, tile.width, size),
            None => state.log.entry_bundle(tile.index, tile.width, size),
        }
    })
    .await
    .map_err(task_failed)?
    .map_err(|e| match e {
        Error::InvalidArgument(why) => Status::not_found(why),
        other => from_engine(other),
    })?;
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream"),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ),
    ];
    Ok((headers, bytes).into_response())
}
