//! The action catalog kept as `_system` events, and the coverage report from the indexes:
//! checked against a brute-force count over every event, across sealed segments and the
//! active one, over all tenants and per tenant.

mod common;

use std::collections::BTreeMap;

use auditlog_engine::catalog::{ActionSpec, CoverageStatus, OnInvalid};
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::system::{SYSTEM_TENANT, SystemActor};
use auditlog_engine::{Error, Log, Timestamp};
use common::{append_all, lines, small_segments};

fn spec(action: &str) -> ActionSpec {
    ActionSpec {
        action: action.into(),
        ..ActionSpec::default()
    }
}

#[test]
fn definitions_are_versioned_read_back_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), &Default::default()).unwrap();
    assert!(log.catalog().unwrap().is_empty());
    let mut refund = spec("invoice.refund");
    refund.schema = Some(serde_json::json!({"type": "object", "required": ["amount"]}));
    refund.every_days = Some(30);
    let first = log.define_action(SystemActor::Cli, &refund).unwrap();
    assert_eq!(first.version, 1);
    assert!(first.seq.is_some());
    // The same definition again changes nothing and records nothing.
    let again = log.define_action(SystemActor::Cli, &refund).unwrap();
    assert_eq!((again.version, again.seq), (1, None));
    refund.on_invalid = OnInvalid::Flag;
    assert_eq!(
        log.define_action(SystemActor::Cli, &refund)
            .unwrap()
            .version,
        2
    );
    log.define_action(SystemActor::Cli, &spec("user.login"))
        .unwrap();
    // Bad definitions are refused, naming why.
    for (bad, why) in [
        (spec("Not An Action"), "dotted"),
        (
            ActionSpec {
                every_days: Some(0),
                ..spec("a.b")
            },
            "every_days",
        ),
        (
            ActionSpec {
                schema: Some(serde_json::json!([1])),
                ..spec("a.b")
            },
            "schema",
        ),
        (
            ActionSpec {
                description: "x".repeat(2000),
                ..spec("a.b")
            },
            "description",
        ),
    ] {
        let err = log.define_action(SystemActor::Cli, &bad).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    let huge = serde_json::json!({"description": "y".repeat(20_000)});
    let err = log
        .define_action(
            SystemActor::Cli,
            &ActionSpec {
                schema: Some(huge),
                ..spec("a.b")
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("the limit is"), "{err}");

    let catalog = log.catalog().unwrap();
    assert_eq!(catalog.len(), 2);
    let entry = catalog.get("invoice.refund").unwrap();
    assert_eq!((entry.version, &entry.spec), (2, &refund));
    // Removed, then defined again: the version goes on from the last.
    log.remove_action(SystemActor::Cli, "invoice.refund", "renamed")
        .unwrap();
    assert!(matches!(
        log.remove_action(SystemActor::Cli, "invoice.refund", "twice"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(log.catalog().unwrap().get("invoice.refund").is_none());
    assert_eq!(
        log.define_action(SystemActor::Cli, &refund)
            .unwrap()
            .version,
        3
    );
    let before = log.catalog().unwrap();
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.catalog().unwrap(), before);
}

/// Per action: events, newest seq and its timestamp, by brute force over every event.
fn brute(log: &Log, tenant: Option<&str>) -> BTreeMap<String, (u64, u64, Timestamp)> {
    let mut out: BTreeMap<String, (u64, u64, Timestamp)> = BTreeMap::new();
    let query = Query {
        filter: Filter::default(),
        order: Order::OldestFirst,
        limit: None,
        cursor: None,
    };
    log.query(&query, |seq, event| {
        let wanted = match tenant {
            Some(t) => event.tenant_id == t,
            None => event.tenant_id != SYSTEM_TENANT,
        };
        if wanted {
            let entry = out
                .entry(event.action.to_string())
                .or_insert((0, 0, Timestamp(0)));
            *entry = (entry.0 + 1, seq, event.timestamp);
        }
        Ok(true)
    })
    .unwrap();
    out
}

#[test]
fn action_stats_agree_with_every_event_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), &small_segments(64 << 10)).unwrap();
    let events = lines(6_000, 7);
    append_all(&log, &events[..3_000], 250);
    // `_system` events among the tenants' (never counted over all tenants).
    log.define_action(SystemActor::Cli, &spec("user.login"))
        .unwrap();
    log.place_hold(SystemActor::Cli, "org_x", "case").unwrap();
    append_all(&log, &events[3_000..], 250);
    assert!(
        log.sealed_segments().len() > 5,
        "sealed segments and an active one"
    );

    let tenants: Vec<String> = {
        let mut t: Vec<String> = events
            .iter()
            .map(|l| common::parse(l).tenant_id.to_string())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let mut wanted: Vec<Option<&str>> = vec![None, Some(SYSTEM_TENANT), Some("org_absent")];
    wanted.extend(tenants.iter().take(5).map(|t| Some(t.as_str())));
    for tenant in wanted {
        let stats = log.action_stats(tenant).unwrap();
        let got: BTreeMap<String, (u64, u64, Timestamp)> = stats
            .into_iter()
            .map(|s| (s.action, (s.events, s.last_seq, s.last_seen)))
            .collect();
        assert_eq!(got, brute(&log, tenant), "tenant {tenant:?}");
        if tenant == Some("org_absent") {
            assert!(got.is_empty());
        }
    }
}

#[test]
fn coverage_names_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), &small_segments(64 << 10)).unwrap();
    let events = lines(2_000, 3);
    append_all(&log, &events, 500);
    let seen = brute(&log, None);
    let (busiest, _) = seen.iter().max_by_key(|(_, v)| v.0).unwrap();
    let busiest = busiest.clone();
    let newest = seen.values().map(|v| v.2).max().unwrap();
    log.define_action(SystemActor::Cli, &spec(&busiest))
        .unwrap();
    log.define_action(SystemActor::Cli, &spec("never.recorded"))
        .unwrap();
    let stale = seen.keys().find(|a| **a != busiest).unwrap().clone();
    let stale_spec = ActionSpec {
        every_days: Some(1),
        ..spec(&stale)
    };
    log.define_action(SystemActor::Cli, &stale_spec).unwrap();

    // Judged ten days after the newest event: the one-day expectation is missed.
    let now = Timestamp(newest.0 + 10 * 86_400 * 1_000_000);
    let report = log.coverage(None, now).unwrap();
    let status: BTreeMap<&str, CoverageStatus> = report
        .actions
        .iter()
        .map(|a| (a.action.as_str(), a.status))
        .collect();
    assert_eq!(status["never.recorded"], CoverageStatus::NeverSeen);
    assert_eq!(status[stale.as_str()], CoverageStatus::NotSeenLately);
    assert_eq!(status[busiest.as_str()], CoverageStatus::Seen);
    let uncatalogued = seen.len() - 2;
    assert_eq!(
        report
            .gaps()
            .filter(|a| a.status == CoverageStatus::NotCatalogued)
            .count(),
        uncatalogued
    );
    assert_eq!(report.actions.len(), seen.len() + 1);
    assert!(
        report
            .actions
            .iter()
            .all(|a| !a.action.starts_with("auditlog."))
    );
    // Gaps first, the worst first.
    assert_eq!(report.actions[0].action, "never.recorded");
    assert_eq!(report.actions.last().unwrap().status, CoverageStatus::Seen);
    let busy = report.actions.iter().find(|a| a.action == busiest).unwrap();
    assert_eq!(busy.events, seen[&busiest].0);
    assert_eq!(busy.last_seen, Some((seen[&busiest].2, seen[&busiest].1)));

    // A tenant that has none of them: every catalogued action is a gap of its own.
    let tenant = log.coverage(Some("org_absent"), now).unwrap();
    assert!(
        tenant
            .actions
            .iter()
            .all(|a| a.status == CoverageStatus::NeverSeen)
    );
    assert_eq!(tenant.actions.len(), 3);
}

