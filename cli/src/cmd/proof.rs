//! `auditlog proof verify FILE|-`: check a proof offline. Exit 0 when it is valid, 1 when
//! it is not, 2 when the input is not proof JSON.

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Verify an inclusion or consistency proof (RFC 9162 §2.1.3.2, §2.1.4.2).
    Verify {
        /// The proof JSON file, or `-` for stdin.
        file: PathBuf,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Command::Verify { file } = args.command;
    let text = super::read_file_or_stdin(&file)?;
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
