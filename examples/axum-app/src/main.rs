//! An axum application that records its audit trail with `AuditLayer`: every mutating
//! request becomes an event in `auditlogd`, with no audit code in the handlers. A demo
//! authentication middleware takes the user and tenant from `x-user` and `x-tenant`
//! (a real one would check a session or a token) and hands them to the layer as an
//! `AuditActor`.
//!
//! Usage: `cargo run -p auditlog-example-axum-app -- http://127.0.0.1:7070 KEY`
//! Prints `listening on ADDR`; `POST /audit/flush` waits until every event so far is
//! sent and answers the client's counters.

use std::net::SocketAddr;
use std::time::Duration;

use auditlog_client::{AuditAction, AuditActor, AuditLayer, Client, Config};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: axum-app AUDITLOGD_GRPC_URL KEY");
        std::process::exit(2);
    };
    let client = Client::new(Config::new(&server, &key))?;
    let app = Router::new()
        .route("/orgs/{org}/invoices", post(create_invoice))
        .route(
            "/orgs/{org}/invoices/{id}",
            get(read_invoice).delete(delete_invoice),
        )
        .route("/orgs/{org}/invoices/{id}/approve", post(approve_invoice))
        .layer(AuditLayer::new(client.clone()))
        .layer(middleware::from_fn(authenticate))
        .route("/audit/flush", post(flush))
        .with_state(client);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// The demo's "authentication": who from `x-user`, which tenant from `x-tenant`.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (user, tenant) = (header("x-user"), header("x-tenant"));
    if let (Some(user), Some(tenant)) = (user, tenant) {
        let mut actor = AuditActor::new(&tenant, &user);
        actor.kind = Some("user".to_owned());
        request.extensions_mut().insert(actor);
    } else {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(request).await
}

async fn create_invoice(Path(_org): Path<String>) -> StatusCode {
    StatusCode::CREATED
}

async fn read_invoice(Path((_org, id)): Path<(String, String)>) -> String {
    format!("invoice {id}\n")
}

async fn delete_invoice(Path((_org, id)): Path<(String, String)>) -> StatusCode {
    if id == "missing" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Named by the handler: `invoice.approve`, not the route's `invoices.approve.post`.
async fn approve_invoice(
    Path((_org, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let role = headers.get("x-role").and_then(|v| v.to_str().ok());
    let status = if role == Some("approver") {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let mut response = (status, format!("{id}\n")).into_response();
    response
        .extensions_mut()
        .insert(AuditAction("invoice.approve".to_owned()));
    response
}

/// Waits until every event so far is sent; answers the client's counters.
async fn flush(State(client): State<Client>) -> String {
    client.flush(Duration::from_secs(10)).await;
    let stats = client.stats();
    format!(
        "{{\"recorded\":{},\"sent\":{},\"dropped\":{},\"rejected\":{},\"unattributed\":{}}}\n",
        stats.recorded, stats.sent, stats.dropped, stats.rejected, stats.unattributed
    )
}
