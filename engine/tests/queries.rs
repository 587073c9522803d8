//! Queries against a brute-force filter: random logs spanning several sealed segments
//! and the active one, random filters, orders, page sizes and cursors (also while new
//! events arrive between pages); every page must be exactly the brute-force answer's
//! next slice, and counts must agree.

mod common;

use std::borrow::Cow;

use auditlog_engine::query::{ActionPattern, Cursor, Filter, Order, Query};
use auditlog_engine::{Event, Log, Outcome, TimeRange, Timestamp};
use common::small_segments;
use proptest::prelude::*;

const TENANTS: [&str; 4] = ["org_a", "org_b", "org_c", "org_dd"];
const ACTORS: [&str; 6] = ["usr_1", "usr_2", "usr_3", "usr_4", "usr_5", "svc_x"];
const ACTIONS: [&str; 8] = [
    "auth.login",
    "auth.logout",
    "auth.sso.login",
    "permission.role.assign",
    "permission.role.revoke",
    "api_key.create",
    "api_key.use",
    "user.delete",
];
const PATTERNS: [&str; 7] = [
    "auth.*",
    "permission.*",
    "auth.login",
    "api_key.create",
    "user.*",
    "nothing.*",
    "auth.sso.*",
];
const TYPES: [&str; 3] = ["session", "role", "key"];
const T0: i64 = 1_767_225_600_000_000; // 2026-01-01

/// The fields an event is drawn from: indexes into the tables above, a time offset in
/// seconds (not monotone), outcome, and resource choices.
type Draw = (usize, usize, usize, i64, usize, Option<(usize, u8)>);

fn event(d: &Draw) -> Event<'static> {
    let (t, a, act, secs, o, res) = *d;
    Event {
        timestamp: Timestamp(T0 + secs * 1_000_000),
        actor_id: Cow::Borrowed(ACTORS[a]),
        actor_email: None,
        actor_kind: None,
        tenant_id: Cow::Borrowed(TENANTS[t]),
        tenant_name: Some(Cow::Borrowed("Some Name")),
        action: Cow::Borrowed(ACTIONS[act]),
        resource_type: res.map(|(ty, _)| Cow::Borrowed(TYPES[ty])),
        resource_id: res.map(|(_, id)| Cow::Owned(format!("r{id}"))),
        outcome: Outcome::ALL[o],
        ip_address: None,
        user_agent: None,
        metadata: Some(Cow::Borrowed(
            "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
        )),
        event_id: None,
    }
}

