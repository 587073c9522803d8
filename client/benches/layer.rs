//! What `AuditLayer` adds to a request: an axum router with a trivial handler, called
//! in-process (no sockets) with and without the layer, each request timed alone;
//! prints the percentiles of both and of the difference. The client points at a port
//! nothing listens on, so the log's speed is not involved: the layer's cost is making
//! the event and handing it to the buffer. Target (issue 20): p99 under 5 µs.
//!
//! `cargo bench -p auditlog-client --bench layer [-- REQUESTS]`

use std::time::{Duration, Instant};

use auditlog_client::{AuditActor, AuditLayer, Client, Config, Overflow};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use tower::{Service, ServiceExt};

async fn approve() -> StatusCode {
    StatusCode::OK
}

fn request() -> Request<Body> {
    let mut request = Request::post("/orgs/org_acme/invoices/inv_42/approve")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
        .body(Body::empty())
        .expect("request");
    let mut actor = AuditActor::new("org_acme", "usr_ada");
    actor.email = Some("ada@example.com".to_owned());
    request.extensions_mut().insert(actor);
    request
}

/// Each request's time through `router`, sorted.
async fn timed(mut router: Router, requests: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let request = request();
        let start = Instant::now();
        let ready = ServiceExt::<Request<Body>>::ready(&mut router)
            .await
            .expect("ready");
        let response = ready.call(request).await.expect("response");
        times.push(start.elapsed());
        assert_eq!(response.status(), StatusCode::OK);
    }
    times.sort_unstable();
    times
}

fn at(times: &[Duration], q: f64) -> f64 {
    let i = ((times.len() as f64 * q).ceil() as usize).saturating_sub(1);
    times[i.min(times.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = Config::new("http://127.0.0.1:9", "alk_bench");
        config.capacity = 1 << 20;
        config.overflow = Overflow::DropOldest;
        let client = Client::new(config).expect("client");
        let route = "/orgs/{org}/invoices/{id}/approve";
        let plain = Router::new().route(route, post(approve));
        let audited = Router::new()
            .route(route, post(approve))
            .layer(AuditLayer::new(client.clone()));
        // Warm both, then alternate halves so drift hits both alike.
        timed(plain.clone(), 10_000).await;
        timed(audited.clone(), 10_000).await;
        let mut without = timed(plain.clone(), requests / 2).await;
        let mut with = timed(audited.clone(), requests / 2).await;
        without.extend(timed(plain, requests / 2).await);
        with.extend(timed(audited, requests / 2).await);
        without.sort_unstable();
        with.sort_unstable();
        println!("{requests} requests each, one at a time, in-process");
        for (name, times) in [("without the layer", &without), ("with the layer", &with)] {
            println!(
                "{name}: p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
                at(times, 0.5),
                at(times, 0.9),
                at(times, 0.99),
                at(times, 0.999)
            );
        }
        println!(
            "added: p50 {:.2} µs, p99 {:.2} µs",
            at(&with, 0.5) - at(&without, 0.5),
            at(&with, 0.99) - at(&without, 0.99)
        );
        let stats = client.stats();
        println!(
            "events recorded {} (dropped {}, invalid {})",
            stats.recorded, stats.dropped, stats.invalid
        );
        assert_eq!(stats.invalid, 0, "every request made a valid event");
    });
}
