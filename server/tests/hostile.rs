//! The real `auditlogd` against clients that misbehave on purpose (docs/SECURITY.md):
//! exports that are never read, more streams than the caps, connections that send
//! nothing or trickle their headers. Each test would fail on a server that gives a slow
//! client a thread, or no deadline.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use auditlog_proto::v1::query_service_client::QueryServiceClient;
use common::{Server, authed, create_key, event, http_get, reader_of};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Ingests `n` events of `tenant` (about 1 KiB each) with `key`.
async fn fill(server: &Server, key: &str, tenant: &str, n: u32) {
    let mut ingest = IngestServiceClient::new(server.channel().await);
    for first in (0..n).step_by(1000) {
        let events = (first..(first + 1000).min(n))
            .map(|i| {
                let mut e = event(i, tenant, "usr_1", "document.read");
                e.metadata_json = Some(format!(r#"{{"pad":"{}"}}"#, "x".repeat(900)));
                e
            })
            .collect();
        ingest
            .ingest(authed(pb::IngestRequest { events }, key))
            .await
            .expect("ingested");
    }
}

/// Sends `GET path` with `key` on a socket with a 4 KiB receive buffer, and never reads.
fn stalled_get(addr: &str, path: &str, key: &str) -> socket2::Socket {
    let addr: std::net::SocketAddr = addr.parse().expect("an address");
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    socket.connect(&addr.into()).expect("connects");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\r\n");
    (&socket).write_all(request.as_bytes()).expect("sent");
    socket
}

/// `auditlog.export.run` events recorded so far, counted with the admin key.
async fn exports_recorded(server: &Server, admin: &str) -> u64 {
    let filter = pb::Filter {
        tenant: Some("_system".into()),
        actions: vec!["auditlog.export.run".into()],
        ..Default::default()
    };
    QueryServiceClient::new(server.channel().await)
        .count(authed(
            pb::CountRequest {
                filter: Some(filter),
            },
            admin,
        ))
        .await
        .expect("count")
        .into_inner()
        .count
}

/// Waits until the server reports `n` open streams (`/metrics`).
fn open_streams_reach(server: &Server, admin: &str, n: usize) {
    let started = Instant::now();
    let want = format!("auditlog_open_streams {n}");
    loop {
        let metrics = http_get(&server.http, "/metrics", Some(admin)).text();
        if metrics.lines().any(|l| l == want) {
            return;
        }
        let now: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("auditlog_open"))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{want}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The threads of process `pid`.
fn threads(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a thread count")
}

/// Reads `stream` until the peer closes it; panics if it is still open after `within`.
fn closed_within(mut stream: TcpStream, within: Duration) -> Vec<u8> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("still open after {:?}: {e}", start.elapsed()),
        }
        assert!(start.elapsed() < within, "still sending after {within:?}");
    }
}

