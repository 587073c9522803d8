//! `auditlog prove inclusion|consistency`: print proof JSON, or an inclusion proof in the
//! C2SP tlog-proof form with its signed checkpoint.

use std::process::ExitCode;

use anyhow::Context;
use auditlog_engine::HashAlg;
use auditlog_engine::checkpoint::{SignedCheckpoint, TlogProof};
use auditlog_engine::merkle::{Hash, InclusionProof, Proof};

use super::{LogSource, Reader};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

/// How an inclusion proof is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// auditlog's proof JSON (docs/PROOFS.md), against any tree size.
    Json,
    /// C2SP tlog-proof text: the entry's record, the path and the signed checkpoint it
    /// leads to (the newest, or the one of --tree-size); SHA-256 logs only.
    TlogProof,
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
        /// The tree size to prove against (default: the current size, or for a
        /// tlog-proof the newest checkpoint's).
        #[arg(long)]
        tree_size: Option<u64>,
        /// The form printed.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
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
            format: Format::TlogProof,
        } => {
            let proof = tlog_proof(source.open()?, index, tree_size)?;
            say!("{}", proof.to_text().trim_end_matches('\n'));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Inclusion {
            source,
            index,
            tree_size,
            format: Format::Json,
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

/// Entry `index` proven against the checkpoint of `tree_size` (the newest by default),
/// with its record payload as the extra data.
fn tlog_proof(reader: Reader, index: u64, tree_size: Option<u64>) -> anyhow::Result<TlogProof> {
    let no_checkpoint = || match tree_size {
        Some(size) => anyhow::anyhow!("no checkpoint was signed at tree size {size}"),
        None => anyhow::anyhow!("no checkpoint has been signed yet"),
    };
    let (checkpoint, proof, record): (SignedCheckpoint, InclusionProof, Vec<u8>) = match reader {
        Reader::Local(log) => {
            let checkpoint = match tree_size {
                Some(size) => log.checkpoint_at(size)?,
                None => log.latest_checkpoint(),
            }
            .ok_or_else(no_checkpoint)?;
            let proof = log.prove_inclusion(index, Some(checkpoint.checkpoint.tree_size))?;
            let record = log
                .record_payload(index)?
                .with_context(|| format!("record {index} is not in the log"))?;
            (checkpoint, proof, record)
        }
        Reader::Remote(remote) => {
            let text = remote.checkpoint(tree_size)?.ok_or_else(no_checkpoint)?;
            let checkpoint =
                SignedCheckpoint::parse(text.as_bytes()).context("the server's checkpoint")?;
            let size = Some(checkpoint.checkpoint.tree_size);
            let (proof, record) = remote.prove_record(index, size, true)?;
            (checkpoint, proof, record)
        }
    };
    anyhow::ensure!(
        proof.hash == HashAlg::Sha256,
        "a tlog-proof is of a SHA-256 tree; this log is {}",
        proof.hash
    );
    anyhow::ensure!(
        proof.root == checkpoint.checkpoint.root,
        "the proof does not lead to the checkpoint's root"
    );
    // A server too old to send records sends none: never print a proof that cannot hold.
    anyhow::ensure!(
        proof.leaf_hash == HashAlg::Sha256.hash_leaf(&record),
        "the record given for entry {index} is not its leaf (a server without records in \
         its proofs?)"
    );
    let path = proof
        .path
        .iter()
        .map(|h| Hash::try_from(h.as_slice()))
        .collect::<Result<Vec<Hash>, _>>()
        .context("a proof hash is not 32 bytes")?;
    Ok(TlogProof {
        extra: Some(record),
        index,
        path,
        checkpoint,
    })
}
