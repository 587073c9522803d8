//! `auditlog generate`: the synthetic workload, as JSON Lines on stdout.

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Number of events.
    #[arg(long)]
    count: u64,
    /// Seed: the same arguments give the same output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of organizations (tenants).
    #[arg(long, default_value_t = 1000)]
    orgs: usize,
    /// Days covered.
    #[arg(long, default_value_t = 120)]
    days: u32,
    /// First day, UTC.
    #[arg(
        long,
        default_value = "2026-01-01T00:00:00Z",
        conflicts_with = "recent"
    )]
    start: String,
    /// Cover the `--days` that end now instead of starting at `--start`, so that a
    /// query of the last days finds them (the output then depends on the time too).
    #[arg(long)]
    recent: bool,
    /// Mean users per organization.
    #[arg(long, default_value_t = 50)]
    users_per_org: usize,
    /// Skew of organization activity (Zipf exponent).
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
}

impl Args {
    pub(crate) fn config(&self) -> auditlog_workload::Config {
        auditlog_workload::Config {
            count: self.count,
            seed: self.seed,
            orgs: self.orgs,
            days: self.days,
            start: if self.recent {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                auditlog_workload::start_at(now - i64::from(self.days) * 86_400)
            } else {
                self.start.clone()
            },
            users_per_org: self.users_per_org,
            zipf: self.zipf,
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout);
    match auditlog_workload::write_jsonl(&args.config(), &mut out) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other?,
    };
    out.flush().ok();
    Ok(ExitCode::SUCCESS)
}
