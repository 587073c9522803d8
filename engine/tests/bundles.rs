//! Evidence bundles: written from a real log, checked offline with nothing but the bundle
//! and the key, and refused when any event is altered, dropped or added, when the
//! checkpoint is changed, or when it is signed by another key than the one given; a
//! tenant's bundle from which an event was dropped (and the proof made again) is refused
//! by the tenant links.

mod common;

use std::io::BufReader;
use std::path::Path;

use auditlog_engine::bundle::{BundleError, Completeness, Selection, verify_bundle, write_bundle};
use auditlog_engine::checkpoint::NoteVerifier;
use auditlog_engine::codec::TenantLink;
use auditlog_engine::merkle::MultiproofError;
use auditlog_engine::{Log, LogConfig};
use common::{append_all, lines};

/// A log of 5,000 events with a checkpoint at 4,000 (the last 1,000 are not under one).
fn checkpointed_log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 256 << 10,
        checkpoint_interval: std::time::Duration::ZERO,
        ..LogConfig::default()
    };
    let log = Log::create(dir.path(), &config).expect("create");
    let events = lines(5_000, 21);
    append_all(&log, &events[..4_000], 500);
    log.checkpoint().expect("checkpoint");
    append_all(&log, &events[4_000..], 500);
    (dir, log)
}

fn key(dir: &Path) -> NoteVerifier {
    let text = std::fs::read_to_string(dir.join("keys/checkpoint.pub")).expect("key");
    NoteVerifier::parse(&text).expect("key")
}

fn write(log: &Log, selection: &Selection) -> String {
    let mut out = Vec::new();
    write_bundle(log, selection, &mut out).expect("bundle");
    String::from_utf8(out).expect("utf-8")
}

fn check(
    bundle: &str,
    key: &NoteVerifier,
) -> Result<auditlog_engine::bundle::BundleSummary, BundleError> {
    verify_bundle(&mut BufReader::new(bundle.as_bytes()), Some(key))
}