fn draws(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Draw>> {
    prop::collection::vec(
        (
            0..TENANTS.len(),
            0..ACTORS.len(),
            0..ACTIONS.len(),
            0i64..10_000,
            0..4usize,
            prop::option::of((0..TYPES.len(), 0u8..4)),
        ),
        n,
    )
}

/// A filter drawn from the same small vocabularies (so it often matches), sometimes
/// naming values no event has.
fn filters() -> impl Strategy<Value = Filter> {
    (
        prop::option::of(prop::sample::select(vec![
            "org_a", "org_b", "org_dd", "org_zz",
        ])),
        prop::option::of(prop::sample::select(vec![
            "usr_1", "usr_2", "svc_x", "usr_9",
        ])),
        prop::collection::vec(prop::sample::select(PATTERNS.to_vec()), 0..3),
        prop::collection::vec(0..4usize, 0..3),
        prop::option::of(0..TYPES.len()),
        prop::option::of(0u8..4),
        prop::option::of(0i64..10_000),
        prop::option::of(0i64..10_000),
        prop::option::of((0u64..3000, 0u64..3000)),
    )
        .prop_map(
            |(tenant, actor, actions, outcomes, ty, id, from, to, seqs)| Filter {
                tenant: tenant.map(str::to_owned),
                actor: actor.map(str::to_owned),
                actions: actions
                    .iter()
                    .map(|p| ActionPattern::parse(p).expect("pattern"))
                    .collect(),
                outcomes: outcomes.iter().map(|&o| Outcome::ALL[o]).collect(),
                resource_type: ty.map(|t| TYPES[t].to_owned()),
                resource_id: id.map(|i| format!("r{i}")),
                time: TimeRange {
                    from: from.map(|s| Timestamp(T0 + s * 1_000_000)),
                    to: to.map(|s| Timestamp(T0 + s * 1_000_000)),
                },
                seqs: seqs.map(|(a, b)| a.min(b)..a.max(b)),
            },
        )
}

fn append(log: &Log, draws: &[Draw], batch: usize) {
    for chunk in draws.chunks(batch.max(1)) {
        let events: Vec<Event<'_>> = chunk.iter().map(event).collect();
        log.append(&events).expect("append");
    }
}

/// The brute-force answer: every matching seq, in `order`.
fn brute(all: &[Draw], filter: &Filter, order: Order) -> Vec<u64> {
    let mut seqs: Vec<u64> = all
        .iter()
        .enumerate()
        .filter(|(seq, d)| filter.matches(*seq as u64, &event(d)))
        .map(|(seq, _)| seq as u64)
        .collect();
    if order == Order::NewestFirst {
        seqs.reverse();
    }
    seqs
}

/// One page: its seqs (each event checked against the one appended with that seq) and
/// its cursor.
fn page(log: &Log, all: &[Draw], query: &Query) -> (Vec<u64>, Option<Cursor>) {
    let mut seqs = Vec::new();
    let page = log
        .query(query, |seq, e| {
            assert_eq!(e, event(&all[seq as usize]), "event {seq}");
            seqs.push(seq);
            Ok(true)
        })
        .expect("query");
    assert_eq!(page.returned, seqs.len() as u64);
    (seqs, page.next_cursor)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pages_and_counts_agree_with_a_brute_force_filter(
        first in draws(400..1500),
        later in draws(0..200),
        batch in 1usize..60,
        queries in prop::collection::vec((filters(), any::<bool>(), 1u64..40), 6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::create(dir.path(), &small_segments(8 << 10)).expect("create");
        append(&log, &first, batch);
        prop_assert!(log.segment_count() >= 3, "{} segments", log.segment_count());
        let mut all = first.clone();
        for (i, (filter, newest, limit)) in queries.iter().enumerate() {
            let order = if *newest { Order::NewestFirst } else { Order::OldestFirst };
            let (counts, _) = log.count(filter).expect("count");
            let expected = brute(&all, filter, Order::OldestFirst);
            prop_assert_eq!(counts.total, expected.len() as u64);
            for o in Outcome::ALL {
                let by = expected
                    .iter()
                    .filter(|&&s| event(&all[s as usize]).outcome == o)
                    .count() as u64;
                prop_assert_eq!(counts.of(o), by);
            }
            // By time: the same events, each in the bucket its timestamp falls in.
            let width = [1_000_000i64, 60_000_000, 3_600_000_000][i % 3];
            let (buckets, _) = log.count_over_time(filter, width).expect("count over time");
            let mut by_time = std::collections::BTreeMap::<i64, (u64, [u64; 4])>::new();
            for &s in &expected {
                let e = event(&all[s as usize]);
                let bucket = by_time.entry(e.timestamp.0.div_euclid(width) * width).or_default();
                bucket.0 += 1;
                bucket.1[usize::from(e.outcome.code())] += 1;
            }
            let got: Vec<(i64, (u64, [u64; 4]))> = buckets
                .iter()
                .map(|(at, c)| (at.0, (c.total, c.by_outcome)))
                .collect();
            prop_assert_eq!(got, by_time.into_iter().collect::<Vec<_>>());
            // Page through; on the first query new events arrive after the first page.
            let mut expected = brute(&all, filter, order);
            let mut got = Vec::new();
            let mut query = Query { filter: filter.clone(), order, limit: Some(*limit), cursor: None };
            let mut pages = 0;
            loop {
                let (seqs, next) = page(&log, &all, &query);
                let at = got.len();
                prop_assert_eq!(&seqs[..], &expected[at..(at + seqs.len()).min(expected.len())]);
                got.extend(seqs);
                pages += 1;
                if i == 0 && pages == 1 && !later.is_empty() {
                    append(&log, &later, batch);
                    all.extend(later.iter().cloned());
                    if order == Order::OldestFirst && next.is_some() {
                        // New events sort after every old one: a paging that goes on
                        // reaches them at the end.
                        expected = brute(&all, filter, order);
                    }
                }
                match next {
                    Some(c) => {
                        query.cursor = Some(c);
                    }
                    None => break,
                }
                prop_assert!(pages <= expected.len() + 1, "cursor loops");
            }
            prop_assert_eq!(got, expected);
        }
        // The same from a read-only open (indexes from files, the active one rebuilt).
        drop(log);
        let log = auditlog_engine::OpenOptions::new().read_only(true).open(dir.path()).expect("open");
        for (filter, newest, _) in &queries {
            let order = if *newest { Order::NewestFirst } else { Order::OldestFirst };
            let query = Query { filter: filter.clone(), order, limit: None, cursor: None };
            let (seqs, next) = page(&log, &all, &query);
            prop_assert_eq!(seqs, brute(&all, filter, order));
            prop_assert!(next.is_none());
        }
    }
}

#[test]
fn a_cursor_is_refused_with_another_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &small_segments(24 << 10)).expect("create");
    let draws: Vec<Draw> = (0..50).map(|i| (i % 2, 0, 0, i as i64, 0, None)).collect();
    append(&log, &draws, 10);
    let filter = Filter {
        tenant: Some("org_a".into()),
        ..Filter::default()
    };
    let mut query = Query {
        filter,
        order: Order::NewestFirst,
        limit: Some(5),
        cursor: None,
    };
    let (_, next) = page(&log, &draws, &query);
    query.cursor = next;
    query.filter.tenant = Some("org_b".into());
    let err = log
        .query(&query, |_, _| Ok(true))
        .expect_err("other filter");
    assert!(err.to_string().contains("another query"), "{err}");
    query.filter.tenant = Some("org_a".into());
    query.order = Order::OldestFirst;
    assert!(log.query(&query, |_, _| Ok(true)).is_err());
}

