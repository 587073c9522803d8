//! `QueryService`: pages of events, counts and exports, always through the caller's
//! tenant-scoped filter. Pages are read at the client's pace (`crate::paced`: one page
//! ahead); a client that stops reading stops the reading and holds no thread. Exports
//! are recorded and streamed by `crate::export`, as HTTP's are.

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
use futures_util::{Stream, StreamExt};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, caller};
use crate::convert::{filter_from_proto, narrow_to_email, order_from_proto};
use crate::limits::StreamSlot;
use crate::paced::paced;
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
    type QueryStream = Pin<Box<dyn Stream<Item = Result<QueryPage, Status>> + Send>>;
    type ExportStream = Pin<Box<dyn Stream<Item = Result<ExportChunk, Status>> + Send>>;

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (filter, email) = filter_from_proto(request.filter)?;
        let filter = caller.scope_filter(filter)?;
        crate::cluster::reads_here(&self.state, &filter).await?;
        let by_email = email.is_some();
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
        let cursor = request
            .cursor
            .as_deref()
            .map(Cursor::decode)
            .transpose()
            .map_err(|e| invalid_field("cursor", &e.to_string()))?;
        let pages = request.max_pages.max(1);
        let slot = self.state.limits.open_stream(&caller.key)?;
        let query = EngineQuery {
            filter,
            order,
            limit: Some(u64::from(page_size)),
            cursor,
        };
        if pages > 1 {
            // Many pages in one call are a bulk read, recorded as an export is.
            let mut details = serde_json::Map::new();
            details.insert("api".to_owned(), "grpc".into());
            details.insert("page_size".to_owned(), page_size.into());
            details.insert("max_pages".to_owned(), pages.into());
            if by_email {
                details.insert("by_email".to_owned(), true.into());
            }
            let resource = ("query", "pages".to_owned());
            let action = "auditlog.query.run";
            export::record_bulk_read(&self.state, &caller, action, resource, &query, details)
                .await?;
        }
        let paging = Paging {
            state: Arc::clone(&self.state),
            caller,
            query,
            pages_left: pages,
            _slot: slot,
        };
        Ok(Response::new(Box::pin(paced(paging, next_page))))
    }

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<CountResponse>, Status> {
        let caller = caller(&request)?;
        let (filter, email) = filter_from_proto(request.into_inner().filter)?;
        let filter = caller.scope_filter(filter)?;
        crate::cluster::reads_here(&self.state, &filter).await?;
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
        crate::cluster::reads_here(&self.state, &filter).await?;
        let by_email = email.is_some();
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
        if by_email {
            details.insert("by_email".to_owned(), true.into());
        }
        let chunks =
            export::start(Arc::clone(&self.state), &caller, query, format, details).await?;
        let stream = chunks.map(|chunk| chunk.map(|data| ExportChunk { data }));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A query between two of its pages.
struct Paging {
    state: Arc<State>,
    /// The next page's query (its cursor included).
    /// Checked before each page: a key revoked, a viewer token revoked or expired, ends
    /// the stream.
    caller: Caller,
    query: EngineQuery,
    /// Pages the client may still take (none once the last page was read).
    pages_left: u32,
    /// Counts the stream against the caps until it is dropped.
    _slot: StreamSlot,
}

/// The next page of a query (`None` after the last, or the last asked for).
fn next_page(paging: &mut Paging) -> Result<Option<QueryPage>, Status> {
    if paging.pages_left == 0 {
        return Ok(None);
    }
    paging.caller.still_valid(&paging.state)?;
    let mut events = Vec::new();
    let page = paging
        .state
        .log
        .query(&paging.query, |seq, event| {
            events.push(StoredEvent {
                seq,
                event: Some(event_to_proto(&event)),
            });
            Ok(true)
        })
        .map_err(from_engine)?;
    paging.pages_left = match page.next_cursor {
        Some(_) => paging.pages_left - 1,
        None => 0,
    };
    let next_cursor = page.next_cursor.as_ref().map(Cursor::encode);
    paging.query.cursor = page.next_cursor;
    Ok(Some(QueryPage {
        events,
        next_cursor,
    }))
}
