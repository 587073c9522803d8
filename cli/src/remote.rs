//! The verbs that read a log, against a running `auditlogd` (`--server URL --key KEY`)
//! instead of a data directory: a small blocking client of the server's gRPC API. The
//! server applies the key's tenant scope; the verbs print what they print locally.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_engine::merkle::{ConsistencyProof, InclusionProof};
use auditlog_proto::convert::{FieldError, consistency_from_proto, inclusion_from_proto};
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::checkpoint_service_client::CheckpointServiceClient;
use auditlog_proto::v1::log_service_client::LogServiceClient;
use auditlog_proto::v1::proof_service_client::ProofServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use auditlog_proto::v1::sink_service_client::SinkServiceClient;
use tokio::runtime::Runtime;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status, Streaming};

use crate::exit::CheckFailed;

/// The largest answer taken: a page of 1000 events of the largest size the engine
/// accepts (16 KiB of metadata and bounded strings) with room to spare. tonic's default,
/// 4 MiB, would refuse a page of 200 such events.
const MAX_ANSWER: usize = 64 << 20;

/// `--server`, `--key`, `--ca-cert`: shared by every verb that reads a log.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// Read from a running auditlogd at this gRPC address instead of a data directory:
    /// `http://127.0.0.1:7070`, or `https://HOST:PORT` for TLS.
    #[arg(long, value_name = "URL", conflicts_with = "dir")]
    pub(crate) server: Option<String>,
    /// With --server: the API key to read with (its scope decides which tenants).
    #[arg(long, env = "AUDITLOG_KEY", hide_env_values = true)]
    key: Option<String>,
    /// With an `https://` server: the PEM certificate of the CA that signed the
    /// server's certificate.
    #[arg(long, value_name = "FILE", requires = "server")]
    ca_cert: Option<PathBuf>,
    /// With --server: seconds the server has to answer each call (to connect, and to
    /// start answering; a long export then streams for as long as it takes).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

/// Nodes a call is sent on to at most (a tenant moving can make two name each other).
const MAX_HOPS: usize = 4;

/// A connection to a server, with the key every call carries.
pub(crate) struct Remote {
    runtime: Runtime,
    channel: Channel,
    token: MetadataValue<Ascii>,
    /// How long each call may take.
    deadline: Duration,
    /// The CA certificate (PEM) of an `https://` server.
    ca: Option<Vec<u8>>,
}

/// The endpoint of a server at `url`, each call bounded by `deadline`, over TLS checked
/// with `ca` when given.
fn endpoint(url: &str, deadline: Duration, ca: Option<&[u8]>) -> anyhow::Result<Endpoint> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(10).min(deadline))
        .timeout(deadline);
    if let Some(pem) = ca {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        endpoint = endpoint.tls_config(tls).context("--ca-cert")?;
    }
    Ok(endpoint)
}

impl Remote {
    /// Connects to `args.server` (which must be set).
    pub(crate) fn connect(args: &ServerArgs) -> anyhow::Result<Remote> {
        let url = args.server.as_deref().context("--server is not given")?;
        let key = args
            .key
            .as_deref()
            .context("--server needs an API key: --key KEY or AUDITLOG_KEY")?;
        let deadline = Duration::from_secs(args.timeout.max(1));
        let token = format!("Bearer {key}")
            .parse()
            .context("--key is not a valid header value")?;
        let ca = match (url.starts_with("https://"), &args.ca_cert) {
            (true, Some(path)) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            (true, None) => anyhow::bail!(
                "an https:// server needs --ca-cert FILE (the CA that signed its certificate)"
            ),
            (false, Some(_)) => anyhow::bail!("--ca-cert is for an https:// server"),
            (false, None) => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let endpoint =
            endpoint(url, deadline, ca.as_deref()).with_context(|| format!("--server {url}"))?;
        let channel = runtime
            .block_on(endpoint.connect())
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Remote {
            runtime,
            channel,
            token,
            deadline,
            ca,
        })
    }

