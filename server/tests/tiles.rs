//! The tlog-tiles API checked by a client with nothing of auditlog's: a Go program
//! (server/tests/go/tlogcheck, built by scripts/go-env.sh from Debian's Go and its
//! packaged golang.org/x/mod) opens the served checkpoint with sumdb/note and proves
//! entries and consistency through sumdb/tlog's TileHashReader, then catches tiles
//! whose stored bytes were flipped.

mod common;

use std::os::unix::fs::FileExt;
use std::process::{Command, Output};

use auditlog_engine::TilePath;
use auditlog_proto::v1 as pb;
use auditlog_proto::v1::ingest_service_client::IngestServiceClient;
use common::{Server, authed, event, http_get, reader_of, root, run_auditlog};

/// The Go checker, built on first use.
fn tlogcheck() -> String {
    let out = Command::new(root().join("scripts/go-env.sh"))
        .output()
        .expect("scripts/go-env.sh runs");
    assert!(
        out.status.success(),
        "scripts/go-env.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    said.trim()
        .strip_prefix("TLOGCHECK=")
        .expect("TLOGCHECK=…")
        .to_owned()
}

/// Appends events `from..to` over gRPC in batches of 2,000.
async fn ingest(server: &Server, admin: &str, from: u32, to: u32) {
    let mut client = IngestServiceClient::new(server.channel().await);
    for start in (from..to).step_by(2_000) {
        let events = (start..to.min(start + 2_000))
            .map(|i| {
                event(
                    i,
                    ["org_a", "org_b", "org_c"][i as usize % 3],
                    "usr_1",
                    "doc.read",
                )
            })
            .collect();
        client
            .ingest(authed(pb::IngestRequest { events }, admin))
            .await
            .expect("ingested");
    }
}

/// A checkpoint signed now (an admin's `/v1/checkpoint` signs one at the current size).
fn sign(server: &Server, admin: &str) -> String {
    let signed = http_get(&server.http, "/v1/checkpoint", Some(admin));
    assert_eq!(signed.status, 200, "{}", signed.text());
    signed.text()
}

fn check(tool: &str, server: &Server, key: &str, token: &str, extra: &[&str]) -> Output {
    Command::new(tool)
        .args(["-url", &format!("http://{}", server.http), "-key", key])
        .args(["-token", token])
        .args(extra)
        .output()
        .expect("tlogcheck runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_go_client_verifies_the_log_through_its_tiles_and_catches_flipped_bytes() {
    let tool = tlogcheck();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    let reader = reader_of(&server, &admin, "org_a").await;
    // About 70,000 entries (with the server's own): 273 full level-0 tiles and a
    // partial one, a full level-1 tile and a partial one, a level-2 tile of width 1.
    ingest(&server, &admin, 0, 1_000).await;
    let older = sign(&server, &admin);
    ingest(&server, &admin, 1_000, 70_000).await;
    let newest = sign(&server, &admin);
    let size_of = |note: &str| -> u64 { note.lines().nth(1).expect("size").parse().expect("n") };
    let (old_size, size) = (size_of(&older), size_of(&newest));
    assert!((70_000..70_256).contains(&size), "{size}");
    let name = |level, index, width| {
        let path = TilePath {
            level,
            index,
            width,
        };
        format!("/tile/{}", path.to_path())
    };

    tokio::task::spawn_blocking(move || {
        let served = http_get(&server.http, "/checkpoint", Some(&reader));
        assert_eq!(served.status, 200, "{}", served.text());
        assert_eq!(served.text(), newest, "the newest signed checkpoint");
        assert_eq!(served.header("cache-control"), Some("no-cache"));
        let key = http_get(&server.http, "/v1/verifier-key", Some(&admin)).text();
        let key = key.trim();

        let scratch = tempfile::tempdir().expect("tempdir");
        let old = scratch.path().join("older.checkpoint");
        std::fs::write(&old, &older).expect("written");
        let old = old.to_str().expect("UTF-8 path");
        let last_full = size / 256 * 256;
        let indexes = [
            0,
            255,
            256,
            65_535,
            65_536,
            last_full - 1,
            last_full,
            size - 1,
        ];
        let indexes: Vec<String> = indexes.iter().map(u64::to_string).collect();
        let indexes = indexes.join(",");
        let out = check(
            &tool,
            &server,
            key,
            &admin,
            &["-old", old, "-index", &indexes],
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains(&format!("size {size}: 8 entries proven")),
            "{said}"
        );
        assert!(
            said.contains(&format!("consistent with size {old_size}")),
            "{said}"
        );

        // Hash tiles are hashes only: any reader; entry bundles hold every tenant's events.
        let tile = http_get(&server.http, "/tile/1/000", Some(&reader));
        assert_eq!(tile.status, 200, "{}", tile.text());
        assert_eq!(tile.body.len(), 256 * 32);
        assert_eq!(
            tile.header("cache-control"),
            Some("private, max-age=31536000, immutable")
        );
        assert_eq!(
            tile.header("content-type"),
            Some("application/octet-stream")
        );
        let partial = http_get(&server.http, "/tile/2/000.p/1", Some(&reader));
        assert_eq!(partial.body.len(), 32);
        let bundle = http_get(&server.http, "/tile/entries/000", Some(&reader));
        assert_eq!(bundle.status, 403, "{}", bundle.text());
        // The last bundle: partial, or full when the size is a multiple of 256.
        let (tail, width) = match size % 256 {
            0 => (size / 256 - 1, 256),
            width => (size / 256, width),
        };
        let bundle = http_get(&server.http, &name(None, tail, width), Some(&admin));
        assert_eq!(bundle.status, 200, "{}", bundle.text());
        for absent in [
            name(Some(0), tail + 1, 256),   // past the tree
            name(Some(0), tail, width + 1), // wider than the tree makes it
            "/tile/0/x000/273".to_owned(),  // not the canonical name
            "/tile/0/%30%30%30".to_owned(), // percent-encoded, not the name
            name(None, tail + 1, 1),
        ] {
            let answer = http_get(&server.http, &absent, Some(&admin));
            assert_eq!(answer.status, 404, "{absent}: {}", answer.text());
        }
        assert_eq!(http_get(&server.http, "/tile/0/000", None).status, 401);

        // A stored byte flipped on disk, in tile 0/001 (entry 300's sibling leaf) and in
        // tile 1/000 (a level-8 node under the proof's path): either way the tiles no
        // longer lead to the signed root, and the client says so.
        for (file, node) in [("tree/level-00.hashes", 301), ("tree/level-08.hashes", 5)] {
            let level = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(data.join(file))
                .expect("level file");
            let at = 16 + node * 32;
            let mut byte = [0u8; 1];
            level.read_exact_at(&mut byte, at).expect("read");
            level.write_all_at(&[byte[0] ^ 1], at).expect("flipped");
            let out = check(&tool, &server, key, &admin, &["-index", "300"]);
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{file}: {said}");
            assert!(said.starts_with("invalid: "), "{file}: {said}");
            level.write_all_at(&byte, at).expect("restored");
            let out = check(&tool, &server, key, &admin, &["-index", "300"]);
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{said}");
        }
    })
    .await
    .expect("checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blake3_log_serves_no_tlog_tiles_not_even_its_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    run_auditlog(&[
        "init",
        "--hash",
        "blake3",
        "--data",
        data.to_str().expect("UTF-8"),
    ]);
    let server = Server::start(&data, true, &[]);
    let admin = server.admin_key.clone().expect("admin key");
    ingest(&server, &admin, 0, 300).await;
    let signed = sign(&server, &admin);
    assert!(signed.starts_with("auditlog.local/"), "{signed}");
    assert!(
        signed
            .lines()
            .next()
            .is_some_and(|o| o.ends_with("#blake3"))
    );
    tokio::task::spawn_blocking(move || {
        for path in [
            "/checkpoint",
            "/tile/0/000",
            "/tile/0/001.p/1",
            "/tile/entries/000",
        ] {
            let answer = http_get(&server.http, path, Some(&admin));
            assert_eq!(answer.status, 404, "{path}: {}", answer.text());
            assert!(
                answer.text().contains("BLAKE3"),
                "{path}: {}",
                answer.text()
            );
        }
    })
    .await
    .expect("checks");
}
