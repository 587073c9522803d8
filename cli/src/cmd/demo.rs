//! `auditlog demo`: the quick start. Generates a workload, ingests it into a data
//! directory, proves one event's inclusion and the log's consistency, verifies every byte.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use auditlog_engine::merkle::Proof;
use auditlog_engine::{Log, LogConfig};

use super::DataDir;
use super::ingest;

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
    println!(
        "1/4 generating {} events (seed {}) and ingesting them into {}",
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
    println!(
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
    println!("2/4 inclusion proof of event {index} in the tree of {size}: valid");
    println!("    {}", inclusion.to_json());
    let consistency = Proof::Consistency(log.prove_consistency(size.div_ceil(3), size)?);
    consistency
        .verify()
        .map_err(|e| anyhow::anyhow!("consistency proof failed: {e}"))?;
    println!(
        "3/4 consistency proof {} -> {size}: valid",
        size.div_ceil(3)
    );
    log.close();
    drop(log);
    let started = Instant::now();
    let report = auditlog_engine::verify::verify_dir(dir, &mut |_| {})?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "4/4 verified {} records, {} bytes in {} segments in {seconds:.2}s ({:.2} GB/s)",
        report.records,
        report.bytes,
        report.segments,
        report.bytes as f64 / seconds / 1e9
    );
    println!("try: auditlog export --data {} --to-seq 3", dir.display());
    Ok(ExitCode::SUCCESS)
}