/// The bundle with its event lines (between the header and the proof line) changed.
fn with_events(bundle: &str, change: impl FnOnce(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = bundle.lines().map(str::to_owned).collect();
    let trailer = lines.pop().expect("proof line");
    let header = lines.remove(0);
    change(&mut lines);
    let mut out = header + "\n";
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out + &trailer + "\n"
}

#[test]
fn a_sequence_range_bundle_checks_and_is_complete() {
    let (dir, log) = checkpointed_log();
    let selection = Selection {
        from_seq: 1_000,
        to_seq: Some(4_500),
        ..Selection::default()
    };
    let bundle = write(&log, &selection);
    let summary = check(&bundle, &key(dir.path())).expect("checks");
    // Clipped to the checkpoint's tree size: 1,000..4,000.
    assert_eq!(summary.events, 3_000);
    assert_eq!(summary.checkpoint.tree_size, 4_000);
    assert_eq!(
        summary.completeness,
        Completeness::Range {
            from: 1_000,
            to: 4_000
        }
    );
    assert!(
        summary.proof_nodes <= 2 * 12,
        "{} nodes",
        summary.proof_nodes
    );
    // The event lines are what `export` prints, with each record's tenant link.
    let mut exported = Vec::new();
    log.scan_records(1_000..4_000, Default::default(), |seq, record| {
        let mut line = Vec::new();
        record.event.write_json(Some(seq), &mut line);
        let line = String::from_utf8(line).expect("utf-8");
        let link = match record.tenant_link {
            TenantLink::First => "null".to_owned(),
            TenantLink::Previous(p) => p.to_string(),
            TenantLink::Unlinked => panic!("a new log's records are linked"),
        };
        let prefix = format!("{{\"seq\":{seq},");
        exported.push(line.replacen(&prefix, &format!("{prefix}\"tenant_prev\":{link},"), 1));
        Ok(true)
    })
    .expect("scan");
    let in_bundle: Vec<&str> = bundle.lines().skip(1).take(3_000).collect();
    assert_eq!(in_bundle, exported);
}

#[test]
fn a_tenant_bundle_checks_against_the_key_given() {
    let (dir, log) = checkpointed_log();
    let mut tenant = String::new();
    log.scan(0..1, Default::default(), |_, event| {
        tenant = event.tenant_id.to_string();
        Ok(false)
    })
    .expect("scan");
    let selection = Selection {
        tenant: Some(tenant.clone()),
        ..Selection::default()
    };
    let bundle = write(&log, &selection);
    let seqs = tenant_seqs(&log, &tenant, 4_000);
    let summary = check(&bundle, &key(dir.path())).expect("checks");
    assert_eq!(summary.events, seqs.len() as u64);
    // Gap-free by the links, and closed by the tenant heads of the checkpoint at 4,000.
    assert_eq!(
        summary.completeness,
        Completeness::Tenant { from: 0, to: 4_000 }
    );
    // Another log's key: refused, whatever the bundle says about itself.
    let (other_dir, _other) = checkpointed_log();
    assert!(matches!(
        check(&bundle, &key(other_dir.path())),
        Err(BundleError::OtherKey { .. })
    ));
}

/// The sequence numbers of `tenant`'s events below `end`.
fn tenant_seqs(log: &Log, tenant: &str, end: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    log.scan(0..end, Default::default(), |seq, event| {
        if event.tenant_id == tenant {
            seqs.push(seq);
        }
        Ok(true)
    })
    .expect("scan");
    seqs
}

/// The bundle without its event of `seq`, with a proof made again from the log for the
/// events left: what an operator hiding that event would hand out.
fn forged_without(log: &Log, bundle: &str, seq: u64, tree_size: u64) -> String {
    let mut lines: Vec<String> = bundle.lines().map(str::to_owned).collect();
    let mut trailer: serde_json::Value =
        serde_json::from_str(&lines.pop().expect("proof line")).expect("json");
    lines.retain(|line| !line.starts_with(&format!("{{\"seq\":{seq},")));
    let seqs: Vec<u64> = lines[1..]
        .iter()
        .map(|line| {
            let rest = line.strip_prefix("{\"seq\":").expect("event line");
            rest[..rest.find(',').expect("comma")].parse().expect("seq")
        })
        .collect();
    let nodes = log.multiproof(&seqs, tree_size).expect("proof");
    let proof: Vec<String> = nodes
        .iter()
        .map(|n| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, n))
        .collect();
    trailer["events"] = seqs.len().into();
    trailer["proof"] = proof.into();
    format!("{}\n{trailer}\n", lines.join("\n"))
}

