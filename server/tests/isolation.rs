//! Tenant isolation, as a property over random keys and viewer tokens and random
//! queries, over gRPC and HTTP alike: whatever the filter, page size, order and cursors,
//! a key receives exactly the events a brute-force filter of the log picks among the
//! tenants it reads (a viewer token: within its tenant and narrowing), counts exactly
//! those, and gets an inclusion proof only for such an event; every other request is
//! refused as docs/SERVER.md and docs/VIEWER.md say.

mod common;

use std::cell::Cell;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::proof_service_client::ProofServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{
    Server, authed, create_key, event, http_get, http_request, issue_viewer_token,
    newest_system_event,
};
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
    resource_id: Option<String>,
    /// Microseconds since the epoch.
    time: i64,
}

/// What a key may read: every tenant, these, or a viewer token's reach.
#[derive(Debug, Clone)]
enum Reads {
    All,
    Only(Vec<&'static str>),
    Viewer(Narrow),
}

/// A viewer token's tenant, and what it is narrowed to.
#[derive(Debug, Clone)]
struct Narrow {
    tenant: &'static str,
    actor: Option<&'static str>,
    action: Option<&'static str>,
    failed: Option<bool>,
    resource_id: Option<&'static str>,
    /// RFC 3339: events from then on.
    from: Option<&'static str>,
}

impl Narrow {
    /// Refuses a request for more than the token reads.
    fn refuses(
        &self,
        tenant: Option<&str>,
        actor: Option<&str>,
        pattern: Option<&str>,
        failed: Option<bool>,
    ) -> Result<(), Code> {
        let other = |mine: Option<&str>, asked: Option<&str>| matches!((mine, asked), (Some(m), Some(a)) if m != a);
        let wider = match (self.action, pattern) {
            (Some(mine), Some(asked)) => match mine.strip_suffix('*') {
                Some(prefix) => !asked.starts_with(prefix),
                None => asked != mine,
            },
            _ => false,
        };
        let other_outcome = matches!((self.failed, failed), (Some(m), Some(a)) if m != a);
        if other(Some(self.tenant), tenant) || other(self.actor, actor) || wider || other_outcome {
            Err(Code::PermissionDenied)
        } else {
            Ok(())
        }
    }
}

/// Microseconds since the epoch of an RFC 3339 time.
fn timestamp(text: &str) -> i64 {
    auditlog_engine::Timestamp::parse(text).expect("a time").0
}

/// Whether `action` matches `pattern` (`x.*` a prefix).
fn matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => action == pattern,
    }
}

impl Reads {
    fn reads(&self, e: &Stored) -> bool {
        match self {
            Reads::All => true,
            Reads::Only(tenants) => tenants.contains(&e.tenant.as_str()),
            Reads::Viewer(n) => {
                n.tenant == e.tenant
                    && n.actor.is_none_or(|a| e.actor == a)
                    && n.action.is_none_or(|p| matches(p, &e.action))
                    && n.failed.is_none_or(|f| e.failed == f)
                    && n.resource_id
                        .is_none_or(|r| e.resource_id.as_deref() == Some(r))
                    && n.from.is_none_or(|f| e.time >= timestamp(f))
            }
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
    let actor = ask.actor.map(|a| format!("usr_{a}"));
    let pattern = ask.action.map(|a| PATTERNS[a]);
    let tenant = match (reads, named) {
        (Reads::Viewer(n), _) => {
            n.refuses(named, actor.as_deref(), pattern, ask.failed)?;
            Some(n.tenant)
        }
        (Reads::Only(tenants), _) if tenants.is_empty() => return Err(Code::PermissionDenied),
        (Reads::Only(tenants), Some(t)) if !tenants.contains(&t) => {
            return Err(Code::PermissionDenied);
        }
        (_, Some(t)) => Some(t),
        (Reads::All, None) => None,
        (Reads::Only(tenants), None) if tenants.len() == 1 => Some(tenants[0]),
        (Reads::Only(_), None) => return Err(Code::InvalidArgument),
    };
    let mut seqs: Vec<u64> = truth
        .iter()
        .filter(|e| tenant.is_none_or(|t| e.tenant == t))
        .filter(|e| actor.as_ref().is_none_or(|a| &e.actor == a))
        .filter(|e| pattern.is_none_or(|p| matches(p, &e.action)))
        .filter(|e| ask.failed.is_none_or(|f| e.failed == f))
        .filter(|e| !matches!(reads, Reads::Viewer(_)) || reads.reads(e))
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
    // By hour: the same events, every one in a bucket.
    let by_hour = http_get(
        &server.http,
        &format!("{count_path}&bucket=hour"),
        Some(key),
    );
    assert_eq!(by_hour.status, 200, "{}", by_hour.text());
    let by_hour = by_hour.json();
    let in_buckets: u64 = (by_hour["buckets"].as_array().expect("buckets").iter())
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(in_buckets, seqs.len() as u64, "{count_path}&bucket=hour");
    assert_eq!(by_hour["count"], seqs.len() as u64);
    Ok(seqs)
}

/// A viewer token of `narrow`, issued over HTTP by `issuer`.
fn issue_token(server: &Server, issuer: &str, narrow: &Narrow) -> String {
    let mut filter = serde_json::json!({});
    if let Some(actor) = narrow.actor {
        filter["actor"] = actor.into();
    }
    if let Some(action) = narrow.action {
        filter["actions"] = serde_json::json!([action]);
    }
    if let Some(failed) = narrow.failed {
        let outcome = if failed { "failure" } else { "success" };
        filter["outcomes"] = serde_json::json!([outcome]);
    }
    if let Some(id) = narrow.resource_id {
        filter["resource_id"] = id.into();
    }
    if let Some(from) = narrow.from {
        filter["from"] = from.into();
    }
    let request = serde_json::json!({"tenant": narrow.tenant, "filter": filter});
    let answer = issue_viewer_token(&server.http, issuer, &request);
    answer["token"].as_str().expect("token").to_owned()
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
            resource_id: e["resource"]["id"].as_str().map(str::to_owned),
            time: timestamp(e["timestamp"].as_str().expect("timestamp")),
        })
        .collect();
    assert_eq!(
        truth.len(),
        240 + 1 + keys.len() - 1,
        "events, start, keys created"
    );
    let leaves = truth.len() as u64;

