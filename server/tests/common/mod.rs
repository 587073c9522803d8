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
    /// Where gRPC listens.
    pub(crate) url: String,
    /// The bootstrap admin key, on a first start.
    pub(crate) admin_key: Option<String>,
}

impl Server {
    /// Starts `auditlogd --data DIR --grpc 127.0.0.1:0 ARGS`; `first` says whether the
    /// data directory is new (and so an admin key is printed).
    pub(crate) fn start(data: &Path, first: bool, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_auditlogd"))
            .arg("--data")
            .arg(data)
            .args(["--grpc", "127.0.0.1:0"])
            .args(args)
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
        let url = loop {
            let mut line = String::new();
            let read = stderr.read_line(&mut line).expect("stderr readable");
            assert!(read > 0, "auditlogd exited before listening");
            if let Some(addr) = line
                .trim_end()
                .strip_prefix("auditlogd: gRPC listening on ")
            {
                break format!("http://{addr}");
            }
        };
        Server {
            child,
            stdout,
            stderr,
            url,
            admin_key,
        }
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
