//! The real `auditlogd` over loopback gRPC, driven by the generated Rust clients: keys,
//! ingest (unary and streaming), query pages and counts under tenant scopes, proofs
//! checked against signed checkpoints, errors as gRPC intends, health, reflection, and
//! a restart.

mod common;

use auditlog_engine::HashAlg;
use auditlog_engine::merkle::{verify_consistency, verify_inclusion};
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::checkpoint_service_client::CheckpointServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::proof_service_client::ProofServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{Server, authed, create_key, event};
use tonic::{Code, Request};
use tonic_types::StatusExt;

/// A count of `tenant`'s events.
fn of_tenant(tenant: &str) -> pb::CountRequest {
    pb::CountRequest {
        filter: Some(pb::Filter {
            tenant: Some(tenant.to_owned()),
            ..Default::default()
        }),
    }
}

/// Every event a query streams, following `max_pages` pages of `page_size`.
async fn query_all(server: &Server, key: &str, filter: pb::Filter, page_size: u32) -> Vec<u64> {
    let request = pb::QueryRequest {
        filter: Some(filter),
        page_size,
        max_pages: 1000,
        ..Default::default()
    };
    common::query_pages(server, key, request).await
}

#[tokio::test]
async fn keys_ingest_query_and_proofs_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &["--durability", "always"]);
    let admin = server
        .admin_key
        .clone()
        .expect("first start prints an admin key");

    let writer = create_key(
        &server,
        &admin,
        "app",
        pb::Scope {
            ingest_tenants: vec!["org_a".into(), "org_b".into()],
            ..Default::default()
        },
    )
    .await;
    let reader_a = create_key(
        &server,
        &admin,
        "auditor of a",
        pb::Scope {
            read_tenants: vec!["org_a".into()],
            ..Default::default()
        },
    )
    .await;

    // Unary ingest: dense sequence numbers in request order.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let tenant_of = |i: u32| {
        if i.is_multiple_of(3) {
            "org_b"
        } else {
            "org_a"
        }
    };
    let batch: Vec<pb::Event> = (0..30)
        .map(|i| event(i, tenant_of(i), &format!("usr_{}", i % 4), "document.read"))
        .collect();
    let ack = ingest
        .ingest(authed(pb::IngestRequest { events: batch }, &writer))
        .await
        .expect("batch accepted")
        .into_inner();
    // The server's own events (its start, the two keys created) come first.
    let base = ack.seqs[0];
    assert_eq!(base, 3);
    assert_eq!(ack.seqs, (base..base + 30).collect::<Vec<u64>>());
    assert!(ack.tree_size >= base + 30);

    // Streaming ingest: one ack per batch, in order, continuing the sequence.
    let batches: Vec<pb::IngestRequest> = (0..3)
        .map(|b| pb::IngestRequest {
            events: (0..10)
                .map(|i| {
                    let i = 30 + b * 10 + i;
                    event(i, tenant_of(i), "usr_9", "permission.role.assign")
                })
                .collect(),
        })
        .collect();
    let acks = ingest
        .ingest_stream(authed(tokio_stream::iter(batches), &writer))
        .await
        .expect("stream accepted")
        .into_inner()
        .acks;
    assert_eq!(acks.len(), 3);
    let streamed: Vec<u64> = acks.iter().flat_map(|a| a.seqs.clone()).collect();
    assert_eq!(streamed, (base + 30..base + 60).collect::<Vec<u64>>());

    // The reader of org_a sees exactly org_a's events, newest first, over many pages,
    // with or without naming its tenant; counts agree.
    let expected: Vec<u64> = (base..base + 60)
        .rev()
        .filter(|&s| tenant_of((s - base) as u32) == "org_a")
        .collect();
    let all = query_all(&server, &reader_a, pb::Filter::default(), 7).await;
    assert_eq!(all, expected);
    let named = pb::Filter {
        tenant: Some("org_a".into()),
        actions: vec!["permission.*".into()],
        ..Default::default()
    };
    let privileged = query_all(&server, &reader_a, named.clone(), 100).await;
    assert_eq!(
        privileged,
        expected
            .iter()
            .copied()
            .filter(|&s| s >= base + 30)
            .collect::<Vec<_>>()
    );
    let mut query = QueryServiceClient::new(server.channel().await);
    let counted = query
        .count(authed(
            pb::CountRequest {
                filter: Some(named),
            },
            &reader_a,
        ))
        .await
        .expect("count")
        .into_inner();
    assert_eq!(counted.count, privileged.len() as u64);
    assert_eq!(counted.success, counted.count);
    // A log that does not seal keeps no index of e-mail addresses.
    let no_index = query
        .count(authed(
            pb::CountRequest {
                filter: Some(pb::Filter {
                    email: Some("usr_1@example.com".into()),
                    ..Default::default()
                }),
            },
            &reader_a,
        ))
        .await
        .expect_err("no blind index");
    assert_eq!(no_index.code(), tonic::Code::FailedPrecondition);

    // Another tenant's events are out of reach, whatever the filter.
    let other = pb::Filter {
        tenant: Some("org_b".into()),
        ..Default::default()
    };
    for status in [
        query
            .count(authed(
                pb::CountRequest {
                    filter: Some(other.clone()),
                },
                &reader_a,
            ))
            .await
            .unwrap_err(),
        query
            .query(authed(
                pb::QueryRequest {
                    filter: Some(other),
                    ..Default::default()
                },
                &reader_a,
            ))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }

    // Proofs: an org_a event is proved against a signed checkpoint's root; an org_b
    // event is refused to org_a's reader; consistency between two checkpoints holds.
    // An admin key has one signed now; other keys get the newest signed.
    let mut checkpoints = CheckpointServiceClient::new(server.channel().await);
    let checkpoint = checkpoints
        .latest(authed(pb::LatestCheckpointRequest {}, &admin))
        .await
        .expect("latest checkpoint")
        .into_inner();
    // Every event so far: the 60 and the server's own, the multi-page queries'
    // records among them.
    assert_eq!(
        checkpoint.tree_size,
        common::count(&server, &admin, None).await
    );
    assert!(checkpoint.tree_size >= base + 60);
    let size = checkpoint.tree_size;
    let seen_by_reader = checkpoints
        .latest(authed(pb::LatestCheckpointRequest {}, &reader_a))
        .await
        .expect("the newest checkpoint")
        .into_inner();
    assert_eq!(seen_by_reader, checkpoint);
    let size_line = format!("\n{}\n", size);
    assert!(checkpoint.note.contains(&size_line), "{}", checkpoint.note);
    let mut proofs = ProofServiceClient::new(server.channel().await);
    let proof = proofs
        .prove_inclusion(authed(
            pb::InclusionRequest {
                leaf_index: base + 1,
                tree_size: Some(size),
                ..Default::default()
            },
            &reader_a,
        ))
        .await
        .expect("inclusion proof")
        .into_inner();
    assert_eq!(proof.root, checkpoint.root);
    assert_eq!(proof.hash, "sha256", "new logs are SHA-256");
    verify_inclusion(
        HashAlg::Sha256,
        proof.leaf_index,
        proof.tree_size,
        &proof.leaf_hash,
        &proof.path,
        &proof.root,
    )
    .expect("the proof verifies");
    let denied = proofs
        .prove_inclusion(authed(
            pb::InclusionRequest {
                leaf_index: base,
                tree_size: None,
                ..Default::default()
            },
            &reader_a,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let more: Vec<pb::Event> = (60..65)
        .map(|i| event(i, "org_a", "usr_1", "document.read"))
        .collect();
    ingest
        .ingest(authed(pb::IngestRequest { events: more }, &writer))
        .await
        .expect("more events");
    let newer = checkpoints
        .latest(authed(pb::LatestCheckpointRequest {}, &admin))
        .await
        .expect("newer checkpoint")
        .into_inner();
    assert_eq!(newer.tree_size, size + 5);
    let by_size = checkpoints
        .by_size(authed(
            pb::CheckpointBySizeRequest { tree_size: size },
            &reader_a,
        ))
        .await
        .expect("the older checkpoint is kept")
        .into_inner();
    assert_eq!(by_size, checkpoint);
    let consistency = proofs
        .prove_consistency(authed(
            pb::ConsistencyRequest {
                size1: size,
                size2: size + 5,
            },
            &reader_a,
        ))
        .await
        .expect("consistency proof")
        .into_inner();
    assert_eq!(
        (consistency.root1.clone(), consistency.root2.clone()),
        (checkpoint.root, newer.root)
    );
    verify_consistency(
        HashAlg::from_name(&consistency.hash).expect("a hash"),
        size,
        size + 5,
        &consistency.root1,
        &consistency.root2,
        &consistency.path,
    )
    .expect("the consistency proof verifies");
}

#[tokio::test]
async fn bad_requests_get_the_status_grpc_intends() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let writer_a = create_key(
        &server,
        &admin,
        "app a",
        pb::Scope {
            ingest_tenants: vec!["org_a".into()],
            ..Default::default()
        },
    )
    .await;
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let good = || event(1, "org_a", "usr_1", "document.read");

    // No key, an unknown key: UNAUTHENTICATED.
    let request = || pb::IngestRequest {
        events: vec![good()],
    };
    let status = ingest.ingest(request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = ingest
        .ingest(authed(request(), "alk_00_11"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A bad event: INVALID_ARGUMENT naming the event and its field; nothing is stored.
    let mut bad = good();
    bad.action = "Not Dotted".into();
    let status = ingest
        .ingest(authed(
            pb::IngestRequest {
                events: vec![good(), bad],
            },
            &writer_a,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_error_details()
        .bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .clone();
    assert_eq!(violations[0].field, "events[1].action");
    for (field, mangle) in [
        (
            "events[0].timestamp",
            (|e: &mut pb::Event| e.timestamp = "yesterday".into()) as fn(&mut pb::Event),
        ),
        ("events[0].outcome", |e| e.outcome = 0),
        ("events[0].metadata_json", |e| {
            e.metadata_json = Some("[1]".into())
        }),
        ("events[0].actor.user_id", |e| e.actor = None),
        ("events[0].ip_address", |e| {
            e.ip_address = Some("999.1.1.1".into())
        }),
        ("events[0].metadata_json", |e| {
            e.metadata_json = Some(format!(r#"{{"blob":"{}"}}"#, "x".repeat(17_000)));
        }),
    ] {
        let mut e = good();
        mangle(&mut e);
        let status = ingest
            .ingest(authed(pb::IngestRequest { events: vec![e] }, &writer_a))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        let details = status.get_error_details();
        let violation = &details.bad_request().expect("detail").field_violations[0];
        assert_eq!(violation.field, field);
    }

    // Another tenant: PERMISSION_DENIED; a read or admin call by an ingest key too.
    let status = ingest
        .ingest(authed(
            pb::IngestRequest {
                events: vec![event(1, "org_b", "usr_1", "document.read")],
            },
            &writer_a,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut query = QueryServiceClient::new(server.channel().await);
    let status = query
        .count(authed(pb::CountRequest::default(), &writer_a))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut admin_client = AdminServiceClient::new(server.channel().await);
    let status = admin_client
        .list_keys(authed(pb::ListKeysRequest {}, &writer_a))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Erasure is for a log that seals personal data; this one does not.
    let status = admin_client
        .erase(authed(
            pb::EraseRequest {
                subject: "usr_1".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    // Nothing was stored by the refused batches; a good one is (the scheme's case does
    // not matter).
    let mut lower_case = Request::new(request());
    let value = format!("bearer {writer_a}").parse().unwrap();
    lower_case.metadata_mut().insert("authorization", value);
    let ack = ingest
        .ingest(lower_case)
        .await
        .expect("good batch")
        .into_inner();
    let first = ack.seqs[0];
    assert_eq!(ack.seqs.len(), 1);

    // A stream whose second batch is refused: the first is stored and acknowledged, the
    // response names the refused batch and its field, the third is not stored.
    let mut bad = good();
    bad.action = "Not Dotted".into();
    let batches = vec![
        pb::IngestRequest {
            events: vec![good(), good()],
        },
        pb::IngestRequest { events: vec![bad] },
        pb::IngestRequest {
            events: vec![good()],
        },
    ];
    let response = ingest
        .ingest_stream(authed(tokio_stream::iter(batches), &writer_a))
        .await
        .expect("the stream is answered")
        .into_inner();
    assert_eq!(response.acks.len(), 1);
    assert_eq!(response.acks[0].seqs, vec![first + 1, first + 2]);
    let refused = response.refused.expect("the refused batch is named");
    assert_eq!(
        (refused.batch, refused.code),
        (1, Code::InvalidArgument as i32)
    );
    assert_eq!(refused.fields, vec!["events[0].action".to_owned()]);
    let mut admin_query = QueryServiceClient::new(server.channel().await);
    let stored = admin_query
        .count(authed(of_tenant("org_a"), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stored.count, 3,
        "the batch after the refused one is not stored"
    );

    // A revoked key stops working at once.
    let keys = admin_client
        .list_keys(authed(pb::ListKeysRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let app = keys.iter().find(|k| k.name == "app a").expect("listed");
    admin_client
        .revoke_key(authed(pb::RevokeKeyRequest { id: app.id.clone() }, &admin))
        .await
        .expect("revoked");
    let status = ingest
        .ingest(authed(request(), &writer_a))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

// Several threads: the clients' connections must answer the server's goodbye while
// the test waits for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_a_clean_restart() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().unwrap();

    let mut health = HealthClient::new(server.channel().await);
    let serving = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");

    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "IngestService",
        "QueryService",
        "ProofService",
        "CheckpointService",
        "AdminService",
    ] {
        assert!(
            names.contains(&format!("auditlog.v1.{service}")),
            "{names:?}"
        );
    }

    let mut ingest = IngestServiceClient::new(server.channel().await);
    let events: Vec<pb::Event> = (0..5)
        .map(|i| event(i, "org_a", "usr_1", "document.read"))
        .collect();
    ingest
        .ingest(authed(pb::IngestRequest { events }, &admin))
        .await
        .expect("the admin key ingests");

    let reader = create_key(
        &server,
        &admin,
        "reader",
        pb::Scope {
            read_all_tenants: true,
            ..Default::default()
        },
    )
    .await;

    // SIGTERM: a clean exit; a restart keeps the events and the keys, and prints no
    // second admin key.
    let (status, stdout) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(stdout, "");
    let server = Server::start(&data, false, &[]);
    let mut query = QueryServiceClient::new(server.channel().await);
    let counted = query
        .count(authed(of_tenant("org_a"), &admin))
        .await
        .expect("the key survives a restart")
        .into_inner();
    assert_eq!(counted.count, 5);
    // The server's own events: each start, the key created, the stop.
    let system = query
        .count(authed(of_tenant("_system"), &admin))
        .await
        .expect("count")
        .into_inner();
    assert_eq!(system.count, 4);
    // The log signed a last checkpoint as it closed: what a non-admin key gets (it
    // cannot make the log sign one), before any cadence could have run.
    let mut checkpoints = CheckpointServiceClient::new(server.channel().await);
    let last = checkpoints
        .latest(authed(pb::LatestCheckpointRequest {}, &reader))
        .await
        .expect("a checkpoint signed at close")
        .into_inner();
    assert_eq!(last.tree_size, 5 + 4 - 1, "all but this start's event");
    let (status, stdout) = server.terminate();
    assert!(status.success());
    assert_eq!(stdout, "", "no second admin key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_its_stream_is_open_stops_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let writer = create_key(
        &server,
        &admin,
        "app",
        pb::Scope {
            ingest_all_tenants: true,
            ..Default::default()
        },
    )
    .await;
    let (batches, stream) = tokio::sync::mpsc::channel(4);
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let request = authed(tokio_stream::wrappers::ReceiverStream::new(stream), &writer);
    let answer = tokio::spawn(async move { ingest.ingest_stream(request).await });
    let batch = |i| pb::IngestRequest {
        events: vec![event(i, "org_a", "usr_1", "document.read")],
    };
    batches.send(batch(0)).await.unwrap();
    // Wait until the first batch is stored, then revoke the key and send another.
    let mut query = QueryServiceClient::new(server.channel().await);
    loop {
        let counted = query
            .count(authed(of_tenant("org_a"), &admin))
            .await
            .unwrap()
            .into_inner();
        if counted.count == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let mut admin_client = AdminServiceClient::new(server.channel().await);
    let keys = admin_client
        .list_keys(authed(pb::ListKeysRequest {}, &admin))
        .await
        .unwrap()
        .into_inner()
        .keys;
    let id = keys.iter().find(|k| k.name == "app").unwrap().id.clone();
    admin_client
        .revoke_key(authed(pb::RevokeKeyRequest { id }, &admin))
        .await
        .unwrap();
    batches.send(batch(1)).await.unwrap();
    drop(batches);
    let response = answer.await.unwrap().expect("answered").into_inner();
    assert_eq!(response.acks.len(), 1);
    let refused = response.refused.expect("the second batch is refused");
    assert_eq!(
        (refused.batch, refused.code),
        (1, Code::Unauthenticated as i32)
    );
}
