//! `auditlog hold`: legal holds by tenant, placed and lifted as events of the log's
//! `_system` tenant and read back from it (docs/OPERATIONS.md, "Retention, legal holds
//! and S3 Object Lock"). Placing or lifting opens the log to write (stop a running auditlogd first);
//! listing reads it.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::system::SystemActor;

use super::{DataDir, KekArgs};
use crate::out::say;

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
        data: DataDir,
        /// Print JSON Lines, one hold per line.
        #[arg(long)]
        json: bool,
    },
}

/// A hold placed or lifted.
#[derive(Debug, clap::Args)]
struct Change {
    #[command(flatten)]
    data: DataDir,
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
        Verb::Place(c) => change(&c, |log| {
            log.place_hold(SystemActor::Cli, &c.tenant, &c.reason)?;
            say!("legal hold placed on tenant {:?}", c.tenant);
            Ok(())
        }),
        Verb::Lift(c) => change(&c, |log| {
            log.lift_hold(SystemActor::Cli, &c.tenant, &c.reason)?;
            say!("legal hold on tenant {:?} lifted", c.tenant);
            Ok(())
        }),
        Verb::List { data, json } => {
            let log = data.open_for_reading()?;
            for hold in log.legal_holds()? {
                if json {
                    let line = serde_json::json!({
                        "tenant": hold.tenant,
                        "placed_at": hold.placed_at.to_rfc3339(),
                        "seq": hold.seq,
                        "reason": hold.reason,
                    });
                    say!("{line}");
                } else {
                    say!(
                        "{}  since {} (event {}): {}",
                        hold.tenant,
                        hold.placed_at,
                        hold.seq,
                        hold.reason
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the log to write and makes one change, recorded durably before it returns.
fn change(
    change: &Change,
    act: impl FnOnce(&auditlog_engine::Log) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let (data, kek) = (&change.data, &change.kek);
    data.require_log()?;
    let mut options = data.open_options()?;
    if let Some(kek) = kek.load()? {
        options = options.kek(kek);
    }
    let log = options.open(&data.dir).with_context(|| {
        format!(
            "opening {} to record the hold (a running auditlogd holds it: stop it first)",
            data.dir.display()
        )
    })?;
    act(&log)?;
    log.close();
    Ok(ExitCode::SUCCESS)
}