    // Viewer tokens (made after the truth: their `_system` records lie past it), one
    // of them issued by a key that administers org_a only.
    let org_a_admin = runtime.block_on(async {
        let scope = pb::Scope {
            admin_tenants: vec!["org_a".to_owned()],
            ..Default::default()
        };
        create_key(&server, &admin, "administers org_a", scope).await
    });
    let whole = |tenant| Narrow {
        tenant,
        actor: None,
        action: None,
        failed: None,
        resource_id: None,
        from: None,
    };
    let narrows = [
        (&admin, whole("org_a")),
        (&admin, whole("org_b")),
        (&admin, whole("org_c")),
        (
            &admin,
            Narrow {
                actor: Some("usr_1"),
                ..whole("org_a")
            },
        ),
        (
            &admin,
            Narrow {
                action: Some("document.*"),
                ..whole("org_b")
            },
        ),
        (
            &admin,
            Narrow {
                failed: Some(true),
                ..whole("org_c")
            },
        ),
        (
            &admin,
            Narrow {
                from: Some("2026-03-01T00:02:00Z"),
                ..whole("org_b")
            },
        ),
        (
            &admin,
            Narrow {
                resource_id: Some("doc_0"),
                ..whole("org_a")
            },
        ),
        (
            &org_a_admin,
            Narrow {
                actor: Some("usr_2"),
                action: Some("auth.login"),
                failed: Some(false),
                ..whole("org_a")
            },
        ),
    ];
    for (issuer, narrow) in narrows {
        keys.push((issue_token(&server, issuer, &narrow), Reads::Viewer(narrow)));
    }

