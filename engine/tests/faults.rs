//! Fault injection: short writes, ENOSPC, EIO on write and on fsync. The failing append is
//! not acknowledged, the writer refuses everything after it (it cannot know what reached
//! the disk), and reopening recovers every acknowledged event.

mod common;

use std::sync::Arc;

use auditlog_engine::storage::{Fault, FaultyStorage};
use auditlog_engine::{Error, Log, LogConfig, OpenOptions};
use common::*;

fn run(fault: Fault) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = FaultyStorage::new();
    let log = OpenOptions::new()
        .storage(Arc::new(storage.clone()))
        .create(dir.path(), &LogConfig::default())
        .expect("create");
    let lines = lines(300, 31);
    let acked = append_all(&log, &lines[..100], 25);
    let acked_root = acked.last().expect("acks").root;
    storage.arm(fault);
    let events: Vec<_> = lines[100..200].iter().map(|l| parse(l)).collect();
    let failed = log.append(&events);
    assert!(storage.fired(), "{fault:?} fired");
    match failed {
        Err(Error::WriterFailed(why)) => assert!(why.contains("failed"), "{why}"),
        other => panic!("{fault:?}: the append must fail, got {other:?}"),
    }
    let later: Vec<_> = lines[200..210].iter().map(|l| parse(l)).collect();
    assert!(
        matches!(log.append(&later), Err(Error::WriterFailed(_))),
        "{fault:?}: no retry-and-pretend"
    );
    assert_eq!(log.tree_size(), 100, "readers never see the failed group");
    drop(log);

    let log = Log::open(dir.path()).expect("reopen without faults");
    let size = log.tree_size();
    // The writer cut what the failed append left past the last good sync: every
    // acknowledged event is there, in order, nothing else, and the tree extends the
    // acknowledged one.
    assert_eq!(size, 100, "{fault:?}");
    let all = read_all(&log);
    assert_eq!(all[..], lines[..size as usize]);
    assert_eq!(log.root_at(100).expect("root"), acked_root);
    append_all(&log, &lines[size as usize..], 50);
    assert_eq!(log.tree_size(), 300);
    drop(log);
    auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}).expect("verifies after recovery");
}

#[test]
fn short_write() {
    run(Fault::ShortWrite);
}

#[test]
fn no_space() {
    run(Fault::NoSpace);
}

#[test]
fn eio_on_write() {
    run(Fault::WriteEio);
}

#[test]
fn eio_on_fsync() {
    run(Fault::SyncEio);
}
