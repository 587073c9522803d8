//! `ProofService`: inclusion proofs of events the caller may read, and consistency
//! proofs (which reveal no event) for any key.

use std::sync::Arc;

use auditlog_proto::convert::{consistency_to_proto, inclusion_to_proto};
use auditlog_proto::v1::proof_service_server::ProofService;
use auditlog_proto::v1::{ConsistencyProof, ConsistencyRequest, InclusionProof, InclusionRequest};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::State;
use crate::access::{prove_inclusion, proven_record};
use crate::auth::caller;
use crate::status::{from_engine, task_failed};

#[derive(Debug)]
pub(crate) struct Proof {
    state: Arc<State>,
}

impl Proof {
    pub(crate) fn new(state: Arc<State>) -> Proof {
        Proof { state }
    }
}

#[tonic::async_trait]
impl ProofService for Proof {
    async fn prove_inclusion(
        &self,
        request: Request<InclusionRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let state = Arc::clone(&self.state);
        let proof = spawn_blocking(move || -> Result<_, Status> {
            let proof = prove_inclusion(&state, &caller, request.leaf_index, request.tree_size)?;
            let mut proof = inclusion_to_proto(proof);
            if request.record {
                proof.record = proven_record(&state, request.leaf_index)?;
            }
            Ok(proof)
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(proof))
    }

    async fn prove_consistency(
        &self,
        request: Request<ConsistencyRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        caller(&request)?.require_any_read()?;
        let request = request.into_inner();
        let state = Arc::clone(&self.state);
        let proof = spawn_blocking(move || {
            state
                .log
                .prove_consistency(request.size1, request.size2)
                .map_err(from_engine)
        })
        .await
        .map_err(task_failed)??;
        Ok(Response::new(consistency_to_proto(proof)))
    }
}
