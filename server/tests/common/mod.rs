//! Starting the real `auditlogd` binary on a loopback port, and clients for it.

#![allow(dead_code, reason = "each test file uses part of this")]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

use auditlog_proto::v1 as pb;
use tonic::Request;
use tonic::transport::Channel;

/// A running server, stopped (SIGKILL) when dropped unless stopped before.
pub(crate) struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
    /// Where gRPC listens, as a URL.
    pub(crate) url: String,
    /// Where HTTP listens: `host:port`.
    pub(crate) http: String,
    /// The bootstrap admin key, on a first start.
    pub(crate) admin_key: Option<String>,
    /// What the server said on stderr until it listened.
    pub(crate) startup: Vec<String>,
}

impl Server {
    /// Starts `auditlogd --data DIR --grpc 127.0.0.1:0 ARGS`; `first` says whether the
    /// data directory is new (and so an admin key is printed).
    pub(crate) fn start(data: &Path, first: bool, args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_auditlogd"));
        command
            .arg("--data")
            .arg(data)
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(args);
        Server::launch(command, first)
    }

    /// Runs `command` (an `auditlogd` command line) and waits until both servers listen.
    pub(crate) fn launch(mut command: Command, first: bool) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("auditlogd starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let admin_key = first.then(|| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("stdout readable");
            line.trim_end()
                .strip_prefix("admin key: ")
                .unwrap_or_else(|| panic!("first line is the admin key, not {line:?}"))
                .to_owned()
        });
        let (mut url, mut http) = (None, None);
        let mut startup = Vec::new();
        while url.is_none() || http.is_none() {
            let mut line = String::new();
            let read = stderr.read_line(&mut line).expect("stderr readable");
            assert!(read > 0, "auditlogd exited before listening: {startup:?}");
            startup.push(line.trim_end().to_owned());
            let line = line.trim_end();
            if let Some(addr) = line.strip_prefix("auditlogd: gRPC listening on ") {
                url = Some(format!("http://{addr}"));
            } else if let Some(addr) = line.strip_prefix("auditlogd: HTTP listening on ") {
                http = Some(addr.to_owned());
            }
        }
        Server {
            child,
            stdout,
            stderr,
            url: url.unwrap_or_default(),
            http: http.unwrap_or_default(),
            admin_key,
            startup,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A channel to the server.
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("valid url")
            .connect()
            .await
            .expect("connects")
    }

    /// Sends SIGTERM and waits: the exit status, and what stdout said after startup.
    pub(crate) fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.expect("kill runs").success());
        let status = self.child.wait().expect("waits");
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("stdout readable");
        let mut err = String::new();
        self.stderr
            .read_to_string(&mut err)
            .expect("stderr readable");
        (status, rest)
    }
}

