//! The witness policy of the verifying commands (`--witness VKEY… --quorum K`): which
//! witnesses' cosignatures count, and how many a checkpoint needs (docs/PROOFS.md,
//! "Witnesses").

use anyhow::Context;
use auditlog_engine::checkpoint::{CosignatureVerifier, Note, WitnessPolicy};

#[derive(Debug, clap::Args)]
pub(crate) struct WitnessArgs {
    /// A witness whose cosignature counts: its cosigner key (`<name>+<key id>+<key>`, the
    /// witness's FILE.pub), or a file holding it. Repeatable. With it the check fails
    /// unless --quorum of them cosigned the checkpoint.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// How many of the --witness keys must have cosigned (default: all of them).
    #[arg(long, value_name = "K", requires = "witnesses")]
    quorum: Option<usize>,
}

impl WitnessArgs {
    /// The policy given, if any.
    pub(crate) fn policy(&self) -> anyhow::Result<Option<WitnessPolicy>> {
        if self.witnesses.is_empty() {
            return Ok(None);
        }
        let keys = self
            .witnesses
            .iter()
            .map(|given| read_witness_key(given))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(WitnessPolicy::new(keys, self.quorum)?))
    }
}

/// A witness key given as text or as a file holding it.
fn read_witness_key(given: &str) -> anyhow::Result<CosignatureVerifier> {
    if let Ok(key) = CosignatureVerifier::parse(given) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(given)
        .with_context(|| format!("--witness {given}: not a witness key, nor a file"))?;
    CosignatureVerifier::parse(text.trim_end())
        .with_context(|| format!("--witness {given}: not a witness key"))
}

/// What a policy found on a note that meets it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Met {
    /// The policy's witnesses that cosigned it.
    pub(crate) cosigners: Vec<String>,
    /// How many were needed.
    pub(crate) quorum: usize,
    /// The line to print.
    #[serde(skip)]
    pub(crate) said: String,
}

/// Checks `note` against `policy`: `Ok` with its cosigners, or `Err` with why it falls
/// short.
pub(crate) fn check(policy: &WitnessPolicy, note: &Note) -> Result<Met, String> {
    let found = policy
        .check(note)
        .map_err(|e| format!("a witness's cosignature does not verify: {e}"))?;
    let names = match found.cosigners.is_empty() {
        true => "none".to_owned(),
        false => found.cosigners.join(", "),
    };
    let counted = format!(
        "{} of {} witnesses cosigned ({names}), {} needed",
        found.cosigners.len(),
        policy.len(),
        policy.quorum()
    );
    match found.met {
        true => Ok(Met {
            cosigners: found.cosigners,
            quorum: policy.quorum(),
            said: counted,
        }),
        false => Err(format!("not witnessed: {counted}")),
    }
}
