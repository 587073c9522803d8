//! Tiers driven through the binary against SeaweedFS: `auditlog archive --hot-bytes`
//! releases archived segments from the local disk, then export, query, prove, bundles,
//! verify and ingest all work over the released range; a release, or a deletion past
//! retention, killed at any instant loses nothing.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use auditlog_archive::testing::{BUCKET, SeaweedFs, local_segment_files, seaweedfs};
use common::{auditlog_s3 as auditlog, ok};

/// A log of `count` workload events in 64 KiB segments, made with the binary.
fn make_log(s3: &SeaweedFs, dir: &Path, count: u64) -> String {
    let data = dir.join("data");
    let d = data.to_str().unwrap().to_owned();
    ok(auditlog(
        s3,
        &["init", "--data", &d, "--segment-bytes", "65536"],
    ));
    let lines = ok(auditlog(
        s3,
        &["generate", "--count", &count.to_string(), "--seed", "3"],
    ));
    let events = dir.join("events.jsonl");
    std::fs::write(&events, lines).unwrap();
    ok(auditlog(
        s3,
        &[
            "ingest",
            "--data",
            &d,
            "--batch",
            "100",
            events.to_str().unwrap(),
        ],
    ));
    d
}

fn local_segments(d: &str) -> usize {
    local_segment_files(Path::new(d))
}

/// The bytes of the segments in the cache. A fetch in the background that the process
/// exited in the middle of leaves `<name>.part-<pid>`, which is no segment of the cache
/// (the next open removes it): not counted here. CI once failed on one.
fn cache_bytes(d: &str) -> u64 {
    std::fs::read_dir(Path::new(d).join("archive-cache"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .map(|e| e.metadata().unwrap().len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn released_segments_still_answer_every_command() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let d = make_log(s3, dir.path(), 6_000);
    let url = s3.fresh_url(BUCKET, "tiers");
    let all = ok(auditlog(s3, &["export", "--data", &d]));
    let first: serde_json::Value = serde_json::from_str(all.lines().next().unwrap()).unwrap();
    let tenant = first["organization"]["id"].as_str().unwrap().to_owned();
    let by_tenant = ok(auditlog(s3, &["query", "--data", &d, "--tenant", &tenant]));
    let proof = ok(auditlog(
        s3,
        &["prove", "inclusion", "--data", &d, "--index", "7"],
    ));
    let before = local_segments(&d);
    assert!(before >= 8, "{before}");

    let out = ok(auditlog(
        s3,
        &[
            "archive",
            "--data",
            &d,
            "--to",
            &url,
            "--hot-bytes",
            "0",
            "--cache-bytes",
            "300000",
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(report["released"].as_u64(), Some(before as u64 - 2));
    assert_eq!(
        local_segments(&d),
        2,
        "the newest sealed segment and the active one"
    );
    let tier: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&d).join("archive.json")).unwrap())
            .unwrap();
    assert_eq!(tier["url"].as_str(), Some(url.as_str()));

    // Proofs need no fetch: the tree's nodes stay local.
    assert_eq!(
        ok(auditlog(
            s3,
            &["prove", "inclusion", "--data", &d, "--index", "7"]
        )),
        proof
    );
    assert_eq!(cache_bytes(&d), 0, "nothing fetched for a proof");
    assert_eq!(ok(auditlog(s3, &["export", "--data", &d])), all);
    assert!(cache_bytes(&d) <= 300_000, "the cache keeps to its size");
    assert_eq!(
        ok(auditlog(s3, &["query", "--data", &d, "--tenant", &tenant])),
        by_tenant
    );
    assert!(cache_bytes(&d) <= 300_000, "the cache keeps to its size");
    let bundle = dir.path().join("bundle.jsonl");
    let b = bundle.to_str().unwrap();
    ok(auditlog(
        s3,
        &["export", "--data", &d, "--bundle", b, "--tenant", &tenant],
    ));
    let key = ok(auditlog(s3, &["key", "show", "--data", &d]));
    ok(auditlog(s3, &["verify-bundle", b, "--key", key.trim()]));
    ok(auditlog(s3, &["verify", "--data", &d]));

    // With wrong credentials for the store, a read of a released range fails naming it.
    let mut no_creds = auditlog(s3, &["export", "--data", &d]);
    no_creds.env("AWS_SECRET_ACCESS_KEY", "wrong");
    std::fs::remove_dir_all(Path::new(&d).join("archive-cache")).unwrap();
    let out = no_creds.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".seg"), "{err}");

    // The log goes on appending.
    let more = ok(auditlog(s3, &["generate", "--count", "500", "--seed", "4"]));
    let more_path = dir.path().join("more.jsonl");
    std::fs::write(&more_path, more).unwrap();
    ok(auditlog(
        s3,
        &["ingest", "--data", &d, more_path.to_str().unwrap()],
    ));
    let grown = ok(auditlog(s3, &["export", "--data", &d]));
    assert_eq!(grown.lines().count(), 6_500);
    assert!(grown.starts_with(&all));
}

#[test]
fn a_release_killed_at_any_instant_loses_nothing() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let d = make_log(s3, dir.path(), 12_000);
    let url = s3.fresh_url(BUCKET, "tiers-killed");
    let all = ok(auditlog(s3, &["export", "--data", &d]));
    // Archived first, so the kills land in releases.
    ok(auditlog(s3, &["archive", "--data", &d, "--to", &url]));
    let before = local_segments(&d);
    let mut seen = Vec::new();
    for round in 0..8u64 {
        let mut child = auditlog(
            s3,
            &["archive", "--data", &d, "--to", &url, "--hot-bytes", "0"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(30 + round * 25));
        child.kill().expect("kill -9");
        child.wait().unwrap();
        seen.push(local_segments(&d));
        assert_eq!(
            ok(auditlog(s3, &["export", "--data", &d])),
            all,
            "round {round}"
        );
    }
    println!("local segments after each kill: {seen:?} (from {before})");
    ok(auditlog(
        s3,
        &["archive", "--data", &d, "--to", &url, "--hot-bytes", "0"],
    ));
    assert_eq!(local_segments(&d), 2);
    assert_eq!(ok(auditlog(s3, &["export", "--data", &d])), all);
    ok(auditlog(s3, &["verify", "--data", &d]));
    assert!(
        seen.iter().any(|&n| n < before && n > 2),
        "a kill cut a release short: {seen:?}"
    );
}

#[test]
fn an_erasure_reaches_events_in_released_segments() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data").to_str().unwrap().to_owned();
    let kek = dir.path().join("kek").to_str().unwrap().to_owned();
    ok(auditlog(
        s3,
        &[
            "init",
            "--data",
            &d,
            "--seal",
            "--segment-bytes",
            "65536",
            "--kek-file",
            &kek,
        ],
    ));
    let events = ok(auditlog(
        s3,
        &["generate", "--count", "4000", "--seed", "8"],
    ));
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &events).unwrap();
    ok(auditlog(
        s3,
        &[
            "ingest",
            "--data",
            &d,
            "--batch",
            "100",
            "--kek-file",
            &kek,
            file.to_str().unwrap(),
        ],
    ));
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    let subject = first["actor"]["user_id"].as_str().unwrap().to_owned();
    let url = s3.fresh_url(BUCKET, "tiers-erasure");
    ok(auditlog(
        s3,
        &[
            "archive",
            "--data",
            &d,
            "--to",
            &url,
            "--hot-bytes",
            "0",
            "--kek-file",
            &kek,
        ],
    ));
    assert_eq!(local_segments(&d), 2);
    let of_subject = |d: &str| -> Vec<serde_json::Value> {
        ok(auditlog(
            s3,
            &[
                "export",
                "--data",
                d,
                "--actor",
                &subject,
                "--kek-file",
                &kek,
            ],
        ))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let before = of_subject(&d);
    assert!(before.first().is_some_and(|e| e["seq"].as_u64() == Some(0)));
    assert!(before.iter().any(|e| {
        e["actor"]["email"]
            .as_str()
            .is_some_and(|m| m.contains('@'))
    }));
    ok(auditlog(
        s3,
        &[
            "erase",
            "--data",
            &d,
            "--subject",
            &subject,
            "--kek-file",
            &kek,
        ],
    ));
    let after = of_subject(&d);
    assert_eq!(after.len(), before.len());
    for event in &after {
        if let Some(email) = event["actor"]["email"].as_str() {
            assert_eq!(email, "[erased]", "{event}");
        }
    }
    assert!(
        after
            .iter()
            .any(|e| e["actor"]["email"].as_str() == Some("[erased]"))
    );
}

