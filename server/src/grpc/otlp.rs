//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` on the gRPC port, with
//! every call's key (`authorization: Bearer KEY` metadata) and gzip accepted, as OTLP
//! exporters send it. Written out rather than generated: the generated service decodes
//! into prost's types, a `String` for every attribute key and value; this one takes the
//! message's bytes as tonic hands them over (inflated, within the size limit) for
//! `crate::otlp`, whose fast reader borrows them. The work is `crate::otlp`'s.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use auditlog_proto::codec::BytesInCodec;
use auditlog_proto::opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
use auditlog_proto::otlp::Encoding;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::{Body, BoxFuture, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::State;
use crate::auth::caller;

const EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// The `LogsService` server.
#[derive(Debug, Clone)]
pub(crate) struct Logs {
    state: Arc<State>,
}

impl Logs {
    pub(crate) fn new(state: Arc<State>) -> Logs {
        Logs { state }
    }
}

impl NamedService for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

impl<B> tower::Service<http::Request<B>> for Logs
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT {
            let answer = Status::unimplemented("LogsService has only Export").into_http();
            return Box::pin(async move { Ok(answer) });
        }
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let mut accepted = EnabledCompressionEncodings::default();
            accepted.enable(CompressionEncoding::Gzip);
            let limit = state.max_request_bytes;
            let mut grpc = tonic::server::Grpc::new(BytesInCodec::default())
                .apply_compression_config(accepted, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(Export(state), request).await)
        })
    }
}

/// One `Export` call.
struct Export(Arc<State>);

impl UnaryService<bytes::Bytes> for Export {
    type Response = ExportLogsServiceResponse;
    type Future = BoxFuture<Response<ExportLogsServiceResponse>, Status>;

    fn call(&mut self, request: Request<bytes::Bytes>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            let caller = caller(&request)?;
            let body = request.into_inner();
            let answer = crate::otlp::export(state, caller, body, Encoding::Protobuf).await?;
            Ok(Response::new(answer))
        })
    }
}
