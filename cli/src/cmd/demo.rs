//! `auditlog demo`: the quick start without a server. Generates a workload, ingests it
//! into a data directory, proves one event's inclusion and the log's consistency, signs
//! a checkpoint, verifies every byte and checkpoint.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use auditlog_engine::merkle::Proof;
use auditlog_engine::{Log, LogConfig};

use super::DataDir;
use super::ingest;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = &args.data.dir;
    if dir.join(auditlog_engine::CONFIG_FILE).exists() {
        anyhow::bail!(
            "{} already holds a log; remove it or pass --data with a new directory",
            dir.display()
        );
    }
    let log = Log::create(dir, &LogConfig::default())
        .with_context(|| format!("creating {}", dir.display()))?;
    say!(
        "1/5 generating {} events (seed {}) and ingesting them into {}",
        args.count,
        args.seed,
        dir.display()
    );
    let config = auditlog_workload::Config {
        count: args.count,
        seed: args.seed,
        ..Default::default()
    };
    let (reader, writer) = std::io::pipe().context("creating a pipe")?;
    let generator = std::thread::spawn(move || auditlog_workload::write_jsonl(&config, writer));
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let summary = ingest::ingest(
        &log,
        Box::new(reader),
        2048,
        threads,
        ingest::OnError::Stop,
        false,
    )?;
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator panicked"))??;
    let seconds = started.elapsed().as_secs_f64();
    say!(
        "    {} events durable in {seconds:.2}s ({:.0} events/s, generation included); tree head {}",
        summary.count,
        summary.count as f64 / seconds,
        auditlog_engine::hex::encode(&log.root())
    );
    let size = log.tree_size();
    anyhow::ensure!(size > 0, "nothing was ingested");
    let index = size / 2;
    let inclusion = Proof::Inclusion(log.prove_inclusion(index, None)?);
    inclusion
        .verify()
        .map_err(|e| anyhow::anyhow!("inclusion proof failed: {e}"))?;
    say!("2/5 inclusion proof of event {index} in the tree of {size}: valid");
    say!("    {}", inclusion.to_json());
    let consistency = Proof::Consistency(log.prove_consistency(size.div_ceil(3), size)?);
    consistency
        .verify()
        .map_err(|e| anyhow::anyhow!("consistency proof failed: {e}"))?;
    say!(
        "3/5 consistency proof {} -> {size}: valid",
        size.div_ceil(3)
    );
    let signed = log.checkpoint()?;
    let key = auditlog_engine::checkpoint::load_verifier(
        &auditlog_engine::storage::FsStorage::default(),
        dir,
    )?
    .context("the log has no public key")?
    .to_text();
    say!("4/5 signed checkpoint (C2SP signed note), verifier key {key}:");
    for line in signed.to_text().lines() {
        say!("    {line}");
    }
    log.close();
    drop(log);
    let started = Instant::now();
    let verifier = auditlog_engine::checkpoint::NoteVerifier::parse(&key)?;
    let report = auditlog_engine::verify::verify_dir_with_key(dir, Some(&verifier), &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    say!(
        "5/5 verified {} records, {} bytes in {} segments and {} checkpoints in {seconds:.2}s ({:.2} GB/s)",
        report.records,
        report.bytes,
        report.segments,
        report.checkpoints,
        report.bytes as f64 / seconds / 1e9
    );
    let d = dir.display();
    say!("try: auditlog export --data {d} --to-seq 3");
    say!("     auditlog export --data {d} --bundle evidence.jsonl --from-seq 1000 --to-seq 2000");
    say!("     auditlog verify-bundle evidence.jsonl --key {key}");
    Ok(ExitCode::SUCCESS)
}
