//! `auditlog bench-ingest`: load a running `auditlogd` and measure it, through any of its
//! ways in (`--protocol`): gRPC `Ingest`, NDJSON over `POST /v1/events`, OTLP logs over
//! gRPC or over HTTP (protobuf). The events are read and encoded before the clock
//! starts, so the figure is the server's (and the loopback's), not the client's parser.
//! `C` tasks share the batches in file order, over a few HTTP/2 connections for gRPC or
//! one HTTP/1.1 connection each; each batch's latency runs from the moment it was due
//! (with `--rate`, its slot in an open-loop schedule, so a slow server cannot hide its
//! queueing) to its acknowledgement. A batch refused as busy (RESOURCE_EXHAUSTED, 429)
//! is sent again after the wait the server asks for, as a well-behaved client would; any
//! other refusal, or an OTLP answer with rejected records, fails the run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use auditlog_engine::event::parse_json;
use auditlog_proto::convert::event_to_proto;
use auditlog_proto::opentelemetry::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use auditlog_proto::opentelemetry::proto::logs::v1::{ResourceLogs, ScopeLogs};
use auditlog_proto::otlp::record_of;
use auditlog_proto::v1::{IngestRequest, IngestResponse};
use prost::Message;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use crate::out::say;

/// The way in a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// `auditlog.v1.IngestService/Ingest`.
    Grpc,
    /// `POST /v1/events`, `application/x-ndjson`.
    Ndjson,
    /// `opentelemetry.proto.collector.logs.v1.LogsService/Export`.
    OtlpGrpc,
    /// `POST /v1/logs`, `application/x-protobuf`.
    OtlpHttp,
}

