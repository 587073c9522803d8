//! The `auditlog` binary driven as a user drives it: real processes, real files, exit
//! codes and output checked.

mod common;

use std::process::{Command, Stdio};

use common::{auditlog, auditlog_stdin, data, generate, ingest_generated, prove_tlog, text};

#[test]
fn generate_is_deterministic_and_shaped() {
    let a = generate(2_000, 5);
    assert_eq!(a, generate(2_000, 5));
    assert_ne!(a, generate(2_000, 6));
    assert_eq!(a.lines().count(), 2_000);
    for line in a.lines().take(50) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        for key in [
            "timestamp",
            "actor",
            "organization",
            "action",
            "resource",
            "outcome",
            "ip_address",
            "user_agent",
        ] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
    }
}

#[test]
fn ingest_then_export_gives_back_every_event_with_its_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("log"));
    let out = auditlog(&["init", "--data", &d, "--segment-bytes", "65536"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events = generate(3_000, 1);
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &events).expect("write");
    let out = auditlog(&[
        "ingest",
        "--data",
        &d,
        "--batch",
        "100",
        file.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stderr);
    assert!(
        summary.contains("ingested 3000 events, seq 0..=2999"),
        "{summary}"
    );
    let out = auditlog(&["export", "--data", &d, "--format", "jsonl"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = text(&out.stdout);
    assert_eq!(exported.lines().count(), 3_000);
    for (seq, (got, want)) in exported.lines().zip(events.lines()).enumerate() {
        let prefix = format!("{{\"seq\":{seq},");
        assert!(got.starts_with(&prefix), "{got}");
        assert_eq!(
            &got[prefix.len()..],
            &want[1..],
            "event {seq} comes back byte for byte"
        );
    }
    // A second ingest continues the sequence; stdin works.
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], generate(10, 2).as_bytes());
    assert!(
        text(&out.stderr).contains("seq 3000..=3009"),
        "{}",
        text(&out.stderr)
    );
    let out = auditlog(&[
        "export",
        "--data",
        &d,
        "--from-seq",
        "2999",
        "--to-seq",
        "3001",
    ]);
    let seqs: Vec<u64> = text(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, vec![2999, 3000]);
    let out = auditlog(&["info", "--data", &d, "--json"]);
    let info: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("info json");
    assert_eq!(info["tree_size"], 3010);
    assert!(info["segments"].as_u64().expect("segments") > 5);
}

#[test]
fn ingest_creates_a_missing_log_and_export_filters_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("new"));
    let events = generate(1_000, 3);
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], events.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = auditlog(&[
        "export",
        "--data",
        &d,
        "--from",
        "2026-02-01T00:00:00Z",
        "--to",
        "2026-02-02T00:00:00Z",
    ]);
    let got: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let want = events
        .lines()
        .filter(|l| l.contains("\"timestamp\":\"2026-02-01T"))
        .count();
    assert!(want > 0);
    assert_eq!(got.len(), want);
}

const BAD_LINES: &str = "\
{\"timestamp\":\"2026-01-01T00:00:00Z\",\"actor\":{\"user_id\":\"u1\"},\"organization\":{\"id\":\"o\"},\"action\":\"a.b\",\"outcome\":\"success\"}
{\"timestamp\":\"2026-01-01T00:00:01Z\",\"actor\":{\"user_id\":\"u2\"},\"organization\":{\"id\":\"o\"},\"action\":\"a.b\",\"outcome\":\"success\"}
{\"timestamp\":\"not a time\",\"actor\":{\"user_id\":\"u3\"},\"organization\":{\"id\":\"o\"},\"action\":\"a.b\",\"outcome\":\"success\"}

{\"timestamp\":\"2026-01-01T00:00:03Z\",\"actor\":{\"user_id\":\"u4\"},\"organization\":{\"id\":\"o\"},\"action\":\"nodots\",\"outcome\":\"success\"}
{\"timestamp\":\"2026-01-01T00:00:04Z\",\"actor\":{\"user_id\":\"u5\"},\"organization\":{\"id\":\"o\"},\"action\":\"a.b\",\"outcome\":\"success\"}
";

#[test]
fn a_bad_line_stops_ingest_after_the_good_lines_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], BAD_LINES.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3: timestamp: `not a time` is not an RFC 3339 timestamp"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped at bad line 3"), "{stderr}");
    let exported = text(&auditlog(&["export", "--data", &d]).stdout);
    let users: Vec<&str> = exported
        .lines()
        .map(|l| if l.contains("\"u1\"") { "u1" } else { "u2" })
        .collect();
    assert_eq!(users, vec!["u1", "u2"]);
}

