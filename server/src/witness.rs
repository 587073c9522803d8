//! `auditlogd` as a witness of other logs (c2sp.org/tlog-witness; docs/PROOFS.md,
//! "Witnesses"): its cosigner key from `--witness-key` (made on first start, named by
//! `--witness-name`, its public key written beside it as `FILE.pub`), the logs of
//! `--witness-log`, and the state in `DATA/witness/`.

use std::path::Path;

use anyhow::Context;
use auditlog_engine::checkpoint::{Cosigner, NoteVerifier};
use auditlog_engine::storage::{FsStorage, write_atomically};
use auditlog_engine::witness::Witness;

/// The witness of this server, if it is one.
pub(crate) fn open(
    data: &Path,
    key_file: Option<&Path>,
    name: Option<&str>,
    logs: &[String],
) -> anyhow::Result<Option<Witness>> {
    let Some(key_file) = key_file else {
        anyhow::ensure!(logs.is_empty(), "--witness-log needs --witness-key");
        return Ok(None);
    };
    let cosigner = cosigner(key_file, name)?;
    eprintln!("auditlogd: witness key: {}", cosigner.verifier().to_text());
    let logs = logs
        .iter()
        .map(|given| read_verifier(given))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(
        !logs.is_empty(),
        "--witness-key needs at least one --witness-log"
    );
    Ok(Some(Witness::open(&data.join("witness"), cosigner, logs)?))
}

/// The cosigner key at `path`, made (named `name`) if the file is missing.
fn cosigner(path: &Path, name: Option<&str>) -> anyhow::Result<Cosigner> {
    match std::fs::read_to_string(path) {
        Ok(text) => Cosigner::parse(&text)
            .map_err(|_| anyhow::anyhow!("{} is not a witness key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = name.context("a new --witness-key needs --witness-name")?;
            let cosigner = Cosigner::generate(name)?;
            let storage = FsStorage::default();
            let public = path.with_extension("pub");
            let text = format!("{}\n", cosigner.verifier().to_text());
            write_atomically(&storage, &public, text.as_bytes())
                .with_context(|| format!("writing {}", public.display()))?;
            let text = format!("{}\n", cosigner.to_private_text());
            write_atomically(&storage, path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(cosigner)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A log's verifier key, as text or a file holding it.
fn read_verifier(given: &str) -> anyhow::Result<NoteVerifier> {
    if let Ok(key) = NoteVerifier::parse(given) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(given)
        .with_context(|| format!("--witness-log {given}: not a verifier key, nor a file"))?;
    NoteVerifier::parse(&text).with_context(|| format!("--witness-log {given}"))
}
