//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::Path;

use auditlog_engine::event::parse_json;
use auditlog_engine::merkle::Proof;
use auditlog_engine::{Ack, Event, Log, LogConfig};

/// Flips the bits `mask` of byte `at` of the file; returns the new contents.
pub(crate) fn flip(path: &Path, at: usize, mask: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at] ^= mask;
    std::fs::write(path, &bytes).expect("write");
    bytes
}

/// `count` workload lines from `seed`.
pub(crate) fn lines(count: u64, seed: u64) -> Vec<String> {
    let config = auditlog_workload::Config {
        count,
        seed,
        orgs: 50,
        ..Default::default()
    };
    let mut out = Vec::new();
    auditlog_workload::write_jsonl(&config, &mut out).expect("generate");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn parse(line: &str) -> Event<'_> {
    parse_json(line.as_bytes()).expect("valid event")
}

/// A config with small segments so tests get many.
pub(crate) fn small_segments(bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes: bytes,
        ..LogConfig::default()
    }
}

/// Appends `lines` in batches of `batch`, returning the acks.
pub(crate) fn append_all(log: &Log, lines: &[String], batch: usize) -> Vec<Ack> {
    lines
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<Event<'_>> = chunk.iter().map(|l| parse(l)).collect();
            log.append(&events).expect("append")
        })
        .collect()
}

/// Every event of the log as JSON lines (without seq), checking seqs are dense from 0.
pub(crate) fn read_all(log: &Log) -> Vec<String> {
    let mut out = Vec::new();
    log.scan(0..u64::MAX, Default::default(), |seq, event| {
        assert_eq!(seq, out.len() as u64, "sequence numbers are dense");
        out.push(event.to_json());
        Ok(true)
    })
    .expect("scan");
    out
}

/// Checks proofs of a few leaves and of consistency with `earlier` (size, root) pairs.
pub(crate) fn check_proofs(log: &Log, earlier: &[(u64, auditlog_engine::Hash)]) {
    let size = log.tree_size();
    for index in [0, size / 3, size / 2, size.saturating_sub(1)] {
        if index < size {
            let proof = log.prove_inclusion(index, None).expect("inclusion");
            assert_eq!(proof.root, log.root().to_vec());
            Proof::Inclusion(proof)
                .verify()
                .expect("inclusion verifies");
        }
    }
    for &(old_size, old_root) in earlier {
        if old_size == 0 {
            continue;
        }
        assert_eq!(
            log.root_at(old_size).expect("root at"),
            old_root,
            "root at {old_size} changed"
        );
        let proof = log.prove_consistency(old_size, size).expect("consistency");
        assert_eq!(proof.root1, old_root.to_vec());
        Proof::Consistency(proof)
            .verify()
            .expect("consistency verifies");
    }
}

pub(crate) fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .expect("segments dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Copies a data directory (without its lock): taken while a log is open, the copy is
/// what a `kill -9` would leave, since every acknowledged write has reached the OS. A
/// file renamed away during the copy (a temporary file the log's seal thread has just
/// put in place) sends the copy round the directory again, as a crash would find the
/// file under one name or the other.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    loop {
        let mut vanished = false;
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else if entry.file_name() != "LOCK" {
                match std::fs::copy(entry.path(), &target) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => vanished = true,
                    Err(e) => panic!("copy {}: {e}", entry.path().display()),
                }
            }
        }
        if !vanished {
            return;
        }
    }
}

/// Every file under `dir` and its bytes.
pub(crate) fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.insert(path.strip_prefix(dir).expect("inside").to_path_buf(), bytes);
            }
        }
    }
    files
}

/// A workload line's tenant (`organization.id`).
pub(crate) fn tenant_of(line: &str) -> String {
    let event: serde_json::Value = serde_json::from_str(line).expect("JSON");
    event["organization"]["id"]
        .as_str()
        .expect("a tenant")
        .to_owned()
}

/// The tenant with the most of `lines`.
pub(crate) fn busiest_tenant(lines: &[String]) -> String {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for line in lines {
        *counts.entry(tenant_of(line)).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(_, n)| n).expect("lines").0
}