impl Server {
    /// Sends SIGTERM and waits: what stderr said after startup (for a failure's report).
    pub(crate) fn stop_for_stderr(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        let mut err = String::new();
        let _ = self.stderr.read_to_string(&mut err);
        err
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `message` with `authorization: Bearer KEY`.
pub(crate) fn authed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {key}").parse().expect("ASCII key");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A valid event of `tenant` by `actor`, at second `i` of 2026-03-01.
pub(crate) fn event(i: u32, tenant: &str, actor: &str, action: &str) -> pb::Event {
    pb::Event {
        timestamp: format!(
            "2026-03-01T{:02}:{:02}:{:02}Z",
            i / 3600 % 24,
            i / 60 % 60,
            i % 60
        ),
        actor: Some(pb::Actor {
            user_id: actor.to_owned(),
            email: Some(format!("{actor}@example.com")),
            kind: Some("user".to_owned()),
        }),
        organization: Some(pb::Organization {
            id: tenant.to_owned(),
            name: Some(format!("{tenant} Inc")),
        }),
        action: action.to_owned(),
        resource: Some(pb::Resource {
            r#type: "document".to_owned(),
            id: format!("doc_{i}"),
        }),
        outcome: pb::Outcome::Success.into(),
        ip_address: Some("203.0.113.7".to_owned()),
        user_agent: Some("test-client/1".to_owned()),
        metadata_json: Some(format!(r#"{{"i":{i}}}"#)),
        event_id: None,
    }
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    /// Header lines, lower-cased names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// `GET path` over a new connection, as any HTTP client sends it, with `Authorization:
/// Bearer KEY` when a key is given; the body de-chunked.
pub(crate) fn http_get(addr: &str, path: &str, key: Option<&str>) -> HttpResponse {
    http_request(addr, "GET", path, key, &[], &[])
}

/// `METHOD path` with `headers` and `body` (its length sent as `Content-Length`) over a
/// new connection; as [`http_get`].
pub(crate) fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("request sent");
    // A server that answers before reading the whole body (413) may close first.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("response read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).expect("a complete chunked body");
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// A chunked body's content; `None` when it is cut short (no final empty chunk).
pub(crate) fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// A new key of `scope`, made with the admin key; its secret.
pub(crate) async fn create_key(
    server: &Server,
    admin: &str,
    name: &str,
    scope: pb::Scope,
) -> String {
    create_limited_key(server, admin, name, scope, pb::KeyLimits::default()).await
}

/// A new key that reads one tenant's events (and nothing else), named after it.
pub(crate) async fn reader_of(server: &Server, admin: &str, tenant: &str) -> String {
    let scope = pb::Scope {
        read_tenants: vec![tenant.to_owned()],
        ..Default::default()
    };
    create_key(server, admin, &format!("reader of {tenant}"), scope).await
}

/// The sequence numbers of every event a gRPC `Query` streams, over all its pages (each
/// at most the request's page size).
pub(crate) async fn query_pages(server: &Server, key: &str, request: pb::QueryRequest) -> Vec<u64> {
    let page_size = request.page_size as usize;
    let mut stream =
        auditlog_proto::v1::query_service_client::QueryServiceClient::new(server.channel().await)
            .query(authed(request, key))
            .await
            .expect("query accepted")
            .into_inner();
    let mut seqs = Vec::new();
    while let Some(page) = stream.message().await.expect("page arrives") {
        assert!(page.events.len() <= page_size.max(1));
        seqs.extend(page.events.iter().map(|e| e.seq));
    }
    seqs
}

/// [`create_key`] with rate limits.
pub(crate) async fn create_limited_key(
    server: &Server,
    admin: &str,
    name: &str,
    scope: pb::Scope,
    limits: pb::KeyLimits,
) -> String {
    let mut client =
        auditlog_proto::v1::admin_service_client::AdminServiceClient::new(server.channel().await);
    let request = pb::CreateKeyRequest {
        name: name.to_owned(),
        scope: Some(scope),
        limits: Some(limits),
    };
    client
        .create_key(authed(request, admin))
        .await
        .expect("an admin creates keys")
        .into_inner()
        .secret
}

/// Events of `tenant` (every tenant the key reads, when `None`) the key counts over gRPC.
pub(crate) async fn count(server: &Server, key: &str, tenant: Option<&str>) -> u64 {
    let filter = pb::Filter {
        tenant: tenant.map(str::to_owned),
        ..Default::default()
    };
    let request = pb::CountRequest {
        filter: Some(filter),
    };
    auditlog_proto::v1::query_service_client::QueryServiceClient::new(server.channel().await)
        .count(authed(request, key))
        .await
        .expect("count")
        .into_inner()
        .count
}

/// [`http_get`] off the async workers, for async tests.
pub(crate) async fn http_get_async(addr: &str, path: String, key: Option<String>) -> HttpResponse {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || http_get(&addr, &path, key.as_deref()))
        .await
        .expect("the request's task")
}

/// The `auditlog` CLI binary, built beside `auditlogd` by `cargo test --workspace` (the
/// README's test command).
pub(crate) fn auditlog_bin() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_BIN_EXE_auditlogd")).with_file_name("auditlog");
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        path.display()
    );
    path
}

/// Runs `auditlog ARGS` to success; its stdout.
pub(crate) fn run_auditlog(args: &[&str]) -> String {
    let out = std::process::Command::new(auditlog_bin())
        .args(args)
        .output()
        .expect("auditlog runs");
    assert!(
        out.status.success(),
        "auditlog {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The repository's root.
pub(crate) fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The venv's python (grpcio, schemathesis), made or found by the project's script.
pub(crate) fn python() -> String {
    let out = Command::new("bash")
        .arg(root().join("scripts/python-env.sh"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/python-env.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

/// Starts `server/tests/python/<script>` with `args` on the venv's python; returns it
/// and the port it says it listens on (its first line, `{"port": N}`).
pub(crate) fn python_receiver(script: &str, args: &[&std::ffi::OsStr]) -> (Child, u16) {
    let mut child = Command::new(python())
        .arg(root().join("server/tests/python").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the receiver starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the receiver says its port");
    let port: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    let port = port["port"].as_u64().and_then(|p| u16::try_from(p).ok());
    (child, port.expect("a port"))
}

/// Waits (up to 90 s) until `done` holds.
pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Issues a viewer token over HTTP (`POST /v1/viewer-tokens` with `request`, as
/// `{"tenant":…, "ttl_seconds":…, "filter":{…}}`) by `issuer`; the answer, checked to be
/// 201 and to carry the token and its URL.
pub(crate) fn issue_viewer_token(
    http: &str,
    issuer: &str,
    request: &serde_json::Value,
) -> serde_json::Value {
    let json = [("Content-Type", "application/json")];
    let body = request.to_string();
    let answer = http_request(
        http,
        "POST",
        "/v1/viewer-tokens",
        Some(issuer),
        &json,
        body.as_bytes(),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let answer = answer.json();
    let token = answer["token"].as_str().expect("a token");
    assert_eq!(answer["url"], format!("/ui/#token={token}"));
    answer
}

/// The newest `_system` event of `action`, as `admin` lists it.
pub(crate) fn newest_system_event(http: &str, admin: &str, action: &str) -> serde_json::Value {
    let path = format!("/v1/events?tenant=_system&action={action}&limit=1");
    http_get(http, &path, Some(admin)).json()["events"][0].clone()
}

/// Appends `count` events of tenant `org_a` over gRPC with `key`.
pub(crate) async fn ingest_count(server: &Server, key: &str, count: u32) {
    let events = (0..count)
        .map(|i| event(i, "org_a", "usr_1", "doc.read"))
        .collect();
    auditlog_proto::v1::ingest_service_client::IngestServiceClient::new(server.channel().await)
        .ingest(authed(pb::IngestRequest { events }, key))
        .await
        .expect("ingested");
}

/// The tree size a checkpoint note states (its second line).
pub(crate) fn note_size(note: &str) -> u64 {
    note.lines().nth(1).expect("size").parse().expect("a size")
}
