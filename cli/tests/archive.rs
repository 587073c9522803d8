//! `auditlog archive`, the real binary, against a real S3-compatible store (SeaweedFS on
//! loopback): runs killed with `kill -9` at random moments leave the bucket with a
//! contiguous manifest whose every entry names whole, matching objects, and the next run
//! completes it without a gap or a duplicate; bad credentials exit 2 naming the object.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use auditlog_archive::testing::{
    BUCKET, KEYS_BUCKET, SeaweedFs, objects_under, read_object, seaweedfs,
};
use common::{auditlog_s3 as auditlog, ok};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Writes `count` workload events of `seed` to `path` with `auditlog generate`: `path`.
fn generate(s3: &SeaweedFs, path: &Path, count: u64, seed: u64) -> std::path::PathBuf {
    let lines = ok(auditlog(
        s3,
        &[
            "generate",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
        ],
    ));
    std::fs::write(path, lines).unwrap();
    path.to_path_buf()
}

/// A log of `count` workload events in 64 KiB segments, made with the binary.
fn make_log(s3: &SeaweedFs, dir: &Path, count: u64) {
    let data = dir.join("data");
    let data = data.to_str().unwrap();
    ok(auditlog(
        s3,
        &["init", "--data", data, "--segment-bytes", "65536"],
    ));
    let events = generate(s3, &dir.join("events.jsonl"), count, 11);
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
        let bytes = read_object(store, &meta.location).await;
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
        // The segment's Parquet, derived: whole, as the entry says.
        let parquet = &entry["parquet"];
        let name = parquet["object"].as_str().expect("a Parquet object");
        let got = read_object(store, &ObjectPath::from(format!("{prefix}/{name}"))).await;
        assert_eq!(Some(got.len() as u64), parquet["bytes"].as_u64(), "{name}");
        assert_eq!(
            blake3::hash(&got).to_hex().as_str(),
            parquet["blake3"].as_str().unwrap(),
            "{name}"
        );
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
    let segments = auditlog_archive::testing::local_segment_files(&data) as u64;
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

/// Runs `auditlog verify --archive URL --key KEY --json`: its exit code and report.
fn verify_archive(s3: &SeaweedFs, url: &str, key: &str) -> (i32, serde_json::Value) {
    let out = auditlog(s3, &["verify", "--archive", url, "--key", key, "--json"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(said.trim()).unwrap_or_else(|e| {
        panic!(
            "a JSON report ({e}): {said}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

/// Replaces the object `relative` under `prefix`, returning its old bytes.
async fn replace(store: &dyn ObjectStore, prefix: &str, relative: &str, bytes: Vec<u8>) -> Vec<u8> {
    let path = ObjectPath::from(format!("{prefix}/{relative}"));
    let old = store
        .get(&path)
        .await
        .expect(relative)
        .bytes()
        .await
        .unwrap();
    store.put(&path, bytes.into()).await.expect("put");
    old.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_archive_checks_every_object_and_names_the_bad_one() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    make_log(s3, dir.path(), 8000);
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let url = s3.fresh_url(BUCKET, "verify");
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let archived: serde_json::Value = serde_json::from_str(
        ok(auditlog(
            s3,
            &["archive", "--data", data_arg, "--to", &url, "--json"],
        ))
        .trim(),
    )
    .unwrap();
    let end = archived["archived_tree_size"].as_u64().unwrap();
    let key = ok(auditlog(s3, &["key", "show", "--data", data_arg]));
    let key = key.trim();
    let store = s3.bucket(BUCKET);

    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"].as_u64(), Some(end), "{report}");
    assert_eq!(
        report["segments"].as_u64(),
        archived["segments_archived"].as_u64()
    );
    assert!(report["checkpoints"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["indexes_checked"], report["segments"]);

    // A checkpoint the auditor holds must be reached, even by an archive: the log's
    // newest (signed at close, past the archive's end) is refused.
    let held = dir.path().join("held.note");
    std::fs::write(&held, ok(auditlog(s3, &["checkpoint", "--data", data_arg]))).unwrap();
    let out = auditlog(
        s3,
        &[
            "verify",
            "--archive",
            &url,
            "--key",
            key,
            "--checkpoint",
            held.to_str().unwrap(),
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Each fault, then the object put back.
    let seg = "segments/00000000000000000000.seg";
    let named = format!("{url}/{seg}");
    let fails = |report: &serde_json::Value, object: &str, says: &str| {
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["object"].as_str(), Some(object), "{report}");
        let fault = report["fault"].as_str().unwrap();
        assert!(fault.contains(says), "{fault}");
    };
    let original = std::fs::read(data.join(seg)).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x01;
    replace(store.as_ref(), &prefix, seg, flipped).await;
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    fails(&report, &named, "corrupted");

    replace(
        store.as_ref(),
        &prefix,
        seg,
        original[..original.len() / 2].to_vec(),
    )
    .await;
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    fails(&report, &named, "truncated");

    store
        .delete(&ObjectPath::from(format!("{prefix}/{seg}")))
        .await
        .unwrap();
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    fails(&report, &named, "missing");
    let path = ObjectPath::from(format!("{prefix}/{seg}"));
    store.put(&path, original.clone().into()).await.unwrap();

    // Substituted: another segment's bytes under this one's name, and the entry's hash
    // rewritten to match them (an attacker who can write the bucket does both).
    let mut segments: Vec<_> = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    let second = std::fs::read(&segments[1]).unwrap();
    replace(store.as_ref(), &prefix, seg, second.clone()).await;
    let entry_name = "manifest/00000000000000000000.json";
    let mut entry: serde_json::Value =
        serde_json::from_slice(&replace(store.as_ref(), &prefix, entry_name, Vec::new()).await)
            .unwrap();
    let original_entry = serde_json::to_vec_pretty(&entry).unwrap();
    entry["segment"]["bytes"] = second.len().into();
    entry["segment"]["blake3"] = blake3::hash(&second).to_hex().as_str().into();
    replace(
        store.as_ref(),
        &prefix,
        entry_name,
        serde_json::to_vec(&entry).unwrap(),
    )
    .await;
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    fails(&report, &named, "another segment put in its place");
    replace(store.as_ref(), &prefix, entry_name, original_entry).await;
    replace(store.as_ref(), &prefix, seg, original).await;

    // The checkpoints gone: nothing ties the records to the key.
    let checkpoints = replace(store.as_ref(), &prefix, "checkpoints", Vec::new()).await;
    store
        .delete(&ObjectPath::from(format!("{prefix}/checkpoints")))
        .await
        .unwrap();
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    fails(&report, &format!("{url}/checkpoints"), "missing");
    store
        .put(
            &ObjectPath::from(format!("{prefix}/checkpoints")),
            checkpoints.into(),
        )
        .await
        .unwrap();

    // A manifest entry gone from the middle: a gap.
    let listed: Vec<_> = store
        .list(Some(&ObjectPath::from(format!("{prefix}/manifest"))))
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<_> = listed.into_iter().map(|m| m.location).collect();
    names.sort();
    let middle = names[names.len() / 2].clone();
    let kept = read_object(store.as_ref(), &middle).await;
    store.delete(&middle).await.unwrap();
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 1);
    assert!(
        report["fault"].as_str().unwrap().contains("a gap"),
        "{report}"
    );
    store.put(&middle, kept.to_vec().into()).await.unwrap();

    // Another log's key: its checkpoints do not verify.
    let other = tempfile::tempdir().unwrap();
    let other_data = other.path().join("data");
    ok(auditlog(
        s3,
        &["init", "--data", other_data.to_str().unwrap()],
    ));
    let other_key = ok(auditlog(
        s3,
        &["key", "show", "--data", other_data.to_str().unwrap()],
    ));
    let (code, report) = verify_archive(s3, &url, other_key.trim());
    assert_eq!(code, 1, "{report}");

    // Everything put back: it verifies again.
    let (code, report) = verify_archive(s3, &url, key);
    assert_eq!(code, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_disk_is_restored_from_the_archive_and_goes_on_appending() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    make_log(s3, dir.path(), 6000);
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let url = s3.fresh_url(BUCKET, "restore");
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let archived: serde_json::Value = serde_json::from_str(
        ok(auditlog(
            s3,
            &["archive", "--data", &data_arg, "--to", &url, "--json"],
        ))
        .trim(),
    )
    .unwrap();
    let end = archived["archived_tree_size"].as_u64().unwrap();
    let key = ok(auditlog(s3, &["key", "show", "--data", &data_arg]));
    // The operator's own backup of the private key; then the disk is lost.
    let backup = dir.path().join("checkpoint.key");
    std::fs::copy(data.join("keys/checkpoint.key"), &backup).unwrap();
    std::fs::remove_dir_all(&data).unwrap();

    let store = s3.bucket(BUCKET);
    let last = {
        let folder = ObjectPath::from(format!("{prefix}/manifest"));
        let mut listed: Vec<_> = store.list(Some(&folder)).try_collect().await.unwrap();
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        let bytes = store
            .get(&listed.last().unwrap().location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let restored = dir.path().join("restored");
    let restored_arg = restored.to_str().unwrap().to_owned();
    let backup_arg = backup.to_str().unwrap().to_owned();
    let said = ok(auditlog(
        s3,
        &[
            "restore",
            "--from",
            &url,
            "--data",
            &restored_arg,
            "--checkpoint-key",
            &backup_arg,
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(said.trim()).expect("JSON");
    assert_eq!(report["tree_size"].as_u64(), Some(end), "{report}");
    assert_eq!(report["root"], last["root"], "the archive's last root");
    assert_eq!(report["writable"], true);
    assert!(
        report["dropped_checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_u64() > Some(end)),
        "{report}"
    );
    // The restored log verifies, against the key the auditor was given, and says the
    // same root at the same size.
    let verified = ok(auditlog(
        s3,
        &[
            "verify",
            "--data",
            &restored_arg,
            "--key",
            key.trim(),
            "--json",
        ],
    ));
    let verified: serde_json::Value = serde_json::from_str(verified.trim()).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["records"].as_u64(), Some(end));
    assert_eq!(verified["root"], last["root"]);
    // And goes on appending.
    let more = generate(s3, &dir.path().join("more.jsonl"), 500, 12);
    ok(auditlog(
        s3,
        &["ingest", "--data", &restored_arg, more.to_str().unwrap()],
    ));
    let info: serde_json::Value =
        serde_json::from_str(ok(auditlog(s3, &["info", "--data", &restored_arg, "--json"])).trim())
            .unwrap();
    assert_eq!(info["tree_size"].as_u64(), Some(end + 500));
    let verified = ok(auditlog(
        s3,
        &["verify", "--data", &restored_arg, "--key", key.trim()],
    ));
    assert!(verified.starts_with("ok:"), "{verified}");
    // Archived again to the same place: the archive's checkpoints, which sign sizes the
    // restored log never reached, are kept aside rather than overwritten.
    let again: serde_json::Value = serde_json::from_str(
        ok(auditlog(
            s3,
            &["archive", "--data", &restored_arg, "--to", &url, "--json"],
        ))
        .trim(),
    )
    .unwrap();
    let kept = again["superseded_checkpoints"]
        .as_str()
        .expect("kept aside");
    let kept_bytes = store
        .get(&ObjectPath::from(format!("{prefix}/{kept}")))
        .await
        .expect("the superseded copy")
        .bytes()
        .await
        .unwrap();
    assert!(!kept_bytes.is_empty());

    // A directory in use is not overwritten; another log's key is refused.
    let out = auditlog(s3, &["restore", "--from", &url, "--data", &restored_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let other = dir.path().join("other");
    ok(auditlog(s3, &["init", "--data", other.to_str().unwrap()]));
    let wrong_key = other.join("keys/checkpoint.key");
    let out = auditlog(
        s3,
        &[
            "restore",
            "--from",
            &url,
            "--data",
            dir.path().join("again").to_str().unwrap(),
            "--checkpoint-key",
            wrong_key.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not the private key of the archived log"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_archives_hold_no_plaintext_and_an_erasure_reaches_the_key_store_backup() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let kek = dir.path().join("kek");
    let kek_arg = kek.to_str().unwrap().to_owned();
    ok(auditlog(
        s3,
        &[
            "init",
            "--data",
            &data_arg,
            "--segment-bytes",
            "65536",
            "--seal",
            "--kek-file",
            &kek_arg,
        ],
    ));
    let events = generate(s3, &dir.path().join("events.jsonl"), 3000, 13);
    ok(auditlog(
        s3,
        &[
            "ingest",
            "--data",
            &data_arg,
            "--kek-file",
            &kek_arg,
            events.to_str().unwrap(),
        ],
    ));
    // Two subjects of the first sealed segment: one to erase, one to keep.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .take(50)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let erased = lines[0]["actor"]["user_id"].as_str().unwrap().to_owned();
    let erased_email = lines[0]["actor"]["email"].as_str().unwrap().to_owned();
    let kept = lines
        .iter()
        .find(|l| {
            l["actor"]["user_id"] != lines[0]["actor"]["user_id"] && l["actor"]["email"].is_string()
        })
        .unwrap();
    let kept_id = kept["actor"]["user_id"].as_str().unwrap().to_owned();
    let kept_email = kept["actor"]["email"].as_str().unwrap().to_owned();

    let url = s3.fresh_url(BUCKET, "sealed");
    let keys_url = s3.fresh_url(KEYS_BUCKET, "sealed-keys");
    let prefix = url
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap()
        .to_owned();
    let keys_prefix = keys_url
        .strip_prefix(&format!("s3://{KEYS_BUCKET}/"))
        .unwrap()
        .to_owned();
    let keys_store = s3.bucket(KEYS_BUCKET);
    let archive = |extra: &[&str]| {
        let mut args = vec!["archive", "--data", &data_arg, "--to", &url, "--json"];
        args.extend_from_slice(extra);
        let said = ok(auditlog(s3, &args));
        serde_json::from_str::<serde_json::Value>(said.trim()).unwrap()
    };
    // The backup must lie apart from the archive: not in its bucket.
    let inside = s3.fresh_url(BUCKET, "keys-beside");
    let out = auditlog(
        s3,
        &[
            "archive",
            "--data",
            &data_arg,
            "--to",
            &url,
            "--keys-to",
            &inside,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apart from the segment archive"));
    let first = archive(&["--keys-to", &keys_url]);
    assert_eq!(first["key_store_copied"], true, "{first}");

    let store = s3.bucket(BUCKET);
    let plain: Vec<&[u8]> = [&erased_email, &kept_email]
        .iter()
        .map(|s| s.as_bytes())
        .collect();
    let holds = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let archived = objects_under(store.as_ref(), &prefix).await;
    assert!(archived.iter().any(|(name, _)| name.ends_with(".seg")));
    for (name, bytes) in &archived {
        for needle in &plain {
            assert!(
                !holds(bytes, needle),
                "{name} holds a personal field in the clear"
            );
        }
    }
    let before = objects_under(keys_store.as_ref(), &keys_prefix).await;
    assert_eq!(before.len(), 1, "one copy of the key store: {before:?}");
    assert!(before[0].0.ends_with("/subjects"), "{}", before[0].0);

    ok(auditlog(
        s3,
        &[
            "erase",
            "--data",
            &data_arg,
            "--kek-file",
            &kek_arg,
            "--subject",
            &erased,
        ],
    ));
    let second = archive(&["--keys-to", &keys_url]);
    assert_eq!(second["key_store_copied"], true, "{second}");
    let after = objects_under(keys_store.as_ref(), &keys_prefix).await;
    assert_eq!(after.len(), 1, "still one copy, replaced");
    assert_ne!(
        after[0].1, before[0].1,
        "the copy is the key store after the erasure"
    );
    let local = std::fs::read(data.join("keys/subjects")).unwrap();
    assert_eq!(after[0].1, local);
    for (name, bytes) in objects_under(store.as_ref(), &prefix).await {
        assert!(!holds(&bytes, erased_email.as_bytes()), "{name}");
    }

    // A disk lost now: the archive and the backup give back the log with the subject
    // erased and everyone else readable.
    let backup = dir.path().join("checkpoint.key");
    std::fs::copy(data.join("keys/checkpoint.key"), &backup).unwrap();
    let restored = dir.path().join("restored");
    let restored_arg = restored.to_str().unwrap().to_owned();
    ok(auditlog(
        s3,
        &[
            "restore",
            "--from",
            &url,
            "--data",
            &restored_arg,
            "--checkpoint-key",
            backup.to_str().unwrap(),
            "--key-store-from",
            &keys_url,
            "--kek-file",
            &kek_arg,
        ],
    ));
    let query = |actor: &str| {
        let said = ok(auditlog(
            s3,
            &[
                "query",
                "--data",
                &restored_arg,
                "--kek-file",
                &kek_arg,
                "--actor",
                actor,
                "--format",
                "json",
            ],
        ));
        let page: serde_json::Value = serde_json::from_str(said.trim()).expect("a JSON page");
        page["events"].as_array().expect("events").clone()
    };
    let gone = query(&erased);
    assert!(
        !gone.is_empty(),
        "the erased subject's events are still there"
    );
    assert!(
        gone.iter().all(|e| e["actor"]["email"] == "[erased]"),
        "{gone:?}"
    );
    let still = query(&kept_id);
    assert!(
        still
            .iter()
            .any(|e| e["actor"]["email"] == kept_email.as_str()),
        "{still:?}"
    );
    // Without a key store the restore of a sealing log is refused.
    let out = auditlog(
        s3,
        &[
            "restore",
            "--from",
            &url,
            "--data",
            dir.path().join("bare").to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key store"));
}