/// More exports that never read than the blocking pool has threads (512), all with one
/// tenant's read key: the other tenants' count and ingest still answer while they stall,
/// and once the pool's idle threads are gone the stalled exports hold none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_that_are_never_read_stall_no_one_else() {
    const STALLED: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let caps = [
        "--max-streams",
        "2000",
        "--max-streams-per-key",
        "2000",
        "--write-timeout",
        "600",
        "--idle-timeout",
        "600",
    ];
    let server = Server::start(&dir.path().join("data"), true, &caps);
    let admin = server.admin_key.clone().unwrap();
    let reader_a = reader_of(&server, &admin, "org_a").await;
    let tenant_b = create_key(
        &server,
        &admin,
        "org_b",
        pb::Scope {
            read_tenants: vec!["org_b".into()],
            ingest_tenants: vec!["org_b".into()],
            ..Default::default()
        },
    )
    .await;
    // Each export is about 12 MB: far more than the socket buffers and two chunks hold.
    fill(&server, &admin, "org_a", 12_000).await;
    fill(&server, &tenant_b, "org_b", 10).await;
    let before = exports_recorded(&server, &admin).await;
    let addr = server.http.clone();
    let key = reader_a.clone();
    let stalled = tokio::task::spawn_blocking(move || {
        (0..STALLED)
            .map(|_| stalled_get(&addr, "/v1/export?format=jsonl", &key))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // Every export has started (it is recorded before its first byte).
    let started = Instant::now();
    while exports_recorded(&server, &admin).await < before + STALLED as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "exports start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut query = QueryServiceClient::new(server.channel().await);
    let mut ingest = IngestServiceClient::new(server.channel().await);
    // Not a speed target: a request stalled behind the exports never answers, one on a
    // loaded machine (the suite runs this file's tests side by side on two cores)
    // answers late. Each must answer while the exports stay stalled.
    let bound = Duration::from_secs(20);
    let count_b = pb::CountRequest {
        filter: Some(pb::Filter {
            tenant: Some("org_b".into()),
            ..Default::default()
        }),
    };
    let counted = tokio::time::timeout(bound, query.count(authed(count_b, &tenant_b)))
        .await
        .expect("org_b's count answers while the exports stall")
        .expect("count");
    assert_eq!(counted.into_inner().count, 10);
    let batch = pb::IngestRequest {
        events: vec![event(99, "org_b", "usr_2", "auth.login")],
    };
    let acked = tokio::time::timeout(bound, ingest.ingest(authed(batch, &tenant_b)))
        .await
        .expect("org_b's ingest answers while the exports stall")
        .expect("ingest");
    assert_eq!(acked.into_inner().seqs.len(), 1);
    let health = http_get(&server.http, "/healthz", None);
    assert_eq!(health.status, 200);

    // The blocking pool lets idle threads go after 10 s: what remains is what the
    // stalled exports hold, which is nothing.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let held = threads(server.pid());
    assert!(held < 64, "{held} threads with {STALLED} stalled exports");
    drop(stalled);
}

/// The caps on open streams: per key, then in all, answered 429 with `Retry-After` over
/// HTTP and RESOURCE_EXHAUSTED over gRPC; a stream the client abandons frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_are_capped_per_key_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let caps = ["--max-streams", "3", "--max-streams-per-key", "2"];
    let server = Server::start(&dir.path().join("data"), true, &caps);
    let admin = server.admin_key.clone().unwrap();
    let reader_a = reader_of(&server, &admin, "org_a").await;
    let reader_b = reader_of(&server, &admin, "org_b").await;
    // Exports of about 10 MB: more than a stalled socket's buffers take.
    fill(&server, &admin, "org_a", 10_000).await;
    fill(&server, &admin, "org_b", 10_000).await;
    let export = "/v1/export?format=jsonl";
    let a1 = stalled_get(&server.http, export, &reader_a);
    let _a2 = stalled_get(&server.http, export, &reader_a);
    open_streams_reach(&server, &admin, 2);
    let refused = http_get(&server.http, export, Some(&reader_a));
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "RESOURCE_EXHAUSTED");
    assert!(refused.header("retry-after").is_some());
    let mut grpc = QueryServiceClient::new(server.channel().await);
    let request = pb::ExportRequest {
        format: pb::ExportFormat::Jsonl as i32,
        ..Default::default()
    };
    let status = grpc
        .export(authed(request.clone(), &reader_a))
        .await
        .expect_err("over the key's cap");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("this API key"), "{status:?}");
    // Another key takes the last place, then the server is full for everyone.
    let _b1 = stalled_get(&server.http, export, &reader_b);
    open_streams_reach(&server, &admin, 3);
    let full = http_get(&server.http, export, Some(&reader_b));
    assert_eq!(full.status, 429, "{}", full.text());
    assert!(full.text().contains("the server"), "{}", full.text());
    // An abandoned export gives its place back.
    drop(a1);
    let started = Instant::now();
    loop {
        let again = grpc.export(authed(request.clone(), &reader_a)).await;
        match again {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                let mut bytes = 0;
                while let Some(chunk) = stream.message().await.expect("a chunk") {
                    bytes += chunk.data.len();
                }
                assert!(bytes > 10_000 * 900, "{bytes} bytes");
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the place is freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client that stops reading an export is cut after the write timeout, its export
/// left unfinished (no final chunk), and its place is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--write-timeout", "4", "--max-streams-per-key", "1"];
    let server = Server::start(&dir.path().join("data"), true, &args);
    let admin = server.admin_key.clone().unwrap();
    fill(&server, &admin, "org_a", 12_000).await;
    let export = "/v1/export?format=jsonl&tenant=org_a";
    let stalled: TcpStream = stalled_get(&server.http, export, &admin).into();
    // The stalled export holds the key's one place...
    open_streams_reach(&server, &admin, 1);
    let refused = http_get(&server.http, export, Some(&admin));
    assert_eq!(refused.status, 429, "{}", refused.text());
    // ...until its connection is cut, and then the place is free.
    open_streams_reach(&server, &admin, 0);
    let next = http_get(&server.http, export, Some(&admin));
    assert_eq!(next.status, 200, "{}", next.text());
    let got = closed_within(stalled, Duration::from_secs(30));
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    assert!(
        common::dechunk(&got[split + 4..]).is_none(),
        "a cut export must not look complete"
    );
}

/// Connections that send nothing, or trickle their headers, are closed by the header
/// timeout on both ports; a gRPC connection that goes quiet by the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--header-timeout", "1", "--idle-timeout", "2"];
    let server = Server::start(&dir.path().join("data"), true, &args);
    let grpc_addr = server.url.trim_start_matches("http://").to_owned();
    let bound = Duration::from_secs(20);

    let silent_http = TcpStream::connect(&server.http).expect("connects");
    assert!(closed_within(silent_http, bound).is_empty());
    let silent_grpc = TcpStream::connect(&grpc_addr).expect("connects");
    closed_within(silent_grpc, bound);

    // Headers sent a byte every 200 ms never finish: cut once the timeout passes.
    let mut trickle = TcpStream::connect(&server.http).expect("connects");
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    trickle.write_all(head).expect("sent");
    let mut cut = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        if trickle.write_all(b"a").is_err() {
            cut = true;
            break;
        }
        trickle
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        if trickle.read(&mut [0; 64]).is_ok() {
            cut = true;
            break;
        }
    }
    assert!(cut, "still open after {:?}", started.elapsed());

    // HTTP/2's preface and settings, then silence: idle.
    let mut quiet = TcpStream::connect(&grpc_addr).expect("connects");
    quiet
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("sent");
    let started = Instant::now();
    closed_within(quiet, bound);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before the idle timeout"
    );
}

