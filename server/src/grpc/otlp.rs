//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` on the gRPC port, with
//! every call's key (`authorization: Bearer KEY` metadata) and gzip accepted, as OTLP
//! exporters send it. The work is `crate::otlp`'s.

use std::sync::Arc;

use auditlog_proto::opentelemetry::proto::collector::logs::v1::logs_service_server::LogsService;
use auditlog_proto::opentelemetry::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::State;
use crate::auth::caller;

#[derive(Debug)]
pub(crate) struct Logs {
    state: Arc<State>,
}

impl Logs {
    pub(crate) fn new(state: Arc<State>) -> Logs {
        Logs { state }
    }
}

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let bytes = request.encoded_len();
        let answer = crate::otlp::export(Arc::clone(&self.state), caller, request, bytes).await?;
        Ok(Response::new(answer))
    }
}