    /// The channel to the server.
    fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Runs `call` on the server's channel. A node of a cluster of tenant shards that
    /// holds none of a tenant's events refuses a read of it, naming the tenant's node
    /// (docs/SCALING.md): this call is made there instead (the next ones go to the
    /// server again: each reads its own node's log).
    fn follow<A, Fut>(&self, call: impl Fn(Channel) -> Fut) -> anyhow::Result<A>
    where
        Fut: std::future::Future<Output = Result<A, Status>>,
    {
        let mut channel = self.channel();
        for _ in 0..MAX_HOPS {
            let status = match self.runtime.block_on(call(channel.clone())) {
                Ok(answer) => return Ok(answer),
                Err(status) => status,
            };
            let named = auditlog_proto::writer::named_writer(&status);
            let (Code::FailedPrecondition, Some(writer)) = (status.code(), named) else {
                return Err(refused(status));
            };
            let (node, url) = (writer.node.as_str(), writer.grpc.as_str());
            if self.ca.is_some() && !url.starts_with("https://") {
                anyhow::bail!(
                    "the server sent the request on to node {node} at {url}, which is not \
                     https://: the key is not sent in the clear; ask that node yourself"
                );
            }
            eprintln!("auditlog: the tenant's events are on node {node} ({url}): asking it");
            let endpoint = endpoint(url, self.deadline, self.ca.as_deref())
                .with_context(|| format!("node {node}'s address {url}"))?;
            channel = self
                .runtime
                .block_on(endpoint.connect())
                .with_context(|| format!("connecting to node {node} at {url}"))?;
        }
        anyhow::bail!(
            "the cluster's nodes sent the request on {MAX_HOPS} times without answering it"
        )
    }

    // Each client takes answers as large as a page of the largest events can be.
    fn checkpoints_client(&self) -> CheckpointServiceClient<Channel> {
        CheckpointServiceClient::new(self.channel()).max_decoding_message_size(MAX_ANSWER)
    }

    fn proof_client(&self) -> ProofServiceClient<Channel> {
        ProofServiceClient::new(self.channel()).max_decoding_message_size(MAX_ANSWER)
    }

    fn log_client(&self) -> LogServiceClient<Channel> {
        LogServiceClient::new(self.channel()).max_decoding_message_size(MAX_ANSWER)
    }

