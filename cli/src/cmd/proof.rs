//! `auditlog proof verify FILE|-`: check a proof offline, proof JSON or a C2SP tlog-proof
//! (which needs the log's key, `--key`, for its checkpoint). Exit 0 when it is valid, 1
//! when it is not, 2 when the input is not a proof.

use std::path::PathBuf;
use std::process::ExitCode;

use auditlog_engine::checkpoint::{TLOG_PROOF_HEADER, TlogProof, TlogProofError};
use auditlog_engine::merkle::Proof;

use crate::exit::{CHECK_FAILED, UNUSABLE};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Verify an inclusion or consistency proof (RFC 9162 §2.1.3.2, §2.1.4.2), as proof
    /// JSON or as a C2SP tlog-proof.
    Verify {
        /// The proof file, or `-` for stdin.
        file: PathBuf,
        /// The log's verifier key (`auditlog key show`), as text or a file holding it:
        /// required for a tlog-proof, whose checkpoint it checks.
        #[arg(long)]
        key: Option<String>,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Verify { file, key } = args.command;
    let text = super::read_file_or_stdin(&file)?;
    if text.starts_with(TLOG_PROOF_HEADER.as_bytes()) {
        return verify_tlog_proof(&text, key.as_deref());
    }
    let proof = match Proof::from_json(&text) {
        Ok(proof) => proof,
        Err(e) => {
            eprintln!("auditlog: {e}");
            return Ok(ExitCode::from(UNUSABLE));
        }
    };
    match proof.verify() {
        Ok(()) => {
            say!("valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!("invalid: {e}");
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}

fn verify_tlog_proof(text: &[u8], key: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(key) = key else {
        eprintln!("auditlog: a tlog-proof is checked against its log's key: give --key VKEY");
        return Ok(ExitCode::from(UNUSABLE));
    };
    let key = super::checkpoint::read_key(key)?;
    let parsed = std::str::from_utf8(text)
        .map_err(|_| TlogProofError::Malformed("not UTF-8".into()))
        .and_then(TlogProof::parse);
    let proof = match parsed {
        Ok(proof) => proof,
        Err(e) => {
            eprintln!("auditlog: {e}");
            return Ok(ExitCode::from(UNUSABLE));
        }
    };
    match proof.verify(&key) {
        Ok(()) => {
            let checkpoint = &proof.checkpoint.checkpoint;
            say!(
                "valid: entry {} of {} is in its checkpoint of tree size {}, signed by {}+{:08x}",
                proof.index,
                checkpoint.origin,
                checkpoint.tree_size,
                key.name(),
                key.key_id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say!("invalid: {e}");
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}
