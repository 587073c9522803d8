//! `auditlog`: the command-line tool. Each subcommand lives in `cmd/`; this file parses
//! arguments and maps errors to exit codes once (see [`exit`]).

mod cmd;
mod exit;
mod out;
mod remote;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(error) => exit::report(&error),
    }
}