/// Sends bytes as they are, as a gRPC message, and decodes the answer as `U`.
struct RawCodec<U>(std::marker::PhantomData<U>);

impl<U> Default for RawCodec<U> {
    fn default() -> Self {
        RawCodec(std::marker::PhantomData)
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

struct AnswerDecoder<U>(auditlog_proto::codec::ProtoDecoder<U>);

impl<U: prost::Message + Default> Decoder for AnswerDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, tonic::Status> {
        self.0.decode(buf)
    }
}

impl<U: prost::Message + Default + Send + 'static> Codec for RawCodec<U> {
    type Encode = Vec<u8>;
    type Decode = U;
    type Encoder = RawEncoder;
    type Decoder = AnswerDecoder<U>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> AnswerDecoder<U> {
        let mut codec = auditlog_proto::codec::ProtoCodec::<pb::IngestRequest, U>::default();
        AnswerDecoder(codec.decoder())
    }
}

/// An encoded batch of `n` events of `tenant`, with its `actor` as given.
fn encoded_batch(first: u32, n: u32, tenant: &str, actor: &str) -> Vec<u8> {
    let events = (first..first + n)
        .map(|i| event(i, tenant, actor, "document.read"))
        .collect();
    prost::Message::encode_to_vec(&pb::IngestRequest { events })
}

/// The same batch with the actor's bytes made invalid UTF-8.
fn batch_with_bad_utf8() -> Vec<u8> {
    let mut bytes = encoded_batch(0, 1, "org_a", "QQQQ");
    let at = bytes
        .windows(4)
        .position(|w| w == b"QQQQ")
        .expect("the actor");
    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xff, 0xfe]);
    bytes
}

async fn raw_client(server: &Server) -> tonic::client::Grpc<tonic::transport::Channel> {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.expect("ready");
    grpc
}

