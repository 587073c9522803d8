//! `auditlog key show`: the log's public verifier key in the signed-note text form
//! (`<name>+<8 hex key id>+<base64 of 0x01 and the key>`), for auditors. The private key
//! is never printed.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::storage::FsStorage;

use super::DataDir;
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
        data: DataDir,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.verb {
        Verb::Show { data } => {
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