#[test]
fn a_tenant_bundle_missing_an_event_is_refused_even_with_a_new_proof() {
    let (dir, log) = checkpointed_log();
    let key = key(dir.path());
    let mut tenant = String::new();
    log.scan(0..1, Default::default(), |_, event| {
        tenant = event.tenant_id.to_string();
        Ok(false)
    })
    .expect("scan");
    let seqs = tenant_seqs(&log, &tenant, 4_000);
    assert!(seqs.len() >= 6, "{} events of {tenant}", seqs.len());
    let from_seq = seqs[1];
    let selection = Selection {
        tenant: Some(tenant.clone()),
        from_seq,
        ..Selection::default()
    };
    let bundle = write(&log, &selection);
    check(&bundle, &key).expect("the original checks");

    // One from the middle, or the first of the range: the next event's link names it.
    for (dropped, next) in [(seqs[3], seqs[4]), (seqs[1], seqs[2])] {
        let forged = forged_without(&log, &bundle, dropped, 4_000);
        match check(&forged, &key) {
            Err(BundleError::TenantGap { seq, what, .. }) => {
                assert_eq!(seq, next);
                assert!(what.contains(&dropped.to_string()), "{what}");
            }
            other => panic!("dropping {dropped} must show: {other:?}"),
        }
    }
    // The newest one: nothing links to it, but the checkpoint signs it as the tenant's
    // newest event.
    let last = *seqs.last().expect("events");
    let forged = forged_without(&log, &bundle, last, 4_000);
    assert_eq!(
        check(&forged, &key).map(|s| s.completeness),
        Err(BundleError::TenantTail {
            head: last,
            last: Some(seqs[seqs.len() - 2])
        })
    );
    // Without the tenant head as well, the bundle claims no more than its links show.
    let mut lines: Vec<&str> = forged.lines().collect();
    let mut trailer: serde_json::Value =
        serde_json::from_str(lines.pop().expect("proof line")).expect("json");
    trailer
        .as_object_mut()
        .expect("object")
        .remove("tenant_head");
    let headless = format!("{}\n{trailer}\n", lines.join("\n"));
    assert_eq!(
        check(&headless, &key).expect("checks").completeness,
        Completeness::TenantChain {
            from: from_seq,
            through: Some(seqs[seqs.len() - 2])
        }
    );
    // A tenant head moved to another tenant's leaf, or to another seq, does not check.
    for (from, to) in [
        (
            "\"tenant_head\":{\"index\":",
            "\"tenant_head\":{\"index\":1",
        ),
        (
            &format!("\"seq\":{last},\"path\""),
            &format!("\"seq\":{},\"path\"", last - 1),
        ),
    ] {
        let moved = bundle.replacen(from, to, 1);
        assert_ne!(moved, bundle);
        assert!(
            matches!(check(&moved, &key), Err(BundleError::TenantHead(_))),
            "{from} -> {to}"
        );
    }
    // Links cannot be edited: they are in the leaf hash.
    let relinked = with_events(&bundle, |events| {
        let prefix = format!("{{\"seq\":{},\"tenant_prev\":{},", seqs[4], seqs[3]);
        let i = events
            .iter()
            .position(|l| l.starts_with(&prefix))
            .expect("line");
        events[i] = events[i].replacen(
            &prefix,
            &format!("{{\"seq\":{},\"tenant_prev\":{},", seqs[4], seqs[2]),
            1,
        );
    });
    assert!(matches!(
        check(&relinked, &key),
        Err(BundleError::Proof(MultiproofError::RootMismatch))
    ));
}

#[test]
fn a_tenant_export_between_two_checkpoints_is_proven_complete() {
    let (dir, log) = checkpointed_log();
    let key = key(dir.path());
    assert_eq!(
        log.checkpoint().expect("checkpoint").checkpoint.tree_size,
        5_000
    );
    let mut tenant = String::new();
    log.scan(4_999..5_000, Default::default(), |_, event| {
        tenant = event.tenant_id.to_string();
        Ok(false)
    })
    .expect("scan");
    let seqs = tenant_seqs(&log, &tenant, 5_000);
    // Between the checkpoints at 4,000 and 5,000: proven against the second, whose tenant
    // heads close the range.
    let selection = Selection {
        tenant: Some(tenant.clone()),
        from_seq: 4_000,
        to_seq: Some(5_000),
        ..Selection::default()
    };
    let summary = check(&write(&log, &selection), &key).expect("checks");
    assert_eq!(summary.checkpoint.tree_size, 5_000);
    assert_eq!(
        summary.events,
        seqs.iter().filter(|&&s| s >= 4_000).count() as u64
    );
    assert_eq!(
        summary.completeness,
        Completeness::Tenant {
            from: 4_000,
            to: 5_000
        }
    );
    // A range that ends at no checkpoint, with events of the tenant after it: the newest
    // checkpoint's heads say nothing about the range's end, so only the links are claimed.
    let mid = seqs[seqs.len() / 2];
    let selection = Selection {
        tenant: Some(tenant.clone()),
        to_seq: Some(mid),
        ..Selection::default()
    };
    let summary = check(&write(&log, &selection), &key).expect("checks");
    assert_eq!(summary.checkpoint.tree_size, 5_000);
    assert_eq!(
        summary.completeness,
        Completeness::TenantChain {
            from: 0,
            through: seqs.iter().rev().find(|&&s| s < mid).copied()
        }
    );
}

