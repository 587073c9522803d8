//! Command-line front end mirroring `gen_events.py`:
//!
//! ```text
//! cargo run --release -p auditlog-workload --example gen_events -- \
//!     --count N --seed S [--orgs K] [--days D] [--start 2026-01-01T00:00:00Z] \
//!     [--users-per-org U] [--zipf s] > out.jsonl
//! ```
//!
//! Writes the events to stdout and one summary line (bytes/event, rate) to stderr.

use std::process::ExitCode;
use std::time::Instant;

use auditlog_workload::{Config, write_jsonl};

fn parse_args() -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--count" => config.count = value.parse().map_err(|e| bad(&e))?,
            "--seed" => config.seed = value.parse().map_err(|e| bad(&e))?,
            "--orgs" => config.orgs = value.parse().map_err(|e| bad(&e))?,
            "--days" => config.days = value.parse().map_err(|e| bad(&e))?,
            "--start" => config.start = value,
            "--users-per-org" => config.users_per_org = value.parse().map_err(|e| bad(&e))?,
            "--zipf" => config.zipf = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("gen_events: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let total = match write_jsonl(&config, std::io::stdout().lock()) {
        Ok(total) => total,
        Err(e) => {
            eprintln!("gen_events: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gen_events: {} events, {} bytes, avg {:.1} bytes/event, {:.2}s ({:.0} events/s)",
        config.count,
        total,
        total as f64 / config.count.max(1) as f64,
        secs,
        config.count as f64 / secs.max(1e-9)
    );
    ExitCode::SUCCESS
}