#[test]
fn a_deletion_past_retention_killed_at_any_instant_leaves_both_copies_verifying() {
    let s3 = seaweedfs();
    let dir = tempfile::tempdir().unwrap();
    // The generator's events are of March 2026: past a retention of 30 days.
    let d = make_log(s3, dir.path(), 12_000);
    let url = s3.fresh_url(BUCKET, "expire-killed");
    ok(auditlog(s3, &["archive", "--data", &d, "--to", &url]));
    let all: Vec<String> = ok(auditlog(s3, &["export", "--data", &d]))
        .lines()
        .map(str::to_owned)
        .collect();
    let expire = [
        "expire",
        "--data",
        &d,
        "--retain-days",
        "30",
        "--archive",
        &url,
    ];
    let kept_as_before = |round: u64| {
        let now = ok(auditlog(s3, &["export", "--data", &d]));
        for line in now.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let seq = v["seq"].as_u64().unwrap() as usize;
            if seq < all.len() {
                assert_eq!(line, all[seq], "round {round}: record {seq} changed");
            }
        }
    };
    for round in 0..6u64 {
        let mut child = auditlog(s3, &expire)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(20 + round * 30));
        child.kill().expect("kill -9");
        child.wait().unwrap();
        ok(auditlog(s3, &["verify", "--data", &d]));
        ok(auditlog(s3, &["verify", "--archive", &url]));
        kept_as_before(round);
    }
    // Run to the end: every sealed segment gone from both, both still verifying.
    let done: serde_json::Value = serde_json::from_str(
        ok(auditlog(s3, &{
            let mut args = expire.to_vec();
            args.push("--json");
            args
        }))
        .trim(),
    )
    .unwrap();
    assert!(done["archive"]["found"].as_bool().unwrap(), "{done}");
    assert_eq!(local_segments(&d), 1, "the active segment alone");
    let out = auditlog(s3, &["verify", "--archive", &url])
        .output()
        .expect("runs");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("were deleted past retention"), "{said}");
    ok(auditlog(s3, &["verify", "--data", &d]));
    kept_as_before(6);
}
