//! `auditlogd` as a witness (c2sp.org/tlog-witness) of another `auditlogd`'s log, over
//! loopback HTTP as a log would call it: it cosigns the log's first checkpoint and then
//! each one proven consistent, states its size when asked from the wrong one, keeps its
//! state across a restart, and refuses a split view: a second history signed with the
//! log's own key, of the same size or longer.

mod common;

use auditlog_engine::checkpoint::{CosignatureVerifier, Note};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Server, http_get, http_request, ingest_count, note_size, run_auditlog as run};

/// The base64 lines of the proof JSON's path (hex).
fn proof_lines(proof: &serde_json::Value) -> String {
    let mut out = String::new();
    for hex in proof["path"].as_array().expect("path") {
        let hex = hex.as_str().expect("hex");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        out.push_str(&BASE64.encode(bytes));
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_one_history_and_refuses_a_split_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Server::start(&dir.path().join("log"), true, &[]);
    let admin = log.admin_key.clone().expect("admin key");
    let vkey = http_get(&log.http, "/v1/verifier-key", Some(&admin)).text();
    let vkey = vkey.trim().to_owned();
    let key_file = dir.path().join("witness.key");
    let key_arg = key_file.to_str().expect("UTF-8 path").to_owned();
    let witness_args: Vec<String> = [
        "--witness-key",
        &key_arg,
        "--witness-name",
        "witness.example/w1",
        "--witness-log",
        &vkey,
    ]
    .map(str::to_owned)
    .to_vec();
    let witness_dir = dir.path().join("witness");
    let start_witness = move |first: bool| {
        let args: Vec<&str> = witness_args.iter().map(String::as_str).collect();
        Server::start(&witness_dir, first, &args)
    };
    let witness = start_witness(true);
    let public = std::fs::read_to_string(dir.path().join("witness.pub")).expect("witness.pub");
    let cosigner = CosignatureVerifier::parse(&public).expect("a witness key");

    ingest_count(&log, &admin, 50).await;
    let first = http_get(&log.http, "/v1/checkpoint", Some(&admin)).text();
    ingest_count(&log, &admin, 70).await;
    let second = http_get(&log.http, "/v1/checkpoint", Some(&admin)).text();
    let (n1, n2) = (note_size(&first), note_size(&second));

    let add = |witness: &Server, body: String| {
        let plain = [("Content-Type", "text/plain")];
        http_request(
            &witness.http,
            "POST",
            "/add-checkpoint",
            None,
            &plain,
            body.as_bytes(),
        )
    };
    tokio::task::spawn_blocking(move || {
        // The first checkpoint, from size 0: cosigned, and the cosignature verifies.
        let answer = add(&witness, format!("old 0\n\n{first}"));
        assert_eq!(answer.status, 200, "{}", answer.text());
        let note = Note::parse(format!("{first}{}", answer.text()).as_bytes()).expect("note");
        let time = cosigner.verify(&note).expect("a valid cosignature");
        let not_a_witness = add(&log, format!("old 0\n\n{first}"));
        assert_eq!(
            not_a_witness.status, 404,
            "the log's own server witnesses nothing"
        );
        assert!(time > 1_700_000_000, "{time}");

        // The next, with the log's consistency proof from the size the witness holds.
        let proof = http_get(
            &log.http,
            &format!("/v1/proofs/consistency?size1={n1}&size2={n2}"),
            Some(&admin),
        );
        let lines = proof_lines(&proof.json());
        let answer = add(&witness, format!("old {n1}\n{lines}\n{second}"));
        assert_eq!(answer.status, 200, "{}", answer.text());

        // From the wrong size: 409 and the size it holds, as the spec says.
        let answer = add(&witness, format!("old {n1}\n{lines}\n{second}"));
        assert_eq!(answer.status, 409, "{}", answer.text());
        assert_eq!(answer.header("content-type"), Some("text/x.tlog.size"));
        assert_eq!(answer.text(), format!("{n2}\n"));

        // A split view: another history under the same origin and key, of size n2.
        let (status, _) = witness.terminate();
        assert!(status.success());
        let fork = dir.path().join("fork");
        let fork_data = fork.to_str().expect("UTF-8").to_owned();
        let origin = vkey.split('+').next().expect("origin");
        run(&["init", "--data", &fork_data, "--origin", origin]);
        for file in ["checkpoint.key", "checkpoint.pub"] {
            std::fs::copy(
                dir.path().join("log/keys").join(file),
                fork.join("keys").join(file),
            )
            .expect("the log's key, copied");
        }
        let events = run(&["generate", "--count", &n2.to_string(), "--seed", "9"]);
        std::fs::write(dir.path().join("fork.jsonl"), events).expect("events");
        let events = dir.path().join("fork.jsonl");
        run(&[
            "ingest",
            "--data",
            &fork_data,
            events.to_str().expect("UTF-8"),
        ]);
        let forked = run(&["checkpoint", "--data", &fork_data]);
        assert_eq!(note_size(&forked), n2);
        assert_ne!(forked, second, "another root at the same size");

        // The witness, restarted, still holds n2, and refuses the fork's checkpoint.
        let witness = start_witness(false);
        let answer = add(&witness, format!("old 0\n\n{forked}"));
        assert_eq!(answer.status, 409, "{}", answer.text());
        let answer = add(&witness, format!("old {n2}\n\n{forked}"));
        assert_eq!(answer.status, 422, "{}", answer.text());
        assert!(answer.text().contains("split view"), "{}", answer.text());
        // A longer fork with its own consistency proof: it does not join n2's root.
        run(&[
            "ingest",
            "--data",
            &fork_data,
            events.to_str().expect("UTF-8"),
        ]);
        let longer = run(&["checkpoint", "--data", &fork_data]);
        let n3 = note_size(&longer);
        let proof = run(&[
            "prove",
            "consistency",
            "--data",
            &fork_data,
            "--size1",
            &n2.to_string(),
            "--size2",
            &n3.to_string(),
        ]);
        let lines = proof_lines(&serde_json::from_str(&proof).expect("proof JSON"));
        let answer = add(&witness, format!("old {n2}\n{lines}\n{longer}"));
        assert_eq!(answer.status, 422, "{}", answer.text());
        // The log's own next checkpoint is still cosigned; a stranger's log is 404.
        let stranger = run(&["checkpoint", "--data", &fork_data]);
        let stranger = stranger.replace(origin, "example.com/not-witnessed");
        let answer = add(&witness, format!("old 0\n\n{stranger}"));
        assert_eq!(answer.status, 404, "{}", answer.text());
        let answer = add(&witness, "old x\n\n".to_owned());
        assert_eq!(answer.status, 400, "{}", answer.text());
        let answer = add(&witness, format!("old 0\n{}", "A".repeat(40_000)));
        assert_eq!(answer.status, 413, "a body past 32 KiB is not read");
    })
    .await
    .expect("checks");
}
