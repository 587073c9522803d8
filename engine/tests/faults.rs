//! Fault injection: short writes, ENOSPC, EIO on write and on fsync. The failing append is
//! not acknowledged, the writer refuses everything after it (it cannot know what reached
//! the disk), and reopening recovers every acknowledged event.

mod common;

use std::sync::Arc;

use auditlog_engine::storage::{Fault, FaultyStorage};
use auditlog_engine::{Error, Log, LogConfig, OpenOptions};
use common::*;

/// A new log in `dir` on storage that fails on cue.
fn faulty_log(dir: &std::path::Path) -> (FaultyStorage, Log) {
    let storage = FaultyStorage::new();
    let log = OpenOptions::new()
        .storage(Arc::new(storage.clone()))
        .create(dir, &LogConfig::default())
        .expect("create");
    (storage, log)
}

fn run(fault: Fault) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, log) = faulty_log(dir.path());
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

/// A disk that falls behind: `try_submit` answers `Busy` once the writer's queue is full,
/// instead of blocking, and appends nothing for it; every batch it took is stored once
/// the disk catches up.
#[test]
fn a_full_writer_queue_refuses_try_submit_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, log) = faulty_log(dir.path());
    let lines = lines(10, 5);
    let batch = || {
        let mut batch = log.batch();
        for line in &lines {
            batch.push(&parse(line)).expect("push");
        }
        batch
    };
    storage.stall_syncs();
    // Should an assertion below fail, the syncs go on before the log is dropped (its
    // close waits for them): the test fails with its message instead of hanging.
    struct ResumeOnDrop<'a>(&'a FaultyStorage);
    impl Drop for ResumeOnDrop<'_> {
        fn drop(&mut self) {
            self.0.resume_syncs();
        }
    }
    let _resume = ResumeOnDrop(&storage);
    // The writer and its sync stage take batches off the queue until they block on the
    // stalled sync, so a first `Busy` may come while they still drain it: the queue is
    // full for good once `Busy` is answered again after a pause with no batch taken.
    let mut taken = Vec::new();
    let mut busy_before_pause = false;
    loop {
        match log.try_submit(batch()) {
            Ok(ack) => {
                taken.push(ack);
                busy_before_pause = false;
            }
            Err(Error::Busy) if busy_before_pause => break,
            Err(Error::Busy) => {
                busy_before_pause = true;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("refused with {e:?} instead of Busy"),
        }
        assert!(taken.len() < 10_000, "the queue never filled");
    }
    storage.resume_syncs();
    let mut next_seq = 0;
    for ack in taken
        .iter()
        .map(|r| r.recv().expect("answered").expect("acked"))
    {
        assert_eq!(ack.first_seq, next_seq, "dense, and nothing of the refused");
        next_seq += ack.count;
    }
    assert_eq!(log.tree_size(), taken.len() as u64 * 10);
    assert!(log.try_submit(batch()).is_ok(), "room again");
}
