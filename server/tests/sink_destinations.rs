//! Sinks to SIEMs against receivers on loopback that check what their vendors document
//! (`server/tests/python/siem_receiver.py`): OTLP over gRPC and HTTP decoded with the
//! PyPI `opentelemetry-proto` types, Splunk HEC, Datadog's logs intake with its limits.
//! Every event of each sink's tenants arrives once, in its vendor's shape, with its
//! `seq` and `event_id`, through failures; credentials are required, stored sealed and
//! never answered.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::sink_service_client::SinkServiceClient;
use common::{Server, authed, event, wait_for};
use pb::sink_spec::Destination as D;
use serde_json::Value;

/// A Python receiver of one kind, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Receiver {
    fn start(kind: &str, dir: &Path, options: &[&str]) -> Receiver {
        std::fs::create_dir_all(dir).expect("receiver dir");
        let mut args = vec![std::ffi::OsStr::new(kind), dir.as_os_str()];
        args.extend(options.iter().map(std::ffi::OsStr::new));
        let (child, port) = common::python_receiver("siem_receiver.py", &args);
        Receiver {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request taken, in the order taken.
    fn requests(&self) -> Vec<Value> {
        let mut requests: Vec<(u64, Value)> = std::fs::read_dir(&self.dir)
            .expect("receiver dir")
            .filter_map(|entry| {
                let path = entry.expect("entry").path();
                let n = path.file_stem()?.to_str()?.parse().ok()?;
                (path.extension()? == "json").then_some(())?;
                let text = std::fs::read(&path).expect("request");
                Some((n, serde_json::from_slice(&text).expect("JSON")))
            })
            .collect();
        requests.sort_by_key(|(n, _)| *n);
        requests.into_iter().map(|(_, r)| r).collect()
    }

    /// The events taken, by seq, with how many times each came.
    fn events(&self) -> BTreeMap<u64, (Value, usize)> {
        let mut events = BTreeMap::new();
        for request in self.requests() {
            for e in request["events"].as_array().expect("events") {
                let seq = e["seq"].as_u64().expect("seq");
                events.entry(seq).or_insert((e.clone(), 0)).1 += 1;
            }
        }
        events
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(name: &str, tenants: &[&str], destination: D) -> pb::SinkSpec {
    pb::SinkSpec {
        name: name.into(),
        scope: Some(pb::SinkScope {
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            all_tenants: false,
        }),
        filter: None,
        destination: Some(destination),
        batch_size: 0,
    }
}

/// What a receiver compares of event `e` stored at `seq` (the fields
/// `siem_receiver.py` reads from each vendor's shape).
fn expected(seq: u64, e: &pb::Event) -> Value {
    let time = chrono_micros(&e.timestamp);
    serde_json::json!({
        "seq": seq,
        "action": e.action,
        "tenant": e.organization.as_ref().expect("organization").id,
        "actor": e.actor.as_ref().expect("actor").user_id,
        "outcome": "success",
        "event_id": e.event_id,
        "time_us": time,
        "metadata": e.metadata_json.as_deref().map(|m| serde_json::from_str::<Value>(m).expect("metadata")),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` as Unix microseconds.
fn chrono_micros(rfc3339: &str) -> i64 {
    auditlog_engine::Timestamp::parse(rfc3339)
        .expect("a timestamp")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_destination_gets_its_tenants_events_in_its_vendors_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let received = |name: &str| dir.path().join(name);
    // Two receivers fail their first requests: the sinks retry.
    let grpc = Receiver::start(
        "otlp-grpc",
        &received("otlp-grpc"),
        &["--secret", "Bearer grpc-token", "--fail", "2"],
    );
    let http = Receiver::start(
        "otlp-http",
        &received("otlp-http"),
        &[
            "--secret",
            "http-token",
            "--header",
            "x-api-key",
            "--refuse",
            "doc.refuse",
        ],
    );
    let hec = Receiver::start(
        "hec",
        &received("hec"),
        &["--secret", "hec-token", "--index", "audit", "--fail", "1"],
    );
    let datadog = Receiver::start("datadog", &received("datadog"), &["--secret", "dd-key"]);
    let redirect = Receiver::start("redirect", &received("redirect"), &[]);

    // First the events, so that each sink finds them all at once (Datadog's limits,
    // not the arrival, split its batches): org_a's events (two of an action the OTLP/HTTP receiver refuses), org_b's, and
    // org_big's, whose metadata makes 5.4 MB: more than one Datadog request.
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let mut sent: Vec<(u64, pb::Event)> = Vec::new();
    let mut batches: Vec<Vec<pb::Event>> = Vec::new();
    batches.push(
        (0..300)
            .map(|i| {
                let tenant = if i % 3 == 2 { "org_b" } else { "org_a" };
                let action = if i == 10 || i == 20 {
                    "doc.refuse"
                } else {
                    "document.read"
                };
                let mut e = event(i, tenant, "usr_1", action);
                if i % 2 == 0 {
                    e.event_id = Some(format!("evt_{i}"));
                }
                e
            })
            .collect(),
    );
    let pad = "x".repeat(15_000);
    for chunk in 0..7u32 {
        batches.push(
            (0..50)
                .map(|i| {
                    let mut e = event(1000 + chunk * 50 + i, "org_big", "usr_9", "file.export");
                    e.metadata_json = Some(format!(r#"{{"i":{i},"pad":"{pad}"}}"#));
                    e
                })
                .collect(),
        );
    }
    for events in batches {
        let seqs = ingest
            .ingest(authed(
                pb::IngestRequest {
                    events: events.clone(),
                },
                &admin,
            ))
            .await
            .expect("ingested")
            .into_inner()
            .seqs;
        sent.extend(seqs.into_iter().zip(events));
    }
    let mut sinks = SinkServiceClient::new(server.channel().await);
    let create = |spec: pb::SinkSpec, secret: Option<&str>| pb::CreateSinkRequest {
        spec: Some(spec),
        from_seq: Some(0),
        secret: secret.map(str::to_owned),
    };
    let otlp = |url: String, protocol: pb::OtlpProtocol, header: &str| {
        D::Otlp(pb::OtlpDestination {
            url,
            protocol: protocol as i32,
            secret_header: header.into(),
        })
    };
    let hec_destination = D::SplunkHec(pb::SplunkHecDestination {
        url: hec.url(),
        index: "audit".into(),
        ..Default::default()
    });
    // A credential is required where the receiver takes one, refused where the server
    // makes the secret, and must be a header value.
    for (spec, secret) in [
        (spec("no token", &["org_a"], hec_destination.clone()), None),
        (
            spec(
                "webhook",
                &["org_a"],
                D::Webhook(pb::WebhookDestination {
                    url: hec.url(),
                    proofs: false,
                }),
            ),
            Some("mine"),
        ),
        (
            spec("split", &["org_a"], hec_destination.clone()),
            Some("a\r\nb: c"),
        ),
        (
            spec(
                "path",
                &["org_a"],
                otlp(format!("{}/x", grpc.url()), pb::OtlpProtocol::Grpc, ""),
            ),
            None,
        ),
        // A credential is never sent in the clear across a network.
        (
            spec(
                "cleartext",
                &["org_a"],
                D::Datadog(pb::DatadogDestination {
                    url: "http://logs.example.com".into(),
                    ..Default::default()
                }),
            ),
            Some("dd-key"),
        ),
    ] {
        let refused = sinks
            .create_sink(authed(create(spec, secret), &admin))
            .await;
        assert_eq!(
            refused.expect_err("refused").code(),
            tonic::Code::InvalidArgument
        );
    }

    let mut ids = Vec::new();
    for (spec, secret) in [
        (
            spec(
                "collector",
                &["org_a"],
                otlp(grpc.url(), pb::OtlpProtocol::Grpc, "authorization"),
            ),
            "Bearer grpc-token",
        ),
        (
            spec(
                "otlp http",
                &["org_a"],
                otlp(http.url(), pb::OtlpProtocol::HttpProtobuf, "x-api-key"),
            ),
            "http-token",
        ),
        (
            spec("splunk", &["org_a"], hec_destination.clone()),
            "hec-token",
        ),
        (
            spec(
                "datadog",
                &["org_a", "org_big"],
                D::Datadog(pb::DatadogDestination {
                    url: datadog.url(),
                    tags: "env:test".into(),
                    ..Default::default()
                }),
            ),
            "dd-key",
        ),
    ] {
        let mut spec = spec;
        spec.batch_size = 1000;
        let created = sinks
            .create_sink(authed(create(spec, Some(secret)), &admin))
            .await
            .expect("created")
            .into_inner();
        // A given credential is never answered, nor stored in the clear.
        assert_eq!(created.secret, "");
        let stored = std::fs::read_to_string(data.join("server/sinks.json")).expect("sinks.json");
        assert!(!stored.contains(secret));
        ids.push(created.sink.expect("sink").id);
    }
    // A receiver that redirects is a failure, and the redirect is not followed (a POST
    // redirected becomes a GET without its body, whose 2xx would acknowledge nothing).
    let redirected = sinks
        .create_sink(authed(
            create(
                spec(
                    "redirected",
                    &["org_a"],
                    otlp(redirect.url(), pb::OtlpProtocol::HttpProtobuf, ""),
                ),
                None,
            ),
            &admin,
        ))
        .await
        .expect("created")
        .into_inner()
        .sink
        .expect("sink")
        .id;
    // Nor listed, over gRPC or HTTP.
    let listed = common::http_get(&server.http, "/v1/sinks", Some(&admin)).text();
    for secret in ["grpc-token", "http-token", "hec-token", "dd-key"] {
        assert!(!listed.contains(secret), "{listed}");
    }
    // The vendors' paths are added to bare URLs.
    let listed = sinks
        .list_sinks(authed(pb::ListSinksRequest {}, &admin))
        .await
        .expect("listed")
        .into_inner()
        .sinks;
    let urls: Vec<String> = (listed.iter())
        .map(|s| match s.spec.clone().and_then(|s| s.destination) {
            Some(D::Otlp(o)) => o.url,
            Some(D::SplunkHec(h)) => h.url,
            Some(D::Datadog(d)) => d.url,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        urls,
        [
            // Stored as parsed: a bare URL's path is `/`.
            format!("{}/", grpc.url()),
            format!("{}/v1/logs", http.url()),
            format!("{}/services/collector/event", hec.url()),
            format!("{}/api/v2/logs", datadog.url()),
            format!("{}/v1/logs", redirect.url()),
        ]
    );

    let of = |tenants: &[&str], skip: Option<&str>| -> BTreeMap<u64, Value> {
        (sent.iter())
            .filter(|(_, e)| tenants.contains(&e.organization.as_ref().expect("org").id.as_str()))
            .filter(|(_, e)| Some(e.action.as_str()) != skip)
            .map(|(seq, e)| (*seq, expected(*seq, e)))
            .collect()
    };

    for (receiver, want) in [
        (&grpc, of(&["org_a"], None)),
        (&http, of(&["org_a"], Some("doc.refuse"))),
        (&hec, of(&["org_a"], None)),
        (&datadog, of(&["org_a", "org_big"], None)),
    ] {
        wait_for("every event", || {
            // A request the receiver refused as its vendor would fails the test at once.
            assert_eq!(receiver.log("rejected.log"), "", "at {:?}", receiver.dir);
            receiver.events().len() >= want.len()
        });
        let got = receiver.events();
        for (seq, (event, times)) in &got {
            let mut event = event.clone();
            let map = event.as_object_mut().expect("an object");
            map.remove("sourcetype");
            map.remove("ddtags");
            assert_eq!(
                Some(&event),
                want.get(seq),
                "event {seq} at {:?}",
                receiver.dir
            );
            // Failed requests were not taken: each event came once.
            assert_eq!(*times, 1, "event {seq} at {:?}", receiver.dir);
        }
        assert_eq!(got.len(), want.len());
        assert_eq!(receiver.log("rejected.log"), "", "at {:?}", receiver.dir);
    }

    // The redirecting receiver was asked for its own path only, and the sink says why
    // it fails.
    wait_for("the redirect refused", || {
        redirect.log("attempts.log").lines().count() >= 2
    });
    let attempts = redirect.log("attempts.log");
    assert!(
        attempts.lines().all(|l| l.starts_with("/v1/logs")),
        "{attempts}"
    );
    let sinks_now = sinks
        .list_sinks(authed(pb::ListSinksRequest {}, &admin))
        .await
        .expect("listed")
        .into_inner()
        .sinks;
    let failing = sinks_now
        .iter()
        .find(|s| s.id == redirected)
        .expect("the sink");
    assert!(failing.failures >= 1, "{failing:?}");
    assert!(
        failing
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("follows no redirect")),
        "{failing:?}"
    );

    // OTLP batches name their ranges, which meet.
    for receiver in [&grpc, &http] {
        let mut ranges: Vec<(u64, u64)> = (receiver.requests().iter())
            .map(|r| {
                (
                    r["range"][0].as_u64().expect("from"),
                    r["range"][1].as_u64().expect("to"),
                )
            })
            .collect();
        ranges.sort_unstable();
        assert_eq!(ranges[0].0, 0);
        assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0), "{ranges:?}");
    }
    // HEC's defaults and Datadog's tags.
    let (_, (first, _)) = hec.events().into_iter().next().expect("an event");
    assert_eq!(first["sourcetype"], "auditlog");
    let (_, (first, _)) = datadog.events().into_iter().next().expect("an event");
    assert_eq!(first["ddtags"], format!("sink:{},env:test", ids[3]));
    // Datadog's requests kept within 5 MB: org_big's took more than one.
    let big: Vec<u64> = (datadog.requests().iter())
        .filter(|r| {
            r["events"]
                .as_array()
                .expect("events")
                .iter()
                .any(|e| e["tenant"] == "org_big")
        })
        .map(|r| r["bytes"].as_u64().expect("bytes"))
        .collect();
    assert!(
        big.len() >= 2 && big.iter().all(|&b| b <= 5_000_000),
        "{big:?}"
    );
    // The receivers that failed were retried; the refusal was recorded.
    assert!(grpc.log("attempts.log").lines().count() >= 3);
    assert!(hec.log("attempts.log").lines().count() >= 2);
    let refused = common::query_pages(
        &server,
        &admin,
        pb::QueryRequest {
            filter: Some(pb::Filter {
                tenant: Some("_system".into()),
                actions: vec!["auditlog.sink.refused".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(refused.len(), 1, "one batch held the refused events");
    // No credential is in an event of the log.
    let system = common::http_get(&server.http, "/v1/events?tenant=_system", Some(&admin)).text();
    assert!(system.contains("auditlog.sink.create"), "{system}");
    for secret in ["grpc-token", "http-token", "hec-token", "dd-key"] {
        assert!(!system.contains(secret), "{system}");
    }
}
