//! `auditlog bench-ingest`: load a running `auditlogd` over gRPC and measure it. The
//! events are read and converted before the clock starts, so the figure is the server's
//! (and the loopback's), not the client's parser. `C` tasks share the batches in file
//! order over a few HTTP/2 connections; each batch's latency runs from the moment it was
//! due (with `--rate`, its slot in an open-loop schedule, so a slow server cannot hide its
//! queueing) to its acknowledgement. A batch refused RESOURCE_EXHAUSTED is sent again
//! after the wait the server asks for, as a well-behaved client would.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use auditlog_engine::event::parse_json;
use auditlog_proto::convert::event_to_proto;
use auditlog_proto::v1::IngestRequest;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server's gRPC address, e.g. `http://127.0.0.1:7070`.
    #[arg(long)]
    server: String,
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
    /// HTTP/2 connections the batches are spread over.
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

/// The first `--events` events of the file (cycled), converted and cut into requests.
fn read_batches(args: &Args) -> anyhow::Result<Vec<IngestRequest>> {
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
    let mut events = Vec::with_capacity(args.batch);
    for i in 0..args.events {
        let n = i % lines.len();
        let event = parse_json(lines[n])
            .with_context(|| format!("{} line {}", args.file.display(), n + 1))?;
        events.push(event_to_proto(&event));
        if events.len() == args.batch || i + 1 == args.events {
            let full = std::mem::replace(&mut events, Vec::with_capacity(args.batch));
            batches.push(IngestRequest { events: full });
        }
    }
    Ok(batches)
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

async fn drive(args: &Args, batches: Arc<Vec<IngestRequest>>) -> anyhow::Result<Run> {
    let endpoint = Endpoint::from_shared(args.server.clone())
        .with_context(|| format!("--server {}", args.server))?;
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.server))?;
        channels.push(channel);
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
        let channel: Channel = channels[i % channels.len()].clone();
        let (batches, next, token) = (Arc::clone(&batches), Arc::clone(&next), token.clone());
        let retries = Arc::clone(&retries);
        tasks.push(tokio::spawn(async move {
            let mut client = IngestServiceClient::new(channel);
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(batch) = batches.get(n) else {
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
                    let mut request = tonic::Request::new(batch.clone());
                    request
                        .metadata_mut()
                        .insert("authorization", token.clone());
                    match client.ingest(request).await {
                        Ok(_) => break,
                        // The server is full: wait as long as it asks, then send again.
                        Err(status) if status.code() == Code::ResourceExhausted => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            let details = status.get_error_details();
                            let wait = details.retry_info().and_then(|r| r.retry_delay);
                            tokio::time::sleep(wait.unwrap_or(Duration::from_millis(50))).await;
                        }
                        Err(status) => return Err(status).with_context(|| format!("batch {n}")),
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
    let events = batches.iter().map(|b| b.events.len()).sum();
    Ok(Run {
        events,
        elapsed,
        latencies,
        retries: retries.load(Ordering::Relaxed),
    })
}

impl Run {
    fn report(&self, args: &Args) {
        let rate = self.events as f64 / self.elapsed.as_secs_f64();
        println!("{rate:.0} events/s");
        println!(
            "{} events in {} batches of {} over {} connections, {} in flight{}: {:.3} s, {} retries",
            self.events,
            self.latencies.len(),
            args.batch,
            args.connections,
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
        println!(
            "ack latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            ms(1.0)
        );
    }
}
