//! `POST /v1/logs`: OTLP/HTTP logs in, as the OTLP specification defines it. The body
//! is an `ExportLogsServiceRequest` in binary protobuf (`application/x-protobuf`) or
//! OTLP/JSON (`application/json`), gzip or not; the answer is in the request's
//! encoding: the `ExportLogsServiceResponse` (200, with `partial_success` when records
//! were refused), or for a failure a `google.rpc.Status` with the HTTP status OTLP
//! clients act on (400 and 401/403 not retried, 429 and 503 retried after
//! `Retry-After`). The work is `crate::otlp`'s.

use std::sync::Arc;

use auditlog_proto::ingest_body::{self, BodyEncoding, BodyError};
use auditlog_proto::otlp::{Encoding, response_to_json};
use axum::body::Body;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use tokio::task::spawn_blocking;
use tonic::Status;

use super::{HttpError, body_refused, caller, read_body, set_retry_after};
use crate::State;
use crate::status::task_failed;

/// The media type of `encoding`.
fn content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    }
}

pub(crate) async fn logs(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let essence = header(header::CONTENT_TYPE)
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let encoding = match essence.as_deref() {
        Some("application/x-protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        other => {
            let why = format!(
                "Content-Type `{}` is not OTLP/HTTP: send application/x-protobuf or \
                 application/json",
                other.unwrap_or("")
            );
            let status = Status::invalid_argument(why);
            return failure(
                Encoding::Protobuf,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &status,
            );
        }
    };
    match export(&state, &headers, body, encoding).await {
        Ok(response) => response,
        Err((http, status)) => failure(encoding, http, &status),
    }
}

/// A failure as the request's encoding has it.
type Failure = (StatusCode, Status);

async fn export(
    state: &Arc<State>,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, Failure> {
    let caller = caller(state, headers).map_err(|e| plain(e.into_status()))?;
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let compression = BodyEncoding::from_content_encoding(header(header::CONTENT_ENCODING))
        .map_err(body_failure)?;
    let body = read_body(headers, body, state.max_request_bytes)
        .await
        .map_err(|e| (e.http(), e.into_status()))?;
    let body = match compression {
        // `read_body` held it to the limit.
        BodyEncoding::Identity => bytes::Bytes::from(body),
        // Inflating is CPU work: off the async workers.
        BodyEncoding::Gzip => {
            let limit = state.max_request_bytes;
            spawn_blocking(move || {
                ingest_body::inflate(&body, compression, limit)
                    .map(|inflated| bytes::Bytes::from(inflated.into_owned()))
                    .map_err(body_failure)
            })
            .await
            .map_err(|e| plain(task_failed(e)))??
        }
    };
    let answer = crate::otlp::export(Arc::clone(state), caller, body, encoding)
        .await
        .map_err(plain)?;
    let bytes = match encoding {
        Encoding::Protobuf => answer.encode_to_vec(),
        Encoding::Json => response_to_json(&answer).into_bytes(),
    };
    Ok(([(header::CONTENT_TYPE, content_type(encoding))], bytes).into_response())
}

/// A status with the HTTP status OTLP clients act on: the API's mapping, except that a
/// request over a limit (size, records) is 413.
fn plain(status: Status) -> Failure {
    let http = match status.code() {
        tonic::Code::OutOfRange => StatusCode::PAYLOAD_TOO_LARGE,
        code => HttpError::http_status(code),
    };
    (http, status)
}

fn body_failure(error: BodyError) -> Failure {
    let refused = body_refused(error);
    (refused.http(), refused.into_status())
}

/// `status` as a `google.rpc.Status` in `encoding`, with `Retry-After` when it has a
/// retry hint.
fn failure(encoding: Encoding, http: StatusCode, status: &Status) -> Response {
    let body = match encoding {
        Encoding::Protobuf => tonic_types::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        Encoding::Json => {
            serde_json::json!({"code": status.code() as i32, "message": status.message()})
                .to_string()
                .into_bytes()
        }
    };
    let mut response =
        (http, [(header::CONTENT_TYPE, content_type(encoding))], body).into_response();
    set_retry_after(&mut response, status);
    response
}
