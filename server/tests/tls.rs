//! TLS on the real `auditlogd`: with `--tls-cert` and `--tls-key` both APIs speak only
//! TLS (gRPC through tonic's client, HTTP through rustls, each trusting the test CA);
//! without them, an address other than loopback is refused. The certificates under
//! `tests/data/tls/` are for these tests only (see the README there).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{Server, authed, event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// GET `path` over HTTPS from `addr`, trusting the test CA; the raw response.
async fn https_get(addr: &str, path: &str, key: &str) -> String {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(tls_file("ca.pem")).expect("CA PEM");
    roots.add(ca).expect("CA accepted");
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Connection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.expect("sent");
    let mut response = Vec::new();
    // A peer closing without close_notify is fine here: the response is complete.
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8(response).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_serve_tls_from_certificate_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (tls_file("cert.pem"), tls_file("key.pem"));
    let args = [
        "--tls-cert",
        cert.to_str().expect("UTF-8"),
        "--tls-key",
        key.to_str().expect("UTF-8"),
    ];
    let server = Server::start(&dir.path().join("data"), true, &args);
    let admin = server.admin_key.clone().expect("admin key");
    let grpc_addr = server.url.trim_start_matches("http://").to_owned();

    // gRPC over TLS, the server named as its certificate says.
    let ca = std::fs::read(tls_file("ca.pem")).expect("CA");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{grpc_addr}"))
        .expect("url")
        .tls_config(tls)
        .expect("TLS config")
        .connect()
        .await
        .expect("a TLS connection");
    let batch = pb::IngestRequest {
        events: vec![event(1, "org_a", "usr_1", "document.read")],
    };
    IngestServiceClient::new(channel.clone())
        .ingest(authed(batch, &admin))
        .await
        .expect("ingested over TLS");
    let filter = pb::Filter {
        tenant: Some("org_a".into()),
        ..Default::default()
    };
    let request = pb::CountRequest {
        filter: Some(filter),
    };
    let counted = QueryServiceClient::new(channel)
        .count(authed(request, &admin))
        .await
        .expect("counted over TLS")
        .into_inner();
    assert_eq!(counted.count, 1);

    // The CLI reads over TLS, trusting the CA it is given, and refuses to guess.
    let url = format!("https://{grpc_addr}");
    let ca_file = tls_file("ca.pem");
    let cli = |more: &[&str]| {
        std::process::Command::new(common::auditlog_bin())
            .args(["query", "--count", "--format", "json", "--tenant", "org_a"])
            .args(["--server", url.as_str(), "--key", admin.as_str()])
            .args(more)
            .output()
            .expect("auditlog runs")
    };
    let counted_by_cli = cli(&["--ca-cert", ca_file.to_str().expect("UTF-8")]);
    assert!(counted_by_cli.status.success(), "{counted_by_cli:?}");
    let text = String::from_utf8_lossy(&counted_by_cli.stdout);
    assert!(text.contains(r#""count":1"#), "{text}");
    let untrusted = cli(&[]);
    assert_eq!(untrusted.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("--ca-cert"));

    // A plaintext gRPC client gets nowhere.
    let plaintext = async {
        let channel = Channel::from_shared(server.url.clone())
            .expect("url")
            .connect()
            .await?;
        let request = authed(pb::CountRequest::default(), &admin);
        QueryServiceClient::new(channel)
            .count(request)
            .await
            .map_err(Into::into)
    };
    let refused: Result<_, Box<dyn std::error::Error>> = plaintext.await;
    assert!(refused.is_err(), "plaintext gRPC must fail");

    // HTTPS.
    let response = https_get(&server.http, "/v1/events/count?tenant=org_a", &admin).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""count":1"#), "{response}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(&server.http)
        .await
        .expect("connects");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}

#[test]
fn plaintext_off_loopback_is_refused_and_a_bad_key_file_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_auditlogd"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .output()
            .expect("auditlogd runs")
    };
    let out = run(&["--grpc", "0.0.0.0:0", "--http", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve plaintext on 0.0.0.0:0"),
        "{err}"
    );

    // The certificate where the key should be: refused at start, naming the file.
    let cert = tls_file("cert.pem");
    let cert = cert.to_str().expect("UTF-8");
    let out = run(&[
        "--tls-cert",
        cert,
        "--tls-key",
        cert,
        "--grpc",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no PEM private key"), "{err}");
    // One of the pair alone is a usage error.
    let out = run(&["--tls-cert", cert]);
    assert!(!out.status.success());
}