#[test]
fn a_stored_string_that_is_not_utf8_is_reported_as_damage_of_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = common::lines(300, 9);
    let log = Log::create(dir.path(), &small_segments(16 << 10)).expect("create");
    common::append_all(&log, &lines, 50);
    drop(log);
    // Once the log is open (an open reads every record), record 5 of segment 0 is
    // damaged in place: a byte of its user agent made invalid UTF-8, its frame's CRC made
    // right again. Frames follow the 36-byte header: length, CRC, payload.
    let log = Log::open(dir.path()).expect("open");
    let victim = 5;
    let first = common::segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&first).expect("read");
    let frame_len =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut start = 36;
    for _ in 0..victim {
        start += 8 + frame_len(&bytes, start);
    }
    let payload = start + 8..start + 8 + frame_len(&bytes, start);
    let agent = common::parse(&lines[victim])
        .user_agent
        .expect("a user agent")
        .into_owned();
    let at = bytes[payload.clone()]
        .windows(agent.len())
        .position(|w| w == agent.as_bytes())
        .expect("the agent in the record")
        + payload.start;
    bytes[at] = 0xff;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[start..start + 4]);
    crc.update(&bytes[payload]);
    bytes[start + 4..start + 8].copy_from_slice(&crc.finalize().to_le_bytes());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .expect("open");
    std::os::unix::fs::FileExt::write_all_at(&file, &bytes[start..=at], start as u64)
        .expect("write in place");
    let victim = victim as u64;

    let query = Query {
        filter: Filter {
            seqs: Some(victim..victim + 1),
            ..Filter::default()
        },
        ..Query::default()
    };
    let err = log.query(&query, |_, _| Ok(true)).expect_err("damaged");
    let text = err.to_string();
    assert!(text.contains(&first.display().to_string()), "{text}");
    assert!(
        text.contains(&format!("record {victim}: user_agent")),
        "{text}"
    );
    assert!(text.contains(&format!("at byte {start}")), "{text}");
    // Written out from its bytes, it is refused the same way, not copied.
    let mut out = Vec::new();
    let err = log
        .query_raw(&query, |seq, event| {
            let written = event.write_json(Some(seq), &mut out);
            written.map_err(|e| log.damaged_record(seq, e))?;
            Ok(true)
        })
        .expect_err("damaged");
    assert_eq!(err.to_string(), text);
    // Its neighbours read as ever.
    let query = Query {
        filter: Filter {
            seqs: Some(victim + 1..300),
            ..Filter::default()
        },
        ..Query::default()
    };
    let returned = log.query(&query, |_, _| Ok(true)).expect("query").returned;
    assert_eq!(returned, 299 - victim);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// An export holds exactly the events a brute-force filter selects, in order; taken a
    /// chunk at a time (each chunk its own query from a cursor, as the server does), the
    /// same bytes whatever the chunk size; events appended while it runs are left out.
    #[test]
    fn an_export_in_chunks_is_the_one_pass_export(
        first in draws(300..900),
        later in draws(1..100),
        filter in filters(),
        newest in any::<bool>(),
        csv in any::<bool>(),
        target in 1usize..4000,
    ) {
        use auditlog_engine::export::{CSV_HEADER, ExportFormat, ExportRun, export};
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::create(dir.path(), &small_segments(8 << 10)).expect("create");
        append(&log, &first, 7);
        let order = if newest { Order::NewestFirst } else { Order::OldestFirst };
        let format = if csv { ExportFormat::Csv } else { ExportFormat::Jsonl };
        let query = Query { filter: filter.clone(), order, limit: None, cursor: None };
        let mut whole = Vec::new();
        let written = export(&log, &query, format, &mut whole).expect("export");
        // Exactly the brute-force answer's events, in its order.
        let text = String::from_utf8(whole.clone()).expect("UTF-8");
        let mut lines: Vec<&str> = text.lines().collect();
        if csv {
            prop_assert_eq!(lines.remove(0), CSV_HEADER.join(","));
        }
        let seqs: Vec<u64> = lines
            .iter()
            .map(|l| {
                let l = l.strip_prefix("{\"seq\":").unwrap_or(l);
                l[..l.find([',', '}']).expect("a field after seq")].parse().expect("seq")
            })
            .collect();
        prop_assert_eq!(&seqs, &brute(&first, &filter, order));
        prop_assert_eq!(written, seqs.len() as u64);
        let mut run = ExportRun::new(&log, query, format);
        prop_assert_eq!(run.tree_size(), first.len() as u64);
        let mut chunks = Vec::new();
        let mut fills = 0;
        while !run.is_done() {
            let before = chunks.len();
            run.fill(&log, &mut chunks, target).expect("fill");
            // A chunk stops once it reaches the target (one event may pass it).
            prop_assert!(run.is_done() || chunks.len() - before >= target);
            fills += 1;
            if fills == 1 {
                append(&log, &later, 7);
            }
            prop_assert!(fills <= whole.len() + 2, "the run ends");
        }
        prop_assert_eq!(run.events(), written);
        prop_assert_eq!(String::from_utf8_lossy(&chunks), String::from_utf8_lossy(&whole));
        prop_assert_eq!(run.fill(&log, &mut chunks, target).expect("done"), 0);
    }
}
