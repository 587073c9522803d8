//! `auditlog sink`: the sinks of a running auditlogd (`--server URL --key ADMIN_KEY`),
//! which stream its log to receivers (docs/SINKS.md): created (a webhook's signing
//! secret is printed once), listed with where each stands, paused, resumed, replayed
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
    Create(Create),
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
    /// POST signed JSON batches to this URL (Standard Webhooks).
    #[arg(long)]
    webhook: String,
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
                destination: Some(pb::sink_spec::Destination::Webhook(
                    pb::WebhookDestination {
                        url: create.webhook,
                    },
                )),
                batch_size: create.batch_size,
            };
            let request = pb::CreateSinkRequest {
                spec: Some(spec),
                from_seq: create.from_seq,
            };
            let answer =
                remote.sink_call(request, |mut c, r| async move { c.create_sink(r).await })?;
            let sink = answer.sink.unwrap_or_default();
            say!("sink {} created at cursor {}", sink.id, sink.cursor);
            say!("webhook secret (shown once): {}", answer.secret);
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
        Some(pb::sink_spec::Destination::Webhook(w)) => format!("webhook {}", w.url),
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
