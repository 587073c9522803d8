//! `LogService`: the log at a glance, for any key (its size, head and layout reveal no
//! event). The durability is the one the server runs with (`auditlogd --durability`
//! overrides the directory's).

use std::sync::Arc;

use auditlog_proto::v1::log_service_server::LogService;
use auditlog_proto::v1::{InfoRequest, LogInfo};
use tokio::task::spawn_blocking;
use tonic::{Request, Response, Status};

use crate::State;
use crate::auth::caller;
use crate::status::task_failed;

#[derive(Debug)]
pub(crate) struct Info {
    state: Arc<State>,
}

impl Info {
    pub(crate) fn new(state: Arc<State>) -> Info {
        Info { state }
    }
}

#[tonic::async_trait]
impl LogService for Info {
    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<LogInfo>, Status> {
        caller(&request)?.require_any_read()?;
        let state = Arc::clone(&self.state);
        let info = spawn_blocking(move || {
            let log = &state.log;
            let config = log.config();
            // The checkpoint first: the head read after it is at least as large.
            let latest_checkpoint_size = log.latest_checkpoint().map(|c| c.checkpoint.tree_size);
            let (tree_size, root) = log.head();
            LogInfo {
                tree_size,
                root: root.to_vec(),
                hash: config.hash.name().to_owned(),
                origin: config.origin.clone(),
                segments: log.segment_count() as u64,
                segment_bytes: config.segment_bytes,
                durability: config.durability.to_string(),
                checkpoint_interval_ms: u64::try_from(config.checkpoint_interval.as_millis())
                    .unwrap_or(u64::MAX),
                latest_checkpoint_size,
            }
        })
        .await
        .map_err(task_failed)?;
        Ok(Response::new(info))
    }
}
