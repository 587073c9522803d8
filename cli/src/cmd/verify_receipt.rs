//! `auditlog verify-receipt FILE --key VKEY`: checks an erasure receipt (`auditlog
//! erase`) offline against the log's verifier key and prints what it states. Exit 0 only
//! if the signature holds.

use std::path::PathBuf;
use std::process::ExitCode;

use auditlog_engine::hex;
use auditlog_engine::privacy::ErasureReceipt;

use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The receipt (`-` for stdin).
    file: PathBuf,
    /// The log's verifier key (`auditlog key show`), as text or a file holding it.
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// Print what the receipt states as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = super::checkpoint::read_key(&args.key)?;
    let bytes = super::read_file_or_stdin(&args.file)?;
    let receipt = match ErasureReceipt::verify(&bytes, &key) {
        Ok(receipt) => receipt,
        Err(e) => {
            eprintln!("FAILED: {e}");
            return Ok(ExitCode::from(CHECK_FAILED));
        }
    };
    let e = &receipt.erasure;
    if args.json {
        let report = serde_json::json!({
            "origin": receipt.origin,
            "subject": e.subject,
            "key_id": format!("{:016x}", e.key_id),
            "erased_at": e.at.to_rfc3339(),
            "tree_size": e.tree_size,
            "root": hex::encode(&receipt.root),
        });
        say!("{report}");
    } else {
        say!(
            "ok: {} erased {:?} (key {:016x}) at {}, tree size {} root {}, signed by {}+{:08x}",
            receipt.origin,
            e.subject,
            e.key_id,
            e.at.to_rfc3339(),
            e.tree_size,
            hex::encode(&receipt.root),
            key.name(),
            key.key_id()
        );
    }
    Ok(ExitCode::SUCCESS)
}
