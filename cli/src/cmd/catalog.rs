//! `auditlog catalog`: the action catalog (docs/CATALOG.md), kept as events of the log's
//! `_system` tenant: `apply` a catalog file (actions, their metadata schemas and how often
//! each should be seen), `remove` one, `list` it, and the `coverage` report of what the
//! instrumentation misses. On a data directory (changes open the log to write, so not
//! while auditlogd runs on it), or through a running auditlogd (`--server URL --key
//! ADMIN_KEY`), whose next events are checked against the new schemas at once.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use auditlog_engine::Timestamp;
use auditlog_engine::catalog::ActionSpec;
use auditlog_engine::system::SystemActor;
use auditlog_proto::convert::{coverage_to_proto, entry_to_proto, spec_from_proto, spec_to_proto};
use auditlog_proto::v1 as pb;

use super::{KekArgs, LogSource, Reader, read_file_or_stdin};
use crate::exit::CheckFailed;
use crate::out::say;
use crate::remote::Remote;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Define the actions of a catalog file: a JSON array of entries (or one entry), `-`
    /// for stdin. New actions are added, changed ones get a new version, unchanged ones
    /// are left as they are.
    Apply {
        /// The catalog file.
        file: PathBuf,
        /// Also remove the catalogued actions the file does not name.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        kek: KekArgs,
    },
    /// Remove an action from the catalog.
    Remove {
        /// The action.
        action: String,
        /// Why: recorded with the removal.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        kek: KekArgs,
    },
    /// Print the catalog.
    List {
        #[command(flatten)]
        source: LogSource,
        /// Print JSON Lines: one entry per line, its members as in a catalog file, with its
        /// `version` and `defined_at`.
        #[arg(long)]
        json: bool,
    },
    /// Print the coverage report: catalogued actions never seen or not seen within their
    /// expectation, and actions seen that are not catalogued (gaps first).
    Coverage {
        #[command(flatten)]
        source: LogSource,
        /// One tenant's coverage (every tenant's when absent).
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON Lines, one action per line.
        #[arg(long)]
        json: bool,
        /// Exit 1 when the report has a gap (for a monitoring job).
        #[arg(long)]
        check: bool,
    },
}

/// Where changes go: a data directory opened to write, or a server.
enum Target {
    Local(auditlog_engine::Log),
    Remote(Remote),
}

impl Target {
    fn open(source: &LogSource, kek: &KekArgs, doing: &str) -> anyhow::Result<Target> {
        if source.server.server.is_some() {
            if kek.file().is_some() {
                bail!("--kek-file is for a data directory: a server has its own");
            }
            return Ok(Target::Remote(Remote::connect(&source.server)?));
        }
        Ok(Target::Local(kek.open_to_write(&source.data, doing)?))
    }

    /// The catalog now, as entries on the wire.
    fn list(&self) -> anyhow::Result<Vec<pb::CatalogAction>> {
        match self {
            Target::Local(log) => Ok(log.catalog()?.entries().map(entry_to_proto).collect()),
            Target::Remote(remote) => remote.list_catalog(),
        }
    }

    /// Defines `spec`: its version, and whether that changed anything.
    fn define(&self, spec: &ActionSpec) -> anyhow::Result<(u32, bool)> {
        match self {
            Target::Local(log) => {
                if let Some(schema) = &spec.schema {
                    auditlog_catalog::check_schema(&spec.action, schema)?;
                }
                let defined = log.define_action(SystemActor::Cli, spec)?;
                Ok((defined.version, defined.seq.is_some()))
            }
            Target::Remote(remote) => {
                let answer = remote.define_action(spec_to_proto(spec, None))?;
                Ok((answer.version, answer.changed))
            }
        }
    }

    fn remove(&self, action: &str, reason: &str) -> anyhow::Result<()> {
        match self {
            Target::Local(log) => {
                log.remove_action(SystemActor::Cli, action, reason)?;
            }
            Target::Remote(remote) => {
                remote.remove_action(action, reason)?;
            }
        }
        Ok(())
    }