#[test]
fn altered_dropped_or_added_events_are_refused() {
    let (dir, log) = checkpointed_log();
    let key = key(dir.path());
    let bundle = write(
        &log,
        &Selection {
            from_seq: 100,
            to_seq: Some(400),
            ..Selection::default()
        },
    );
    check(&bundle, &key).expect("the original checks");

    let altered = with_events(&bundle, |events| {
        events[7] = events[7].replacen("\"user_id\":\"usr_", "\"user_id\":\"usx_", 1);
    });
    assert_ne!(altered, bundle);
    assert!(matches!(
        check(&altered, &key),
        Err(BundleError::Proof(MultiproofError::RootMismatch))
    ));

    let dropped = with_events(&bundle, |events| {
        events.remove(150);
    });
    assert!(check(&dropped, &key).is_err(), "a dropped event is refused");

    let added = with_events(&bundle, |events| {
        let copy = events[10].replacen("{\"seq\":110,", "{\"seq\":400,", 1);
        events.push(copy);
    });
    assert!(matches!(
        check(&added, &key),
        Err(BundleError::OutsideSelection { .. })
    ));
    let duplicated = with_events(&bundle, |events| {
        let copy = events[10].clone();
        events.insert(11, copy);
    });
    assert!(
        check(&duplicated, &key).is_err(),
        "a repeated event is refused"
    );
}

#[test]
fn a_changed_checkpoint_or_proof_is_refused() {
    let (dir, log) = checkpointed_log();
    let key = key(dir.path());
    let bundle = write(
        &log,
        &Selection {
            tenant: None,
            from_seq: 10,
            to_seq: Some(20),
            ..Selection::default()
        },
    );
    let resized = bundle.replacen("\\n4000\\n", "\\n4001\\n", 1);
    assert_ne!(resized, bundle);
    assert!(matches!(
        check(&resized, &key),
        Err(BundleError::Checkpoint(_))
    ));
    let mut lines: Vec<&str> = bundle.lines().collect();
    let trailer = lines.pop().expect("proof line");
    let short = trailer.replacen("\"proof\":[\"", "\"proof\":[\"A", 1);
    let truncated = format!("{}\n{short}\n", lines.join("\n"));
    assert!(check(&truncated, &key).is_err());
    assert!(check(&format!("{bundle}extra\n"), &key).is_err());
}

/// Bundles written one after another with the tenant heads kept from one to the next (a
/// sink's batches with proofs) are the bundles written alone; one written backwards,
/// below the kept heads, is proven against the newest checkpoint instead and still
/// checks.
#[test]
fn bundles_keeping_the_tenant_heads_are_the_bundles_written_alone() {
    use auditlog_engine::bundle::{KeptHeads, write_bundle_keeping};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        checkpoint_interval: std::time::Duration::ZERO,
        ..LogConfig::default()
    };
    let log = Log::create(dir.path(), &config).expect("create");
    let events = lines(4_000, 5);
    for chunk in events.chunks(1_000) {
        append_all(&log, chunk, 250);
        log.checkpoint().expect("checkpoint");
    }
    let mut tenant = None;
    log.scan_records(0..1, Default::default(), |_, record| {
        tenant = Some(record.event.tenant_id.to_string());
        Ok(false)
    })
    .expect("scan");
    let key = key(dir.path());
    let mut kept = KeptHeads::default();
    let keeping = |kept: &mut KeptHeads, selection: &Selection| {
        let mut out = Vec::new();
        write_bundle_keeping(&log, selection, kept, &mut out).expect("bundle");
        String::from_utf8(out).expect("utf-8")
    };
    for from in (0..4_000).step_by(1_000) {
        let selection = Selection {
            from_seq: from,
            to_seq: Some(from + 1_000),
            tenant: tenant.clone(),
            ..Selection::default()
        };
        let bundle = keeping(&mut kept, &selection);
        assert_eq!(bundle, write(&log, &selection), "from {from}");
        let summary = check(&bundle, &key).expect("checks");
        assert_eq!(
            summary.completeness,
            Completeness::Tenant {
                from,
                to: from + 1_000
            }
        );
    }
    let back = Selection {
        from_seq: 0,
        to_seq: Some(1_000),
        tenant,
        ..Selection::default()
    };
    let summary = check(&keeping(&mut kept, &back), &key).expect("checks");
    assert_eq!(summary.checkpoint.tree_size, 4_000);
    assert_eq!(
        summary.events,
        check(&write(&log, &back), &key).expect("checks").events
    );
}
