//! `LogService`: the log at a glance, for any key (its size, head and layout reveal no
//! event). The durability is the one the server runs with (`auditlogd --durability`
//! overrides the directory's).

use std::sync::Arc;

use auditlog_proto::convert::log_info;
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
        let caller = caller(&request)?;
        caller.require_any_read()?;
        caller.require_key()?;
        let state = Arc::clone(&self.state);
        let info = spawn_blocking(move || log_info(&state.log))
            .await
            .map_err(task_failed)?;
        Ok(Response::new(info))
    }
}
