//! A follower (the engine side of a read replica, docs/SCALING.md): a copy of a log, made
//! without its signing key, takes the log's later events in order and keeps the log's
//! checkpoints once its own records make them; then its bundles are the log's, byte for
//! byte. A checkpoint of a log that went another way (other events at the same seqs) is
//! refused and changes nothing; so is one signed by another key, or of another size. A
//! follower signs nothing, and reopens as one.

mod common;

use auditlog_engine::bundle::{Selection, write_bundle, write_bundle_against};
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::system::{SystemActor, SystemEvent};
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

/// Three directories (the primary's, and two for copies of it) and the primary: a log of
/// small segments that signs only when asked, holding the first 2,000 of `count`
/// generated events (returned) and a checkpoint of them.
fn primary_of(count: u64, seed: u64) -> ([tempfile::TempDir; 3], Log, Vec<String>) {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let config = LogConfig {
        segment_bytes: 256 << 10,
        checkpoint_interval: std::time::Duration::ZERO,
        ..LogConfig::default()
    };
    let primary = Log::create(dirs[0].path(), &config).expect("create");
    let events = lines(count, seed);
    append_all(&primary, &events[..2_000], 250);
    primary.checkpoint().expect("checkpoint");
    (dirs, primary, events)
}

#[test]
fn a_follower_keeps_the_logs_checkpoints_and_refuses_a_fork() {
    let ([p_dir, f_dir, g_dir], primary, events) = primary_of(6_000, 3);
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
    let own = SystemEvent {
        actor: SystemActor::Server,
        action: "auditlog.server.start",
        resource: None,
        details: serde_json::json!({}),
    };
    let refused = follower.record_system(&own).unwrap_err().to_string();
    assert!(
        refused.contains("an event of its own would fork it"),
        "{refused}"
    );
    let shipped = events_from(&primary, follower.tree_size());
    assert_eq!(shipped.len(), 4_000);
    // Too early: the follower does not hold the checkpoint's records yet.
    let early = follower.adopt_checkpoint(&signed).unwrap_err().to_string();
    assert!(early.contains("tree size 6000"), "{early}");
    // Nothing of its own: only copies of the followed log's records, at their seqs.
    let refused = follower.append(&shipped[..1]).unwrap_err().to_string();
    assert!(
        refused.contains("only the records of the log it follows"),
        "{refused}"
    );
    assert!(follower.append_copied(&shipped[..1], 2_001).is_err());
    for chunk in shipped.chunks(300) {
        let at = follower.tree_size();
        follower.append_copied(chunk, at).expect("appended");
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
        let at = forked.tree_size();
        forked.append_copied(chunk, at).expect("appended");
    }
    let refused = forked.adopt_checkpoint(&signed).unwrap_err().to_string();
    assert!(refused.contains("another tree"), "{refused}");
    assert_eq!(forked.latest_checkpoint().map(|c| c.to_text()), before);

    // A checkpoint of the same records, origin and size, signed by another key, is
    // refused: the key alone tells it apart.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = Log::create(stranger_dir.path(), primary.config()).expect("create");
    append_all(&stranger, &events, 500);
    assert_eq!(stranger.root(), follower.root());
    let theirs = stranger.checkpoint().expect("checkpoint").to_text();
    let refused = follower.adopt_checkpoint(&theirs).unwrap_err().to_string();
    assert!(refused.contains("signature"), "{refused}");

    // Closed and opened again as a follower: the kept checkpoint stands.
    follower.close();
    drop(follower);
    let again = OpenOptions::new()
        .follower(true)
        .open(f_dir.path())
        .expect("reopens");
    assert_eq!(again.latest_checkpoint().map(|c| c.to_text()), Some(signed));
}

/// One step of following `primary`, as a replica takes it: the newest checkpoint checked
/// against the kept one with the primary's consistency proof, then the records between in
/// bundles of at most 1,500, each proven against that checkpoint; the checkpoint is kept
/// with the last.
fn follow_step(follower: &Log, primary: &Log) -> Result<u64, String> {
    let signed = primary.latest_checkpoint().expect("a checkpoint");
    let kept = follower
        .latest_checkpoint()
        .expect("kept")
        .checkpoint
        .tree_size;
    let size = signed.checkpoint.tree_size;
    let proof = (kept < size).then(|| primary.prove_consistency(kept, size).expect("proof"));
    let checked = follower
        .check_followed(&signed.to_text(), proof.as_ref())
        .map_err(|e| e.to_string())?;
    let mut taken = 0;
    loop {
        let from = follower.tree_size();
        let selection = Selection {
            from_seq: from,
            to_seq: Some(size.min(from + 1_500)),
            ..Selection::default()
        };
        let to = selection.to_seq.expect("a page's end");
        let mut shipped = Vec::new();
        write_bundle_against(primary, &selection, size, &mut shipped).expect("bundle");
        let followed = follower
            .follow_bundle(&checked, to, &mut shipped.as_slice())
            .map_err(|e| e.to_string())?;
        taken += followed.events;
        assert_eq!(follower.tree_size(), from + followed.events);
        match followed.kept {
            Some(kept) => {
                assert_eq!(kept, checked);
                return Ok(taken);
            }
            // A page short of the checkpoint: the kept one is the older still.
            None => assert_ne!(follower.latest_checkpoint().as_ref(), Some(&checked)),
        }
    }
}

