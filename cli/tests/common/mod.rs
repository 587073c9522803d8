//! Helpers shared by the CLI's integration tests: run the real binary, feed it stdin,
//! generate and ingest workloads.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub(crate) fn auditlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(args)
        .output()
        .expect("run auditlog")
}

pub(crate) fn auditlog_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn generate(count: u64, seed: u64) -> String {
    let out = auditlog(&[
        "generate",
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `auditlog ingest --data d -` of `count` generated events, which must succeed.
pub(crate) fn ingest_generated(d: &str, count: u64, seed: u64) {
    let out = auditlog_stdin(
        &["ingest", "--data", d, "-"],
        generate(count, seed).as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `auditlog prove inclusion --data d --index index --format tlog-proof`.
pub(crate) fn prove_tlog(d: &str, index: &str) -> Output {
    auditlog(&[
        "prove",
        "inclusion",
        "--data",
        d,
        "--index",
        index,
        "--format",
        "tlog-proof",
    ])
}

pub(crate) fn data(dir: &Path) -> String {
    dir.to_str().expect("utf-8 path").to_owned()
}

/// `auditlog ARGS` with the environment of the tests' SeaweedFS, to run.
pub(crate) fn auditlog_s3(s3: &auditlog_archive::testing::SeaweedFs, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlog"));
    s3.env(command.args(args));
    command
}

/// Runs `command`, which must succeed; its stdout.
pub(crate) fn ok(mut command: Command) -> String {
    let out = command.output().expect("runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs the project's `scripts/NAME` (one that installs what a test needs on first use)
/// to success; what it prints, trimmed.
pub(crate) fn project_script(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name);
    let mut command = Command::new("bash");
    command.arg(script);
    ok(command).trim().to_owned()
}

/// The project's Python venv (scripts/python-env.sh makes it on first use): its python.
pub(crate) fn python() -> String {
    project_script("python-env.sh")
}
