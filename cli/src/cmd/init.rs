//! `auditlog init`: create a log.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use auditlog_engine::checkpoint::load_verifier;
use auditlog_engine::privacy::Kek;
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_SEGMENT_BYTES, Durability, HashAlg, LogConfig,
    OpenOptions, Sealing,
};

use super::{DataDir, KekArgs};
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Tree hash: sha256 (default: the RFC 6962 tree every transparency-log tool checks)
    /// or blake3 (a little faster; only auditlog's own tools check it).
    #[arg(long, default_value = "sha256", value_parser = parse_hash)]
    hash: HashAlg,
    /// Checkpoint origin: the one name of this log in every checkpoint, and its key's
    /// name. Per C2SP tlog-checkpoint, a schema-less URL you control that names this log
    /// and no other, e.g. `audit.example.com/prod`; no spaces or `+`. A BLAKE3 log's ends
    /// in `#blake3`. Default: `auditlog.local/` and 16 random hex digits, unique per log.
    #[arg(long)]
    origin: Option<String>,
    /// Roll to a new segment past this many bytes.
    #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES)]
    segment_bytes: u64,
    /// When appends are acknowledged: always, interval:<ms>, or none.
    #[arg(long, default_value = "always")]
    durability: Durability,
    /// Sign a checkpoint this often (seconds) while the tree grows; 0: only on demand
    /// (`auditlog checkpoint issue`) and when the log closes.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CHECKPOINT_INTERVAL.as_secs())]
    checkpoint_every: u64,
    /// Seal personal data per data subject (docs/PRIVACY.md): actor e-mail, IP address,
    /// user agent and the --personal-metadata fields are stored encrypted, erasable by
    /// `auditlog erase`. Needs a key-encryption key: --kek-file FILE (made if it does not
    /// exist) or AUDITLOG_KEK.
    #[arg(long)]
    seal: bool,
    /// With --seal: metadata fields sealed too (comma-separated top-level names).
    #[arg(long, value_delimiter = ',', requires = "seal")]
    personal_metadata: Vec<String>,
    #[command(flatten)]
    kek: KekArgs,
}

/// The KEK of a new sealing log: the one given, or a new one written to --kek-file.
fn kek_for_new_log(args: &KekArgs) -> anyhow::Result<Kek> {
    if let Some(kek) = args.load().or_else(|e| match args.file() {
        Some(path) if !path.exists() => Ok(None),
        _ => Err(e),
    })? {
        return Ok(kek);
    }
    let Some(path) = args.file() else {
        anyhow::bail!("--seal needs a key-encryption key: --kek-file FILE or AUDITLOG_KEK");
    };
    let kek = Kek::generate()?;
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    let mut file = file
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", kek.to_hex()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "auditlog: made a new key-encryption key in {} (mode 0600): keep it, and a copy, \
         apart from the data; without it no personal field can be read",
        path.display()
    );
    Ok(kek)
}

pub(crate) fn parse_hash(s: &str) -> Result<HashAlg, String> {
    HashAlg::from_name(s).ok_or_else(|| format!("`{s}` is not blake3 or sha256"))
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.origin.as_deref() != Some(""),
        "--origin is empty: give the log's name, or leave --origin out for a unique one"
    );
    let config = LogConfig {
        hash: args.hash,
        origin: args.origin.unwrap_or_default(),
        segment_bytes: args.segment_bytes,
        durability: args.durability,
        checkpoint_interval: Duration::from_secs(args.checkpoint_every),
        sealing: args.seal.then(|| Sealing {
            personal_metadata: args.personal_metadata.clone(),
        }),
    };
    let mut options = OpenOptions::new();
    if args.seal {
        options = options.kek(kek_for_new_log(&args.kek)?);
    }
    let log = options
        .create(&args.data.dir, &config)
        .with_context(|| format!("creating a log in {}", args.data.dir.display()))?;
    let config = log.config();
    say!(
        "created log in {} (hash {}, origin {}, segments of {} bytes, durability {}{})",
        log.dir().display(),
        config.hash,
        config.origin,
        config.segment_bytes,
        config.durability,
        if config.sealing.is_some() {
            ", personal data sealed"
        } else {
            ""
        }
    );
    // The private key stays in keys/checkpoint.key (owner-only); the public one is printed
    // for whoever will audit this log.
    if let Some(key) = load_verifier(&FsStorage::default(), log.dir())? {
        say!("checkpoint verifier key: {}", key.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
