//! `SinkService`: sinks managed (docs/SINKS.md) through `sinks::admin`, which the HTTP
//! API shares.

use std::sync::Arc;

use auditlog_proto::v1::sink_service_server::SinkService;
use auditlog_proto::v1::{
    CreateSinkRequest, CreateSinkResponse, ListSinksRequest, ListSinksResponse, ReplaySinkRequest,
    SinkRequest, SinkResponse,
};
use tonic::{Request, Response, Status};

use crate::State;
use crate::auth::caller;
use crate::sinks::admin::{self, ReplayFrom};

#[derive(Debug)]
pub(crate) struct Sinks {
    state: Arc<State>,
}

impl Sinks {
    pub(crate) fn new(state: Arc<State>) -> Sinks {
        Sinks { state }
    }
}

fn answer(sink: auditlog_proto::v1::SinkInfo) -> Response<SinkResponse> {
    Response::new(SinkResponse { sink: Some(sink) })
}

#[tonic::async_trait]
impl SinkService for Sinks {
    async fn create_sink(
        &self,
        request: Request<CreateSinkRequest>,
    ) -> Result<Response<CreateSinkResponse>, Status> {
        let caller = caller(&request)?;
        let created = admin::create(&self.state, caller, request.into_inner()).await?;
        Ok(Response::new(created))
    }

    async fn list_sinks(
        &self,
        request: Request<ListSinksRequest>,
    ) -> Result<Response<ListSinksResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(admin::list(&self.state, &caller)?))
    }

    async fn pause_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        Ok(answer(
            admin::set_paused(&self.state, caller, id, true).await?,
        ))
    }

    async fn resume_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        Ok(answer(
            admin::set_paused(&self.state, caller, id, false).await?,
        ))
    }

    async fn replay_sink(
        &self,
        request: Request<ReplaySinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let from = ReplayFrom::from_proto(request.from)?;
        Ok(answer(
            admin::replay(&self.state, caller, request.id, from).await?,
        ))
    }

    async fn delete_sink(
        &self,
        request: Request<SinkRequest>,
    ) -> Result<Response<SinkResponse>, Status> {
        let caller = caller(&request)?;
        let id = request.into_inner().id;
        Ok(answer(admin::delete(&self.state, caller, id).await?))
    }
}
