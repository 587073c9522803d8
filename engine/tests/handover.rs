//! A tenant handed over from one log to another: the `handed_over` record ends its chain
//! in the first log, the `taken_over` record opens it in the second, and the tenant's two
//! bundles join at them, the second log's key taken from the first log's record. Bundles
//! that stop short of the hand-over, come in the wrong order, belong to another tenant, or
//! open with a take-over of another record are refused.

mod common;

use std::io::BufReader;
use std::path::Path;

use auditlog_engine::bundle::{
    BundleSummary, Completeness, Selection, check_handovers, successor_key, verify_bundle,
    write_bundle,
};
use auditlog_engine::checkpoint::NoteVerifier;
use auditlog_engine::handover::{HANDED_OVER, HandedOver, TAKEN_OVER, TakenOver};
use auditlog_engine::{HandedOverAt, Log, LogConfig};
use base64::Engine;
use common::{append_all, busiest_tenant, copy_dir, lines, tenant_of};

fn log(dir: &Path, origin: &str) -> Log {
    let config = LogConfig {
        origin: origin.to_owned(),
        checkpoint_interval: std::time::Duration::ZERO,
        ..LogConfig::default()
    };
    Log::create(dir, &config).expect("create")
}

fn key_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("keys/checkpoint.pub"))
        .expect("key")
        .trim_end()
        .to_owned()
}

fn bundle(log: &Log, selection: &Selection, key: &NoteVerifier) -> BundleSummary {
    let mut out = Vec::new();
    write_bundle(log, selection, &mut out).expect("bundle");
    verify_bundle(&mut BufReader::new(out.as_slice()), Some(key)).expect("checks")
}

fn taken_over(from_dir: &Path, from: &Log, at: &HandedOverAt, seq: u64) -> TakenOver {
    TakenOver {
        from_node: "a".into(),
        from_origin: from.config().origin.clone(),
        from_key: key_text(from_dir),
        from_seq: seq,
        from_leaf: base64::engine::general_purpose::STANDARD.encode(at.leaf),
        from_checkpoint: at.checkpoint.to_text(),
    }
}

#[test]
fn a_tenants_bundles_join_at_its_hand_over_and_nowhere_else() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = log(a_dir.path(), "a.example/log");
    let b = log(b_dir.path(), "b.example/log");
    let events = lines(3_000, 7);
    // The busiest tenant moves.
    let tenant = busiest_tenant(&events);
    let (theirs, others): (Vec<String>, Vec<String>) =
        events.into_iter().partition(|l| tenant_of(l) == tenant);
    assert!(theirs.len() >= 20, "the tenant has events to move");
    let half = theirs.len() / 2;

    // In a: the tenant's first half among others' events, then its hand-over.
    append_all(&a, &others[..1_000], 100);
    append_all(&a, &theirs[..half], 7);
    let to = HandedOver {
        to_node: "b".into(),
        to_origin: b.config().origin.clone(),
        to_key: key_text(b_dir.path()),
    };
    let at = a.hand_over_tenant(&tenant, &to).expect("handed over");
    assert_eq!(a.tenant_head(&tenant), Some(at.seq));
    assert!(at.checkpoint.checkpoint.tree_size > at.seq);
    append_all(&a, &others[1_000..1_500], 100);
    a.checkpoint().expect("checkpoint");

    // In b: others' events, the take-over (once, however often asked), the second half.
    // c is a copy of b before the take-over: the same log, the same key.
    append_all(&b, &others[1_500..], 100);
    b.checkpoint().expect("checkpoint");
    let (c_dir, d_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_dir(b_dir.path(), c_dir.path());
    copy_dir(b_dir.path(), d_dir.path());
    let from = taken_over(a_dir.path(), &a, &at, at.seq);
    let first = b.take_over_tenant(&tenant, &from).expect("taken over");
    assert_eq!(b.take_over_tenant(&tenant, &from).expect("again"), first);
    append_all(&b, &theirs[half..], 5);
    b.checkpoint().expect("checkpoint");

    let a_key = NoteVerifier::parse(&key_text(a_dir.path())).unwrap();
    let whole = Selection {
        tenant: Some(tenant.clone()),
        ..Selection::default()
    };
    let before = bundle(&a, &whole, &a_key);
    assert_eq!(before.events as usize, half + 1);
    assert!(matches!(before.completeness, Completeness::Tenant { .. }));
    assert_eq!(
        before.ends.last.as_ref().map(|r| r.action.as_str()),
        Some(HANDED_OVER)
    );
    let b_key = NoteVerifier::parse(&successor_key(&before).expect("names b's key")).unwrap();
    let after = bundle(&b, &whole, &b_key);
    assert_eq!(after.events as usize, theirs.len() - half + 1);
    assert_eq!(
        after.ends.first.as_ref().map(|r| r.action.as_str()),
        Some(TAKEN_OVER)
    );
    let joins = check_handovers(&[before.clone(), after.clone()]).expect("they join");
    assert_eq!(joins.len(), 1);
    assert_eq!(joins[0].from, (a.config().origin.clone(), at.seq));
    assert_eq!(joins[0].to, (b.config().origin.clone(), first));

    // Wrong order, or the first bundle stopping short of the hand-over: no join.
    let reversed = check_handovers(&[after.clone(), before.clone()]).unwrap_err();
    assert_eq!((reversed.before, reversed.after), (1, 2));
    let short = Selection {
        to_seq: Some(at.seq),
        ..whole.clone()
    };
    let cut = bundle(&a, &short, &a_key);
    let error = check_handovers(&[cut, after.clone()]).unwrap_err();
    assert!(error.why.contains("handed_over"), "{error}");

    // Another tenant's bundle of b: no join.
    let other = Selection {
        tenant: Some(tenant_of(&others[1_600])),
        ..Selection::default()
    };
    let error = check_handovers(&[before.clone(), bundle(&b, &other, &b_key)]).unwrap_err();
    assert!(error.why.contains("same tenant"), "{error}");

    // The same log b had it taken over a record other than the hand-over (one seq
    // off): no join.
    let c = Log::open(c_dir.path()).expect("open the copy");
    let wrong = taken_over(a_dir.path(), &a, &at, at.seq - 1);
    c.take_over_tenant(&tenant, &wrong).expect("taken over");
    c.checkpoint().expect("checkpoint");
    let forged = bundle(&c, &whole, &b_key);
    let error = check_handovers(&[before.clone(), forged]).unwrap_err();
    assert!(error.why.contains("continues"), "{error}");

    // The same log b had it held an event of the tenant before the take-over, left out
    // of a bundle that starts at the take-over: no join (the record links to it).
    let d = Log::open(d_dir.path()).expect("open the copy");
    let stray = append_all(&d, &theirs[half..half + 1], 1)[0].first_seq;
    let resumed = d.take_over_tenant(&tenant, &from).expect("taken over");
    d.checkpoint().expect("checkpoint");
    let from_take_over = Selection {
        from_seq: stray + 1,
        ..whole.clone()
    };
    let hiding = bundle(&d, &from_take_over, &b_key);
    assert_eq!(hiding.ends.first.as_ref().map(|r| r.seq), Some(resumed));
    let error = check_handovers(&[before, hiding]).unwrap_err();
    assert!(
        error.why.contains(&format!("links to event {stray}")),
        "{error}"
    );
}