#[test]
fn the_catalog_outlives_the_segments_it_was_defined_in() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::create(dir.path(), &small_segments(64 << 10)).unwrap();
    let mut login = spec("user.login");
    login.schema = Some(serde_json::json!({"required": ["method"]}));
    log.define_action(SystemActor::Cli, &login).unwrap();
    login.every_days = Some(7);
    log.define_action(SystemActor::Cli, &login).unwrap();
    log.define_action(SystemActor::Cli, &spec("report.export"))
        .unwrap();
    log.remove_action(SystemActor::Cli, "report.export", "retired")
        .unwrap();
    let before = log.catalog().unwrap();
    let events = lines(3_000, 5);
    append_all(&log, &events, 250);
    // Every sealed segment past retention, the catalog's events among them.
    let now = Timestamp(Timestamp::now().0 + 3_650 * 86_400 * 1_000_000);
    let expiry = log.expire(SystemActor::Cli, 30, now).unwrap();
    let deleted = expiry.expired.expect("segments deleted").receipt.deleted;
    assert!(deleted.end > before.get("user.login").unwrap().seq);
    let after = log.catalog().unwrap();
    let entry = after.get("user.login").unwrap();
    let was = before.get("user.login").unwrap();
    assert_eq!(
        (&entry.spec, entry.version, entry.defined_at),
        (&was.spec, 2, was.defined_at)
    );
    assert!(
        entry.seq >= deleted.end,
        "recorded again after the deletion"
    );
    assert!(after.get("report.export").is_none());
    // Versions go on from the last, across the deletion and a reopen.
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    let again = log
        .define_action(SystemActor::Cli, &spec("report.export"))
        .unwrap();
    assert_eq!(again.version, 2);
    // A second deletion with nothing of the catalog in it records nothing more.
    let catalog_events = |log: &Log| {
        let query = Query {
            filter: Filter {
                tenant: Some(SYSTEM_TENANT.into()),
                actions: vec![auditlog_engine::query::ActionPattern::Prefix(
                    "auditlog.catalog.".into(),
                )],
                ..Filter::default()
            },
            ..Query::default()
        };
        let mut n = 0;
        log.query(&query, |_, _| {
            n += 1;
            Ok(true)
        })
        .unwrap();
        n
    };
    let n = catalog_events(&log);
    append_all(&log, &lines(200, 6), 100);
    log.expire(SystemActor::Cli, 30, now).unwrap();
    assert_eq!(catalog_events(&log), n);
}
