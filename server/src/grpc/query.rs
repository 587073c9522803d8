//! `QueryService`: pages of events, counts and exports, always through the caller's
//! tenant-scoped filter. Pages are read on the blocking pool and streamed as each is
//! ready; a client that stops reading stops the reading. Exports are recorded and
//! streamed by `crate::export`, as HTTP's are.

use std::pin::Pin;
use std::sync::Arc;

use auditlog_engine::Outcome;
use auditlog_engine::export::ExportFormat;
use auditlog_engine::query::Order;
use auditlog_engine::query::{Cursor, Query as EngineQuery};
use auditlog_proto::convert::event_to_proto;
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::query_service_server::QueryService;
use auditlog_proto::v1::{
    CountRequest, CountResponse, ExportChunk, ExportRequest, QueryPage, QueryRequest, StoredEvent,
};
use tokio::sync::mpsc;
use tokio::task::spawn_blocking;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::convert::{filter_from_proto, narrow_to_email, order_from_proto};
use crate::status::{from_engine, invalid_field, task_failed};
use crate::{State, export};

/// Events per page when the request does not say.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most events one page may hold.
const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug)]
pub(crate) struct Query {
    state: Arc<State>,
}

impl Query {
    pub(crate) fn new(state: Arc<State>) -> Query {
        Query { state }
    }
}

#[tonic::async_trait]
impl QueryService for Query {
    type QueryStream = ReceiverStream<Result<QueryPage, Status>>;
    type ExportStream = Pin<Box<dyn Stream<Item = Result<ExportChunk, Status>> + Send>>;

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (filter, email) = filter_from_proto(request.filter)?;
        let filter = caller.scope_filter(filter)?;
        let filter = narrow_to_email(&self.state, filter, email, "filter.email").await?;
        let order = order_from_proto(request.order)?;
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n <= MAX_PAGE_SIZE => n,
            _ => {
                return Err(invalid_field(
                    "page_size",
                    &format!("at most {MAX_PAGE_SIZE}"),
                ));
            }
        };
        let mut cursor = request
            .cursor
            .as_deref()
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| invalid_field("cursor", &e.to_string()))?;
        let pages = request.max_pages.max(1);
        let (pages_out, pages_in) = mpsc::channel(2);
        let on_failure = pages_out.clone();
        let state = Arc::clone(&self.state);
        let reading = spawn_blocking(move || {
            for _ in 0..pages {
                let query = EngineQuery {
                    filter: filter.clone(),
                    order,
                    limit: Some(u64::from(page_size)),
                    cursor: cursor.take(),
                };
                let mut events = Vec::new();
                let page = state.log.query(&query, |seq, event| {
                    events.push(StoredEvent {
                        seq,
                        event: Some(event_to_proto(&event)),
                    });
                    Ok(true)
                });
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = pages_out.blocking_send(Err(from_engine(e)));
                        return;
                    }
                };
                let next_cursor = page.next_cursor.as_ref().map(Cursor::encode);
                let last = next_cursor.is_none();
                let sent = pages_out.blocking_send(Ok(QueryPage {
                    events,
                    next_cursor,
                }));
                if sent.is_err() || last {
                    return;
                }
                cursor = page.next_cursor;
            }
        });
        // A reading that failed (a panic) ends the stream with an error, not as if
        // complete.
        tokio::spawn(async move {
            if let Err(e) = reading.await {
                let _ = on_failure.send(Err(task_failed(e))).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(pages_in)))
    }

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<CountResponse>, Status> {
        let caller = caller(&request)?;
        let (filter, email) = filter_from_proto(request.into_inner().filter)?;
        let filter = caller.scope_filter(filter)?;
        let filter = narrow_to_email(&self.state, filter, email, "filter.email").await?;
        let state = Arc::clone(&self.state);
        let (counts, _plan) = spawn_blocking(move || state.log.count(&filter))
            .await
            .map_err(task_failed)?
            .map_err(from_engine)?;
        Ok(Response::new(CountResponse {
            count: counts.total,
            success: counts.of(Outcome::Success),
            failure: counts.of(Outcome::Failure),
            denied: counts.of(Outcome::Denied),
            error: counts.of(Outcome::Error),
        }))
    }

    async fn export(
        &self,
        request: Request<ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let format = match pb::ExportFormat::try_from(request.format) {
            Ok(pb::ExportFormat::Jsonl) => ExportFormat::Jsonl,
            Ok(pb::ExportFormat::Csv) => ExportFormat::Csv,
            Err(_) => return Err(invalid_field("format", "unknown format")),
        };
        let (filter, email) = filter_from_proto(request.filter)?;
        let filter = caller.scope_filter(filter)?;
        let query = EngineQuery {
            filter: narrow_to_email(&self.state, filter, email, "filter.email").await?,
            order: match request.order {
                Some(order) => order_from_proto(order)?,
                None => Order::OldestFirst,
            },
            limit: None,
            cursor: None,
        };
        let mut details = serde_json::Map::new();
        details.insert("api".to_owned(), "grpc".into());
        let chunks =
            export::start(Arc::clone(&self.state), &caller, query, format, details).await?;
        let stream =
            ReceiverStream::new(chunks).map(|chunk| chunk.map(|data| ExportChunk { data }));
        Ok(Response::new(Box::pin(stream)))
    }
}
