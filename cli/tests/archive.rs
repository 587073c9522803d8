//! `auditlog archive`, the real binary, against a real S3-compatible store (SeaweedFS on
//! loopback): runs killed with `kill -9` at random moments leave the bucket with a
//! contiguous manifest whose every entry names whole, matching objects, and the next run
//! completes it without a gap or a duplicate; bad credentials exit 2 naming the object.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use auditlog_archive::testing::{BUCKET, SeaweedFs, seaweedfs};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

fn auditlog(s3: &SeaweedFs, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auditlog"));
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &s3.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_access_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &s3.endpoint);
    command
}

fn ok(mut command: Command) -> String {
    let out = command.output().expect("runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A log of `count` workload events in 64 KiB segments, made with the binary.
fn make_log(s3: &SeaweedFs, dir: &Path, count: u64) {
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    ok(auditlog(
        s3,
        &["init", "--data", data, "--segment-bytes", "65536"],
    ));
    let events = dir.join("events.jsonl");
    let generated = ok(auditlog(
        s3,
        &["generate", "--count", &count.to_string(), "--seed", "11"],
    ));
    std::fs::write(&events, generated).unwrap();
    ok(auditlog(
        s3,
        &["ingest", "--data", data, events.to_str().unwrap()],
    ));
}

/// Checks the manifest under `prefix`: entries contiguous from 0, each naming objects
/// whose bytes hash as it says and equal the local segment's. The tree size it reaches.
async fn check_manifest(store: &dyn ObjectStore, prefix: &str, data: &Path) -> u64 {
    let folder = ObjectPath::from(format!("{prefix}/manifest"));
    let mut listed: Vec<_> = store.list(Some(&folder)).try_collect().await.expect("list");
    listed.sort_by(|a, b| a.location.cmp(&b.location));
    let mut next = 0;
    for meta in listed {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&bytes).expect("a whole entry");
        assert_eq!(
            entry["base_seq"].as_u64(),
            Some(next),
            "contiguous: {}",
            meta.location
        );
        next = entry["tree_size"].as_u64().expect("tree_size");
        for object in [&entry["segment"], &entry["index"]] {
            let name = object["object"].as_str().expect("object");
            let path = ObjectPath::from(format!("{prefix}/{name}"));
            let got = store.get(&path).await.expect(name).bytes().await.unwrap();
            assert_eq!(
                blake3::hash(&got).to_hex().as_str(),
                object["blake3"].as_str().unwrap(),
                "{name}"
            );
            let local = std::fs::read(data.join(name)).expect("local copy");
            assert!(got == local, "{name} is the local file");
        }
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_runs_killed_at_random_resume_without_gap_or_duplicate() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    make_log(s3, dir.path(), 30_000);
    let data = dir.path().join("data");
    let url = s3.fresh_url(BUCKET, "killed");
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let store = s3.bucket(BUCKET);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = seed;
    let mut reached = Vec::new();
    // Kills later and later (with jitter), so they land before, within and after runs.
    for round in 0..8u64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = auditlog(
            s3,
            &["archive", "--data", data.to_str().unwrap(), "--to", &url],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(20 + round * 40 + rng % 40));
        child.kill().expect("kill -9");
        child.wait().unwrap();
        reached.push(check_manifest(store.as_ref(), &prefix, &data).await);
    }
    println!("reached after each kill: {reached:?}");
    assert!(
        reached.windows(2).all(|w| w[0] <= w[1]),
        "what a run archived stays archived: {reached:?}"
    );
    let out = ok(auditlog(
        s3,
        &[
            "archive",
            "--data",
            data.to_str().unwrap(),
            "--to",
            &url,
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON report");
    let end = check_manifest(store.as_ref(), &prefix, &data).await;
    assert_eq!(report["archived_tree_size"].as_u64(), Some(end));
    let segments = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count() as u64;
    assert_eq!(
        report["segments_archived"].as_u64().unwrap()
            + report["already_archived"].as_u64().unwrap(),
        segments - 1,
        "every sealed segment, once (the active one is not archived)"
    );
    assert!(
        reached.iter().any(|&r| r < end),
        "a kill cut a run short: {reached:?}"
    );
}

#[test]
fn wrong_credentials_exit_2_naming_the_object() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    make_log(s3, dir.path(), 2000);
    let url = s3.fresh_url(BUCKET, "refused");
    let out = auditlog(
        s3,
        &[
            "archive",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--to",
            &url,
        ],
    )
    .env("AWS_SECRET_ACCESS_KEY", "wrong")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("{url}/log.json")), "{said}");
    assert!(said.contains("refused the credentials"), "{said}");
}
