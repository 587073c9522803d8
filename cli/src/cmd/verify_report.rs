//! `auditlog verify-report FILE --key VKEY`: checks a tenant report (`GET /v1/reports`,
//! saved as served) offline: its attestation is signed by the log's key, signs the
//! report's own digest, and states the tenant, period and checkpoint the report names.
//! Exit 0 only if all hold.

use std::path::PathBuf;
use std::process::ExitCode;

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_engine::report::{ReportAttestation, report_digest};
use auditlog_engine::{Timestamp, hex};

use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The report as served: `{"report":{…},"attestation":"…"}` (`-` for stdin).
    file: PathBuf,
    /// The log's verifier key (`auditlog key show`), as text or a file holding it.
    #[arg(long, value_name = "VKEY")]
    key: String,
}

/// Why the report does not check, if it does not.
fn check(bytes: &[u8], key: &auditlog_engine::checkpoint::NoteVerifier) -> Result<String, String> {
    let served: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a report: {e}"))?;
    let report = served.get("report").ok_or("no `report`")?;
    let note = served["attestation"].as_str().ok_or("no `attestation`")?;
    let attestation = ReportAttestation::verify(note.as_bytes(), key).map_err(|e| e.to_string())?;
    // The digest is over the report as serde_json writes it: compact, keys sorted.
    let json = serde_json::to_vec(report).map_err(|e| e.to_string())?;
    if report_digest(&json) != attestation.digest {
        return Err(
            "the report is not the one attested (its digest differs): it was edited".into(),
        );
    }
    let time = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
    let named = (
        report["tenant"].as_str(),
        report["from"].as_str().map(str::to_owned),
        report["to"].as_str().map(str::to_owned),
        report["tree_size"].as_u64(),
    );
    let attested = (
        Some(attestation.tenant.as_str()),
        time(attestation.from),
        time(attestation.to),
        Some(attestation.tree_size),
    );
    if named != attested {
        return Err(
            "the report names another tenant, period or checkpoint than its attestation".into(),
        );
    }
    // The checkpoint it names: signed by the same key, of the size and root attested.
    let note = report["checkpoint"]
        .as_str()
        .ok_or("no `checkpoint` in the report")?;
    let checkpoint = SignedCheckpoint::open(note.as_bytes(), key)
        .map_err(|e| format!("the report's checkpoint: {e}"))?
        .checkpoint;
    if (checkpoint.tree_size, checkpoint.root) != (attestation.tree_size, attestation.root) {
        return Err("the report's checkpoint is not the one attested".into());
    }
    Ok(format!(
        "ok: the report of tenant {:?} ({} to {}) is the one {} attested against its checkpoint of size {} (root {}), signed by {}+{:08x}",
        attestation.tenant,
        time(attestation.from).unwrap_or_else(|| "the beginning".into()),
        time(attestation.to).unwrap_or_else(|| "the checkpoint".into()),
        attestation.origin,
        attestation.tree_size,
        hex::encode(&attestation.root),
        key.name(),
        key.key_id(),
    ))
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = super::checkpoint::read_key(&args.key)?;
    let bytes = super::read_file_or_stdin(&args.file)?;
    match check(&bytes, &key) {
        Ok(said) => {
            say!("{said}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("FAILED: {why}");
            Ok(ExitCode::from(CHECK_FAILED))
        }
    }
}
