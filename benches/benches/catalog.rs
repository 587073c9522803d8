//! The action catalog's costs (docs/BENCHMARKS.md, "The action catalog"): checking one
//! event's metadata against its action's schema (and the lookup for an action without
//! one), and the coverage report over a log of workload events, over every tenant and
//! one, beside a scan that reads every event for the same answer.

use std::collections::BTreeMap;

use auditlog_benches::{measuring, parse_all, workload_lines};
use auditlog_catalog::Rules;
use auditlog_engine::catalog::{ActionSpec, OnInvalid};
use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::system::SystemActor;
use auditlog_engine::{Durability, LogConfig, OpenOptions, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: u64 = 1_000_000;
const SMOKE_TEST_EVENTS: u64 = 5_000;

fn bench_catalog(c: &mut Criterion) {
    let count = if measuring() {
        EVENTS
    } else {
        SMOKE_TEST_EVENTS
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = OpenOptions::new()
        .durability(Durability::None)
        .create(dir.path(), &LogConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let events = parse_all(&workload_lines(count, 1));
    for chunk in events.chunks(4096) {
        log.append(chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    let login = ActionSpec {
        action: "auth.login".into(),
        schema: Some(serde_json::json!({
            "type": "object",
            "required": ["method"],
            "properties": {
                "method": {"enum": ["password", "sso", "magic_link", "passkey"]},
                "mfa": {"type": "boolean"}
            }
        })),
        every_days: Some(1),
        on_invalid: OnInvalid::Refuse,
        ..ActionSpec::default()
    };
    log.define_action(SystemActor::Cli, &login)
        .unwrap_or_else(|e| panic!("{e}"));
    for action in ["auth.logout", "api_key.use", "never.seen"] {
        let spec = ActionSpec {
            action: action.into(),
            every_days: Some(30),
            ..ActionSpec::default()
        };
        log.define_action(SystemActor::Cli, &spec)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (rules, errors) = Rules::compile(&log.catalog().unwrap_or_else(|e| panic!("{e}")));
    assert!(errors.is_empty(), "{errors:?}");

    let mut group = c.benchmark_group("catalog_check");
    group.throughput(Throughput::Elements(1));
    let metadata = r#"{"method":"password","mfa":true}"#;
    assert!(rules.check("auth.login", Some(metadata)).is_none());
    group.bench_function("schema_pass", |b| {
        b.iter(|| rules.check("auth.login", Some(std::hint::black_box(metadata))))
    });
    let bad = r#"{"method":"carrier_pigeon","mfa":true}"#;
    group.bench_function("schema_fail", |b| {
        b.iter(|| rules.check("auth.login", Some(std::hint::black_box(bad))))
    });
    group.bench_function("no_schema", |b| {
        b.iter(|| rules.check("api_key.use", Some(std::hint::black_box(metadata))))
    });
    group.finish();

    let busiest = {
        let mut by_tenant: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &events {
            *by_tenant.entry(&e.tenant_id).or_default() += 1;
        }
        let (tenant, n) = by_tenant
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .unwrap_or_default();
        eprintln!("{count} events; the busiest tenant has {n}");
        tenant.to_owned()
    };
    let now = Timestamp::now();
    let mut group = c.benchmark_group("coverage");
    group.sample_size(10);
    group.throughput(Throughput::Elements(count));
    group.bench_function("all_tenants", |b| {
        b.iter(|| log.coverage(None, now).unwrap_or_else(|e| panic!("{e}")))
    });
    group.bench_function("busiest_tenant", |b| {
        b.iter(|| {
            log.coverage(Some(&busiest), now)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    // What the indexes spare: every event read for the same per-action answer.
    group.bench_function("scan_every_event", |b| {
        b.iter(|| {
            let mut seen: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            let query = Query {
                filter: Filter::default(),
                order: Order::OldestFirst,
                limit: None,
                cursor: None,
            };
            log.query_raw(&query, |seq, e| {
                let entry = seen
                    .entry(String::from_utf8_lossy(e.action).into_owned())
                    .or_default();
                *entry = (entry.0 + 1, seq);
                Ok(true)
            })
            .unwrap_or_else(|e| panic!("{e}"));
            seen
        })
    });
    group.finish();
}

criterion_group!(benches, bench_catalog);
criterion_main!(benches);
