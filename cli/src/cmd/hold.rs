//! `auditlog hold`: legal holds by tenant, placed and lifted as events of the log's
//! `_system` tenant and read back from it (docs/OPERATIONS.md, "Retention, legal holds
//! and S3 Object Lock"): on a data directory (placing or lifting opens the log to write,
//! so not while auditlogd runs on it), or through a running auditlogd (`--server URL
//! --key ADMIN_KEY`).

use std::process::ExitCode;

use auditlog_engine::system::SystemActor;

use super::{KekArgs, LogSource, Reader};
use crate::out::say;
use crate::remote::Remote;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Place a legal hold on a tenant: none of its events may be deleted by retention.
    Place(Change),
    /// Lift a tenant's legal hold.
    Lift(Change),
    /// List the holds in force.
    List {
        #[command(flatten)]
        source: LogSource,
        /// Print JSON Lines, one hold per line.
        #[arg(long)]
        json: bool,
    },
}

/// A hold placed or lifted.
#[derive(Debug, clap::Args)]
struct Change {
    #[command(flatten)]
    source: LogSource,
    /// The tenant (`organization.id`).
    #[arg(long)]
    tenant: String,
    /// Why (a case number, a request): recorded with the change.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    kek: KekArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        Verb::Place(c) => change(&c, true),
        Verb::Lift(c) => change(&c, false),
        Verb::List { source, json } => {
            let holds: Vec<(String, String, u64, String)> = match source.open()? {
                Reader::Local(log) => log
                    .legal_holds()?
                    .into_iter()
                    .map(|h| (h.tenant, h.placed_at.to_rfc3339(), h.seq, h.reason))
                    .collect(),
                Reader::Remote(remote) => remote
                    .list_holds()?
                    .into_iter()
                    .map(|h| (h.tenant, h.placed_at, h.seq, h.reason))
                    .collect(),
            };
            for (tenant, placed_at, seq, reason) in holds {
                if json {
                    let line = serde_json::json!({
                        "tenant": tenant,
                        "placed_at": placed_at,
                        "seq": seq,
                        "reason": reason,
                    });
                    say!("{line}");
                } else {
                    say!("{tenant}  since {placed_at} (event {seq}): {reason}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Places (`place`) or lifts a hold, recorded durably before it returns: through the
/// server given, or by opening the data directory to write.
fn change(change: &Change, place: bool) -> anyhow::Result<ExitCode> {
    let (tenant, reason) = (&change.tenant, &change.reason);
    if change.source.server.server.is_some() {
        if change.kek.file().is_some() {
            anyhow::bail!("--kek-file is for a data directory: a server has its own");
        }
        let remote = Remote::connect(&change.source.server)?;
        remote.change_hold(tenant, reason, place)?;
    } else {
        let log = change
            .kek
            .open_to_write(&change.source.data, "to record the hold")?;
        match place {
            true => log.place_hold(SystemActor::Cli, tenant, reason)?,
            false => log.lift_hold(SystemActor::Cli, tenant, reason)?,
        };
        log.close();
    }
    match place {
        true => say!("legal hold placed on tenant {tenant:?}"),
        false => say!("legal hold on tenant {tenant:?} lifted"),
    }
    Ok(ExitCode::SUCCESS)
}