impl Protocol {
    fn over_http1(self) -> bool {
        matches!(self, Protocol::Ndjson | Protocol::OtlpHttp)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server's address for the protocol: gRPC (`http://127.0.0.1:7070`) for `grpc`
    /// and `otlp-grpc`, HTTP (`http://127.0.0.1:7080`) for `ndjson` and `otlp-http`.
    #[arg(long)]
    server: String,
    /// The way in.
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    protocol: Protocol,
    /// An API key that may ingest every tenant of the file.
    #[arg(long, env = "AUDITLOG_KEY", hide_env_values = true)]
    key: String,
    /// JSON Lines events (e.g. from `auditlog generate`); read again from the top if
    /// `--events` asks for more.
    #[arg(long)]
    file: PathBuf,
    /// Events to send.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// HTTP/2 connections the batches are spread over (gRPC; over HTTP/1.1 each batch in
    /// flight has its own).
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Offered load in events/s (open loop); without it, as fast as the server answers.
    #[arg(long)]
    rate: Option<f64>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.events == 0 || args.batch == 0 || args.concurrency == 0 || args.connections == 0 {
        bail!("--events, --batch, --concurrency and --connections must be positive");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of events per second");
    }
    let batches = Arc::new(read_batches(&args)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let run = runtime.block_on(drive(&args, batches))?;
    run.report(&args);
    Ok(ExitCode::SUCCESS)
}

/// One batch, encoded for the protocol before the clock starts: sending copies bytes
/// only, for every protocol alike.
#[derive(Debug, Clone)]
enum Payload {
    /// An encoded `IngestRequest`.
    Grpc(bytes::Bytes),
    /// An encoded `ExportLogsServiceRequest`.
    OtlpGrpc(bytes::Bytes),
    /// A body for `POST` and its content type.
    Http(bytes::Bytes, &'static str),
}

/// The first `--events` events of the file (cycled), converted and cut into requests;
/// with the events in each.
fn read_batches(args: &Args) -> anyhow::Result<Vec<(Payload, usize)>> {
    let text =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if lines.is_empty() {
        bail!("{} holds no events", args.file.display());
    }
    let mut batches = Vec::with_capacity(args.events.div_ceil(args.batch));
    let mut batch: Vec<usize> = Vec::with_capacity(args.batch);
    for i in 0..args.events {
        batch.push(i % lines.len());
        if batch.len() == args.batch || i + 1 == args.events {
            let payload = encode(args.protocol, &batch, &lines)
                .with_context(|| format!("{}", args.file.display()))?;
            batches.push((payload, batch.len()));
            batch.clear();
        }
    }
    Ok(batches)
}

/// The events at `lines[n]` for each `n` of `batch`, as one request of `protocol`.
fn encode(protocol: Protocol, batch: &[usize], lines: &[&[u8]]) -> anyhow::Result<Payload> {
    let event = |n: usize| parse_json(lines[n]).with_context(|| format!("line {}", n + 1));
    Ok(match protocol {
        Protocol::Grpc => Payload::Grpc(
            IngestRequest {
                events: batch
                    .iter()
                    .map(|&n| event(n).map(|e| event_to_proto(&e)))
                    .collect::<anyhow::Result<_>>()?,
            }
            .encode_to_vec()
            .into(),
        ),
        Protocol::Ndjson => {
            let mut body = Vec::new();
            for &n in batch {
                event(n)?;
                body.extend_from_slice(lines[n]);
                body.push(b'\n');
            }
            Payload::Http(body.into(), "application/x-ndjson")
        }
        Protocol::OtlpGrpc | Protocol::OtlpHttp => {
            let records = batch
                .iter()
                .map(|&n| event(n).map(|e| record_of(&e)))
                .collect::<anyhow::Result<_>>()?;
            let request = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: records,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            if protocol == Protocol::OtlpGrpc {
                Payload::OtlpGrpc(request.encode_to_vec().into())
            } else {
                Payload::Http(request.encode_to_vec().into(), "application/x-protobuf")
            }
        }
    })
}

/// What a run measured.
struct Run {
    events: usize,
    elapsed: Duration,
    /// Each batch's latency, sorted.
    latencies: Vec<Duration>,
    /// Batches sent again after RESOURCE_EXHAUSTED.
    retries: usize,
}

async fn drive(args: &Args, batches: Arc<Vec<(Payload, usize)>>) -> anyhow::Result<Run> {
    let endpoint = Endpoint::from_shared(args.server.clone())
        .with_context(|| format!("--server {}", args.server))?;
    let mut channels = Vec::with_capacity(args.connections);
    if !args.protocol.over_http1() {
        for _ in 0..args.connections {
            let channel = endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to {}", args.server))?;
            channels.push(channel);
        }
    }
    let token: MetadataValue<_> = format!("Bearer {}", args.key)
        .parse()
        .context("--key is not a valid header value")?;
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let per_batch = args
        .rate
        .map(|r| Duration::from_secs_f64(args.batch as f64 / r));
    let mut tasks = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let mut sender = match channels.get(i % channels.len().max(1)) {
            Some(channel) => Sender::Grpc(channel.clone()),
            None => Sender::Http(
                Http1::connect(&args.server, &args.key)
                    .await
                    .with_context(|| format!("connecting to {}", args.server))?,
            ),
        };
        let (batches, next, token) = (Arc::clone(&batches), Arc::clone(&next), token.clone());
        let retries = Arc::clone(&retries);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some((batch, _)) = batches.get(n) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let due = match per_batch {
                    Some(gap) => {
                        let due = start + gap.mul_f64(n as f64);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                loop {
                    match sender
                        .send(batch, &token)
                        .await
                        .with_context(|| format!("batch {n}"))?
                    {
                        None => break,
                        // The server is full: wait as long as it asks, then send again.
                        Some(wait) => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
                latencies.push(due.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(batches.len());
    for task in tasks {
        latencies.extend(task.await.context("a client task failed")??);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let events = batches.iter().map(|(_, n)| n).sum();
    Ok(Run {
        events,
        elapsed,
        latencies,
        retries: retries.load(Ordering::Relaxed),
    })
}

/// How a task sends its batches.
enum Sender {
    Grpc(Channel),
    Http(Http1),
}

impl Sender {
    /// Sends `batch`; None once acknowledged, or how long the busy server asks to wait.
    async fn send(
        &mut self,
        batch: &Payload,
        token: &MetadataValue<tonic::metadata::Ascii>,
    ) -> anyhow::Result<Option<Duration>> {
        let answer = match (self, batch) {
            (Sender::Grpc(channel), Payload::Grpc(body)) => {
                let path = "/auditlog.v1.IngestService/Ingest";
                unary::<IngestResponse>(channel, path, body, token)
                    .await
                    .map(|_| ())
            }
            (Sender::Grpc(channel), Payload::OtlpGrpc(body)) => {
                let path = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
                match unary::<ExportLogsServiceResponse>(channel, path, body, token).await {
                    Ok(answer) => {
                        if let Some(partial) = answer.partial_success {
                            bail!("records refused: {}", partial.error_message);
                        }
                        Ok(())
                    }
                    Err(status) => Err(status),
                }
            }
            (Sender::Http(http), Payload::Http(body, content_type)) => {
                return http.post(body.clone(), content_type).await;
            }
            _ => bail!("a batch encoded for another protocol"),
        };
        match answer {
            Ok(()) => Ok(None),
            Err(status) if status.code() == Code::ResourceExhausted => {
                let details = status.get_error_details();
                let wait = details.retry_info().and_then(|r| r.retry_delay);
                Ok(Some(wait.unwrap_or(Duration::from_millis(50))))
            }
            Err(status) => Err(status.into()),
        }
    }
}

/// A unary call of `path` whose request is `body`, encoded already; its answer decoded.
async fn unary<R: Message + Default + Send + 'static>(
    channel: &Channel,
    path: &'static str,
    body: &bytes::Bytes,
    token: &MetadataValue<tonic::metadata::Ascii>,
) -> Result<R, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body.clone());
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let codec = Preencoded::<R>(std::marker::PhantomData);
    Ok(grpc.unary(request, path, codec).await?.into_inner())
}

/// A codec that sends bytes as they are and decodes answers as `R`.
struct Preencoded<R>(std::marker::PhantomData<R>);

impl<R: Message + Default + Send + 'static> tonic::codec::Codec for Preencoded<R> {
    type Encode = bytes::Bytes;
    type Decode = R;
    type Encoder = Preencoded<bytes::Bytes>;
    type Decoder = Preencoded<R>;

    fn encoder(&mut self) -> Self::Encoder {
        Preencoded(std::marker::PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        Preencoded(std::marker::PhantomData)
    }
}

impl tonic::codec::Encoder for Preencoded<bytes::Bytes> {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl<R: Message + Default + Send + 'static> tonic::codec::Decoder for Preencoded<R> {
    type Item = R;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<R>, tonic::Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("an undecodable answer: {e}")))
    }
}

/// One HTTP/1.1 keep-alive connection to the server's HTTP port.
struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    /// `host:port`.
    authority: String,
    /// `Bearer KEY`.
    bearer: String,
}

impl Http1 {
    async fn connect(server: &str, key: &str) -> anyhow::Result<Http1> {
        let authority = server
            .strip_prefix("http://")
            .context("--server must be an http:// URL for the HTTP protocols")?
            .trim_end_matches('/')
            .to_owned();
        let tcp = tokio::net::TcpStream::connect(&authority).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        Ok(Http1 {
            sender,
            authority,
            bearer: format!("Bearer {key}"),
        })
    }

    /// POSTs `body` to the route of `content_type`; None once stored, or how long the
    /// busy server asks to wait.
    async fn post(
        &mut self,
        body: bytes::Bytes,
        content_type: &str,
    ) -> anyhow::Result<Option<Duration>> {
        use http_body_util::BodyExt;
        let path = if content_type == "application/x-protobuf" {
            "/v1/logs"
        } else {
            "/v1/events?results=refused"
        };
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::AUTHORIZATION, &self.bearer)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(http_body_util::Full::new(body))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let retry = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = response.into_body().collect().await?.to_bytes();
        if status == hyper::StatusCode::TOO_MANY_REQUESTS {
            return Ok(Some(Duration::from_secs(retry.unwrap_or(1))));
        }
        if status != hyper::StatusCode::OK {
            bail!("answered {status}: {}", String::from_utf8_lossy(&body));
        }
        if content_type == "application/x-protobuf" {
            let answer = ExportLogsServiceResponse::decode(&body[..])?;
            if let Some(partial) = answer.partial_success {
                bail!("records refused: {}", partial.error_message);
            }
        }
        Ok(None)
    }
}

impl Run {
    fn report(&self, args: &Args) {
        let rate = self.events as f64 / self.elapsed.as_secs_f64();
        say!("{rate:.0} events/s");
        say!(
            "{} events over {:?} in {} batches of {} over {} connections, {} in flight{}: {:.3} s, {} retries",
            self.events,
            args.protocol,
            self.latencies.len(),
            args.batch,
            if args.protocol.over_http1() {
                args.concurrency
            } else {
                args.connections
            },
            args.concurrency,
            args.rate
                .map_or(String::new(), |r| format!(", offered {r:.0} events/s")),
            self.elapsed.as_secs_f64(),
            self.retries
        );
        let ms = |q: f64| {
            let i = ((self.latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
            self.latencies[i.min(self.latencies.len() - 1)].as_secs_f64() * 1e3
        };
        say!(
            "ack latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            ms(1.0)
        );
    }
}
