//! `CheckpointService`: signed tree heads, for any key (they reveal no event). The log
//! signs one on its cadence (every 10 s while it grows, by default); an admin key may ask
//! for one signed at once.

use std::sync::Arc;

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_proto::v1::checkpoint_service_server::CheckpointService;
use auditlog_proto::v1::{Checkpoint, CheckpointBySizeRequest, LatestCheckpointRequest};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::State;
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
        caller.require_any_read()?;
        if !caller.key.scope.admin {
            // The newest the log's cadence signed: any key asking must not make the log
            // sign (and keep) a checkpoint per request.
            return self
                .state
                .log
                .latest_checkpoint()
                .map(|c| Response::new(to_proto(&c)))
                .ok_or_else(|| Status::not_found("no checkpoint has been signed yet"));
        }
        let state = Arc::clone(&self.state);
        // An admin gets one signed now if the tree grew since the newest.
        let signed = spawn_blocking(move || state.log.checkpoint())
            .await
            .map_err(task_failed)?
            .map_err(from_engine)?;
        Ok(Response::new(to_proto(&signed)))
    }

    async fn by_size(
        &self,
        request: Request<CheckpointBySizeRequest>,
    ) -> Result<Response<Checkpoint>, Status> {
        caller(&request)?.require_any_read()?;
        let size = request.into_inner().tree_size;
        let state = Arc::clone(&self.state);
        let all = spawn_blocking(move || state.log.checkpoints())
            .await
            .map_err(task_failed)?
            .map_err(from_engine)?;
        all.iter()
            .find(|c| c.checkpoint.tree_size == size)
            .map(|c| Response::new(to_proto(c)))
            .ok_or_else(|| Status::not_found(format!("no checkpoint was issued at size {size}")))
    }
}

fn to_proto(signed: &SignedCheckpoint) -> Checkpoint {
    Checkpoint {
        note: signed.to_text(),
        tree_size: signed.checkpoint.tree_size,
        root: signed.checkpoint.root.to_vec(),
    }
}
