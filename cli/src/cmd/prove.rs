//! `auditlog prove inclusion|consistency`: print proof JSON.

use std::process::ExitCode;

use auditlog_engine::merkle::Proof;

use super::{LogSource, Reader};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Prove that event INDEX is in the tree.
    Inclusion {
        #[command(flatten)]
        source: LogSource,
        /// The leaf index (= sequence number).
        #[arg(long)]
        index: u64,
        /// The tree size to prove against (default: the current size).
        #[arg(long)]
        tree_size: Option<u64>,
    },
    /// Prove that the tree of SIZE2 leaves extends the tree of SIZE1 leaves.
    Consistency {
        #[command(flatten)]
        source: LogSource,
        /// The older tree size.
        #[arg(long)]
        size1: u64,
        /// The newer tree size.
        #[arg(long)]
        size2: u64,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let proof = match args.command {
        Command::Inclusion {
            source,
            index,
            tree_size,
        } => Proof::Inclusion(match source.open()? {
            Reader::Local(log) => log.prove_inclusion(index, tree_size)?,
            Reader::Remote(remote) => remote.prove_inclusion(index, tree_size)?,
        }),
        Command::Consistency {
            source,
            size1,
            size2,
        } => Proof::Consistency(match source.open()? {
            Reader::Local(log) => log.prove_consistency(size1, size2)?,
            Reader::Remote(remote) => remote.prove_consistency(size1, size2)?,
        }),
    };
    say!("{}", proof.to_json());
    Ok(ExitCode::SUCCESS)
}
