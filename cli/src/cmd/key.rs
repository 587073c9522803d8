//! `auditlog key show`: the log's public verifier key in the signed-note text form
//! (`<name>+<8 hex key id>+<base64 of 0x01 and the key>`), for auditors. The private key
//! is never printed. From a server (`--server`), the key it says it signs with: an
//! auditor should compare it with one obtained another way.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::storage::FsStorage;

use super::LogSource;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Print the public verifier key.
    Show {
        #[command(flatten)]
        source: LogSource,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        Verb::Show { source } if source.server.server.is_some() => {
            let remote = crate::remote::Remote::connect(&source.server)?;
            say!("{}", remote.verifier_key()?);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Show { source } => {
            let data = source.data;
            let key = load_verifier(&FsStorage::default(), &data.dir)
                .with_context(|| format!("reading the key of {}", data.dir.display()))?
                .with_context(|| {
                    format!(
                        "{} has no checkpoint key (a read-write open, e.g. `auditlog checkpoint issue`, makes one)",
                        data.dir.display()
                    )
                })?;
            say!("{}", key.to_text());
            Ok(ExitCode::SUCCESS)
        }
    }
}