/// Messages that do not decode are the client's fault: INVALID_ARGUMENT, not INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let path = http::uri::PathAndQuery::from_static("/auditlog.v1.IngestService/Ingest");
    for garbage in [vec![0x0a, 0xff], vec![0xff; 7], batch_with_bad_utf8()] {
        let mut grpc = raw_client(&server).await;
        let answer = grpc
            .unary(
                authed(garbage.clone(), &admin),
                path.clone(),
                RawCodec::<pb::IngestResponse>::default(),
            )
            .await;
        let status = answer.expect_err("refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{garbage:?}: {status:?}"
        );
    }
    assert_eq!(common::count(&server, &admin, Some("org_a")).await, 0);
}

/// The OTLP logs service reads requests with a reader of its own: what it cannot read
/// is INVALID_ARGUMENT, what prost would merge is still read, too many records are
/// OUT_OF_RANGE, another method of the service UNIMPLEMENTED; nothing of it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_refuses_garbage_and_reads_what_prost_reads() {
    use auditlog_proto::opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    let export = |method: &'static str| http::uri::PathAndQuery::from_static(method);
    let path = export("/opentelemetry.proto.collector.logs.v1.LogsService/Export");
    // A record of org_a with one string attribute, and the request holding it.
    let field = |tag: u8, body: &[u8]| [&[tag << 3 | 2, body.len() as u8][..], body].concat();
    let attribute = |key: &str, value: &str| {
        field(
            6,
            &[
                field(1, key.as_bytes()),
                field(2, &field(1, value.as_bytes())),
            ]
            .concat(),
        )
    };
    let time = [&[0x09][..], &1_772_980_321_000_000_000u64.to_le_bytes()].concat();
    let record = |body: &[u8]| {
        [
            time.clone(),
            field(12, b"document.read"),
            attribute("audit.tenant.id", "org_a"),
            attribute("enduser.id", "usr_1"),
            attribute("audit.outcome", "success"),
            body.to_vec(),
        ]
        .concat()
    };
    let request = |record: &[u8]| field(1, &field(2, &field(2, record)));
    let send = |body: Vec<u8>, method| {
        let server = &server;
        let admin = admin.clone();
        async move {
            raw_client(server)
                .await
                .unary(
                    authed(body, &admin),
                    method,
                    RawCodec::<ExportLogsServiceResponse>::default(),
                )
                .await
        }
    };
    let bad_utf8 = request(&record(&field(3, &[0xff, 0xfe])));
    for garbage in [vec![0x0a, 0xff], vec![0xff; 7], bad_utf8] {
        let status = send(garbage.clone(), path.clone())
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{garbage:?}");
        assert!(
            status.message().contains("not an ExportLogsServiceRequest"),
            "{status:?}"
        );
    }
    assert_eq!(common::count(&server, &admin, Some("org_a")).await, 0);
    let many = request(&[]).repeat(20_001);
    let status = send(many, path.clone()).await.expect_err("refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let other = export("/opentelemetry.proto.collector.logs.v1.LogsService/Import");
    let status = send(request(&record(&[])), other)
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    // A body given twice, which prost merges (the fast reader leaves it to prost): read.
    let twice = [field(5, &field(1, b"a")), field(5, &field(1, b"b"))].concat();
    let answer = send(request(&record(&twice)), path).await.expect("stored");
    assert_eq!(answer.into_inner().partial_success, None);
    assert_eq!(common::count(&server, &admin, Some("org_a")).await, 1);
}

