//! `auditlog ingest`: append JSON Lines durably, fast. A reader thread cuts the input into
//! blocks of lines; parser threads (one per core) validate and encode each block into
//! prepared batches; this thread hands the batches to the log in input order, so
//! sequence numbers follow the file; an acknowledgement thread waits for each batch to be
//! durable. Every queue is bounded, so memory stays flat whatever the input size.
//!
//! A bad line is reported with its line number. `--on-error stop` (the default) stores
//! every good line before it and nothing after; `--on-error skip` stores every good line.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use auditlog_engine::handover::RESERVED_ACTIONS;
use auditlog_engine::{Ack, AckReceiver, Durability, Log, LogConfig, PreparedBatch, event};
use crossbeam_channel::{Receiver, Sender, bounded};

use super::{DataDir, KekArgs};
use crate::exit::CHECK_FAILED;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnError {
    /// Store the good lines before the first bad one, then stop.
    Stop,
    /// Report bad lines and store every good one.
    Skip,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    data: DataDir,
    /// JSON Lines input, or `-` for stdin.
    file: PathBuf,
    /// What a bad line does.
    #[arg(long, value_enum, default_value = "stop")]
    on_error: OnError,
    /// Events per batch handed to the writer.
    #[arg(long, default_value_t = 2048)]
    batch: usize,
    /// Parser threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Override the log's durability for this run: always, interval:<ms>, none.
    #[arg(long)]
    durability: Option<Durability>,
    /// Print each acknowledgement as a JSON line on stdout as it arrives.
    #[arg(long)]
    acks: bool,
    #[command(flatten)]
    kek: KekArgs,
}

/// A run of whole lines of the input.
struct Block {
    index: u64,
    bytes: Vec<u8>,
}

struct Parsed {
    index: u64,
    batches: Vec<PreparedBatch>,
    /// Bad lines, numbered from 1 within the block.
    bad_lines: Vec<(u64, String)>,
    /// Lines in the block (the sequencer numbers lines across blocks).
    lines: u64,
    stopped: bool,
}

