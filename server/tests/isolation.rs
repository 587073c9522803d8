//! Tenant isolation, as a property over random keys and random queries, over gRPC and
//! HTTP alike: whatever the filter, page size, order and cursors, a key receives exactly
//! the events a brute-force filter of the log picks among the tenants it reads, counts
//! exactly those, and gets an inclusion proof only for an event of such a tenant; every
//! other request is refused as docs/SERVER.md says.

mod common;

use std::cell::Cell;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::proof_service_client::ProofServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{Server, authed, create_key, event, http_get};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tonic::Code;

const TENANTS: [&str; 3] = ["org_a", "org_b", "org_c"];
const ACTIONS: [&str; 4] = [
    "document.read",
    "document.write",
    "permission.role.assign",
    "auth.login",
];
/// Tenants a query may name: the three, the server's own, and one with no events.
const NAMED: [&str; 5] = ["org_a", "org_b", "org_c", "_system", "org_none"];
const PATTERNS: [&str; 6] = [
    "document.read",
    "document.write",
    "permission.role.assign",
    "auth.login",
    "document.*",
    "permission.*",
];

/// One stored event, as the admin key lists it.
#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    tenant: String,
    actor: String,
    action: String,
    failed: bool,
}

/// What a key may read: every tenant, or these.
#[derive(Debug, Clone)]
enum Reads {
    All,
    Only(Vec<&'static str>),
}

impl Reads {
    fn reads(&self, tenant: &str) -> bool {
        match self {
            Reads::All => true,
            Reads::Only(tenants) => tenants.contains(&tenant),
        }
    }
}

/// A random query.
#[derive(Debug, Clone)]
struct Ask {
    key: usize,
    tenant: Option<usize>,
    actor: Option<u32>,
    action: Option<usize>,
    failed: Option<bool>,
    page: u32,
    oldest_first: bool,
    leaf: u64,
}

fn ask(keys: usize, leaves: u64) -> impl Strategy<Value = Ask> {
    (
        0..keys,
        proptest::option::of(0..NAMED.len()),
        proptest::option::of(0..5u32),
        proptest::option::of(0..PATTERNS.len()),
        proptest::option::of(any::<bool>()),
        1..40u32,
        any::<bool>(),
        0..leaves + 3,
    )
        .prop_map(
            |(key, tenant, actor, action, failed, page, oldest_first, leaf)| Ask {
                key,
                tenant,
                actor,
                action,
                failed,
                page,
                oldest_first,
                leaf,
            },
        )
}

/// What the server must answer: the seqs, in order, or the refusal's code.
fn expected(truth: &[Stored], reads: &Reads, ask: &Ask) -> Result<Vec<u64>, Code> {
    let named = ask.tenant.map(|t| NAMED[t]);
    let tenant = match (reads, named) {
        (Reads::Only(tenants), _) if tenants.is_empty() => return Err(Code::PermissionDenied),
        (_, Some(t)) if !reads.reads(t) => return Err(Code::PermissionDenied),
        (_, Some(t)) => Some(t),
        (Reads::All, None) => None,
        (Reads::Only(tenants), None) if tenants.len() == 1 => Some(tenants[0]),
        (Reads::Only(_), None) => return Err(Code::InvalidArgument),
    };
    let actor = ask.actor.map(|a| format!("usr_{a}"));
    let pattern = ask.action.map(|a| PATTERNS[a]);
    let mut seqs: Vec<u64> = truth
        .iter()
        .filter(|e| tenant.is_none_or(|t| e.tenant == t))
        .filter(|e| actor.as_ref().is_none_or(|a| &e.actor == a))
        .filter(|e| {
            pattern.is_none_or(|p| match p.strip_suffix('*') {
                Some(prefix) => e.action.starts_with(prefix),
                None => e.action == p,
            })
        })
        .filter(|e| ask.failed.is_none_or(|f| e.failed == f))
        .map(|e| e.seq)
        .collect();
    if !ask.oldest_first {
        seqs.reverse();
    }
    Ok(seqs)
}

/// The filter of `ask`, over the events below `upto` (the log as the truth was taken:
/// multi-page queries add records of their own to `_system`).
fn filter(ask: &Ask, upto: u64) -> pb::Filter {
    pb::Filter {
        to_seq: Some(upto),
        tenant: ask.tenant.map(|t| NAMED[t].to_owned()),
        actor: ask.actor.map(|a| format!("usr_{a}")),
        actions: ask
            .action
            .map(|a| PATTERNS[a].to_owned())
            .into_iter()
            .collect(),
        outcomes: ask
            .failed
            .map(|f| {
                if f {
                    pb::Outcome::Failure
                } else {
                    pb::Outcome::Success
                }
            })
            .map(i32::from)
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// Every page of a query over gRPC, or the refusal's code.
async fn grpc_query(server: &Server, key: &str, ask: &Ask, upto: u64) -> Result<Vec<u64>, Code> {
    let request = pb::QueryRequest {
        filter: Some(filter(ask, upto)),
        order: if ask.oldest_first {
            pb::Order::OldestFirst.into()
        } else {
            pb::Order::NewestFirst.into()
        },
        page_size: ask.page,
        max_pages: 10_000,
        cursor: None,
    };
    let mut client = QueryServiceClient::new(server.channel().await);
    let mut stream = client
        .query(authed(request, key))
        .await
        .map_err(|s| s.code())?
        .into_inner();
    let mut seqs = Vec::new();
    while let Some(page) = stream.message().await.map_err(|s| s.code())? {
        assert!(page.events.len() <= ask.page as usize);
        seqs.extend(page.events.iter().map(|e| e.seq));
    }
    Ok(seqs)
}

/// Every page of a query over HTTP, following `next_cursor`, or the refusal's code.
fn http_query(server: &Server, key: &str, ask: &Ask, upto: u64) -> Result<Vec<u64>, Code> {
    let mut params = vec![format!("to_seq={upto}")];
    if let Some(t) = ask.tenant {
        params.push(format!("tenant={}", NAMED[t]));
    }
    if let Some(a) = ask.actor {
        params.push(format!("actor=usr_{a}"));
    }
    if let Some(a) = ask.action {
        params.push(format!("action={}", PATTERNS[a]));
    }
    if let Some(f) = ask.failed {
        params.push(format!("outcome={}", if f { "failure" } else { "success" }));
    }
    let count_path = format!("/v1/events/count?{}", params.join("&"));
    let order = if ask.oldest_first { "oldest" } else { "newest" };
    params.push(format!("order={order}"));
    params.push(format!("limit={}", ask.page));
    let first = format!("/v1/events?{}", params.join("&"));
    let mut path = first.clone();
    let mut seqs = Vec::new();
    loop {
        let answer = http_get(&server.http, &path, Some(key));
        match answer.status {
            200 => {}
            403 => return Err(Code::PermissionDenied),
            400 => return Err(Code::InvalidArgument),
            other => panic!("{path}: {other} {}", answer.text()),
        }
        let body = answer.json();
        let events = body["events"].as_array().expect("events");
        assert!(events.len() <= ask.page as usize);
        seqs.extend(events.iter().map(|e| e["seq"].as_u64().expect("seq")));
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => break,
        }
    }
    let counted = http_get(&server.http, &count_path, Some(key));
    assert_eq!(counted.status, 200, "{}", counted.text());
    assert_eq!(counted.json()["count"], seqs.len() as u64, "{count_path}");
    Ok(seqs)
}

#[test]
fn a_key_gets_exactly_its_tenants_events_over_grpc_and_http() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");

    // Keys: admin, every non-empty set of the three tenants, all tenants, ingest only.
    let mut keys: Vec<(String, Reads)> = vec![(admin.clone(), Reads::All)];
    runtime.block_on(async {
        for mask in 1..8usize {
            let tenants: Vec<&'static str> = (0..3)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| TENANTS[i])
                .collect();
            let scope = pb::Scope {
                read_tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
                ..Default::default()
            };
            let key = create_key(&server, &admin, &format!("reads {mask}"), scope).await;
            keys.push((key, Reads::Only(tenants)));
        }
        let all = pb::Scope {
            read_all_tenants: true,
            ..Default::default()
        };
        keys.push((
            create_key(&server, &admin, "reads all", all).await,
            Reads::All,
        ));
        let ingest_only = pb::Scope {
            ingest_all_tenants: true,
            ..Default::default()
        };
        let key = create_key(&server, &admin, "ingests", ingest_only).await;
        keys.push((key, Reads::Only(Vec::new())));

        let events: Vec<pb::Event> = (0..240u32)
            .map(|i| {
                let tenant = TENANTS[(i * 7 % 11 % 3) as usize];
                let action = ACTIONS[(i / 3 % 4) as usize];
                let mut e = event(i, tenant, &format!("usr_{}", i % 4), action);
                if i % 5 == 0 {
                    e.outcome = pb::Outcome::Failure.into();
                }
                e
            })
            .collect();
        let mut ingest = IngestServiceClient::new(server.channel().await);
        for chunk in events.chunks(60) {
            let batch = pb::IngestRequest {
                events: chunk.to_vec(),
            };
            ingest
                .ingest(authed(batch, &admin))
                .await
                .expect("ingested");
        }
    });

    // The truth: everything, as the admin key lists it (the server's own events too).
    let listed = http_get(
        &server.http,
        "/v1/events?order=oldest&limit=1000",
        Some(&admin),
    );
    let truth: Vec<Stored> = listed.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| Stored {
            seq: e["seq"].as_u64().expect("seq"),
            tenant: e["organization"]["id"].as_str().expect("tenant").to_owned(),
            actor: e["actor"]["user_id"].as_str().expect("actor").to_owned(),
            action: e["action"].as_str().expect("action").to_owned(),
            failed: e["outcome"] == "failure",
        })
        .collect();
    assert_eq!(
        truth.len(),
        240 + 1 + keys.len() - 1,
        "events, start, keys created"
    );
    let leaves = truth.len() as u64;

