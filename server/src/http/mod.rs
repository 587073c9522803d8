//! The HTTP/JSON API, from the same process and over the same engine as gRPC: the same
//! keys (`Authorization: Bearer KEY`), the same tenant scoping, the same statuses
//! mapped to HTTP's. One file per route group: `events.rs` (pages, counts, exports),
//! `bundle.rs` (evidence bundles and the verifier key),
//! `ingest.rs` (events in), `otlp.rs` (OTLP/HTTP logs in),
//! `proofs.rs` (proofs and checkpoints), `sinks.rs` (sinks managed),
//! `viewer_tokens.rs` (viewer tokens issued and revoked).

mod bundle;
mod cluster;
mod events;
mod ingest;
mod otlp;
mod proofs;
mod replica;
mod reports;
mod sinks;
mod tiles;
mod viewer_tokens;
mod witness;

use auditlog_proto::writer::named_writer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower::ServiceExt;

use auditlog_engine::query::Filter;
use auditlog_engine::{TimeRange, Timestamp};
use auditlog_proto::ingest_body::BodyError;

use crate::auth::{Caller, admit, bearer_token};
use crate::conn::{BusyLayer, Guarded, GuardedInfo, Timeouts};
use crate::keys::AuthError;
use crate::limits::retry_after;
use crate::panics::CatchPanicLayer;
use crate::shutdown::{Stop, stopped, with_grace};
use crate::status::{invalid_field, task_failed};
use crate::tls::TlsFiles;
use crate::{State, listen};

/// Serves the HTTP API until `stop` flips, then lets requests in flight finish (for up
/// to `grace`).
pub(crate) async fn serve(
    state: Arc<State>,
    addr: SocketAddr,
    tls: Option<&TlsFiles>,
    stop: Stop,
    grace: Duration,
) -> anyhow::Result<()> {
    let listener = listen(addr, "HTTP").await?;
    let timeouts = state.timeouts;
    let router = router(state);
    let until = stop.clone();
    let serving = async move {
        match tls {
            Some(tls) => {
                let listener = tls.http_listener(listener)?;
                serve_on(listener, router, until, timeouts).await
            }
            None => {
                let listener = listener.tap_io(|tcp| drop(tcp.set_nodelay(true)));
                serve_on(listener, router, until, timeouts).await
            }
        }
    };
    with_grace(serving, stop, grace, "HTTP").await
}

/// The most a connection queues to write. hyper's default (about 400 KiB) queues a
/// second 256 KiB export chunk behind one the client has not taken; at this size it
/// queues one: a stalled export holds 657 KiB of heap instead of 1,091 KiB, and a whole
/// export is as fast (docs/BENCHMARKS.md). (Request heads larger than this are still
/// read.)
const HYPER_BUF_BYTES: usize = 64 << 10;

/// Accepts connections until `stop` flips, each served by hyper with the connection
/// deadlines of [`Guarded`] and hyper's own header-read timeout; then waits for the
/// connections to finish their requests.
async fn serve_on<L>(
    mut listener: L,
    router: Router,
    stop: Stop,
    timeouts: Timeouts,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    // Each connection holds a receiver; `closed` resolves once all are gone.
    let (open, connection) = watch::channel(());
    loop {
        let (io, _) = tokio::select! {
            () = stopped(stop.clone()) => break,
            accepted = listener.accept() => accepted,
        };
        let info = GuardedInfo::default();
        let io = TokioIo::new(Guarded::new(io, timeouts, info.busy.clone()));
        let router = router.clone();
        // What the connection tells each request (as tonic's connection info does for
        // gRPC): the router's BusyLayer counts it busy while its handler works.
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(info.clone());
            router.clone().oneshot(request)
        });
        let (stop, connection) = (stop.clone(), connection.clone());
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header)
                .max_buf_size(HYPER_BUF_BYTES);
            let serving = builder.serve_connection(io, service);
            tokio::pin!(serving);
            tokio::select! {
                // A connection that fails (a timeout, a reset) is the client's affair.
                _ = serving.as_mut() => {}
                () = stopped(stop) => {
                    serving.as_mut().graceful_shutdown();
                    let _ = serving.await;
                }
            }
            drop(connection);
        });
    }
    drop(listener);
    drop(connection);
    open.closed().await;
    Ok(())
}