    fn close(self) {
        if let Target::Local(log) = self {
            log.close();
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        Verb::Apply {
            file,
            prune,
            source,
            kek,
        } => {
            let specs = read_catalog(&file)?;
            let target = Target::open(&source, &kek, "to change the catalog")?;
            let named: BTreeSet<&str> = specs.iter().map(|s| s.action.as_str()).collect();
            for spec in &specs {
                let (version, changed) = target.define(spec)?;
                match changed {
                    true => say!("{}: version {version}", spec.action),
                    false => say!("{}: version {version}, unchanged", spec.action),
                }
            }
            if prune {
                for entry in target.list()? {
                    if !named.contains(entry.action.as_str()) {
                        let reason = format!("not in {}", file.display());
                        target.remove(&entry.action, &reason)?;
                        say!("{}: removed", entry.action);
                    }
                }
            }
            target.close();
            Ok(ExitCode::SUCCESS)
        }
        Verb::Remove {
            action,
            reason,
            source,
            kek,
        } => {
            let target = Target::open(&source, &kek, "to change the catalog")?;
            target.remove(&action, &reason)?;
            target.close();
            say!("{action}: removed");
            Ok(ExitCode::SUCCESS)
        }
        Verb::List { source, json } => {
            let entries = match source.open()? {
                Reader::Local(log) => log.catalog()?.entries().map(entry_to_proto).collect(),
                Reader::Remote(remote) => remote.list_catalog()?,
            };
            for entry in entries {
                print_entry(entry, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Coverage {
            source,
            tenant,
            json,
            check,
        } => {
            // An empty tenant is every tenant, as through a server.
            let tenant = tenant.filter(|t| !t.is_empty());
            let report = match source.open()? {
                Reader::Local(log) => {
                    coverage_to_proto(&log.coverage(tenant.as_deref(), Timestamp::now())?)
                }
                Reader::Remote(remote) => remote.coverage(tenant.as_deref().unwrap_or(""))?,
            };
            let gaps = report.actions.iter().filter(|a| a.status != "seen").count();
            for action in &report.actions {
                print_coverage(action, json);
            }
            if !json {
                let over = match &tenant {
                    Some(t) => format!("tenant {t:?}"),
                    None => "every tenant".to_owned(),
                };
                say!(
                    "{gaps} gap(s) in {} action(s), over {over}, at {}",
                    report.actions.len(),
                    report.at
                );
            }
            if check && gaps > 0 {
                return Err(CheckFailed(format!("coverage has {gaps} gap(s)")).into());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The entries of a catalog file: a JSON array of entries, or one entry.
fn read_catalog(file: &std::path::Path) -> anyhow::Result<Vec<ActionSpec>> {
    let bytes = read_file_or_stdin(file)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", file.display()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let mut specs = Vec::with_capacity(items.len());
    let mut seen = BTreeSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let spec: ActionSpec = serde_json::from_value(item)
            .with_context(|| format!("{}: entry {i}", file.display()))?;
        spec.check()
            .with_context(|| format!("{}: entry {i}", file.display()))?;
        if !seen.insert(spec.action.clone()) {
            bail!("{}: entry {i} names {} again", file.display(), spec.action);
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn print_entry(entry: pb::CatalogAction, json: bool) -> anyhow::Result<()> {
    let (version, defined_at) = (entry.version, entry.defined_at.clone());
    let spec = spec_from_proto(entry).map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    if json {
        let mut line = serde_json::to_value(&spec)?;
        line["version"] = version.into();
        line["defined_at"] = defined_at.into();
        say!("{line}");
        return Ok(());
    }
    let every = spec
        .every_days
        .map(|d| format!(", seen every {d} day(s)"))
        .unwrap_or_default();
    let schema = match &spec.schema {
        Some(_) => format!(", schema (on invalid: {})", spec.on_invalid.name()),
        None => String::new(),
    };
    say!(
        "{}  version {version} of {defined_at}{schema}{every}{}",
        spec.action,
        if spec.description.is_empty() {
            String::new()
        } else {
            format!(": {}", spec.description)
        }
    );
    Ok(())
}

fn print_coverage(a: &pb::ActionCoverage, json: bool) {
    if json {
        let mut line = serde_json::json!({
            "action": a.action,
            "status": a.status,
            "events": a.events,
        });
        if a.every_days > 0 {
            line["every_days"] = a.every_days.into();
        }
        if !a.last_seen.is_empty() {
            line["last_seen"] = a.last_seen.clone().into();
            line["last_seq"] = a.last_seq.into();
        }
        say!("{line}");
        return;
    }
    let last = match a.last_seen.as_str() {
        "" => "never seen".to_owned(),
        at => format!("last seen {at} (event {})", a.last_seq),
    };
    let every = match a.every_days {
        0 => String::new(),
        d => format!(", expected every {d} day(s)"),
    };
    say!(
        "{:<16} {}  {} event(s), {last}{every}",
        a.status,
        a.action,
        a.events
    );
}
