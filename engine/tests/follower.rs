//! A follower (the engine side of a read replica, docs/SCALING.md): a copy of a log, made
//! without its signing key, takes the log's later events in order and keeps the log's
//! checkpoints once its own records make them; then its bundles are the log's, byte for
//! byte. A checkpoint of a log that went another way (other events at the same seqs) is
//! refused and changes nothing; so is one signed by another key, or of another size. A
//! follower signs nothing, and reopens as one.

mod common;

use auditlog_engine::bundle::{Selection, write_bundle};
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::{Event, Log, LogConfig, OpenOptions};
use common::{append_all, busiest_tenant, copy_dir, lines};

/// The events of `log` from `from` on, in order, as owned events.
fn events_from(log: &Log, from: u64) -> Vec<Event<'static>> {
    let query = Query {
        filter: Filter {
            seqs: Some(from..u64::MAX),
            ..Filter::default()
        },
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    let mut out = Vec::new();
    log.query(&query, |_, event| {
        out.push(event.into_owned());
        Ok(true)
    })
    .expect("query");
    out
}

fn bundle(log: &Log, tenant: &str) -> Vec<u8> {
    let selection = Selection {
        tenant: Some(tenant.to_owned()),
        ..Selection::default()
    };
    let mut out = Vec::new();
    write_bundle(log, &selection, &mut out).expect("bundle");
    out
}

#[test]
fn a_follower_keeps_the_logs_checkpoints_and_refuses_a_fork() {
    let (p_dir, f_dir, g_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let config = LogConfig {
        segment_bytes: 256 << 10,
        checkpoint_interval: std::time::Duration::ZERO,
        ..LogConfig::default()
    };
    let primary = Log::create(p_dir.path(), &config).expect("create");
    let events = lines(6_000, 3);
    append_all(&primary, &events[..2_000], 250);
    primary.checkpoint().expect("checkpoint");
    // The copies, as of now, without the private key (as an archive restores them).
    for dir in [f_dir.path(), g_dir.path()] {
        copy_dir(p_dir.path(), dir);
        std::fs::remove_file(dir.join("keys/checkpoint.key")).expect("no private key");
    }
    append_all(&primary, &events[2_000..], 250);
    let signed = primary.checkpoint().expect("checkpoint").to_text();

    let follower = OpenOptions::new()
        .follower(true)
        .open(f_dir.path())
        .expect("a follower opens without the private key");
    assert!(follower.checkpoint().is_err(), "a follower signs nothing");
    let shipped = events_from(&primary, follower.tree_size());
    assert_eq!(shipped.len(), 4_000);
    // Too early: the follower does not hold the checkpoint's records yet.
    let early = follower.adopt_checkpoint(&signed).unwrap_err().to_string();
    assert!(early.contains("tree size 6000"), "{early}");
    for chunk in shipped.chunks(300) {
        follower.append(chunk).expect("appended");
    }
    let kept = follower.adopt_checkpoint(&signed).expect("kept");
    assert_eq!(kept.to_text(), signed);
    assert_eq!(
        follower.latest_checkpoint().map(|c| c.to_text()),
        Some(signed.clone())
    );
    assert_eq!(follower.root(), primary.root());
    // The busiest tenant has events before the copy and after it.
    let busiest = busiest_tenant(&events);
    let bundled = bundle(&follower, &busiest);
    assert!(bundled.len() > 100_000, "{} bytes", bundled.len());
    assert_eq!(bundled, bundle(&primary, &busiest));

    // Another copy that took one event the primary never had: the primary's checkpoint
    // of the same size is refused, and nothing changes.
    let forked = OpenOptions::new()
        .follower(true)
        .open(g_dir.path())
        .expect("opens");
    let before = forked.latest_checkpoint().map(|c| c.to_text());
    let mut other = shipped.clone();
    other[100].action = "document.delete".into();
    for chunk in other.chunks(300) {
        forked.append(chunk).expect("appended");
    }
    let refused = forked.adopt_checkpoint(&signed).unwrap_err().to_string();
    assert!(refused.contains("another tree"), "{refused}");
    assert_eq!(forked.latest_checkpoint().map(|c| c.to_text()), before);

    // A checkpoint signed by another key (the forked copy's own log made anew) is refused.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = Log::create(stranger_dir.path(), &config).expect("create");
    append_all(&stranger, &events[..10], 10);
    let theirs = stranger.checkpoint().expect("checkpoint").to_text();
    assert!(follower.adopt_checkpoint(&theirs).is_err());

    // Closed and opened again as a follower: the kept checkpoint stands.
    follower.close();
    drop(follower);
    let again = OpenOptions::new()
        .follower(true)
        .open(f_dir.path())
        .expect("reopens");
    assert_eq!(again.latest_checkpoint().map(|c| c.to_text()), Some(signed));
}