/// The OpenAPI 3.1 document of every route below (a test calls each as documented).
const OPENAPI: &str = include_str!("openapi.json");

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/events", get(events::page).post(ingest::events))
        .route("/v1/events/count", get(events::count))
        .route("/v1/logs", post(otlp::logs))
        .route("/v1/export", get(events::export))
        .route("/v1/proofs/inclusion", get(proofs::inclusion))
        .route("/v1/proofs/consistency", get(proofs::consistency))
        .route("/v1/checkpoint", get(proofs::checkpoint))
        .route("/v1/verifier-key", get(bundle::verifier_key))
        .route("/v1/cluster", get(cluster::map))
        .route("/v1/cluster/writer", get(cluster::writer))
        .route("/v1/cluster/move", post(cluster::move_tenant))
        .route("/v1/bundle", get(bundle::bundle))
        .route("/v1/reports", get(reports::report))
        .route("/v1/replica", get(replica::status))
        .route("/v1/replica/checkpoint", get(replica::checkpoint))
        .route("/v1/replica/records", get(replica::records))
        .route("/v1/replica/keys", get(replica::keys))
        .route("/v1/replica/record", post(replica::record))
        .route("/v1/sinks", get(sinks::list).post(sinks::create))
        .route("/v1/sinks/{id}", get(sinks::get).delete(sinks::delete))
        .route("/v1/sinks/{id}/pause", post(sinks::pause))
        .route("/v1/sinks/{id}/resume", post(sinks::resume))
        .route("/v1/sinks/{id}/replay", post(sinks::replay))
        .route(
            "/v1/viewer-tokens",
            get(viewer_tokens::list).post(viewer_tokens::create),
        )
        .route(
            "/v1/viewer-tokens/{id}",
            get(viewer_tokens::get).delete(viewer_tokens::revoke),
        )
        .route("/checkpoint", get(tiles::checkpoint))
        .route(
            "/add-checkpoint",
            post(witness::add_checkpoint).layer(axum::extract::DefaultBodyLimit::max(
                auditlog_engine::witness::MAX_ADD_CHECKPOINT_BYTES,
            )),
        )
        .route("/tile/{*path}", get(tiles::tile))
        .route("/metrics", get(metrics))
        .route("/ui", get(crate::viewer::ui::root))
        .route("/ui/", get(crate::viewer::ui::index))
        .route("/ui/config.json", get(crate::viewer::ui::config))
        .route("/ui/{*path}", get(crate::viewer::ui::file))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            refuse_on_replica,
        ))
        .layer(CatchPanicLayer::new(Arc::clone(&state.metrics), panicked))
        .layer(BusyLayer)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            count_answers,
        ))
        .with_state(state)
}

/// The answer to a request whose handler panicked.
fn panicked() -> Response {
    HttpError::from(Status::internal("the server failed on this request")).into_response()
}

/// Counts every answer by status, for `/metrics`.
async fn count_answers(
    Shared(state): Shared<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.http_answered(response.status().as_u16());
    response
}

/// On a read replica, what it does not serve itself ([`crate::replica::serves_http`]) is
/// refused, UNAVAILABLE, naming the primary (in the message and the `auditlog-primary`
/// header).
async fn refuse_on_replica(
    Shared(state): Shared<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    match &state.replica {
        Some(replica) if !crate::replica::serves_http(request.method(), request.uri().path()) => {
            let mut response = HttpError::from(replica.refuse_write()).into_response();
            if let Ok(primary) = header::HeaderValue::from_str(&replica.primary) {
                response
                    .headers_mut()
                    .insert(crate::replica::PRIMARY_METADATA, primary);
            }
            response
        }
        _ => next.run(request).await,
    }
}

/// `GET /metrics`: Prometheus text, for any key (it reveals counts, no event).
async fn metrics(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let caller = caller(&state, &headers)?;
    caller.require_any_read()?;
    caller.require_key()?;
    // The writer's queue depth is read under the lock a blocked submit holds.
    let open = state.limits.open_streams();
    let text = tokio::task::spawn_blocking(move || {
        let mut text = state.metrics.render(&state.log, open);
        crate::sinks::render_metrics(&state.sinks, &caller, state.log.tree_size(), &mut text);
        crate::cosigning::render_metrics(&state.witnessing, &mut text);
        if let Some(replica) = &state.replica {
            replica.status.render(&mut text);
        }
        text
    })
    .await
    .map_err(task_failed)?;
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

/// A request's body, refused (413) as soon as more than `limit` bytes of it arrived.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    use futures_util::StreamExt;
    // Room for what the client says it sends (up to the limit): one allocation, no copy.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(announced.min(limit));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| Status::invalid_argument(format!("reading the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            let why =
                format!("the request body is larger than the server's limit of {limit} bytes");
            return Err(HttpError::with_http(
                StatusCode::PAYLOAD_TOO_LARGE,
                Status::out_of_range(why),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A request's JSON body, of at most `limit` bytes ([`read_body`]).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<T, HttpError> {
    let bytes = read_body(headers, body, limit).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Status::invalid_argument(format!("the body: {e}")).into())
}

/// The range of the query parameters `from` and `to` (RFC 3339), a bad one refused
/// naming it.
pub(crate) fn time_range(from: &Option<String>, to: &Option<String>) -> Result<TimeRange, Status> {
    let time = |field, text: &Option<String>| {
        text.as_deref()
            .map(|t| Timestamp::parse(t).map_err(|m| invalid_field(field, &m)))
            .transpose()
    };
    Ok(TimeRange {
        from: time("from", from)?,
        to: time("to", to)?,
    })
}

/// `asked` scoped to `caller` (`Caller::scope_filter`), refused (403) when the caller
/// reads only part of the tenant: a bundle or a report (`what`) holds every event of
/// its tenant in its range.
fn whole_tenant(caller: &Caller, asked: Filter, what: &str) -> Result<Filter, Status> {
    let filter = caller.scope_filter(asked)?;
    let narrowed = filter.actor.is_some()
        || !filter.actions.is_empty()
        || !filter.outcomes.is_empty()
        || filter.resource_type.is_some()
        || filter.resource_id.is_some();
    if narrowed {
        return Err(Status::permission_denied(format!(
            "{what} holds every event of its tenant: this token reads only some"
        )));
    }
    Ok(filter)
}

/// The caller of a request: its bearer key, authenticated.
fn caller(state: &State, headers: &HeaderMap) -> Result<Caller, HttpError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .ok_or_else(|| Status::unauthenticated(AuthError::Missing.to_string()))?;
    Ok(admit(state, token)?)
}

