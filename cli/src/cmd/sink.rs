//! `auditlog sink`: the sinks of a running auditlogd (`--server URL --key ADMIN_KEY`),
//! which stream its log to receivers (docs/SINKS.md): a webhook, OTLP, Splunk HEC or
//! Datadog; created (a webhook's signing secret is printed once; other receivers'
//! credentials are read from a file), listed with where each stands, paused, resumed, replayed
//! from a sequence number or a time, deleted.

use std::process::ExitCode;

use anyhow::bail;
use auditlog_proto::v1 as pb;

use super::LogSource;
use crate::out::say;
use crate::remote::Remote;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Create a sink; prints its id, and a webhook's signing secret (shown once).
    Create(Box<Create>),
    /// List the sinks: where each stands, and how its deliveries go.
    List {
        #[command(flatten)]
        source: LogSource,
        /// Print JSON Lines, one sink per line.
        #[arg(long)]
        json: bool,
    },
    /// Stop delivering (the cursor is kept).
    Pause(One),
    /// Deliver again from the cursor.
    Resume(One),
    /// Move the cursor: deliver again from a sequence number, or from the first event at
    /// or after a time.
    Replay {
        #[command(flatten)]
        one: One,
        /// The first sequence number to deliver.
        #[arg(long, conflicts_with = "time", required_unless_present = "time")]
        seq: Option<u64>,
        /// RFC 3339: from the first event whose timestamp is at or after it.
        #[arg(long)]
        time: Option<String>,
    },
    /// Delete a sink, its cursor and its secret.
    Delete(One),
}

#[derive(Debug, clap::Args)]
struct Create {
    #[command(flatten)]
    source: LogSource,
    /// A label for people.
    #[arg(long)]
    name: String,
    /// A tenant whose events the sink delivers (repeat for several).
    #[arg(long = "tenant", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Deliver the events of every tenant.
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    #[command(flatten)]
    to: To,
    /// A file holding the receiver's credential (`-`: standard input): a HEC token, a
    /// Datadog API key, the value of `--otlp-header`. Stored sealed; never shown again.
    #[arg(long)]
    secret_file: Option<std::path::PathBuf>,
    /// Only these actions (exact, or a prefix written `permission.*`; repeat).
    #[arg(long = "action")]
    actions: Vec<String>,
    /// Only these outcomes (success, failure, denied, error; repeat).
    #[arg(long = "outcome")]
    outcomes: Vec<String>,
    /// Only this actor (`actor.user_id`).
    #[arg(long)]
    actor: Option<String>,
    /// Most events per batch (default 500, at most 1000).
    #[arg(long, default_value_t = 0)]
    batch_size: u32,
    /// The first sequence number to deliver (default: only events from now on).
    #[arg(long)]
    from_seq: Option<u64>,
    #[command(flatten)]
    details: Details,
}

/// Where the sink delivers: one destination.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct To {
    /// POST signed JSON batches to this URL (Standard Webhooks).
    #[arg(long)]
    webhook: Option<String>,
    /// OTLP logs over HTTP/protobuf to this endpoint (`/v1/logs` added to a bare URL).
    #[arg(long)]
    otlp_http: Option<String>,
    /// OTLP logs over gRPC to this `http(s)://host:port`.
    #[arg(long)]
    otlp_grpc: Option<String>,
    /// Splunk HTTP Event Collector at this URL (`/services/collector/event` added to a
    /// bare URL); the token in `--secret-file`.
    #[arg(long)]
    splunk_hec: Option<String>,
    /// Datadog logs intake at this URL (`/api/v2/logs` added to a bare URL, e.g.
    /// `https://http-intake.logs.datadoghq.com`); the API key in `--secret-file`.
    #[arg(long)]
    datadog: Option<String>,
}