    // Not vacuous: some queries return events, some are refused.
    let (answered, refused) = (Cell::new(0), Cell::new(0));
    let (viewer_answered, viewer_refused) = (Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(Config {
        cases: 96,
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
            let (yes, no) = match reads {
                Reads::Viewer(_) => (&viewer_answered, &viewer_refused),
                _ => (&answered, &refused),
            };
            match &want {
                Ok(seqs) if !seqs.is_empty() => yes.set(yes.get() + 1),
                Err(Code::PermissionDenied) => no.set(no.get() + 1),
                _ => {}
            }

            // An inclusion proof only for an event of a tenant the key reads.
            let stored = truth.get(ask.leaf as usize);
            let request = pb::InclusionRequest {
                leaf_index: ask.leaf,
                tree_size: Some(leaves),
                ..Default::default()
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
            match stored {
                Some(e) if reads.reads(e) => {
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
    assert!(
        viewer_answered.get() > 0 && viewer_refused.get() > 0,
        "{viewer_answered:?} {viewer_refused:?}"
    );
}

/// A viewer token reads events, counts, exports and proofs of its reach, and nothing
/// else: no ingest, no administration, no metrics; once revoked or expired, nothing.
#[test]
fn a_viewer_token_reaches_nothing_beyond_its_events() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let org_a_admin = runtime.block_on(async {
        let events: Vec<pb::Event> = (0..30u32)
            .map(|i| {
                event(
                    i,
                    TENANTS[(i % 3) as usize],
                    &format!("usr_{}", i % 2),
                    ACTIONS[0],
                )
            })
            .collect();
        let mut ingest = IngestServiceClient::new(server.channel().await);
        let batch = pb::IngestRequest { events };
        ingest
            .ingest(authed(batch, &admin))
            .await
            .expect("ingested");
        let scope = pb::Scope {
            admin_tenants: vec!["org_a".to_owned()],
            ..Default::default()
        };
        create_key(&server, &admin, "administers org_a", scope).await
    });
    let narrow = Narrow {
        tenant: "org_a",
        actor: Some("usr_1"),
        action: None,
        failed: None,
        resource_id: None,
        from: None,
    };
    let token = issue_token(&server, &org_a_admin, &narrow);
    let whole_org_a = Narrow {
        actor: None,
        ..narrow.clone()
    };
    let kept = issue_token(&server, &org_a_admin, &whole_org_a);

    // Its export holds exactly its reach.
    let export = http_get(&server.http, "/v1/export?format=jsonl", Some(&token));
    assert_eq!(export.status, 200, "{}", export.text());
    let exported: Vec<serde_json::Value> = export
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(exported.len(), 5, "org_a's events of usr_1 among 30");
    for e in &exported {
        assert_eq!(e["organization"]["id"], "org_a");
        assert_eq!(e["actor"]["user_id"], "usr_1");
    }
    // The export is recorded as the token's.
    let recorded = newest_system_event(&server.http, &admin, "auditlog.export.run");
    assert_eq!(recorded["actor"]["kind"], "viewer_token", "{recorded}");

    // Nothing beyond events: ingest, administration, metrics.
    let body = serde_json::to_vec(&serde_json::json!([{
        "action": "document.read", "actor": {"user_id": "usr_1"},
        "organization": {"id": "org_a"}, "outcome": "success",
        "timestamp": "2026-01-01T00:00:00Z"
    }]))
    .expect("json");
    let json = [("Content-Type", "application/json")];
    let refused = [
        ("POST", "/v1/events", &body[..]),
        ("POST", "/v1/viewer-tokens", br#"{"tenant":"org_a"}"#),
        ("GET", "/v1/viewer-tokens", b""),
        ("GET", "/v1/sinks", b""),
        ("GET", "/metrics", b""),
    ];
    for (method, path, body) in refused {
        let answer = http_request(&server.http, method, path, Some(&token), &json, body);
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text());
    }
    runtime.block_on(async {
        let mut ingest = IngestServiceClient::new(server.channel().await);
        let batch = pb::IngestRequest {
            events: vec![event(99, "org_a", "usr_1", ACTIONS[0])],
        };
        let status = ingest
            .ingest(authed(batch, &token))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied);
    });
    // What reveals no event is open to it: the checkpoint its proofs are checked against.
    let signed = http_get(&server.http, "/v1/checkpoint", Some(&admin));
    assert_eq!(signed.status, 200, "an admin key makes the log sign one");
    let checkpoint = http_get(&server.http, "/v1/checkpoint", Some(&token));
    assert_eq!(checkpoint.status, 200, "{}", checkpoint.text());

    // Issuing: only for a tenant the key administers, never `_system`.
    let issue = |key: &str, body: &str| {
        http_request(
            &server.http,
            "POST",
            "/v1/viewer-tokens",
            Some(key),
            &json,
            body.as_bytes(),
        )
    };
    assert_eq!(issue(&org_a_admin, r#"{"tenant":"org_b"}"#).status, 403);
    assert_eq!(issue(&admin, r#"{"tenant":"_system"}"#).status, 400);
    assert_eq!(
        issue(&admin, r#"{"tenant":"org_a","filter":{"actions":["a*b"]}}"#).status,
        400
    );
    assert_eq!(
        issue(&admin, r#"{"tenant":"org_a","ttl_seconds":999999}"#).status,
        400
    );

    // Listed for its tenant's administrators, revoked by one: refused from then on.
    let listed = http_get(&server.http, "/v1/viewer-tokens", Some(&org_a_admin)).json();
    let listed = listed["tokens"].as_array().expect("tokens");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let id = (listed.iter())
        .find(|t| t["filter"]["actor"] == "usr_1")
        .and_then(|t| t["id"].as_str())
        .expect("the token narrowed to usr_1")
        .to_owned();
    assert!(
        !format!("{listed:?}").contains(&token[4..40]),
        "the token is never answered"
    );
    let path = format!("/v1/viewer-tokens/{id}");
    let revoked = http_request(&server.http, "DELETE", &path, Some(&org_a_admin), &[], b"");
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let answer = http_get(&server.http, "/v1/events", Some(&token));
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert!(answer.text().contains("revoked"), "{}", answer.text());

    // A token is no more than its issuer: the issuer's key revoked, its tokens are.
    assert_eq!(
        http_get(&server.http, "/v1/events", Some(&kept)).status,
        200
    );
    let issuer_id = org_a_admin.split('_').nth(1).expect("a key id").to_owned();
    runtime.block_on(async {
        let mut client = AdminServiceClient::new(server.channel().await);
        let request = pb::RevokeKeyRequest { id: issuer_id };
        client
            .revoke_key(authed(request, &admin))
            .await
            .expect("revoked");
    });
    let answer = http_get(&server.http, "/v1/events", Some(&kept));
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert!(answer.text().contains("issued"), "{}", answer.text());

    // Expired: refused.
    let short = issue(&admin, r#"{"tenant":"org_a","ttl_seconds":1}"#).json();
    let short = short["token"].as_str().expect("token").to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let answer = http_get(&server.http, "/v1/events", Some(&short));
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert!(answer.text().contains("expired"), "{}", answer.text());
}
