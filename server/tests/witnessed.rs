//! A log witnessed by two other `auditlogd` (c2sp.org/tlog-witness), three servers on
//! loopback: the log asks both witnesses to cosign each new checkpoint, from the size
//! each holds with a consistency proof, keeps their cosignatures with it, and serves the
//! cosigned checkpoint; `auditlog verify`, `checkpoint verify` and `verify-bundle` pass
//! with a quorum of them and fail without. Then a split view: a second history signed
//! with the log's key, of the same size, sent to the same witnesses by a server of its
//! own. Both refuse it, and no quorum verification of it passes.

mod common;

use std::path::Path;
use std::process::Command;

use auditlog_engine::checkpoint::{CosignatureVerifier, Cosigner, Note};
use common::{
    Server, auditlog_bin, http_get, ingest_count, note_size, run_auditlog as run, wait_for,
};

/// `auditlog ARGS`: its exit code and stdout.
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(auditlog_bin())
        .args(args)
        .output()
        .expect("auditlog runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// A witness server of the log whose key is `vkey`, its key in `dir/NAME.key`.
fn start_witness(dir: &Path, name: &str, vkey: &str) -> (Server, String) {
    let key = dir.join(format!("{name}.key"));
    let witness_name = format!("witness.example/{name}");
    let args = [
        "--witness-key",
        key.to_str().expect("UTF-8"),
        "--witness-name",
        &witness_name,
        "--witness-log",
        vkey,
    ];
    let server = Server::start(&dir.join(name), true, &args);
    let public = dir.join(format!("{name}.pub"));
    (server, public.to_str().expect("UTF-8").to_owned())
}

/// The value of a metric line `NAME{witness="W"} V` of `/metrics`.
fn witness_metric(metrics: &str, name: &str, witness: &str) -> Option<u64> {
    let prefix = format!("{name}{{witness=\"{witness}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_keeps_its_witnesses_cosignatures_and_a_split_view_fails_the_quorum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = "audit.example.com/witnessed";
    let log_dir = dir.path().join("log");
    let log_data = log_dir.to_str().expect("UTF-8").to_owned();
    run(&["init", "--data", &log_data, "--origin", origin]);
    let vkey = std::fs::read_to_string(log_dir.join("keys/checkpoint.pub")).expect("the key");
    let vkey = vkey.trim().to_owned();

    let (w1, w1_pub) = start_witness(dir.path(), "w1", &vkey);
    let (w2, w2_pub) = start_witness(dir.path(), "w2", &vkey);
    let keys: Vec<CosignatureVerifier> = [&w1_pub, &w2_pub]
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("FILE.pub");
            CosignatureVerifier::parse(text.trim()).expect("a witness key")
        })
        .collect();
    let by = |w: &Server, public: &str| format!("http://{},{public}", w.http);
    let (by1, by2) = (by(&w1, &w1_pub), by(&w2, &w2_pub));
    let log = Server::start(
        &log_dir,
        true,
        &[
            "--witnessed-by",
            &by1,
            "--witnessed-by",
            &by2,
            "--witness-quorum",
            "2",
        ],
    );
    let admin = log.admin_key.clone().expect("admin key");

    // Each new checkpoint gets both cosignatures: the first from size 0, the next with a
    // consistency proof from the size each witness holds.
    let mut published = String::new();
    for count in [50, 70] {
        ingest_count(&log, &admin, count).await;
        let signed = http_get(&log.http, "/v1/checkpoint", Some(&admin)).text();
        let size = note_size(&signed);
        let http = log.http.clone();
        let admin = admin.clone();
        let keys = keys.clone();
        published = tokio::task::spawn_blocking(move || {
            let mut note = String::new();
            wait_for("both witnesses' cosignatures", || {
                note = http_get(&http, "/checkpoint", Some(&admin)).text();
                let parsed = Note::parse(note.as_bytes()).expect("a note");
                note_size(&note) == size && keys.iter().all(|k| k.verify(&parsed).is_ok())
            });
            note
        })
        .await
        .expect("waited");
        assert!(published.starts_with(&signed[..signed.find("\n\n").expect("text")]));
    }
    let held = note_size(&published);
    let metrics = http_get(&log.http, "/metrics", Some(&admin)).text();
    for name in ["witness.example/w1", "witness.example/w2"] {
        let cosigned = witness_metric(&metrics, "auditlog_witness_cosigned_tree_size", name);
        assert_eq!(cosigned, Some(held), "{metrics}");
    }
    let note_file = dir.path().join("published.note");
    std::fs::write(&note_file, &published).expect("written");
    let note_path = note_file.to_str().expect("UTF-8");
    let (code, out) = check(&[
        "checkpoint",
        "verify",
        "--key",
        &vkey,
        "--witness",
        &w1_pub,
        "--witness",
        &w2_pub,
        note_path,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("witnessed: 2 of 2 witnesses cosigned"),
        "{out}"
    );
    let (status, _) = log.terminate();
    assert!(status.success());

    // Offline, the data directory keeps the cosignatures: a quorum of two passes, one of
    // a witness that never cosigned fails.
    let witnesses = ["--witness", &w1_pub, "--witness", &w2_pub];
    let (code, out) = check(&[&["verify", "--data", &log_data, "--json"][..], &witnesses].concat());
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["witnessed"]["tree_size"], held, "{out}");
    assert!(report["cosigned_checkpoints"].as_u64() >= Some(2), "{out}");
    let stranger = Cosigner::generate("witness.example/never").expect("key");
    let stranger = stranger.verifier().to_text();
    let three = [&witnesses[..], &["--witness", &stranger, "--quorum", "3"]].concat();
    let (code, out) = check(&[&["verify", "--data", &log_data][..], &three].concat());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED: no checkpoint"), "{out}");
    let (code, out) = check(&[&["verify", "--data", &log_data][..]].concat());
    assert_eq!(
        code, 0,
        "without a policy nothing is asked of witnesses: {out}"
    );

    // A bundle proven against the witnessed checkpoint carries its cosignatures; one
    // against the checkpoint signed at shutdown (after the witnesses were asked last)
    // does not, and fails the quorum.
    let bundle = |name: &str, to_seq: Option<u64>| {
        let path = dir.path().join(name);
        let path = path.to_str().expect("UTF-8").to_owned();
        let mut args = vec!["export", "--data", &log_data, "--bundle", &path];
        let to = to_seq.map(|s| s.to_string());
        if let Some(to) = &to {
            args.extend(["--to-seq", to]);
        }
        run(&args);
        path
    };
    let witnessed = bundle("witnessed.bundle", Some(held));
    let verify_bundle = |path: &str, quorum: &str| {
        check(
            &[
                &["verify-bundle", path, "--key", &vkey][..],
                &witnesses,
                &["--quorum", quorum],
            ]
            .concat(),
        )
    };
    let (code, out) = verify_bundle(&witnessed, "2");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("witnessed: 2 of 2 witnesses cosigned"),
        "{out}"
    );
    let newest = bundle("newest.bundle", None);
    let (code, out) = verify_bundle(&newest, "1");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not witnessed: 0 of 2"), "{out}");
    let (code, out) = check(&["verify-bundle", &newest, "--key", &vkey]);
    assert_eq!(code, 0, "the bundle itself holds: {out}");

    // A split view: another history under the log's origin and key, of the size the
    // witnesses hold, served by a server of its own that asks the same witnesses.
    let fork_dir = dir.path().join("fork");
    let fork_data = fork_dir.to_str().expect("UTF-8").to_owned();
    run(&["init", "--data", &fork_data, "--origin", origin]);
    for file in ["checkpoint.key", "checkpoint.pub"] {
        std::fs::copy(
            log_dir.join("keys").join(file),
            fork_dir.join("keys").join(file),
        )
        .expect("the log's key, copied");
    }
    let events = run(&["generate", "--count", &held.to_string(), "--seed", "9"]);
    let events_file = dir.path().join("fork.jsonl");
    std::fs::write(&events_file, events).expect("events");
    run(&[
        "ingest",
        "--data",
        &fork_data,
        events_file.to_str().expect("UTF-8"),
    ]);
    let forked = run(&["checkpoint", "issue", "--data", &fork_data]);
    assert_eq!(note_size(&forked), held, "the same size");
    let root = |note: &str| note.lines().nth(2).map(str::to_owned);
    assert_ne!(root(&forked), root(&published), "another root");

    let fork = Server::start(
        &fork_dir,
        true,
        &["--witnessed-by", &by1, "--witnessed-by", &by2],
    );
    let fork_admin = fork.admin_key.clone().expect("admin key");
    let http = fork.http.clone();
    let metrics = tokio::task::spawn_blocking(move || {
        let mut metrics = String::new();
        wait_for("both witnesses to refuse the fork", || {
            metrics = http_get(&http, "/metrics", Some(&fork_admin)).text();
            ["witness.example/w1", "witness.example/w2"]
                .iter()
                .all(|w| witness_metric(&metrics, "auditlog_witness_failures_total", w) >= Some(1))
        });
        metrics
    })
    .await
    .expect("waited");
    for name in ["witness.example/w1", "witness.example/w2"] {
        let cosigned = witness_metric(&metrics, "auditlog_witness_cosigned_tree_size", name);
        assert_eq!(cosigned, Some(0), "{metrics}");
    }
    let stderr = fork.stop_for_stderr();
    for w in [&w1, &w2] {
        let said = format!("auditlogd: witness http://{}: refused tree size", w.http);
        let line = stderr.lines().find(|l| l.starts_with(&said));
        let line = line.unwrap_or_else(|| panic!("{said}… in {stderr}"));
        // Asked from 0, the witness stated the size it holds (409), and refused the
        // fork's checkpoint from there.
        let from = format!(" from size {held}: 422 ");
        assert!(
            line.contains(&from),
            "a split view, not another refusal: {line}"
        );
    }
    // The log's witnesses' lines copied onto the fork's note of the same size: the log's
    // signature holds (it is the log's key), the cosignatures do not.
    let lines = &published[published.find("\n\n").expect("signatures") + 2..];
    let witness_lines: String = lines.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(witness_lines.lines().count(), 2, "{published}");
    let forged = format!("{forked}{witness_lines}");
    let forged_file = dir.path().join("forged.note");
    std::fs::write(&forged_file, &forged).expect("written");
    let forged_path = forged_file.to_str().expect("UTF-8");
    let (code, out) = check(
        &[
            &["checkpoint", "verify", "--key", &vkey][..],
            &witnesses,
            &["--quorum", "1", forged_path],
        ]
        .concat(),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cosignature does not verify"), "{out}");
    // Nothing of the fork is witnessed: no quorum, not even of one, passes.
    let one = [&witnesses[..], &["--quorum", "1"]].concat();
    let (code, out) = check(&[&["verify", "--data", &fork_data][..], &one].concat());
    assert_eq!(code, 1, "{out}");
    let fork_bundle = dir.path().join("fork.bundle");
    let fork_bundle = fork_bundle.to_str().expect("UTF-8");
    run(&[
        "export",
        "--data",
        &fork_data,
        "--bundle",
        fork_bundle,
        "--to-seq",
        &held.to_string(),
    ]);
    let (code, out) = verify_bundle(fork_bundle, "1");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not witnessed: 0 of 2"), "{out}");
    // The same bundle with the forged note: its proof holds, its cosignatures do not.
    let text = std::fs::read_to_string(fork_bundle).expect("bundle");
    let (header, rest) = text.split_once('\n').expect("a header line");
    let mut header: serde_json::Value = serde_json::from_str(header).expect("JSON");
    assert_eq!(header["checkpoint"].as_str(), Some(forked.as_str()));
    header["checkpoint"] = serde_json::Value::from(forged.clone());
    std::fs::write(fork_bundle, format!("{header}\n{rest}")).expect("written");
    let (code, out) = check(&["verify-bundle", fork_bundle, "--key", &vkey]);
    assert_eq!(code, 0, "the log's signature and the proof hold: {out}");
    let (code, out) = verify_bundle(fork_bundle, "1");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cosignature does not verify"), "{out}");

    // The witnesses still hold the log's history. Restarted, the log takes the size they
    // hold from the cosignatures it kept, and gets its next checkpoint cosigned.
    let log = Server::start(
        &log_dir,
        false,
        &["--witnessed-by", &by1, "--witnessed-by", &by2],
    );
    let http = log.http.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the restarted log's next checkpoint cosigned", || {
            let note = http_get(&http, "/checkpoint", Some(&admin)).text();
            let parsed = Note::parse(note.as_bytes()).expect("a note");
            note_size(&note) > held && keys.iter().all(|k| k.verify(&parsed).is_ok())
        });
    })
    .await
    .expect("waited");
    for server in [log, w1, w2] {
        let (status, _) = server.terminate();
        assert!(status.success());
    }
}