/// Details of a destination, each for one kind.
#[derive(Debug, clap::Args)]
struct Details {
    /// Webhook: each batch carries the proof of its events against a signed checkpoint
    /// (`auditlog verify-stream` checks them). A sink of one tenant or all, no filter.
    #[arg(long)]
    proofs: bool,
    /// OTLP: the header the credential is sent in (e.g. `authorization`).
    #[arg(long)]
    otlp_header: Option<String>,
    /// Splunk HEC: `index`.
    #[arg(long)]
    hec_index: Option<String>,
    /// Splunk HEC: `source`.
    #[arg(long)]
    hec_source: Option<String>,
    /// Splunk HEC: `sourcetype` (default `auditlog`).
    #[arg(long)]
    hec_sourcetype: Option<String>,
    /// Splunk HEC: `host`.
    #[arg(long)]
    hec_host: Option<String>,
    /// Datadog: `service` (default `auditlog`).
    #[arg(long)]
    dd_service: Option<String>,
    /// Datadog: `ddsource` (default `auditlog`).
    #[arg(long)]
    dd_source: Option<String>,
    /// Datadog: `ddtags`, comma-separated `key:value`.
    #[arg(long)]
    dd_tags: Option<String>,
    /// Datadog: `hostname`.
    #[arg(long)]
    dd_hostname: Option<String>,
}

impl Create {
    /// The destination the flags name.
    fn destination(&self) -> pb::sink_spec::Destination {
        use pb::sink_spec::Destination as D;
        let (to, d) = (&self.to, &self.details);
        let text = |t: &Option<String>| t.clone().unwrap_or_default();
        let otlp = |url: &String, protocol: pb::OtlpProtocol| {
            D::Otlp(pb::OtlpDestination {
                url: url.clone(),
                protocol: protocol as i32,
                secret_header: text(&d.otlp_header),
            })
        };
        if let Some(url) = &to.otlp_http {
            otlp(url, pb::OtlpProtocol::HttpProtobuf)
        } else if let Some(url) = &to.otlp_grpc {
            otlp(url, pb::OtlpProtocol::Grpc)
        } else if let Some(url) = &to.splunk_hec {
            D::SplunkHec(pb::SplunkHecDestination {
                url: url.clone(),
                index: text(&d.hec_index),
                source: text(&d.hec_source),
                sourcetype: text(&d.hec_sourcetype),
                host: text(&d.hec_host),
            })
        } else if let Some(url) = &to.datadog {
            D::Datadog(pb::DatadogDestination {
                url: url.clone(),
                service: text(&d.dd_service),
                source: text(&d.dd_source),
                tags: text(&d.dd_tags),
                hostname: text(&d.dd_hostname),
            })
        } else {
            D::Webhook(pb::WebhookDestination {
                url: text(&to.webhook),
                proofs: d.proofs,
            })
        }
    }