#[test]
fn a_tenant_that_comes_back_chains_through_three_bundles() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = log(a_dir.path(), "a.example/log");
    let b = log(b_dir.path(), "b.example/log");
    let events = lines(600, 11);
    let tenant = busiest_tenant(&events);
    let theirs: Vec<String> = events
        .into_iter()
        .filter(|l| tenant_of(l) == tenant)
        .collect();
    let third = theirs.len() / 3;
    assert!(third >= 3, "the tenant has events in each log");
    let to = |dir: &Path, log: &Log| HandedOver {
        to_node: "n".into(),
        to_origin: log.config().origin.clone(),
        to_key: key_text(dir),
    };

    // a, then b, then a again.
    append_all(&a, &theirs[..third], 3);
    let out_of_a = a
        .hand_over_tenant(&tenant, &to(b_dir.path(), &b))
        .expect("a hands over");
    b.take_over_tenant(
        &tenant,
        &taken_over(a_dir.path(), &a, &out_of_a, out_of_a.seq),
    )
    .expect("b takes over");
    append_all(&b, &theirs[third..2 * third], 3);
    let out_of_b = b
        .hand_over_tenant(&tenant, &to(a_dir.path(), &a))
        .expect("b hands back");
    let from_b = TakenOver {
        from_node: "b".into(),
        from_origin: b.config().origin.clone(),
        from_key: key_text(b_dir.path()),
        from_seq: out_of_b.seq,
        from_leaf: base64::engine::general_purpose::STANDARD.encode(out_of_b.leaf),
        from_checkpoint: out_of_b.checkpoint.to_text(),
    };
    let back = a
        .take_over_tenant(&tenant, &from_b)
        .expect("a takes it back");
    append_all(&a, &theirs[2 * third..], 3);
    a.checkpoint().expect("checkpoint");

    let a_key = NoteVerifier::parse(&key_text(a_dir.path())).unwrap();
    let b_key = NoteVerifier::parse(&key_text(b_dir.path())).unwrap();
    let of_tenant = Selection {
        tenant: Some(tenant.clone()),
        ..Selection::default()
    };
    // a up to the checkpoint signed at its hand-over; b whole; a from its take-over.
    let first = Selection {
        to_seq: Some(out_of_a.checkpoint.checkpoint.tree_size),
        ..of_tenant.clone()
    };
    let last = Selection {
        from_seq: back,
        ..of_tenant.clone()
    };
    let parts = [
        bundle(&a, &first, &a_key),
        bundle(&b, &of_tenant, &b_key),
        bundle(&a, &last, &a_key),
    ];
    let joins = check_handovers(&parts).expect("three bundles, two joins");
    assert_eq!(joins.len(), 2);
    assert_eq!(joins[1].to, (a.config().origin.clone(), back));
    let held: u64 = parts.iter().map(|p| p.events).sum();
    assert_eq!(
        held as usize,
        theirs.len() + 4,
        "every event and four records"
    );
    // Coming back later than the take-over leaves a's events between out: no join.
    let late = Selection {
        from_seq: back + 1,
        ..of_tenant
    };
    let cut = [
        parts[0].clone(),
        parts[1].clone(),
        bundle(&a, &late, &a_key),
    ];
    assert!(check_handovers(&cut).is_err());
}
