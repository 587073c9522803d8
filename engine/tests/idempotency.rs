//! Idempotent appends: a batch whose events all carry client ids already stored is
//! answered with the original sequence numbers and stored nowhere, also after a crash
//! and reopen; a batch whose first events were stored appends only the rest; other
//! mixes of stored and new events are refused whole.

mod common;

use std::borrow::Cow;

use auditlog_engine::{Ack, Error, Event, Log, LogConfig};
use common::*;

/// Events of `lines[range]` for `tenant`, with client ids `id-<i>`.
fn with_ids<'a>(
    lines: &'a [String],
    range: std::ops::Range<usize>,
    tenant: &'a str,
) -> Vec<Event<'a>> {
    range
        .map(|i| {
            let mut e = parse(&lines[i]);
            e.tenant_id = Cow::Borrowed(tenant);
            e.event_id = Some(Cow::Owned(format!("id-{i}")));
            e
        })
        .collect()
}

fn same_numbers(original: &Ack, retry: &Ack) {
    assert!(!original.replayed() && retry.replayed());
    assert_eq!(
        retry.seqs().collect::<Vec<_>>(),
        original.seqs().collect::<Vec<_>>()
    );
    assert_eq!(retry.count, 0, "nothing appended");
    assert!(retry.tree_size >= original.first_seq + original.count);
}

#[test]
fn a_retried_batch_is_stored_once_also_across_a_crash() {
    let live = tempfile::tempdir().expect("tempdir");
    let log = Log::create(live.path(), &LogConfig::default()).expect("create");
    let lines = lines(20, 3);
    let first = log
        .append(&with_ids(&lines, 0..5, "org_a"))
        .expect("stored");
    assert_eq!((first.first_seq, first.count), (0, 5));
    let retry = log
        .append(&with_ids(&lines, 0..5, "org_a"))
        .expect("answered");
    same_numbers(&first, &retry);
    assert_eq!(log.tree_size(), 5, "nothing appended for the retry");

    // A new event before a stored one: refused, nothing stored.
    let mixed: Vec<_> = [5, 4]
        .iter()
        .flat_map(|&i| with_ids(&lines, i..i + 1, "org_a"))
        .collect();
    let refused = log.append(&mixed);
    assert!(
        matches!(refused, Err(Error::PartlyStored(_))),
        "{refused:?}"
    );
    assert_eq!(log.tree_size(), 5);
    // Another event reusing a stored id is not a retry: refused, nothing stored.
    let mut reused = with_ids(&lines, 0..1, "org_a");
    reused[0].action = Cow::Borrowed("something.else");
    let refused = log.append(&reused);
    assert!(
        matches!(refused, Err(Error::PartlyStored(_))),
        "{refused:?}"
    );
    assert_eq!(log.tree_size(), 5);
    // The same ids in another tenant are other events.
    let other = log
        .append(&with_ids(&lines, 0..5, "org_b"))
        .expect("stored");
    assert_eq!((other.first_seq, other.replayed()), (5, false));
    // Events without ids are always new.
    let plain: Vec<_> = lines[10..12].iter().map(|l| parse(l)).collect();
    log.append(&plain).expect("stored");
    log.append(&plain).expect("stored again");
    assert_eq!(log.tree_size(), 14);

    // What a kill -9 leaves; the reopened log remembers the ids from the records.
    let image = tempfile::tempdir().expect("tempdir");
    copy_dir(live.path(), image.path());
    drop(log);
    let log = Log::open(image.path()).expect("recovers");
    let retry = log
        .append(&with_ids(&lines, 0..5, "org_a"))
        .expect("answered");
    same_numbers(&first, &retry);
    let retry = log
        .append(&with_ids(&lines, 0..5, "org_b"))
        .expect("answered");
    same_numbers(&other, &retry);
    assert_eq!(log.tree_size(), 14);
    // A batch whose first events were stored (what a crash in the middle of its write
    // leaves) appends only the rest and answers with all its numbers.
    let partial = log
        .append(&with_ids(&lines, 3..8, "org_a"))
        .expect("the rest stored");
    assert_eq!(partial.seqs().collect::<Vec<_>>(), [3, 4, 14, 15, 16]);
    assert_eq!(log.tree_size(), 17);
    let again = log
        .append(&with_ids(&lines, 3..8, "org_a"))
        .expect("answered");
    assert_eq!(again.seqs().collect::<Vec<_>>(), [3, 4, 14, 15, 16]);
    assert_eq!(log.tree_size(), 17);
    assert_eq!(read_all(&log).len(), 17);
}
