//! The OpenTelemetry Protocol's logs signal as a way in (docs/OTLP.md): a request read
//! into a borrowed view (`view`: from protobuf by the fast reader, `wire`, or from the
//! generated types), its log records mapped to audit events (`map`), and the OTLP/JSON
//! encoding read into the generated types (`json`). Here, beside the generated types,
//! so that the server and what else speaks OTLP share one mapping.

pub mod encode;
pub mod json;
pub mod map;
pub mod view;
pub mod wire;

pub use encode::write_record;
pub use json::{JsonError, request_from_json, response_to_json};
pub use map::{Named, events_of, record_of};
pub use view::{Logs, Place};

use prost::Message;

use crate::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;

/// The two encodings of an OTLP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the body is not an ExportLogsServiceRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("the request holds more than {max} log records: export them in several requests")]
    TooManyRecords { max: usize },
}

/// Reads the request `body` holds, of at most `max_records` log records, and hands its
/// view to `then`. Protobuf goes through the fast reader; what that leaves, and JSON,
/// through the generated types.
pub fn read_logs<R>(
    body: &[u8],
    encoding: Encoding,
    max_records: usize,
    then: impl FnOnce(&Logs<'_>) -> R,
) -> Result<R, ReadError> {
    let too_many = ReadError::TooManyRecords { max: max_records };
    let decoded: ExportLogsServiceRequest;
    let logs = match encoding {
        Encoding::Protobuf => match wire::read(body, max_records) {
            Ok(logs) => logs,
            Err(wire::Stop::TooManyRecords) => return Err(too_many),
            Err(wire::Stop::ToProst) => {
                decoded = ExportLogsServiceRequest::decode(body)?;
                view_within(&decoded, max_records).ok_or(too_many)?
            }
        },
        Encoding::Json => {
            decoded = request_from_json(body)?;
            view_within(&decoded, max_records).ok_or(too_many)?
        }
    };
    Ok(then(&logs))
}

/// The view of `request`, if it holds at most `max_records` records (counted first:
/// a view of millions of tiny records would cost more memory than their bytes).
fn view_within(request: &ExportLogsServiceRequest, max_records: usize) -> Option<Logs<'_>> {
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    (records <= max_records).then(|| Logs::of_request(request))
}