#[test]
fn skip_mode_stores_every_good_line_and_names_every_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "--on-error", "skip", "-"],
        BAD_LINES.as_bytes(),
    );
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3: timestamp"), "{stderr}");
    assert!(
        stderr.contains("line 5: action `nodots` is not of the dotted form"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped 2 bad lines"), "{stderr}");
    let exported = text(&auditlog(&["export", "--data", &d]).stdout);
    assert_eq!(exported.lines().count(), 3);
    assert!(exported.contains("\"u5\""));
    // A tenant's hand-over records are the log's own: a line claiming one is bad.
    let forged = BAD_LINES
        .lines()
        .next()
        .unwrap()
        .replace("a.b", "auditlog.tenant.taken_over");
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "--on-error", "skip", "-"],
        forged.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("are the log's own"), "{stderr}");
    let exported = text(&auditlog(&["export", "--data", &d]).stdout);
    assert_eq!(exported.lines().count(), 3);
}

#[test]
fn proofs_print_and_verify_with_the_documented_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], generate(777, 4).as_bytes());
    assert!(out.status.success());
    let out = auditlog(&["prove", "inclusion", "--data", &d, "--index", "500"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let proof = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&proof).expect("json");
    assert_eq!(v["type"], "inclusion");
    assert_eq!(v["hash"], "sha256");
    assert_eq!(v["tree_size"], 777);
    assert_eq!(v["leaf_index"], 500);
    assert_eq!(
        auditlog_stdin(&["proof", "verify", "-"], proof.as_bytes())
            .status
            .code(),
        Some(0)
    );
    let file = dir.path().join("p.json");
    std::fs::write(&file, &proof).expect("write");
    assert_eq!(
        auditlog(&["proof", "verify", file.to_str().expect("path")])
            .status
            .code(),
        Some(0)
    );
    let tampered = proof.replacen("\"leaf_index\":500", "\"leaf_index\":501", 1);
    assert_eq!(
        auditlog_stdin(&["proof", "verify", "-"], tampered.as_bytes())
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        auditlog_stdin(&["proof", "verify", "-"], b"{not json")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        auditlog(&["proof", "verify", "/nonexistent/proof.json"])
            .status
            .code(),
        Some(2)
    );

    let out = auditlog(&[
        "prove",
        "consistency",
        "--data",
        &d,
        "--size1",
        "100",
        "--size2",
        "777",
    ]);
    let proof = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&proof).expect("json");
    assert_eq!(
        (v["type"].as_str(), v["size1"].as_u64(), v["size2"].as_u64()),
        (Some("consistency"), Some(100), Some(777))
    );
    assert_eq!(
        auditlog_stdin(&["proof", "verify", "-"], proof.as_bytes())
            .status
            .code(),
        Some(0)
    );
    let root1 = v["root1"].as_str().expect("root1");
    let mut flipped = root1.to_owned();
    flipped.replace_range(0..1, if root1.starts_with('0') { "1" } else { "0" });
    let tampered = proof.replace(root1, &flipped);
    assert_eq!(
        auditlog_stdin(&["proof", "verify", "-"], tampered.as_bytes())
            .status
            .code(),
        Some(1)
    );
    // The same proof from an older tree size.
    let out = auditlog(&[
        "prove",
        "inclusion",
        "--data",
        &d,
        "--index",
        "5",
        "--tree-size",
        "6",
    ]);
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(v["tree_size"], 6);
    assert_eq!(
        auditlog(&["prove", "inclusion", "--data", &d, "--index", "777"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn proof_verify_answers_the_public_vectors() {
    let vectors: serde_json::Value = serde_json::from_str(include_str!(
        "../../engine/testdata/vectors/rfc6962_sha256.json"
    ))
    .expect("vectors");
    let mut checked = 0;
    for (table, kind) in [
        ("inclusion_proofs", "inclusion"),
        ("inclusion_negative", "inclusion"),
        ("consistency_proofs", "consistency"),
        ("consistency_negative", "consistency"),
    ] {
        for case in vectors[table].as_array().expect("table").iter().step_by(3) {
            let mut proof = case.clone();
            let object = proof.as_object_mut().expect("object");
            object.insert("type".into(), kind.into());
            object.insert("hash".into(), "sha256".into());
            let expect = if case["expect_valid"].as_bool().expect("expect_valid") {
                0
            } else {
                1
            };
            let out = auditlog_stdin(&["proof", "verify", "-"], proof.to_string().as_bytes());
            assert_eq!(
                out.status.code(),
                Some(expect),
                "{}: {}",
                case["id"],
                text(&out.stdout)
            );
            checked += 1;
        }
    }
    assert!(checked > 70);
}

#[test]
fn verify_passes_a_healthy_log_and_names_the_first_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    assert!(
        auditlog(&[
            "init",
            "--data",
            &d,
            "--segment-bytes",
            "32768",
            "--hash",
            "sha256"
        ])
        .status
        .success()
    );
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "--batch", "50", "-"],
        generate(2_000, 8).as_bytes(),
    );
    assert!(out.status.success());
    let out = auditlog(&["verify", "--data", &d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).starts_with("ok: 2000 records"),
        "{}",
        text(&out.stdout)
    );
    let out = auditlog(&["verify", "--data", &d, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(
        (
            report["ok"].as_bool(),
            report["records"].as_u64(),
            report["hash"].as_str()
        ),
        (Some(true), Some(2000), Some("sha256"))
    );

    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    let victim = &segments[2];
    let mut bytes = std::fs::read(victim).expect("read");
    bytes[1_000] ^= 0x01;
    std::fs::write(victim, &bytes).expect("write");
    let out = auditlog(&["verify", "--data", &d, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["file"].as_str(), victim.to_str());
    let offset = report["offset"].as_u64().expect("offset");
    assert!(offset <= 1_000 && 1_000 - offset < 600, "offset {offset}");
    let out = auditlog(&["verify", "--data", &d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(&format!("FAILED: {} at byte {offset}", victim.display())),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("demo"));
    let out = auditlog(&["demo", "--data", &d, "--count", "5000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("5000 events durable"), "{stdout}");
    assert!(
        stdout.contains("2/5 inclusion proof of event 2500 in the tree of 5000: valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n    5000\n"),
        "the checkpoint's size line: {stdout}"
    );
    assert!(
        stdout.contains("5/5 verified 5000 records, ") && stdout.contains(" and 1 checkpoints "),
        "{stdout}"
    );
    assert_eq!(
        auditlog(&["demo", "--data", &d, "--count", "10"])
            .status
            .code(),
        Some(2),
        "refuses an existing log"
    );
}

#[test]
fn large_events_are_batched_by_bytes_as_well_as_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let metadata = format!(r#"{{"blob":"{}"}}"#, "x".repeat(16_000));
    let line = format!(
        r#"{{"timestamp":"2026-01-01T00:00:00Z","actor":{{"user_id":"u"}},"organization":{{"id":"o"}},"action":"a.b","outcome":"success","metadata":{metadata}}}"#
    );
    let input = format!("{line}\n").repeat(1_100);
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "--batch", "65536", "-"],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ingested 1100 events"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reading_commands_change_nothing_in_the_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    ingest_generated(&d, 100, 9);
    let segment = std::fs::read_dir(dir.path().join("segments"))
        .expect("dir")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    // A torn tail, as a crash leaves it.
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes.extend_from_slice(&[7; 20]);
    std::fs::write(&segment, &bytes).expect("write");
    for args in [
        vec!["info", "--data", &d],
        vec!["checkpoint", "--data", &d],
        vec!["key", "show", "--data", &d],
        vec!["export", "--data", &d],
        vec!["prove", "inclusion", "--data", &d, "--index", "3"],
        vec![
            "prove",
            "consistency",
            "--data",
            &d,
            "--size1",
            "3",
            "--size2",
            "100",
        ],
    ] {
        let out = auditlog(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(
            std::fs::read(&segment).expect("read"),
            bytes,
            "{args:?} left the torn tail alone"
        );
    }
    assert_eq!(
        text(&auditlog(&["export", "--data", &d]).stdout)
            .lines()
            .count(),
        100
    );
    // Verify names the tear; the next writer cuts it.
    assert_eq!(auditlog(&["verify", "--data", &d]).status.code(), Some(1));
    ingest_generated(&d, 1, 9);
    assert_eq!(auditlog(&["verify", "--data", &d]).status.code(), Some(0));
}

#[test]
fn tlog_proofs_carry_their_entry_and_checkpoint_and_verify_with_the_key_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], generate(777, 4).as_bytes());
    assert!(out.status.success());
    // Closing the log signed its tree of 777: the proof leads to that checkpoint.
    let out = prove_tlog(&d, "500");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let proof = text(&out.stdout);
    let lines: Vec<&str> = proof.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    assert!(lines[1].starts_with("extra "), "{proof}");
    assert_eq!(lines[2], "index 500");
    let blank = lines
        .iter()
        .position(|l| l.is_empty())
        .expect("a blank line");
    assert_eq!(blank - 3, 10, "ceil(log2 777) hashes");
    assert_eq!(lines[blank + 2], "777", "then the checkpoint: {proof}");
    let key = text(&auditlog(&["key", "show", "--data", &d]).stdout);
    let key = key.trim();
    let verify = |proof: &str, key: Option<&str>| {
        let mut args = vec!["proof", "verify", "-"];
        args.extend(key.map(|k| ["--key", k]).iter().flatten());
        auditlog_stdin(&args, proof.as_bytes())
    };
    let out = verify(&proof, Some(key));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with("valid: entry 500 of auditlog.local/"));

    // Another entry's index, another record, a path hash changed, another log's key:
    // each refused; without a key the proof cannot be checked at all.
    let extra = lines[1].strip_prefix("extra ").expect("extra");
    let other_record = {
        let out = prove_tlog(&d, "501");
        text(&out.stdout).lines().nth(1).expect("extra").to_owned()
    };
    let first_hash = lines[3];
    let flipped_hash = {
        let (head, tail) = first_hash.split_at(1);
        format!("{}{tail}", if head == "A" { "B" } else { "A" })
    };
    for tampered in [
        proof.replacen("index 500", "index 501", 1),
        proof.replacen(&format!("extra {extra}"), &other_record, 1),
        proof.replacen(first_hash, &flipped_hash, 1),
    ] {
        assert_ne!(tampered, proof);
        let out = verify(&tampered, Some(key));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        assert!(text(&out.stdout).starts_with("invalid: "));
    }
    let other = tempfile::tempdir().expect("tempdir");
    let o = data(other.path());
    assert!(auditlog(&["init", "--data", &o]).status.success());
    let other_key = text(&auditlog(&["key", "show", "--data", &o]).stdout);
    assert_eq!(
        verify(&proof, Some(other_key.trim())).status.code(),
        Some(1)
    );
    assert_eq!(verify(&proof, None).status.code(), Some(2));
    assert_eq!(
        verify("c2sp.org/tlog-proof@v1\nindex x\n\n", Some(key))
            .status
            .code(),
        Some(2)
    );

    // A BLAKE3 log has no tlog-proofs: the form is SHA-256's.
    let b = data(&dir.path().join("blake3"));
    assert!(
        auditlog(&["init", "--data", &b, "--hash", "blake3"])
            .status
            .success()
    );
    let out = auditlog_stdin(&["ingest", "--data", &b, "-"], generate(10, 4).as_bytes());
    assert!(out.status.success());
    let out = prove_tlog(&b, "3");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("SHA-256"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn init_makes_sha256_logs_with_origins_of_their_own_and_marks_blake3_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin_of = |name: &str, extra: &[&str]| {
        let d = data(&dir.path().join(name));
        let out = auditlog(&[&["init", "--data", &d][..], extra].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let key = text(&auditlog(&["key", "show", "--data", &d]).stdout);
        key.split('+').next().expect("a name").to_owned()
    };
    let (one, two) = (origin_of("one", &[]), origin_of("two", &[]));
    assert!(one.starts_with("auditlog.local/"), "{one}");
    assert_ne!(one, two, "every log an origin of its own");
    let config = std::fs::read_to_string(dir.path().join("one/config.json")).expect("config");
    assert!(config.contains("\"hash\": \"sha256\""), "{config}");
    let blake3 = origin_of("three", &["--hash", "blake3"]);
    assert!(blake3.ends_with("#blake3"), "{blake3}");

    let d = data(&dir.path().join("four"));
    let out = auditlog(&[
        "init",
        "--data",
        &d,
        "--hash",
        "blake3",
        "--origin",
        "audit.example.com/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("audit.example.com/x#blake3"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn checkpoints_print_verify_offline_and_refuse_any_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog(&["init", "--data", &d, "--origin", "audit.example.com/cli"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = auditlog(&["key", "show", "--data", &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim_end().to_owned();
    assert!(key.starts_with("audit.example.com/cli+"), "{key}");
    assert_eq!(
        auditlog(&["init", "--data", &d]).status.code(),
        Some(2),
        "a second init refuses"
    );
    // No checkpoint before any event: a clear failure.
    assert_eq!(
        auditlog(&["checkpoint", "--data", &d]).status.code(),
        Some(1)
    );
    ingest_generated(&d, 500, 4);
    // Ingest closes the log, which signs the tree it grew.
    let out = auditlog(&["checkpoint", "--data", &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stdout);
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(&lines[..2], &["audit.example.com/cli", "500"]);
    // The extension line commits to the newest event of every tenant.
    let tenants: std::collections::HashSet<String> =
        text(&auditlog(&["export", "--data", &d]).stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("event");
                v["organization"]["id"].as_str().expect("tenant").to_owned()
            })
            .collect();
    let heads: Vec<&str> = lines[3].split(' ').collect();
    assert_eq!(heads.len(), 3, "{note}");
    assert_eq!(heads[0], "tenant-heads");
    assert_eq!(heads[1], tenants.len().to_string());
    assert_eq!(lines[4], "");
    assert!(
        lines[5].starts_with("\u{2014} audit.example.com/cli "),
        "{note}"
    );
    let info = text(&auditlog(&["info", "--data", &d]).stdout);
    assert!(
        info.contains("checkpoint  at tree size 500 (all events)"),
        "{info}"
    );
    let root_hex = info
        .lines()
        .find_map(|l| l.strip_prefix("root"))
        .expect("root line")
        .trim()
        .to_owned();

    let file = dir.path().join("checkpoint.txt");
    let f = data(&file);
    let check = |bytes: &[u8], key: &str| {
        std::fs::write(&file, bytes).expect("write");
        auditlog(&["checkpoint", "verify", "--key", key, &f])
    };
    let out = check(note.as_bytes(), &key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(&format!("tree size 500 root {root_hex}")));
    assert!(
        text(&out.stdout).contains(&format!("tenant heads: {} tenants, root ", tenants.len())),
        "{}",
        text(&out.stdout)
    );
    // The key may also be given as the file that holds it.
    let key_file = data(&dir.path().join("keys/checkpoint.pub"));
    assert_eq!(check(note.as_bytes(), &key_file).status.code(), Some(0));
    // One byte changed in the body, or in the signature, or another key: refused.
    let body_changed = note.replacen("\n500\n", "\n501\n", 1);
    assert_eq!(check(body_changed.as_bytes(), &key).status.code(), Some(1));
    let mut sig_changed = note.clone().into_bytes();
    let at = sig_changed.len() - 10;
    sig_changed[at] = if sig_changed[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(check(&sig_changed, &key).status.code(), Some(1));
    let other = tempfile::tempdir().expect("tempdir");
    let o = data(other.path());
    assert!(
        auditlog(&["init", "--data", &o, "--origin", "audit.example.com/cli"])
            .status
            .success()
    );
    let other_key = text(&auditlog(&["key", "show", "--data", &o]).stdout)
        .trim_end()
        .to_owned();
    assert_ne!(other_key, key);
    assert_eq!(check(note.as_bytes(), &other_key).status.code(), Some(1));

    // `checkpoint list` names every checkpoint kept.
    let out = auditlog(&["checkpoint", "list", "--data", &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("500 {root_hex} ({} tenants)\n", tenants.len())
    );
    let out = auditlog(&["checkpoint", "list", "--data", &d, "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(listed["tree_size"], 500);
    assert_eq!(listed["tenant_heads"]["count"], tenants.len());

    // verify checks every checkpoint with the key given.
    let out = auditlog(&["verify", "--data", &d, "--key", &key, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(
        (report["ok"].as_bool(), report["checkpoints"].as_u64()),
        (Some(true), Some(1))
    );
    let out = auditlog(&["verify", "--data", &d, "--key", &other_key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("checkpoints at byte 16: bad signature"),
        "{}",
        text(&out.stdout)
    );

    // More events: their ingest signs 520 as it closes; `checkpoint issue` then has
    // nothing new to sign and prints that one rather than a duplicate.
    ingest_generated(&d, 20, 5);
    let out = auditlog(&["checkpoint", "issue", "--data", &d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().nth(1), Some("520"));
    let out = auditlog(&["verify", "--data", &d, "--key", &key]);
    assert!(
        text(&out.stdout).contains("2 checkpoints"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn verify_checks_an_archived_segment_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    assert!(
        auditlog(&["init", "--data", &d, "--segment-bytes", "32768"])
            .status
            .success()
    );
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "--batch", "40", "-"],
        generate(600, 6).as_bytes(),
    );
    assert!(out.status.success());
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 3);
    // An archived copy, away from its data directory.
    let archive = tempfile::tempdir().expect("tempdir");
    let copy = archive.path().join("archived.seg");
    std::fs::copy(&segments[1], &copy).expect("copy");
    let c = data(&copy);
    let out = auditlog(&["verify", "--segment", &c, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    assert_eq!(report["sealed"], true);
    let size = report["tree_size"].as_u64().expect("tree size");
    let out = auditlog(&[
        "prove",
        "consistency",
        "--data",
        &d,
        "--size1",
        &size.to_string(),
        "--size2",
        "600",
    ]);
    let proof: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("proof");
    assert_eq!(
        proof["root1"], report["root"],
        "the segment's head is the log's at its size"
    );

    let mut bytes = std::fs::read(&copy).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&copy, &bytes).expect("write");
    let out = auditlog(&["verify", "--segment", &c]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with(&format!("FAILED: {c} at byte ")),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_evidence_bundle_checks_offline_and_refuses_an_altered_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    assert!(auditlog(&["init", "--data", &d]).status.success());
    assert!(
        auditlog_stdin(
            &["ingest", "--data", &d, "-"],
            generate(3_000, 12).as_bytes()
        )
        .status
        .success()
    );
    let key = text(&auditlog(&["key", "show", "--data", &d]).stdout)
        .trim_end()
        .to_owned();
    let first = text(&auditlog(&["export", "--data", &d, "--to-seq", "1"]).stdout);
    let event: serde_json::Value = serde_json::from_str(first.trim()).expect("event");
    let tenant = event["organization"]["id"]
        .as_str()
        .expect("tenant")
        .to_owned();

    let bundle = dir.path().join("evidence.jsonl");
    let b = data(&bundle);
    let out = auditlog(&["export", "--data", &d, "--bundle", &b, "--tenant", &tenant]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bytes per event"),
        "{}",
        text(&out.stderr)
    );
    let out = auditlog(&["verify-bundle", &b, "--key", &key, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).expect("json");
    let tenant_events = text(&auditlog(&["export", "--data", &d, "--tenant", &tenant]).stdout)
        .lines()
        .count() as u64;
    assert_eq!(report["events"].as_u64(), Some(tenant_events));
    assert_eq!(report["tree_size"].as_u64(), Some(3_000));
    // The tenant's events are proven complete: gap-free by their links, and up to the
    // checkpoint by its tenant heads.
    assert_eq!(
        report["completeness"],
        serde_json::json!({"kind": "tenant", "from": 0, "to": 3_000})
    );
    assert_eq!(report["selection"]["tenant"], tenant.as_str());
    // The auditor names what they asked for: a bundle selecting anything else is refused.
    let out = auditlog(&["verify-bundle", &b, "--key", &key, "--tenant", &tenant]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = auditlog(&["verify-bundle", &b, "--key", &key, "--tenant", "org_other"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("selects tenant"),
        "{}",
        text(&out.stdout)
    );
    let out = auditlog(&["verify-bundle", &b, "--key", &key, "--from-seq", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // One event's actor changed: refused, with exit 1.
    let original = std::fs::read_to_string(&bundle).expect("read");
    let altered = original.replacen("\"user_id\":\"usr_", "\"user_id\":\"usq_", 1);
    assert_ne!(altered, original);
    std::fs::write(&bundle, altered).expect("write");
    let out = auditlog(&["verify-bundle", &b, "--key", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("REJECTED: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_reader_that_stops_early_does_not_crash_a_report() {
    // `auditlog verify ... | head -1`: the pipe closes before the notes are printed.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    ingest_generated(&d, 50, 2);
    for args in [
        vec!["verify", "--data", &d],
        vec!["info", "--data", &d],
        vec!["checkpoint", "--data", &d],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader is gone before anything is written
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_sealing_log_keeps_personal_fields_out_of_its_files_and_needs_its_kek_to_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("log"));
    let kek = dir.path().join("kek");
    let kek_file = kek.to_str().expect("UTF-8 path");
    let out = auditlog(&["init", "--data", &d, "--seal", "--kek-file", kek_file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("personal data sealed"));
    // A new KEK was made, owner-only, 64 hex digits.
    let hex = std::fs::read_to_string(&kek).expect("the KEK file");
    assert_eq!(hex.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let events = generate(500, 3);
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &events).expect("write");
    let input = file.to_str().expect("UTF-8 path");

    // Without the KEK the log refuses to be written.
    let refused = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(["ingest", "--data", &d, input])
        .env_remove("AUDITLOG_KEK")
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("key-encryption key"));

    // With it (here from the environment), every event is stored and checks out.
    let ingested = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(["ingest", "--data", &d, input])
        .env("AUDITLOG_KEK", hex.trim())
        .output()
        .expect("runs");
    assert!(ingested.status.success(), "{}", text(&ingested.stderr));
    let verified = auditlog(&["verify", "--data", &d]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let info = auditlog(&["info", "--data", &d, "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(info["tree_size"], 500);

    // No e-mail, IP address or user agent of the workload is readable in any file.
    let mut bytes = Vec::new();
    let mut stack = vec![dir.path().join("log")];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                bytes.extend(std::fs::read(&path).expect("file"));
            }
        }
    }
    let readable = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    let mut checked = 0;
    for line in events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let fields = [&v["actor"]["email"], &v["ip_address"], &v["user_agent"]];
        for field in fields.into_iter().filter_map(|f| f.as_str()) {
            assert!(!readable(field), "{field} is readable");
            checked += 1;
        }
        assert!(readable(v["actor"]["user_id"].as_str().expect("actor")));
    }
    assert!(checked > 1000, "{checked}");
}
