//! `kill -9` at random moments: the real `auditlog ingest` is killed while it writes, with
//! durability `always`, over and over on the same data directory. After each kill the
//! log must hold every acknowledged event intact and in order, dense sequence numbers,
//! and a tree consistent with every acknowledged tree head (checked with the real
//! `prove consistency`). Rounds: `AUDITLOG_CRASH_ROUNDS` (default 50; see
//! scripts/crash-soak.sh for long runs). The seed is printed; `AUDITLOG_CRASH_SEED`
//! replays a run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn auditlog(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(args)
        .output()
        .expect("run auditlog")
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct AckLine {
    first_seq: u64,
    count: u64,
    tree_size: u64,
    root: String,
}

fn parse_acks(stdout: &str) -> Vec<AckLine> {
    // The last line may be cut by the kill: only whole JSON lines count.
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| AckLine {
            first_seq: v["first_seq"].as_u64().expect("first_seq"),
            count: v["count"].as_u64().expect("count"),
            tree_size: v["tree_size"].as_u64().expect("tree_size"),
            root: v["root"].as_str().expect("root").to_owned(),
        })
        .collect()
}

#[test]
fn kill_9_at_random_moments_never_loses_an_acknowledged_event() {
    let rounds: u64 = std::env::var("AUDITLOG_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("AUDITLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("crash test: {rounds} rounds, AUDITLOG_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("log");
    let d = data.to_str().expect("path").to_owned();
    // Small segments so kills land in seals and segment creation too.
    let out = auditlog(&["init", "--data", &d, "--segment-bytes", "262144"]);
    assert!(out.status.success());
    let events_path = dir.path().join("events.jsonl");
    let out = auditlog(&[
        "generate", "--count", "200000", "--seed", "77", "--orgs", "100",
    ]);
    let all_events = String::from_utf8(out.stdout).expect("utf-8");
    let all_events: Vec<&str> = all_events.lines().collect();
    let mut acked_heads: Vec<(u64, String)> = Vec::new();
    let mut acked_total = 0u64;
    let mut killed_mid_run = 0u64;
    for round in 0..rounds {
        // Continue where the log is: the next events of the workload, from its size on.
        let size = log_size(&d);
        assert!(
            size >= acked_total,
            "round {round}: log shrank below what was acknowledged ({size} < {acked_total}), seed {seed}"
        );
        let start = size as usize % all_events.len();
        let take = 2_000 + rng.below(10_000) as usize;
        let chunk: Vec<&str> = all_events
            .iter()
            .cycle()
            .skip(start)
            .take(take)
            .copied()
            .collect();
        std::fs::write(&events_path, chunk.join("\n") + "\n").expect("write events");
        let batch = 1 + rng.below(500);
        // Kill after a random number of acknowledgements (none: before the first) and a
        // random pause of up to 2 ms. Pacing kills by the ingest's own progress, not by
        // the clock, keeps them landing while it writes on a fast machine and a slow one
        // alike: mid-write, mid-fdatasync, mid-seal, during recovery.
        let kill_after = rng.below(take.div_ceil(batch as usize) as u64);
        let pause = Duration::from_micros(rng.below(2_000));
        let mut child = Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args([
                "ingest",
                "--data",
                &d,
                "--acks",
                "--batch",
                &batch.to_string(),
                events_path.to_str().expect("path"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ingest");
        let ack_lines = ack_lines(child.stdout.take().expect("stdout"));
        let mut stdout = String::new();
        for line in ack_lines.iter().take(kill_after as usize) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        std::thread::sleep(pause);
        if child.try_wait().expect("try_wait").is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for line in ack_lines.iter() {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        for ack in parse_acks(&stdout) {
            assert!(
                ack.first_seq >= size,
                "round {round}: ack for seq {} below the start {size}",
                ack.first_seq
            );
            acked_total = acked_total.max(ack.first_seq + ack.count);
            acked_heads.push((ack.tree_size, ack.root));
        }
        check_log(
            &d,
            acked_total,
            &all_events,
            &acked_heads,
            &mut rng,
            round,
            seed,
        );
    }
    println!(
        "{killed_mid_run} of {rounds} rounds were killed mid-ingest; {acked_total} events acknowledged"
    );
    assert!(
        killed_mid_run * 4 >= rounds,
        "too few kills landed while ingest ran: the test would test nothing"
    );
    // The last kill may have left a torn tail or a half-made segment, which a read-only
    // verify reports and the next writer mends: open it for writing once first.
    std::fs::write(&events_path, "").expect("write events");
    let out = auditlog(&["ingest", "--data", &d, events_path.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = auditlog(&["verify", "--data", &d]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The lines the child prints, as they come: a reader thread forwards each whole line.
/// The channel closes when the child's stdout does.
fn ack_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn log_size(d: &str) -> u64 {
    let out = auditlog(&["info", "--data", d, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("info json");
    v["tree_size"].as_u64().expect("tree_size")
}

fn check_log(
    d: &str,
    acked: u64,
    events: &[&str],
    heads: &[(u64, String)],
    rng: &mut Rng,
    round: u64,
    seed: u64,
) {
    let out = auditlog(&["export", "--data", d]);
    assert!(
        out.status.success(),
        "round {round}: export failed: {}, seed {seed}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = String::from_utf8(out.stdout).expect("utf-8");
    let mut n = 0u64;
    for (seq, line) in exported.lines().enumerate() {
        let prefix = format!("{{\"seq\":{seq},");
        assert!(
            line.starts_with(&prefix),
            "round {round}: sequence numbers dense at {seq}, seed {seed}"
        );
        let want = events[seq % events.len()];
        assert_eq!(
            &line[prefix.len()..],
            &want[1..],
            "round {round}: event {seq} intact, seed {seed}"
        );
        n += 1;
    }
    assert!(
        n >= acked,
        "round {round}: {n} events on disk, {acked} acknowledged, seed {seed}"
    );
    // The tree extends every acknowledged head: check the newest and one at random.
    let picks = [
        heads.last(),
        heads.get(rng.below(heads.len().max(1) as u64) as usize),
    ];
    for (size, root) in picks.into_iter().flatten() {
        let out = auditlog(&[
            "prove",
            "consistency",
            "--data",
            d,
            "--size1",
            &size.to_string(),
            "--size2",
            &n.to_string(),
        ]);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let proof: serde_json::Value = serde_json::from_slice(&out.stdout).expect("proof json");
        assert_eq!(
            proof["root1"].as_str(),
            Some(root.as_str()),
            "round {round}: head at {size} changed, seed {seed}"
        );
        let mut verify = Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args(["proof", "verify", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        std::io::Write::write_all(&mut verify.stdin.take().expect("stdin"), &out.stdout)
            .expect("write");
        assert!(
            verify.wait().expect("wait").success(),
            "round {round}: consistency proof invalid, seed {seed}"
        );
    }
}
