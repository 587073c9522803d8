//! `auditlog checkpoint`: the log's signed tree heads (C2SP signed notes). With no verb it
//! prints the newest one; `issue` signs the current tree now; `list` prints the size and
//! root of every one kept (the bounds a tenant's bundle can be taken between); `verify`
//! checks a note against a verifier key, offline, with nothing but the note and the key.
//! The printing verbs read a data directory or, with `--server`, a running auditlogd.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::checkpoint::{NoteVerifier, SignedCheckpoint};
use auditlog_engine::hex;

use super::{DataDir, KekArgs, LogSource, Reader};
use crate::exit::{CHECK_FAILED, CheckFailed};
use crate::out::say;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(flatten)]
    source: LogSource,
    /// Print the checkpoint issued at this tree size instead of the newest.
    #[arg(long, value_name = "N")]
    tree_size: Option<u64>,
    #[command(subcommand)]
    verb: Option<Verb>,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Make every event appended so far durable and sign a checkpoint of the tree now.
    Issue {
        #[command(flatten)]
        data: DataDir,
        #[command(flatten)]
        kek: KekArgs,
    },
    /// Print the tree size and root of every checkpoint kept, oldest first.
    List {
        #[command(flatten)]
        source: LogSource,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check a signed checkpoint note against a verifier key.
    Verify {
        /// The verifier key (`<name>+<key id>+<key>`), or a file holding it.
        #[arg(long, value_name = "VKEY")]
        key: String,
        /// The signed note (`-` for stdin).
        file: PathBuf,
        #[command(flatten)]
        witnesses: super::witnesses::WitnessArgs,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        None => {
            let note = match (args.source.open()?, args.tree_size) {
                (Reader::Local(log), None) => log.latest_checkpoint().map(|c| c.to_text()),
                (Reader::Local(log), Some(size)) => log.checkpoint_at(size)?.map(|c| c.to_text()),
                (Reader::Remote(remote), size) => remote.checkpoint(size)?,
            };
            let Some(note) = note else {
                let dir = args.source.data.dir.display();
                return Err(CheckFailed(match args.tree_size {
                    Some(size) => format!("no checkpoint was issued at tree size {size}"),
                    None if args.source.server.server.is_some() => {
                        "the server has signed no checkpoint yet".to_owned()
                    }
                    None => format!(
                        "{dir} has no checkpoint yet (`auditlog checkpoint issue --data {dir}` \
                         signs one)"
                    ),
                })
                .into());
            };
            crate::out::raw(note.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::Issue { data, kek }) => {
            data.require_log()?;
            let mut options = data.open_options()?;
            if let Some(kek) = kek.load()? {
                options = options.kek(kek);
            }
            let log = options
                .open(&data.dir)
                .with_context(|| format!("opening {}", data.dir.display()))?;
            let signed = log.checkpoint()?;
            log.close();
            crate::out::raw(signed.to_text().as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::List { source, json }) => {
            let all = match source.open()? {
                Reader::Local(log) => log.checkpoints()?,
                Reader::Remote(remote) => remote.checkpoints()?,
            };
            for signed in all {
                let c = signed.checkpoint;
                let root = hex::encode(&c.root);
                let heads = c.tenant_heads.map(|h| (h.count, hex::encode(&h.root)));
                if json {
                    let heads = heads
                        .map(|(count, root)| serde_json::json!({"count": count, "root": root}));
                    let line = serde_json::json!({
                        "tree_size": c.tree_size,
                        "root": root,
                        "tenant_heads": heads,
                    });
                    say!("{line}");
                } else {
                    match heads {
                        Some((count, _)) => say!("{} {root} ({count} tenants)", c.tree_size),
                        None => say!("{} {root}", c.tree_size),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Verb::Verify {
            key,
            file,
            witnesses,
        }) => verify(&key, &file, &witnesses),
    }
}

/// Reads a verifier key given as text or as a file holding it.
pub(crate) fn read_key(key: &str) -> anyhow::Result<NoteVerifier> {
    match NoteVerifier::parse(key) {
        Ok(verifier) => Ok(verifier),
        Err(as_text) => {
            let path = std::path::Path::new(key);
            if !path.exists() {
                anyhow::bail!("--key: {as_text} (and no file is named so)");
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            NoteVerifier::parse(&text).with_context(|| format!("{}", path.display()))
        }
    }
}

fn verify(
    key: &str,
    file: &std::path::Path,
    witnesses: &super::witnesses::WitnessArgs,
) -> anyhow::Result<ExitCode> {
    let key = read_key(key)?;
    let policy = witnesses.policy()?;
    let bytes = super::read_file_or_stdin(file)?;
    match SignedCheckpoint::open(&bytes, &key) {
        Ok(signed) => {
            let witnessed = policy
                .as_ref()
                .map(|policy| super::witnesses::check(policy, &signed.note))
                .transpose();
            let witnessed = match witnessed {
                Ok(witnessed) => witnessed,
                Err(why) => {
                    say!("invalid: {why}");
                    return Ok(ExitCode::from(CHECK_FAILED));
                }
            };
            let c = &signed.checkpoint;
            say!(
                "ok: {} tree size {} root {} signed by {}+{:08x}",
                c.origin,
                c.tree_size,
                hex::encode(&c.root),
                key.name(),
                key.key_id()
            );
            if let Some(heads) = &c.tenant_heads {
                say!(
                    "tenant heads: {} tenants, root {}",
                    heads.count,
                    hex::encode(&heads.root)
                );
            }
            if let Some(witnessed) = witnessed {
                say!("witnessed: {}", witnessed.said);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!("invalid: {e}");
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}