    fn admin_client(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel()).max_decoding_message_size(MAX_ANSWER)
    }

    /// One call of the sink service: `call` gets a client and `message` with the key.
    pub(crate) fn sink_call<Q, A, Fut>(
        &self,
        message: Q,
        call: impl FnOnce(SinkServiceClient<Channel>, tonic::Request<Q>) -> Fut,
    ) -> anyhow::Result<A>
    where
        Fut: std::future::Future<Output = Result<tonic::Response<A>, Status>>,
    {
        let client = SinkServiceClient::new(self.channel()).max_decoding_message_size(MAX_ANSWER);
        let request = self.request(message);
        let answer = self.runtime.block_on(call(client, request));
        Ok(answer.map_err(refused)?.into_inner())
    }

    /// Places (`place`) or lifts the legal hold on `tenant`: the seq of the `_system`
    /// event that records it.
    pub(crate) fn change_hold(
        &self,
        tenant: &str,
        reason: &str,
        place: bool,
    ) -> anyhow::Result<u64> {
        let mut client = self.admin_client();
        let request = self.request(pb::HoldRequest {
            tenant: tenant.to_owned(),
            reason: reason.to_owned(),
        });
        self.runtime.block_on(async {
            let answer = match place {
                true => client.place_hold(request).await,
                false => client.lift_hold(request).await,
            };
            Ok(answer.map_err(refused)?.into_inner().seq)
        })
    }

    /// The legal holds in force.
    pub(crate) fn list_holds(&self) -> anyhow::Result<Vec<pb::Hold>> {
        let mut client = self.admin_client();
        let request = self.request(pb::ListHoldsRequest {});
        self.runtime.block_on(async {
            Ok(client
                .list_holds(request)
                .await
                .map_err(refused)?
                .into_inner()
                .holds)
        })
    }

    /// Defines (or redefines) an action in the catalog.
    pub(crate) fn define_action(
        &self,
        action: pb::CatalogAction,
    ) -> anyhow::Result<pb::DefineActionResponse> {
        let mut client = self.admin_client();
        let request = self.request(pb::DefineActionRequest {
            action: Some(action),
        });
        self.runtime.block_on(async {
            Ok(client
                .define_action(request)
                .await
                .map_err(refused)?
                .into_inner())
        })
    }

    /// Removes an action from the catalog: the seq of the `_system` event recording it.
    pub(crate) fn remove_action(&self, action: &str, reason: &str) -> anyhow::Result<u64> {
        let mut client = self.admin_client();
        let request = self.request(pb::RemoveActionRequest {
            action: action.to_owned(),
            reason: reason.to_owned(),
        });
        self.runtime.block_on(async {
            Ok(client
                .remove_action(request)
                .await
                .map_err(refused)?
                .into_inner()
                .seq)
        })
    }

    /// The action catalog.
    pub(crate) fn list_catalog(&self) -> anyhow::Result<Vec<pb::CatalogAction>> {
        let mut client = self.admin_client();
        let request = self.request(pb::ListCatalogRequest {});
        self.runtime.block_on(async {
            Ok(client
                .list_catalog(request)
                .await
                .map_err(refused)?
                .into_inner()
                .actions)
        })
    }

    /// The coverage report, over every tenant (`tenant` empty) or one.
    pub(crate) fn coverage(&self, tenant: &str) -> anyhow::Result<pb::CoverageResponse> {
        let mut client = self.admin_client();
        let request = self.request(pb::CoverageRequest {
            tenant: tenant.to_owned(),
        });
        self.runtime.block_on(async {
            Ok(client
                .coverage(request)
                .await
                .map_err(refused)?
                .into_inner())
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.token.clone());
        request
    }

    /// One page of events (from the tenant's node, in a cluster).
    pub(crate) fn query_page(&self, request: pb::QueryRequest) -> anyhow::Result<pb::QueryPage> {
        let message = pb::QueryRequest {
            max_pages: 1,
            ..request
        };
        let page = self.follow(|channel| {
            let mut client = query_client(channel);
            let request = self.request(message.clone());
            async move {
                let mut pages = client.query(request).await?.into_inner();
                pages.message().await
            }
        })?;
        page.context("the server ended the query without a page")
    }

    /// Counts of the events a filter selects (on the tenant's node, in a cluster).
    pub(crate) fn count(&self, filter: pb::Filter) -> anyhow::Result<pb::CountResponse> {
        let message = pb::CountRequest {
            filter: Some(filter),
        };
        self.follow(|channel| {
            let mut client = query_client(channel);
            let request = self.request(message.clone());
            async move { client.count(request).await.map(tonic::Response::into_inner) }
        })
    }

    /// An export's bytes, chunk by chunk as they arrive (from the tenant's node, in a
    /// cluster).
    pub(crate) fn export(&self, request: pb::ExportRequest) -> anyhow::Result<Chunks<'_>> {
        let stream = self.follow(|channel| {
            let mut client = query_client(channel);
            let request = self.request(request.clone());
            async move {
                client
                    .export(request)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })?;
        Ok(Chunks {
            remote: self,
            stream,
        })
    }

    pub(crate) fn prove_inclusion(
        &self,
        leaf_index: u64,
        tree_size: Option<u64>,
    ) -> anyhow::Result<InclusionProof> {
        Ok(self.prove_record(leaf_index, tree_size, false)?.0)
    }

    /// An inclusion proof and, if `record`, the record's stored payload (what its leaf
    /// hash covers).
    pub(crate) fn prove_record(
        &self,
        leaf_index: u64,
        tree_size: Option<u64>,
        record: bool,
    ) -> anyhow::Result<(InclusionProof, Vec<u8>)> {
        let mut client = self.proof_client();
        let request = self.request(pb::InclusionRequest {
            leaf_index,
            tree_size,
            record,
        });
        let answer = self.runtime.block_on(client.prove_inclusion(request));
        let mut proof = answer.map_err(refused)?.into_inner();
        let payload = std::mem::take(&mut proof.record);
        let proof = inclusion_from_proto(proof).map_err(unreadable)?;
        Ok((proof, payload))
    }

    pub(crate) fn prove_consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> anyhow::Result<ConsistencyProof> {
        let mut client = self.proof_client();
        let request = self.request(pb::ConsistencyRequest { size1, size2 });
        let answer = self.runtime.block_on(client.prove_consistency(request));
        consistency_from_proto(answer.map_err(refused)?.into_inner()).map_err(unreadable)
    }

    /// The newest checkpoint, or the one issued at `tree_size`; `None` if there is none.
    pub(crate) fn checkpoint(&self, tree_size: Option<u64>) -> anyhow::Result<Option<String>> {
        let mut client = self.checkpoints_client();
        let answer = self.runtime.block_on(async {
            match tree_size {
                Some(tree_size) => {
                    let request = self.request(pb::CheckpointBySizeRequest { tree_size });
                    client.by_size(request).await
                }
                None => {
                    client
                        .latest(self.request(pb::LatestCheckpointRequest {}))
                        .await
                }
            }
        });
        match answer {
            Ok(checkpoint) => Ok(Some(checkpoint.into_inner().note)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(refused(status)),
        }
    }

    /// Every checkpoint the log keeps, oldest first (their signatures are not checked
    /// here: `auditlog checkpoint verify` does that, with a key from elsewhere).
    pub(crate) fn checkpoints(&self) -> anyhow::Result<Vec<SignedCheckpoint>> {
        let mut client = self.checkpoints_client();
        let request = self.request(pb::ListCheckpointsRequest {});
        self.runtime.block_on(async {
            let mut stream = client.list(request).await.map_err(refused)?.into_inner();
            let mut all = Vec::new();
            while let Some(c) = stream.message().await.map_err(refused)? {
                let signed = SignedCheckpoint::parse(c.note.as_bytes())
                    .context("the server sent a checkpoint that does not parse")?;
                all.push(signed);
            }
            Ok(all)
        })
    }

    /// The log's public verifier key, as the server gives it.
    pub(crate) fn verifier_key(&self) -> anyhow::Result<String> {
        let mut client = self.checkpoints_client();
        let request = self.request(pb::VerifierKeyRequest {});
        let answer = self.runtime.block_on(client.verifier_key(request));
        Ok(answer.map_err(refused)?.into_inner().key)
    }

    pub(crate) fn info(&self) -> anyhow::Result<pb::LogInfo> {
        let mut client = self.log_client();
        let answer = self
            .runtime
            .block_on(client.info(self.request(pb::InfoRequest {})));
        Ok(answer.map_err(refused)?.into_inner())
    }
}

/// A client of the query service taking answers as large as a page of the largest events
/// can be.
fn query_client(channel: Channel) -> QueryServiceClient<Channel> {
    QueryServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER)
}

/// The chunks of an export, read as the caller asks for them.
pub(crate) struct Chunks<'a> {
    remote: &'a Remote,
    stream: Streaming<pb::ExportChunk>,
}

impl Iterator for Chunks<'_> {
    type Item = anyhow::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        let chunk = self.remote.runtime.block_on(self.stream.message());
        chunk
            .map_err(refused)
            .transpose()
            .map(|c| c.map(|c| c.data))
    }
}

/// A status from the server as an error: damaged storage is a failed check (exit 1), as
/// it is when the data directory is read directly; anything else cannot be done.
fn refused(status: Status) -> anyhow::Error {
    let text = format!(
        "the server answered {:?}: {}",
        status.code(),
        status.message()
    );
    match status.code() {
        Code::DataLoss => CheckFailed(text).into(),
        _ => anyhow!(text),
    }
}

fn unreadable(bad: FieldError) -> anyhow::Error {
    anyhow!(
        "the server sent a proof whose {} {}",
        bad.field,
        bad.message
    )
}
