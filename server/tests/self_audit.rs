//! The auditor audits itself: the real `auditlogd` records its starts and stops (with
//! the configuration served), keys created and revoked, and exports run as events of
//! tenant `_system`, which no key can write and only keys reading it can see.

mod common;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::admin_service_client::AdminServiceClient;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, create_limited_key, event, http_get};
use tonic::Code;

/// The public id of a key: `alk_<id>_<secret>`.
fn key_id(token: &str) -> &str {
    token.split('_').nth(1).expect("alk_<id>_<secret>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_are_events_of_the_system_tenant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &["--durability", "always"]);
    let admin = server.admin_key.clone().expect("admin key");
    let scope = pb::Scope {
        read_tenants: vec!["org_a".into()],
        ..Default::default()
    };
    let limits = pb::KeyLimits {
        requests_per_second: Some(50),
        events_per_second: None,
    };
    let reader = create_limited_key(&server, &admin, "auditor of a", scope, limits).await;

    // No key writes the system tenant, not even an admin key; a reader of another
    // tenant cannot read it.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let forged = pb::IngestRequest {
        events: vec![event(0, "_system", "usr_1", "auditlog.key.revoke")],
    };
    let refused = ingest
        .ingest(authed(forged, &admin))
        .await
        .expect_err("reserved");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let peek = http_get(&server.http, "/v1/events?tenant=_system", Some(&reader));
    assert_eq!(peek.status, 403, "{}", peek.text());

    let export = http_get(
        &server.http,
        "/v1/export?tenant=org_a&format=csv",
        Some(&admin),
    );
    assert_eq!(export.status, 200);
    let mut admin_client = AdminServiceClient::new(server.channel().await);
    let revoke = pb::RevokeKeyRequest {
        id: key_id(&reader).to_owned(),
    };
    admin_client
        .revoke_key(authed(revoke, &admin))
        .await
        .expect("revoked");
    let (status, _) = server.terminate();
    assert!(status.success());

    let server = Server::start(&data, false, &[]);
    let page = http_get(
        &server.http,
        "/v1/events?tenant=_system&order=oldest&limit=100",
        Some(&admin),
    );
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        !page.text().contains(&reader),
        "a key's secret is never recorded"
    );
    let body = page.json();
    let events = body["events"].as_array().expect("events");
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "auditlog.server.start",
            "auditlog.key.create",
            "auditlog.export.run",
            "auditlog.key.revoke",
            "auditlog.server.stop",
            "auditlog.server.start",
        ]
    );
    let by = |i: usize| &events[i]["actor"];
    assert_eq!(by(0)["user_id"], "auditlogd");
    assert_eq!(by(0)["kind"], "system");
    assert_eq!(events[0]["metadata"]["durability"], "always");
    assert_eq!(
        events[5]["metadata"]["durability"], "always",
        "the log's own setting"
    );
    assert_eq!(events[4]["metadata"]["cause"], "signal");

    let created = &events[1];
    assert_eq!(by(1)["user_id"], key_id(&admin));
    assert_eq!(by(1)["kind"], "api_key");
    assert_eq!(created["resource"]["type"], "api_key");
    assert_eq!(created["resource"]["id"], key_id(&reader));
    assert_eq!(created["metadata"]["name"], "auditor of a");
    assert_eq!(created["metadata"]["limits"]["requests_per_second"], 50);
    assert_eq!(created["metadata"]["scope"]["read"]["only"][0], "org_a");
    assert_eq!(events[3]["resource"]["id"], key_id(&reader));

    let exported = &events[2];
    assert_eq!(by(2)["user_id"], key_id(&admin));
    assert_eq!(exported["resource"]["id"], "csv");
    // The filter as applied, never the request's own text.
    assert_eq!(exported["metadata"]["tenant"], "org_a");
    assert_eq!(exported["metadata"]["format"], "csv");
    assert_eq!(exported["metadata"]["api"], "http");
    assert!(exported["metadata"].get("query").is_none(), "{exported}");
    for e in events {
        assert_eq!(e["organization"]["id"], "_system");
        assert_eq!(e["outcome"], "success");
    }
}