/// An error answer: the gRPC status's HTTP counterpart (unless a route names another,
/// as 413 or 415) and the body of [`error_body`].
#[derive(Debug)]
pub(crate) struct HttpError {
    status: Status,
    http: Option<StatusCode>,
}

impl HttpError {
    /// `status` answered with the HTTP status `http`.
    pub(crate) fn with_http(http: StatusCode, status: Status) -> HttpError {
        HttpError {
            status,
            http: Some(http),
        }
    }

    /// The HTTP status it answers with.
    pub(crate) fn http(&self) -> StatusCode {
        self.http
            .unwrap_or_else(|| HttpError::http_status(self.status.code()))
    }

    /// The status it carries.
    pub(crate) fn into_status(self) -> Status {
        self.status
    }

    /// The HTTP status of a gRPC code.
    pub(crate) fn http_status(code: Code) -> StatusCode {
        match code {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                StatusCode::BAD_REQUEST
            }
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<Status> for HttpError {
    fn from(status: Status) -> HttpError {
        HttpError { status, http: None }
    }
}

/// `{"error":{"code":"PERMISSION_DENIED","message":"…"}}`, with `"field"` when the status
/// names the request's field at fault.
pub(crate) fn error_body(status: &Status) -> serde_json::Value {
    let name = format!("{:?}", status.code());
    let mut error =
        serde_json::json!({"code": screaming_snake(&name), "message": status.message()});
    let details = status.get_error_details();
    if let Some(violation) = details
        .bad_request()
        .and_then(|b| b.field_violations.first())
    {
        error["field"] = violation.field.clone().into();
    }
    // Where to send an event of a tenant another node of the cluster writes.
    if let Some(w) = named_writer(status) {
        error["writer"] = serde_json::json!({"node": w.node, "grpc": w.grpc, "http": w.http});
    }
    serde_json::json!({ "error": error })
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let http = self.http();
        let mut response = (http, axum::Json(error_body(&self.status))).into_response();
        set_retry_after(&mut response, &self.status);
        if http == StatusCode::UNAUTHORIZED {
            let challenge = header::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `Retry-After` from the status's retry hint, if it has one: whole seconds, rounded up
/// (HTTP has no finer unit).
pub(crate) fn set_retry_after(response: &mut Response, status: &Status) {
    if let Some(wait) = retry_after(status) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
}

/// A request body refused whole (by `auditlog_proto::ingest_body`), with the HTTP status
/// that says why: 413 over a limit, 415 a type or encoding not taken, else 400.
pub(crate) fn body_refused(error: BodyError) -> HttpError {
    let http = match error {
        BodyError::TooLarge { .. } | BodyError::TooManyEvents { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        BodyError::UnsupportedMediaType(_) | BodyError::UnsupportedEncoding(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        BodyError::BadGzip(_) | BodyError::Json(_) | BodyError::Empty => StatusCode::BAD_REQUEST,
    };
    let status = match error {
        BodyError::TooLarge { .. } | BodyError::TooManyEvents { .. } => {
            Status::out_of_range(error.to_string())
        }
        BodyError::Empty => crate::status::invalid_field("events", &error.to_string()),
        _ => Status::invalid_argument(error.to_string()),
    };
    HttpError::with_http(http, status)
}

/// `PermissionDenied` as gRPC spells it: `PERMISSION_DENIED`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
