//! `auditlog verify`: recompute every checksum, leaf hash, stored tree node, segment chain
//! link and signed checkpoint of a data directory, offline; or, with `--segment`, check one
//! segment file alone against the chain data it carries. Exit 0 only when everything
//! holds; otherwise exit 1 naming the file and byte offset of the first fault.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use std::sync::Arc;

use anyhow::Context;
use auditlog_archive::{Archive, ArchiveError, ArchiveReader};
use auditlog_engine::storage::Storage;
use auditlog_engine::verify::{VerifyOptions, verify_segment};
use auditlog_engine::{Corruption, Error, hex};

use super::DataDir;
use crate::exit::CHECK_FAILED;
use crate::out::say;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// Print a machine-readable JSON report.
    #[arg(long)]
    json: bool,
    /// Check the checkpoints' signatures with this verifier key (text, or a file holding
    /// it) instead of the data directory's own `keys/checkpoint.pub`.
    #[arg(long, value_name = "VKEY")]
    key: Option<String>,
    /// Check this one segment file alone (e.g. an archived copy) instead of a data
    /// directory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "checkpoint"])]
    segment: Option<PathBuf>,
    /// A signed checkpoint you hold (e.g. received earlier): the records must contain it,
    /// whatever the directory's own checkpoint log says. Repeatable.
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// Check an archive (`auditlog archive`) instead of a data directory: every object,
    /// the manifest, the chain across segments, every checkpoint; `s3://bucket/prefix` or
    /// `file:///path`. Give `--key` to check against a key you trust rather than the one
    /// the archive names.
    #[arg(long, value_name = "URL", conflicts_with = "segment")]
    archive: Option<String>,
    #[command(flatten)]
    s3: super::archive::S3Args,
    #[command(flatten)]
    witnesses: super::witnesses::WitnessArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(segment) = &args.segment {
        return run_segment(segment, args.json);
    }
    let started = Instant::now();
    let show_progress = !args.json && std::io::stderr().is_terminal();
    let source = match &args.archive {
        Some(url) => {
            let archive = Archive::open(url, &args.s3.options())?;
            match ArchiveReader::open(archive).and_then(|r| r.require_checkpoints().map(|()| r)) {
                Ok(reader) => Source::Archive(Arc::new(reader)),
                Err(fault @ ArchiveError::Mismatch { .. }) => {
                    return Ok(report_archive_fault(&fault, args.json));
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => Source::Dir,
    };
    let total = match &source {
        Source::Archive(reader) => reader.segment_bytes(),
        Source::Dir => segment_bytes(&args.data.dir),
    };
    let mut last_shown = Instant::now();
    let mut progress = |bytes: u64| {
        if show_progress && last_shown.elapsed().as_millis() >= 200 {
            last_shown = Instant::now();
            eprint!("\r{}", progress_bar(bytes, total));
        }
    };
    let key = args
        .key
        .as_deref()
        .map(super::checkpoint::read_key)
        .transpose()?;
    let held = args
        .checkpoint
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|bytes| (path.clone(), bytes))
                .with_context(|| format!("reading {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let policy = args.witnesses.policy()?;
    let mut notes = Vec::new();
    let result = match &source {
        Source::Dir => VerifyOptions::new()
            .storage(args.data.storage()?)
            .key(key.as_ref())
            .held(&held)
            .witnesses(policy.as_ref())
            .verify_dir(&args.data.dir, &mut progress),
        Source::Archive(reader) => {
            let key = match key {
                Some(key) => key,
                None => {
                    let text = reader
                        .identity()
                        .verifier_key
                        .as_deref()
                        .context("the archive names no verifier key (log.json): give --key")?;
                    notes.push(
                        "checked with the key the archive itself names (log.json); give \
                         --key to check against a key you trust"
                            .to_owned(),
                    );
                    super::checkpoint::read_key(text)?
                }
            };
            let storage: Arc<dyn Storage> = Arc::clone(reader) as Arc<dyn Storage>;
            VerifyOptions::new()
                .storage(storage)
                .key(Some(&key))
                .held(&held)
                .witnesses(policy.as_ref())
                .prefix(true)
                .verify_dir(reader.root(), &mut progress)
        }
    };
    if show_progress {
        eprint!("\r\x1b[K");
    }
    // A fault the archive reader found in an object is what went wrong, whatever the
    // engine then made of the refused read.
    if let Source::Archive(reader) = &source
        && let Some(fault) = reader.take_fault()
        && result.is_err()
    {
        return Ok(report_archive_fault(&fault, args.json));
    }
    // The archive's Parquet, derived from the segments just checked: each file whole.
    if let Source::Archive(reader) = &source
        && result.is_ok()
    {
        match reader.check_parquet() {
            Ok(0) => {}
            Ok(n) => notes.push(format!(
                "{n} Parquet files (segments/<base>.parquet) are whole, as their entries say"
            )),
            Err(fault @ ArchiveError::Mismatch { .. }) => {
                return Ok(report_archive_fault(&fault, args.json));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(report) if policy.is_some() && report.witnessed.is_none() => {
            let policy = policy.as_ref().map_or((0, 0), |p| (p.quorum(), p.len()));
            let why = format!(
                "no checkpoint of the log (of {} kept with cosignatures, and those held) is \
                 cosigned by {} of the {} witnesses given",
                report.cosigned_checkpoints, policy.0, policy.1
            );
            let notes: Vec<_> = report.notes.iter().chain(&notes).collect();
            if args.json {
                say!(
                    "{}",
                    serde_json::json!({"ok": false, "fault": why, "notes": notes})
                );
            } else {
                say!("FAILED: {why}");
                for note in notes {
                    say!("note: {note}");
                }
            }
            Ok(ExitCode::from(CHECK_FAILED))
        }
        Ok(mut report) => {
            if let Some(w) = &report.witnessed
                && w.tree_size < report.tree_size
            {
                report.notes.push(format!(
                    "records {}..{} are past the newest witnessed checkpoint",
                    w.tree_size, report.tree_size
                ));
            }
            let witnessed = report.witnessed.as_ref().map(|w| {
                serde_json::json!({
                    "tree_size": w.tree_size,
                    "cosigners": w.cosigners,
                    "held": w.held,
                })
            });
            let gbps = report.bytes as f64 / seconds.max(1e-9) / 1e9;
            if args.json {
                let json = serde_json::json!({
                    "ok": true,
                    "segments": report.segments,
                    "records": report.records,
                    "bytes": report.bytes,
                    "nodes_checked": report.nodes_checked,
                    "checkpoints": report.checkpoints,
                    "held_checkpoints": report.held_checkpoints,
                    "indexes_checked": report.indexes_checked,
                    "cosigned_checkpoints": report.cosigned_checkpoints,
                    "witnessed": witnessed,
                    "hash": report.alg.name(),
                    "root": hex::encode(&report.root),
                    "seconds": seconds,
                    "notes": report.notes.iter().chain(&notes).collect::<Vec<_>>(),
                });
                say!("{json}");
            } else {
                say!(
                    "ok: {} records in {} segments, {} bytes, {} checkpoints{}, {} index files, tree head {} ({:.3}s, {gbps:.2} GB/s)",
                    report.records,
                    report.segments,
                    report.bytes,
                    report.checkpoints,
                    match report.held_checkpoints {
                        0 => String::new(),
                        n => format!(" and {n} held"),
                    },
                    report.indexes_checked,
                    hex::encode(&report.root),
                    seconds
                );
                if let Some(w) = &report.witnessed {
                    say!(
                        "witnessed: the checkpoint of tree size {} is cosigned by {}{}",
                        w.tree_size,
                        w.cosigners.join(", "),
                        if w.held {
                            " (a checkpoint you hold)"
                        } else {
                            ""
                        }
                    );
                }
                for note in report.notes.iter().chain(&notes) {
                    say!("note: {note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Corruption(c)) => Ok(report_fault(&c, args.json)),
        Err(e) => Err(e.into()),
    }
}

/// Where the log checked lives.
enum Source {
    Dir,
    Archive(Arc<ArchiveReader>),
}

/// Prints a fault of an archive's object (missing, truncated, corrupted, substituted, a
/// gap in the manifest) and gives the exit code of a failed check.
fn report_archive_fault(fault: &ArchiveError, json: bool) -> ExitCode {
    let (object, why) = match fault {
        ArchiveError::Mismatch { object, why } => (object.clone(), why.clone()),
        other => (String::new(), other.to_string()),
    };
    if json {
        let json = serde_json::json!({"ok": false, "object": object, "fault": why});
        say!("{json}");
    } else {
        say!("FAILED: {object}: {why}");
    }
    ExitCode::from(CHECK_FAILED)
}

/// Prints the first fault and gives the exit code of a failed check.
fn report_fault(c: &Corruption, json: bool) -> ExitCode {
    if json {
        let json = serde_json::json!({
            "ok": false,
            "file": c.file.display().to_string(),
            "offset": c.offset,
            "fault": c.kind.to_string(),
        });
        say!("{json}");
    } else {
        say!(
            "FAILED: {} at byte {}: {}",
            c.file.display(),
            c.offset,
            c.kind
        );
    }
    ExitCode::from(CHECK_FAILED)
}

fn run_segment(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    match verify_segment(path) {
        Ok(r) => {
            if json {
                let json = serde_json::json!({
                    "ok": true,
                    "segment": path.display().to_string(),
                    "base_seq": r.base_seq,
                    "records": r.records,
                    "tree_size": r.tree_size,
                    "root": hex::encode(&r.root),
                    "hash": r.alg.name(),
                    "sealed": r.sealed,
                    "bytes": r.bytes,
                });
                say!("{json}");
            } else {
                let held = match r.records {
                    0 => "no records".to_owned(),
                    n => format!("seq {}..={} ({n} records)", r.base_seq, r.tree_size - 1),
                };
                say!(
                    "ok: {} holds {held}, {}; tree size {} has head {} \
                     (compare with a signed checkpoint of that size, or the next segment's frontier)",
                    path.display(),
                    if r.sealed { "sealed" } else { "not sealed" },
                    r.tree_size,
                    hex::encode(&r.root)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Corruption(c)) => Ok(report_fault(&c, json)),
        Err(e) => Err(e.into()),
    }
}

/// The bytes of every segment file in the data directory (for the progress bar).
fn segment_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("segments"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `[#########-----------]  45%  1.2 / 2.7 GB`
fn progress_bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let total = total.max(done).max(1);
    let filled = (done * WIDTH / total) as usize;
    format!(
        "verifying [{}{}] {:3}%  {:.2} / {:.2} GB",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        done * 100 / total,
        done as f64 / 1e9,
        total as f64 / 1e9
    )
}