    /// The credential in `--secret-file`, its trailing newline dropped.
    fn secret(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.secret_file else {
            return Ok(None);
        };
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--secret-file {}: {e}", path.display()))?
        };
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

#[derive(Debug, clap::Args)]
struct One {
    #[command(flatten)]
    source: LogSource,
    /// The sink's id (`snk_…`).
    id: String,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        Verb::Create(create) => {
            let remote = connect(&create.source)?;
            let destination = create.destination();
            let secret = create.secret()?;
            let outcomes = (create.outcomes.iter())
                .map(|o| {
                    match pb::Outcome::from_str_name(&format!("OUTCOME_{}", o.to_uppercase())) {
                        Some(outcome) if outcome != pb::Outcome::Unspecified => Ok(outcome as i32),
                        _ => bail!("--outcome {o}: success, failure, denied or error"),
                    }
                })
                .collect::<anyhow::Result<_>>()?;
            let spec = pb::SinkSpec {
                name: create.name,
                scope: Some(pb::SinkScope {
                    tenants: create.tenants,
                    all_tenants: create.all_tenants,
                }),
                filter: Some(pb::Filter {
                    actor: create.actor,
                    actions: create.actions,
                    outcomes,
                    ..pb::Filter::default()
                }),
                destination: Some(destination),
                batch_size: create.batch_size,
            };
            let request = pb::CreateSinkRequest {
                spec: Some(spec),
                from_seq: create.from_seq,
                secret,
            };
            let answer =
                remote.sink_call(request, |mut c, r| async move { c.create_sink(r).await })?;
            let sink = answer.sink.unwrap_or_default();
            say!("sink {} created at cursor {}", sink.id, sink.cursor);
            if !answer.secret.is_empty() {
                say!("webhook secret (shown once): {}", answer.secret);
            }
        }
        Verb::List { source, json } => {
            let remote = connect(&source)?;
            let answer = remote.sink_call(pb::ListSinksRequest {}, |mut c, r| async move {
                c.list_sinks(r).await
            })?;
            for sink in &answer.sinks {
                if json {
                    say!("{}", auditlog_proto::sink_json::sink_info(sink));
                } else {
                    show(sink);
                }
            }
        }
        Verb::Pause(one) => change(
            &one,
            "paused",
            |mut c, r| async move { c.pause_sink(r).await },
        )?,
        Verb::Resume(one) => {
            change(
                &one,
                "resumed",
                |mut c, r| async move { c.resume_sink(r).await },
            )?;
        }
        Verb::Delete(one) => {
            change(
                &one,
                "deleted",
                |mut c, r| async move { c.delete_sink(r).await },
            )?;
        }
        Verb::Replay { one, seq, time } => {
            let remote = connect(&one.source)?;
            let from = match (seq, time) {
                (Some(seq), _) => pb::replay_sink_request::From::Seq(seq),
                (None, Some(time)) => pb::replay_sink_request::From::Time(time),
                (None, None) => bail!("replay from --seq or --time"),
            };
            let request = pb::ReplaySinkRequest {
                id: one.id,
                from: Some(from),
            };
            let answer =
                remote.sink_call(request, |mut c, r| async move { c.replay_sink(r).await })?;
            let sink = answer.sink.unwrap_or_default();
            say!("sink {} replays from {}", sink.id, sink.cursor);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn connect(source: &LogSource) -> anyhow::Result<Remote> {
    if source.server.server.is_none() {
        bail!("sinks run in auditlogd: give --server URL and an admin --key");
    }
    Remote::connect(&source.server)
}

/// Pauses, resumes or deletes sink `one.id` with `call`.
fn change<Fut>(
    one: &One,
    done: &str,
    call: impl FnOnce(
        pb::sink_service_client::SinkServiceClient<tonic::transport::Channel>,
        tonic::Request<pb::SinkRequest>,
    ) -> Fut,
) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = Result<tonic::Response<pb::SinkResponse>, tonic::Status>>,
{
    let remote = connect(&one.source)?;
    let answer = remote.sink_call(pb::SinkRequest { id: one.id.clone() }, call)?;
    let sink = answer.sink.unwrap_or_default();
    say!("sink {} {done} (cursor {})", sink.id, sink.cursor);
    Ok(())
}

fn show(sink: &pb::SinkInfo) {
    let spec = sink.spec.clone().unwrap_or_default();
    let scope = spec.scope.unwrap_or_default();
    let tenants = if scope.all_tenants {
        "all tenants".to_owned()
    } else {
        scope.tenants.join(",")
    };
    let destination = match spec.destination {
        Some(pb::sink_spec::Destination::Webhook(w)) => {
            let proofs = if w.proofs { " with proofs" } else { "" };
            format!("webhook {}{proofs}", w.url)
        }
        Some(pb::sink_spec::Destination::Otlp(o)) => {
            let protocol = match pb::OtlpProtocol::try_from(o.protocol) {
                Ok(pb::OtlpProtocol::Grpc) => "grpc",
                _ => "http",
            };
            format!("otlp-{protocol} {}", o.url)
        }
        Some(pb::sink_spec::Destination::SplunkHec(h)) => format!("splunk-hec {}", h.url),
        Some(pb::sink_spec::Destination::Datadog(d)) => format!("datadog {}", d.url),
        None => "no destination".to_owned(),
    };
    say!(
        "{}  {}  {}  {}  cursor {}  {}  delivered {}  failures {}{}",
        sink.id,
        spec.name,
        tenants,
        destination,
        sink.cursor,
        sink.state,
        sink.delivered,
        sink.failures,
        sink.last_error
            .as_ref()
            .map_or(String::new(), |e| format!("  last error: {e}"))
    );
}