#[test]
fn a_follower_checks_each_checkpoint_against_the_kept_one_before_taking_records() {
    let ([p_dir, f_dir, g_dir], primary, events) = primary_of(7_000, 5);
    primary.close();
    drop(primary);
    // The follower without the private key; the fork with it (the same key signs both
    // logs' checkpoints, as a primary restored from an old backup would).
    copy_dir(p_dir.path(), f_dir.path());
    std::fs::remove_file(f_dir.path().join("keys/checkpoint.key")).expect("no private key");
    copy_dir(p_dir.path(), g_dir.path());
    let primary = Log::open(p_dir.path()).expect("reopens");
    let follower = OpenOptions::new()
        .follower(true)
        .open(f_dir.path())
        .expect("opens");
    // A log that signs its own follows nothing, not even its own checkpoint.
    let own = primary.latest_checkpoint().expect("a checkpoint").to_text();
    let refused = primary.check_followed(&own, None).unwrap_err().to_string();
    assert!(refused.contains("follows no other"), "{refused}");
    for (end, batch) in [(3_000, 100), (6_000, 700)] {
        let before = follower.tree_size();
        append_all(&primary, &events[before as usize..end], batch);
        primary.checkpoint().expect("checkpoint");
        assert_eq!(follow_step(&follower, &primary), Ok(end as u64 - before));
        assert_eq!(follower.root(), primary.root());
    }
    assert_eq!(follower.tree_size(), 6_000);
    let kept = follower.latest_checkpoint().map(|c| c.to_text());
    assert_eq!(kept, primary.latest_checkpoint().map(|c| c.to_text()));

    // The fork took other records after 2,000: its checkpoint at 6,000 signs another root,
    // and its proof from 6,000 to 7,000 starts from another root than the kept one.
    let fork = Log::open(g_dir.path()).expect("opens");
    let mut other: Vec<String> = events[2_000..6_000].to_vec();
    other[10] = other[10].replacen("\"action\":\"", "\"action\":\"forked.", 1);
    assert_ne!(other[10], events[2_010], "the fork differs");
    append_all(&fork, &other[..2_000], 500);
    let fork_older = fork.checkpoint().expect("checkpoint").to_text();
    append_all(&fork, &other[2_000..], 500);
    let at_same_size = fork.checkpoint().expect("checkpoint").to_text();
    let refused = follower
        .check_followed(&at_same_size, None)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("forked"), "{refused}");
    append_all(&fork, &events[6_000..7_000], 500);
    let later = fork.checkpoint().expect("checkpoint");
    let proof = fork.prove_consistency(6_000, 7_000).expect("proof");
    let refused = follower
        .check_followed(&later.to_text(), Some(&proof))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("forked"), "{refused}");
    // Nor does a proof of the real primary's make the fork's checkpoint pass.
    append_all(&primary, &events[6_000..7_000], 500);
    primary.checkpoint().expect("checkpoint");
    let real = primary.prove_consistency(6_000, 7_000).expect("proof");
    assert!(
        follower
            .check_followed(&later.to_text(), Some(&real))
            .is_err()
    );
    // An older checkpoint of the same tree (as a log with witnesses publishes the newest
    // they cosigned) is no news; an older one of another tree (the fork's at 4,000) is
    // refused.
    let old = primary.checkpoint_at(3_000).expect("read").expect("kept");
    let older = follower
        .check_followed(&old.to_text(), None)
        .expect("no news");
    assert_eq!(older.checkpoint.tree_size, 3_000);
    let refused = follower
        .check_followed(&fork_older, None)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("went back and forked"), "{refused}");
    // Nothing changed; the real primary's next step is taken.
    assert_eq!(follower.tree_size(), 6_000);
    assert_eq!(follower.latest_checkpoint().map(|c| c.to_text()), kept);
    assert_eq!(follow_step(&follower, &primary), Ok(1_000));
    assert_eq!(follower.root(), primary.root());

    // Records that are not the whole range (a tenant's bundle) are refused before any is
    // appended.
    append_all(&primary, &events[..200], 100);
    let signed = primary.checkpoint().expect("checkpoint");
    let proof = primary.prove_consistency(7_000, 7_200).expect("proof");
    let checked = follower
        .check_followed(&signed.to_text(), Some(&proof))
        .expect("consistent");
    let tenant = busiest_tenant(&events[..200]);
    let selection = Selection {
        from_seq: 7_000,
        tenant: Some(tenant),
        ..Selection::default()
    };
    let mut partial = Vec::new();
    write_bundle(&primary, &selection, &mut partial).expect("bundle");
    let refused = follower
        .follow_bundle(&checked, 7_200, &mut partial.as_slice())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("not every record"), "{refused}");
    // Nor is a page other than the one asked for (a shorter one, here).
    let short = Selection {
        from_seq: 7_000,
        to_seq: Some(7_100),
        ..Selection::default()
    };
    let mut page = Vec::new();
    write_bundle_against(&primary, &short, 7_200, &mut page).expect("bundle");
    let refused = follower
        .follow_bundle(&checked, 7_200, &mut page.as_slice())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("not every record"), "{refused}");
    assert_eq!(follower.tree_size(), 7_000);
}