/// What the run did, for the summary line.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) first_seq: Option<u64>,
    pub(crate) last_seq: Option<u64>,
    pub(crate) bad_lines: u64,
    pub(crate) stopped_at: Option<u64>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = &args.data.dir;
    let mut options = args.data.open_options()?;
    if let Some(d) = args.durability {
        options = options.durability(d);
    }
    if let Some(kek) = args.kek.load()? {
        options = options.kek(kek);
    }
    let log = if dir.join(auditlog_engine::CONFIG_FILE).exists() {
        options.open(dir)
    } else {
        eprintln!(
            "auditlog: no log in {}; creating one with default settings",
            dir.display()
        );
        options.create(dir, &LogConfig::default())
    }
    .with_context(|| format!("opening {}", dir.display()))?;
    let report = log.recovery_report();
    if let Some(path) = &report.discarded_segment {
        eprintln!(
            "auditlog: recovery restarted {}, whose creation a crash interrupted",
            path.display()
        );
    }
    if report.rebuilt_tree {
        eprintln!("auditlog: recovery rebuilt the stored Merkle tree from the records");
    }
    if let Some(torn) = &report.torn_tail {
        eprintln!(
            "auditlog: recovery cut a torn tail of {} bytes at byte {} of {} ({})",
            torn.bytes_dropped,
            torn.offset,
            torn.path.display(),
            torn.reason
        );
    }
    let input: Box<dyn Read + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.file)
                .with_context(|| format!("opening {}", args.file.display()))?,
        )
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let started = Instant::now();
    let summary = ingest(
        &log,
        input,
        args.batch.clamp(1, 65_536),
        threads,
        args.on_error,
        args.acks,
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    log.close();
    let rate = summary.count as f64 / elapsed.max(1e-9);
    match (summary.first_seq, summary.last_seq) {
        (Some(first), Some(last)) => eprintln!(
            "ingested {} events, seq {first}..={last}, in {elapsed:.3}s ({rate:.0} events/s)",
            summary.count
        ),
        _ => eprintln!("ingested 0 events in {elapsed:.3}s"),
    }
    if summary.bad_lines > 0 {
        eprintln!("skipped {} bad lines", summary.bad_lines);
    }
    if let Some(line) = summary.stopped_at {
        eprintln!(
            "stopped at bad line {line}: every good line before it is stored, nothing after it"
        );
        return Ok(ExitCode::from(CHECK_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the pipeline over `input`.
pub(crate) fn ingest(
    log: &Log,
    input: Box<dyn Read + Send>,
    batch_lines: usize,
    threads: usize,
    on_error: OnError,
    print_acks: bool,
) -> anyhow::Result<Summary> {
    let stop = Arc::new(AtomicBool::new(false));
    let (block_tx, block_rx) = bounded::<Block>(threads * 2);
    let (parsed_tx, parsed_rx) = bounded::<Parsed>(threads * 2);
    let (ack_tx, ack_rx) = bounded::<AckReceiver>(16);
    std::thread::scope(|scope| -> anyhow::Result<Summary> {
        let reader = {
            let stop = Arc::clone(&stop);
            scope.spawn(move || read_blocks(input, &block_tx, &stop))
        };
        for _ in 0..threads {
            let (rx, tx) = (block_rx.clone(), parsed_tx.clone());
            scope.spawn(move || parse_blocks(log, batch_lines, on_error, &rx, &tx));
        }
        drop((block_rx, parsed_tx));
        let acks = scope.spawn(move || collect_acks(&ack_rx, print_acks));
        let mut summary = Summary::default();
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        let mut submit_error = None;
        let mut lines_before = 0u64;
        'blocks: for parsed in parsed_rx.iter() {
            waiting.insert(parsed.index, parsed);
            while let Some(parsed) = waiting.remove(&next) {
                next += 1;
                for (line, message) in &parsed.bad_lines {
                    eprintln!("line {}: {message}", lines_before + line);
                }
                summary.bad_lines += parsed.bad_lines.len() as u64;
                for batch in parsed.batches {
                    match log.submit(batch) {
                        Ok(ack) => {
                            if ack_tx.send(ack).is_err() {
                                break 'blocks;
                            }
                        }
                        Err(e) => {
                            submit_error = Some(e);
                            break 'blocks;
                        }
                    }
                }
                if parsed.stopped {
                    summary.stopped_at =
                        parsed.bad_lines.last().map(|(line, _)| lines_before + line);
                    summary.bad_lines = 0;
                    break 'blocks;
                }
                lines_before += parsed.lines;
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(parsed_rx);
        drop(ack_tx);
        let acked = acks
            .join()
            .map_err(|_| anyhow::anyhow!("the acknowledgement thread panicked"))?;
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        if let Some(e) = submit_error {
            return Err(e.into());
        }
        let (count, first, last) = acked?;
        read?;
        summary.count = count;
        summary.first_seq = first;
        summary.last_seq = last;
        Ok(summary)
    })
}

/// Bytes the reader hands a parser at once (whole lines; a longer line grows it).
const BLOCK_BYTES: usize = 4 << 20;
/// No valid event comes near this; a longer "line" is not JSON Lines.
const MAX_LINE_BYTES: usize = 64 << 20;

/// Cuts the input into blocks of whole lines without looking at each line: parsers split
/// and count lines, in parallel.
fn read_blocks(
    mut input: Box<dyn Read + Send>,
    out: &Sender<Block>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut index = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut bytes = std::mem::take(&mut carry);
        bytes.reserve(BLOCK_BYTES);
        // read_to_end fills spare capacity without zeroing it first.
        let n = (&mut input)
            .take(BLOCK_BYTES as u64)
            .read_to_end(&mut bytes)
            .context("reading the input")?;
        let eof = n == 0;
        let cut = if eof {
            bytes.len()
        } else {
            match memchr::memrchr(b'\n', &bytes) {
                Some(pos) => pos + 1,
                None if bytes.len() > MAX_LINE_BYTES => {
                    anyhow::bail!(
                        "a line is longer than {MAX_LINE_BYTES} bytes; is this JSON Lines?"
                    )
                }
                None => {
                    carry = bytes; // one line longer than a block: read on
                    continue;
                }
            }
        };
        carry = bytes.split_off(cut);
        if !bytes.is_empty() {
            if out.send(Block { index, bytes }).is_err() {
                return Ok(());
            }
            index += 1;
        }
        if eof {
            return Ok(());
        }
    }
}

fn parse_blocks(
    log: &Log,
    batch_lines: usize,
    on_error: OnError,
    blocks: &Receiver<Block>,
    out: &Sender<Parsed>,
) {
    // Sized from the batches seen so far, so a batch's frames are not reallocated.
    let mut batch_bytes = 0;
    for block in blocks.iter() {
        let mut parsed = Parsed {
            index: block.index,
            batches: Vec::new(),
            bad_lines: Vec::new(),
            lines: 0,
            stopped: false,
        };
        let mut batch = log.batch_with_capacity(batch_lines, batch_bytes);
        let mut start = 0usize;
        let bytes = &block.bytes;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            let line = &bytes[start..end];
            start = end + 1;
            parsed.lines += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let result = event::parse_json(line)
                .map_err(|e| e.to_string())
                .and_then(|event| {
                    // A tenant's hand-over records are written by the log alone.
                    if event.action.starts_with(RESERVED_ACTIONS) {
                        return Err(format!(
                            "action `{}`: actions under `{RESERVED_ACTIONS}` are the log's own",
                            event.action
                        ));
                    }
                    batch.push(&event).map_err(|e| e.to_string())
                });
            if let Err(message) = result {
                parsed.bad_lines.push((parsed.lines, message));
                if on_error == OnError::Stop {
                    parsed.stopped = true;
                    break;
                }
            }
            if batch.len() >= batch_lines {
                batch_bytes = batch_bytes.max(batch.byte_len());
                let next = log.batch_with_capacity(batch_lines, batch_bytes);
                parsed.batches.push(std::mem::replace(&mut batch, next));
            }
        }
        if !batch.is_empty() {
            parsed.batches.push(batch);
        }
        if out.send(parsed).is_err() {
            return;
        }
    }
}

fn collect_acks(
    acks: &Receiver<AckReceiver>,
    print: bool,
) -> anyhow::Result<(u64, Option<u64>, Option<u64>)> {
    let (mut count, mut first, mut last) = (0u64, None, None);
    let stdout = std::io::stdout();
    for pending in acks.iter() {
        let ack: Ack = pending
            .recv()
            .map_err(|_| anyhow::anyhow!("the log closed before acknowledging"))??;
        count += ack.count;
        first.get_or_insert(ack.first_seq);
        last = Some(ack.first_seq + ack.count - 1);
        if print {
            let mut out = stdout.lock();
            writeln!(
                out,
                "{{\"first_seq\":{},\"count\":{},\"tree_size\":{},\"root\":\"{}\"}}",
                ack.first_seq,
                ack.count,
                ack.tree_size,
                auditlog_engine::hex::encode(&ack.root)
            )?;
            out.flush()?;
        }
    }
    Ok((count, first, last))
}
