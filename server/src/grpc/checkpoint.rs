//! `CheckpointService`: signed tree heads and the key that checks them, for any read key
//! (they reveal no event). The log signs one on its cadence (every 10 s while it grows,
//! by default); an admin key may ask for one signed at once.

use std::sync::Arc;

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_proto::v1::checkpoint_service_server::CheckpointService;
use auditlog_proto::v1::{
    Checkpoint, CheckpointBySizeRequest, LatestCheckpointRequest, ListCheckpointsRequest,
    VerifierKeyRequest, VerifierKeyResponse,
};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::State;
use crate::access::{checkpoint_at, latest_checkpoint};
use crate::auth::caller;
use crate::status::{from_engine, task_failed};

#[derive(Debug)]
pub(crate) struct Checkpoints {
    state: Arc<State>,
}

impl Checkpoints {
    pub(crate) fn new(state: Arc<State>) -> Checkpoints {
        Checkpoints { state }
    }
}

#[tonic::async_trait]
impl CheckpointService for Checkpoints {
    async fn latest(
        &self,
        request: Request<LatestCheckpointRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        let caller = caller(&request)?;
        let state = Arc::clone(&self.state);
        let signed = spawn_blocking(move || latest_checkpoint(&state, &caller))
            .await
            .map_err(task_failed)??;
        Ok(Response::new(to_proto(&signed)))
    }

    async fn by_size(
        &self,
        request: Request<CheckpointBySizeRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        let caller = caller(&request)?;
        let size = request.into_inner().tree_size;
        let state = Arc::clone(&self.state);
        let signed = spawn_blocking(move || checkpoint_at(&state, &caller, size))
            .await
            .map_err(task_failed)??;
        Ok(Response::new(to_proto(&signed)))
    }

    type ListStream = tokio_stream::Iter<std::vec::IntoIter<Result<Checkpoint, Status>>>;

    async fn list(
        &self,
        request: Request<ListCheckpointsRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        caller(&request)?.require_any_read()?;
        let state = Arc::clone(&self.state);
        let all = spawn_blocking(move || state.log.checkpoints())
            .await
            .map_err(task_failed)?
            .map_err(from_engine)?;
        let each: Vec<_> = all.iter().map(|c| Ok(to_proto(c))).collect();
        Ok(Response::new(tokio_stream::iter(each)))
    }

    async fn verifier_key(
        &self,
        request: Request<VerifierKeyRequest>,
    ) -> Result<Response<VerifierKeyResponse>, Status> {
        caller(&request)?.require_any_read()?;
        Ok(Response::new(VerifierKeyResponse {
            key: self.state.verifier.to_text(),
        }))
    }
}

fn to_proto(signed: &SignedCheckpoint) -> Checkpoint {
    Checkpoint {
        note: signed.to_text(),
        tree_size: signed.checkpoint.tree_size,
        root: signed.checkpoint.root.to_vec(),
    }
}
