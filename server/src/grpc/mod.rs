//! The gRPC server: one file per service of `auditlog.v1` and the OTLP logs service
//! (`otlp.rs`), each behind the API-key interceptor, plus the standard health service
//! and server reflection (open, as they reveal no event).

mod admin;
mod catalog;
mod checkpoint;
mod ingest;
mod log;
mod otlp;
mod proof;
mod query;
mod sinks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auditlog_proto::v1::admin_service_server::AdminServiceServer;
use auditlog_proto::v1::checkpoint_service_server::CheckpointServiceServer;
use auditlog_proto::v1::ingest_service_server::IngestServiceServer;
use auditlog_proto::v1::log_service_server::LogServiceServer;
use auditlog_proto::v1::proof_service_server::ProofServiceServer;
use auditlog_proto::v1::query_service_server::QueryServiceServer;
use auditlog_proto::v1::sink_service_server::SinkServiceServer;
use auditlog_proto::{FILE_DESCRIPTOR_SET, OTLP_FILE_DESCRIPTOR_SET};
use tokio_stream::StreamExt;
use tonic::body::Body;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::util::MapResponseLayer;

use crate::auth::authenticate;
use crate::conn::{Busy, BusyLayer, Guarded};
use crate::metrics::grpc_code;
use crate::panics::CatchPanicLayer;
use crate::shutdown::{Stop, stopped, with_grace};
use crate::tls::TlsFiles;
use crate::{State, listen};

/// Serves until `stop` flips, then lets requests in flight finish (for up to `grace`).
pub(crate) async fn serve(
    state: Arc<State>,
    addr: SocketAddr,
    tls: Option<&TlsFiles>,
    stop: Stop,
    grace: Duration,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<IngestServiceServer<ingest::Ingest>>()
        .await;
    // Both versions of reflection: many tools (grpcio's own client, older grpcurl,
    // Postman) ask only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(OTLP_FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .context("building the reflection service")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building the v1alpha reflection service")?;
    let auth = authenticate(Arc::clone(&state));
    let writes = refuse_on_replica(Arc::clone(&state), auth.clone());
    let counted = Arc::clone(&state);
    let count_answers = MapResponseLayer::new(move |response: http::Response<Body>| {
        counted.metrics.grpc_answered(grpc_code(response.headers()));
        response
    });
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server
            .tls_config(tls.grpc())
            .context("the gRPC TLS configuration")?;
    }
    let router = server
        .layer(count_answers)
        .layer(CatchPanicLayer::new(Arc::clone(&state.metrics), panicked))
        .layer(BusyLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(
            IngestServiceServer::new(ingest::Ingest::new(Arc::clone(&state)))
                .max_decoding_message_size(state.max_request_bytes),
            writes.clone(),
        ))
        .add_service(InterceptedService::new(
            otlp::Logs::new(Arc::clone(&state)),
            writes.clone(),
        ))
        .add_service(QueryServiceServer::with_interceptor(
            query::Query::new(Arc::clone(&state)),
            auth.clone(),
        ))
        .add_service(ProofServiceServer::with_interceptor(
            proof::Proof::new(Arc::clone(&state)),
            auth.clone(),
        ))
        .add_service(CheckpointServiceServer::with_interceptor(
            checkpoint::Checkpoints::new(Arc::clone(&state)),
            auth.clone(),
        ))
        .add_service(LogServiceServer::with_interceptor(
            log::Info::new(Arc::clone(&state)),
            auth.clone(),
        ))
        .add_service(AdminServiceServer::with_interceptor(
            admin::Admin::new(Arc::clone(&state)),
            writes.clone(),
        ))
        .add_service(SinkServiceServer::with_interceptor(
            sinks::Sinks::new(Arc::clone(&state)),
            writes,
        ));
    let listener = listen(addr, "gRPC").await?;
    // Without TCP_NODELAY a small answer waits for the peer's delayed ACK (40 ms).
    let timeouts = state.timeouts;
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(move |accepted| accepted.map(|tcp| Guarded::new(tcp, timeouts, Busy::default())));
    let serving = router.serve_with_incoming_shutdown(incoming, {
        let stop = stop.clone();
        async move {
            stopped(stop).await;
            // Load balancers that watch health stop sending work here.
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            health
                .set_not_serving::<IngestServiceServer<ingest::Ingest>>()
                .await;
        }
    });
    with_grace(
        async { serving.await.context("serving gRPC") },
        stop,
        grace,
        "gRPC",
    )
    .await
}

/// The interceptor of the services that write or change the server's settings (ingest,
/// OTLP, admin, sinks): on a read replica each call is refused, UNAVAILABLE, naming the
/// primary (metadata `auditlog-primary`); elsewhere it is `auth`.
fn refuse_on_replica(
    state: Arc<State>,
    mut auth: impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request| match &state.replica {
        Some(replica) => Err(replica.refuse_write()),
        None => auth(request),
    }
}

/// The answer to a call whose handler panicked.
fn panicked() -> http::Response<Body> {
    tonic::Status::internal("the server failed on this call").into_http()
}
