//! What a caller may read beyond a filter, for gRPC and HTTP alike: the tenant of an
//! event it asks to prove, and which checkpoint it may have.

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_engine::merkle::InclusionProof;
use auditlog_engine::query::{Filter, Query};
use tonic::Status;

use crate::State;
use crate::auth::Caller;
use crate::status::from_engine;

/// Refuses unless `caller` reads event `seq` (read through the query engine, its
/// record's CRC checked): its tenant, and a viewer token's narrowing. Blocks: call it
/// on the blocking pool.
fn require_reads_event(state: &State, caller: &Caller, seq: u64) -> Result<(), Status> {
    // A key with no rights learns nothing, not even the tree size the refusal below
    // would name.
    caller.require_any_read()?;
    let query = Query {
        filter: Filter {
            seqs: Some(seq..seq.saturating_add(1)),
            ..Filter::default()
        },
        limit: Some(1),
        ..Query::default()
    };
    let mut readable = None;
    state
        .log
        .query_raw(&query, |seq, event| {
            readable = Some(caller.reads(seq, &event));
            Ok(false)
        })
        .map_err(from_engine)?;
    let readable = readable.ok_or_else(|| {
        Status::out_of_range(format!(
            "leaf index {seq} is not below the tree size {}",
            state.log.tree_size()
        ))
    })?;
    if readable {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "this API key may not read event {seq}"
        )))
    }
}

/// An inclusion proof of event `leaf_index`, if `caller` reads its tenant. Blocks.
pub(crate) fn prove_inclusion(
    state: &State,
    caller: &Caller,
    leaf_index: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof, Status> {
    require_reads_event(state, caller, leaf_index)?;
    state
        .log
        .prove_inclusion(leaf_index, tree_size)
        .map_err(from_engine)
}

/// The stored payload of record `leaf_index`, for a caller [`prove_inclusion`] admitted
/// to it, who hashes the leaf itself. Blocks.
pub(crate) fn proven_record(state: &State, leaf_index: u64) -> Result<Vec<u8>, Status> {
    state
        .log
        .record_payload(leaf_index)
        .map_err(from_engine)?
        .ok_or_else(|| Status::not_found(format!("record {leaf_index} is not in the log")))
}

/// The newest checkpoint, for any key; for an admin key one is signed first if the tree
/// grew since (no other key may make the log sign, and keep, one per request; a read
/// replica signs none: it serves the newest it keeps). Blocks.
pub(crate) fn latest_checkpoint(
    state: &State,
    caller: &Caller,
) -> Result<SignedCheckpoint, Status> {
    caller.require_any_read()?;
    if caller.key.scope.admin && state.replica.is_none() {
        return state.log.checkpoint().map_err(from_engine);
    }
    published_checkpoint(state)
}

/// The checkpoint the log shows those who did not ask for a size: with witnesses
/// (`--witnessed-by`), the newest that `--witness-quorum` of them cosigned, until one is,
/// the newest signed; without, the newest signed.
pub(crate) fn published_checkpoint(state: &State) -> Result<SignedCheckpoint, Status> {
    state
        .witnessing
        .published()
        .or_else(|| state.log.latest_checkpoint())
        .ok_or_else(|| Status::not_found("no checkpoint has been signed yet"))
}

/// The checkpoint issued at `tree_size`. Blocks.
pub(crate) fn checkpoint_at(
    state: &State,
    caller: &Caller,
    tree_size: u64,
) -> Result<SignedCheckpoint, Status> {
    caller.require_any_read()?;
    state
        .log
        .checkpoint_at(tree_size)
        .map_err(from_engine)?
        .ok_or_else(|| Status::not_found(format!("no checkpoint was issued at size {tree_size}")))
}