    // Not vacuous: some queries return events, some are refused.
    let (answered, refused) = (Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&ask(keys.len(), leaves), |ask| {
            let (key, reads) = &keys[ask.key];
            let want = expected(&truth, reads, &ask);
            let over_grpc = runtime.block_on(grpc_query(&server, key, &ask, leaves));
            prop_assert_eq!(&over_grpc, &want, "gRPC");
            let over_http = http_query(&server, key, &ask, leaves);
            prop_assert_eq!(&over_http, &want, "HTTP");
            match &want {
                Ok(seqs) if !seqs.is_empty() => answered.set(answered.get() + 1),
                Err(Code::PermissionDenied) => refused.set(refused.get() + 1),
                _ => {}
            }

            // An inclusion proof only for an event of a tenant the key reads.
            let tenant = truth.get(ask.leaf as usize).map(|e| e.tenant.as_str());
            let request = pb::InclusionRequest {
                leaf_index: ask.leaf,
                tree_size: Some(leaves),
            };
            let proof = runtime.block_on(async {
                let mut client = ProofServiceClient::new(server.channel().await);
                client.prove_inclusion(authed(request, key)).await
            });
            let path = format!(
                "/v1/proofs/inclusion?leaf_index={}&tree_size={leaves}",
                ask.leaf
            );
            let over_http = http_get(&server.http, &path, Some(key));
            match tenant {
                Some(t) if reads.reads(t) => {
                    let proof = proof.expect("a proof of a readable event").into_inner();
                    prop_assert_eq!(proof.leaf_index, ask.leaf);
                    prop_assert_eq!(over_http.status, 200);
                }
                Some(_) => {
                    prop_assert_eq!(proof.expect_err("refused").code(), Code::PermissionDenied);
                    prop_assert_eq!(over_http.status, 403);
                }
                // Past the tree: refused for every key, before anything is looked up.
                None => {
                    prop_assert!(proof.is_err());
                    prop_assert!(over_http.status >= 400);
                }
            }
            Ok(())
        })
        .expect("isolation holds");
    assert!(
        answered.get() > 0 && refused.get() > 0,
        "{answered:?} {refused:?}"
    );
}
