//! Throughput check, ignored by default; run it in release mode:
//! `cargo test --release -p auditlog-workload --test speed -- --ignored --nocapture`.

use std::time::Instant;

use auditlog_workload::{Config, Generator};

#[test]
#[ignore = "timing; run explicitly in release mode"]
fn one_million_events_throughput() {
    let config = Config {
        count: 1_000_000,
        seed: 7,
        ..Config::default()
    };
    let started = Instant::now();
    let mut generator = Generator::new(&config).expect("valid config");
    let setup = started.elapsed();
    let mut buf = String::with_capacity(1 << 21);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while generator.next_line(&mut buf) {
        lines += 1;
        if buf.len() >= 1 << 20 {
            bytes += buf.len() as u64;
            buf.clear();
        }
    }
    bytes += buf.len() as u64;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{lines} events, {bytes} bytes ({:.1} bytes/event) in {secs:.2}s (world setup {:.0} ms), \
         {:.0} events/s",
        bytes as f64 / lines as f64,
        setup.as_secs_f64() * 1e3,
        lines as f64 / secs
    );
    assert_eq!(lines, 1_000_000);
}