/// A stream whose second message cannot be read (undecodable, or over the size limit)
/// answers the first batch's acknowledgement and refuses the second, as SERVER.md
/// states; the first is stored once, the rest not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_by_a_bad_message_acknowledges_the_batches_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &["--max-request-mib", "1"]);
    let admin = server.admin_key.clone().unwrap();
    let path = http::uri::PathAndQuery::from_static("/auditlog.v1.IngestService/IngestStream");
    let oversized = {
        let mut e = event(0, "org_b", "usr_1", "document.read");
        e.metadata_json = Some(format!(r#"{{"pad":"{}"}}"#, "x".repeat(15_000)));
        prost::Message::encode_to_vec(&pb::IngestRequest {
            events: vec![e; 100],
        })
    };
    let cases = [
        ("org_a", batch_with_bad_utf8(), Code::InvalidArgument),
        ("org_b", oversized, Code::OutOfRange),
    ];
    for (tenant, bad, code) in cases {
        let messages = vec![
            encoded_batch(0, 5, tenant, "usr_1"),
            bad,
            encoded_batch(5, 5, tenant, "usr_1"),
        ];
        let mut grpc = raw_client(&server).await;
        let answer = grpc
            .client_streaming(
                authed(tokio_stream::iter(messages), &admin),
                path.clone(),
                RawCodec::<pb::IngestStreamResponse>::default(),
            )
            .await
            .expect("answered with the acks")
            .into_inner();
        assert_eq!(answer.acks.len(), 1, "{tenant}");
        assert_eq!(answer.acks[0].seqs.len(), 5);
        let refused = answer.refused.expect("the refusal");
        assert_eq!(
            (refused.batch, refused.code),
            (1, code as i32),
            "{refused:?}"
        );
        assert_eq!(common::count(&server, &admin, Some(tenant)).await, 5);
    }
}

/// Modes of every entry under `dir`, directories first seen as directories.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        out.push((
            path.clone(),
            meta.is_dir(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("listed") {
                pending.push(entry.expect("entry").path());
            }
        }
    }
    out
}

/// Under a umask that would leave everything world-writable, the data directory is the
/// owner's alone (0700 directories, 0600 files); a directory made more open by hand is
/// warned about at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(format!(
        "umask 000; exec {} --data {} --grpc 127.0.0.1:0 --http 127.0.0.1:0",
        env!("CARGO_BIN_EXE_auditlogd"),
        data.display()
    ));
    let server = Server::launch(command, true);
    let admin = server.admin_key.clone().unwrap();
    create_key(&server, &admin, "reader", pb::Scope::default()).await;
    fill(&server, &admin, "org_a", 10).await;
    let (status, _) = server.terminate();
    assert!(status.success());
    let all = modes(&data);
    assert!(all.len() >= 8, "{all:?}");
    for (path, is_dir, mode) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    // Opened by hand to everyone: the restart says so.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let restarted = Server::start(&data, false, &[]);
    let warning = restarted
        .startup
        .iter()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("a warning: {:?}", restarted.startup));
    assert!(warning.contains("open to other local users"), "{warning}");
    assert!(warning.contains("mode 755"), "{warning}");
}

/// A damaged segment is reported to clients by its place in the log, never by the
/// server's path, on both APIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_learn_which_segment_is_damaged_but_not_where_it_lives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = std::process::Command::new(common::auditlog_bin())
        .args(["init", "--segment-bytes", "65536", "--data"])
        .arg(&data)
        .output()
        .expect("auditlog init runs");
    assert!(init.status.success(), "{init:?}");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().unwrap();
    // One batch a segment (the writer rolls between batches).
    for _ in 0..4 {
        fill(&server, &admin, "org_a", 80).await;
    }
    // Flip a byte inside the first sealed segment's first events.
    let segments = data.join("segments");
    let mut names: Vec<_> = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    // A sealed segment (not the last) that holds events.
    let name = names[..names.len() - 1]
        .iter()
        .find(|n| std::fs::metadata(segments.join(n)).unwrap().len() > 4000)
        .expect("a sealed segment of events")
        .clone();
    let first = segments.join(&name);
    // In place: the server maps the file, and a rewrite would truncate it first.
    let byte = std::fs::read(&first).unwrap()[2000];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    std::os::unix::fs::FileExt::write_at(&file, &[byte ^ 0x55], 2000).unwrap();
    let place = data.display().to_string();

    let page = http_get(
        &server.http,
        "/v1/events?tenant=org_a&order=oldest&limit=1000",
        Some(&admin),
    );
    assert_eq!(page.status, 500, "{}", page.text());
    let message = page.json()["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(page.json()["error"]["code"], "DATA_LOSS");
    assert!(message.contains(&format!("segments/{name}")), "{message}");
    assert!(!message.contains(&place), "{message}");

    let request = pb::QueryRequest {
        filter: Some(pb::Filter {
            tenant: Some("org_a".into()),
            ..Default::default()
        }),
        order: pb::Order::OldestFirst as i32,
        page_size: 1000,
        ..Default::default()
    };
    let mut grpc = QueryServiceClient::new(server.channel().await);
    let failed = match grpc.query(authed(request, &admin)).await {
        Err(status) => status,
        Ok(stream) => stream
            .into_inner()
            .message()
            .await
            .expect_err("the page fails"),
    };
    assert_eq!(failed.code(), Code::DataLoss, "{failed:?}");
    assert!(failed.message().contains(&name), "{failed:?}");
    assert!(!failed.message().contains(&place), "{failed:?}");
}

