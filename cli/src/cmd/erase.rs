//! `auditlog erase --data DIR --subject ID`: erases a data subject's personal data by
//! destroying their key (docs/PRIVACY.md, "Erasure"). The erasure is durable before the
//! signed receipt is printed: a receipt printed is an erasure done; a run killed before
//! it printed one may or may not have erased (run it again: a subject erased already gets
//! the receipt of that erasure).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{DataDir, KekArgs};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    kek: KekArgs,
    /// The data subject: the `actor.user_id` whose personal fields to erase.
    #[arg(long, value_name = "ID")]
    subject: String,
    /// Write the signed erasure receipt to FILE (which must not exist) instead of stdout.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.data.require_log()?;
    let dir = &args.data.dir;
    let Some(kek) = args.kek.load()? else {
        anyhow::bail!(
            "erasing needs the log's key-encryption key: --kek-file FILE or AUDITLOG_KEK"
        );
    };
    let log = args
        .data
        .open_options()?
        .kek(kek)
        .open(dir)
        .with_context(|| format!("opening {}", dir.display()))?;
    let erased = log
        .erase(&args.subject)
        .with_context(|| format!("erasing {:?}", args.subject))?;
    log.close();
    let Some(erased) = erased else {
        anyhow::bail!(
            "{:?} has no key in {}: no event of this subject was sealed",
            args.subject,
            dir.display()
        );
    };
    let note = erased.note.to_text();
    match &args.receipt {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(note.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => crate::out::raw(note.as_bytes()),
    }
    let e = &erased.receipt.erasure;
    eprintln!(
        "auditlog: {} {:?}: key {:016x} destroyed at {}, tree size {}",
        if erased.earlier {
            "already erased"
        } else {
            "erased"
        },
        e.subject,
        e.key_id,
        e.at.to_rfc3339(),
        e.tree_size
    );
    Ok(ExitCode::SUCCESS)
}