/// A key with no rights learns nothing: not even the tree size, which an inclusion
/// proof past the tree would name to a key that may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_no_rights_learns_no_tree_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    fill(&server, &admin, "org_a", 10).await;
    let nobody = create_key(&server, &admin, "no rights", pb::Scope::default()).await;
    let request = pb::InclusionRequest {
        leaf_index: 1_000_000,
        tree_size: None,
        ..Default::default()
    };
    let mut proofs =
        auditlog_proto::v1::proof_service_client::ProofServiceClient::new(server.channel().await);
    let refused = proofs
        .prove_inclusion(authed(request, &nobody))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        !refused.message().chars().any(|c| c.is_ascii_digit()),
        "{refused:?}"
    );
    let over_http = http_get(
        &server.http,
        "/v1/proofs/inclusion?leaf_index=1000000",
        Some(&nobody),
    );
    assert_eq!(over_http.status, 403, "{}", over_http.text());
    // A key that may read is told the range, as documented.
    let told = proofs
        .prove_inclusion(authed(request, &admin))
        .await
        .expect_err("past the tree");
    assert_eq!(told.code(), Code::OutOfRange, "{told:?}");
}

/// The idle timeout is for connections with nothing to do: a request being handled,
/// here an ingest stream whose client pauses longer than the timeout between batches,
/// keeps its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_request_in_progress_is_not_idle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &["--idle-timeout", "1"]);
    let admin = server.admin_key.clone().unwrap();
    let (batches, sent) = tokio::sync::mpsc::channel(4);
    let mut ingest = IngestServiceClient::new(server.channel().await);
    let stream = tokio_stream::wrappers::ReceiverStream::new(sent);
    let answer = tokio::spawn(async move { ingest.ingest_stream(authed(stream, &admin)).await });
    for first in [0, 5] {
        let events = (first..first + 5)
            .map(|i| event(i, "org_a", "usr_1", "document.read"))
            .collect();
        batches.send(pb::IngestRequest { events }).await.unwrap();
        // Three idle timeouts with no byte either way.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    drop(batches);
    let acks = answer.await.unwrap().expect("acknowledged").into_inner();
    assert_eq!(acks.acks.len(), 2, "{acks:?}");
    assert!(acks.refused.is_none(), "{acks:?}");
}

/// A query of many pages whose filter is too long to keep in its record (metadata is at
/// most 16 KiB) still runs: the record notes the filter as too long, as an export's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_query_whose_filter_is_too_long_to_record_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), true, &[]);
    let admin = server.admin_key.clone().unwrap();
    fill(&server, &admin, "org_a", 10).await;
    let mut actions: Vec<String> = (0..1000).map(|i| format!("app.action_{i:05}")).collect();
    actions.push("document.read".into());
    let request = pb::QueryRequest {
        filter: Some(pb::Filter {
            tenant: Some("org_a".into()),
            actions,
            ..Default::default()
        }),
        page_size: 4,
        max_pages: 10,
        ..Default::default()
    };
    assert_eq!(
        common::query_pages(&server, &admin, request).await.len(),
        10
    );
    let recorded = http_get(
        &server.http,
        "/v1/events?tenant=_system&action=auditlog.query.run",
        Some(&admin),
    );
    let events = recorded.json()["events"].clone();
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    let metadata = &events[0]["metadata"];
    assert_eq!(metadata["filter_too_long_to_record"], true, "{metadata}");
    assert_eq!(metadata["max_pages"], 10);
    assert_eq!(metadata["tenant"], "org_a");
}
