//! `auditlog query` and `auditlog export` driven as a user drives them: pages followed
//! by cursor, counts, plans, JSON Lines and CSV, checked against each other and against
//! the ingested events.

mod common;

use common::{auditlog, data, generate, ingest_generated, text};
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(&text(&out.stdout)).expect("JSON output")
}

/// Every event of an export as JSON values, in order.
fn export_jsonl(args: &[&str]) -> Vec<Value> {
    let out = auditlog(args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn pages_follow_cursors_and_agree_with_export_and_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let out = auditlog(&["init", "--data", &d, "--segment-bytes", "200000"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    ingest_generated(&d, 3_000, 21);
    let all = export_jsonl(&["export", "--data", &d]);
    assert_eq!(all.len(), 3_000);
    // The busiest tenant.
    let mut by_tenant = std::collections::HashMap::new();
    for e in &all {
        *by_tenant
            .entry(e["organization"]["id"].as_str().expect("tenant"))
            .or_insert(0) += 1;
    }
    let tenant = by_tenant
        .into_iter()
        .max_by_key(|&(t, n)| (n, t))
        .map(|(t, _)| t.to_owned())
        .expect("a tenant");
    let filters = [
        "--tenant",
        tenant.as_str(),
        "--action",
        "auth.*,api_key.use",
    ];
    let expected: Vec<&Value> = all
        .iter()
        .filter(|e| {
            let action = e["action"].as_str().unwrap_or_default();
            e["organization"]["id"] == tenant.as_str()
                && (action.starts_with("auth.") || action == "api_key.use")
        })
        .collect();
    assert!(expected.len() > 20, "{}", expected.len());

    // Newest first, 7 per page, following cursors (output is JSON when piped).
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["query", "--data", &d, "--limit", "7"];
        args.extend(filters);
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = json(&auditlog(&args));
        let events = page["events"].as_array().expect("events").clone();
        assert!(events.len() <= 7);
        got.extend(events);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<&Value> = expected.iter().rev().copied().collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), newest_first);
    // Every event carries its seq, equal to the export's.
    assert!(got.iter().all(|e| e["seq"].is_u64()));

    // The same set exported oldest first, and counted.
    let mut args = vec!["export", "--data", &d];
    args.extend(filters);
    assert_eq!(export_jsonl(&args).iter().collect::<Vec<_>>(), expected);
    let mut args = vec!["query", "--data", &d, "--count", "--format", "json"];
    args.extend(filters);
    let counts = json(&auditlog(&args));
    assert_eq!(counts["count"].as_u64(), Some(expected.len() as u64));
    let failures = expected
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .count();
    assert_eq!(
        counts["by_outcome"]["failure"].as_u64(),
        Some(failures as u64)
    );

    // The plan names the segments and how each was read.
    let mut args = vec![
        "query",
        "--data",
        &d,
        "--explain",
        "--from",
        "2026-01-01T00:00:00Z",
    ];
    args.extend(filters);
    let out = auditlog(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("segments:") && plan.contains(".seg"),
        "{plan}"
    );
    assert!(
        plan.contains("postings") || plan.contains("column scan"),
        "{plan}"
    );

    // A cursor of another query, or garbage, is refused with exit code 2.
    let mut args = vec![
        "query",
        "--data",
        &d,
        "--limit",
        "1",
        "--tenant",
        "org_other",
    ];
    let first_cursor = {
        let mut a = vec!["query", "--data", &d, "--limit", "1"];
        a.extend(filters);
        json(&auditlog(&a))["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned()
    };
    args.extend(["--cursor", first_cursor.as_str()]);
    let out = auditlog(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("another query"),
        "{}",
        text(&out.stderr)
    );
    let out = auditlog(&["query", "--data", &d, "--cursor", "nonsense!"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A duration whose last character is wider than a byte is refused, not a panic.
    for since in ["1\u{d8}", "\u{1f600}", "5d\u{e9}"] {
        let out = auditlog(&["query", "--data", &d, "--since", since]);
        assert_eq!(out.status.code(), Some(2), "{since}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("is not a duration"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn csv_export_quotes_per_rfc_4180_and_matches_the_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    let input = generate(500, 4);
    let out = common::auditlog_stdin(&["ingest", "--data", &d, "-"], input.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jsonl = export_jsonl(&["export", "--data", &d, "--outcome", "success,denied"]);
    let out = auditlog(&[
        "export",
        "--data",
        &d,
        "--format",
        "csv",
        "--outcome",
        "success,denied",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = out.stdout;
    assert!(
        bytes.windows(2).filter(|w| w == b"\r\n").count() > jsonl.len(),
        "CRLF line ends"
    );
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "seq",
            "timestamp",
            "actor_id",
            "actor_email",
            "actor_kind",
            "tenant_id",
            "tenant_name",
            "action",
            "resource_type",
            "resource_id",
            "outcome",
            "ip_address",
            "user_agent",
            "metadata",
            "event_id"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), jsonl.len());
    let field = |e: &Value, path: &[&str]| {
        let mut v = e;
        for p in path {
            v = &v[p];
        }
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let mut quoted = 0;
    for (row, e) in rows.iter().zip(&jsonl) {
        assert_eq!(&row[0], e["seq"].to_string().as_str());
        assert_eq!(row[2], field(e, &["actor", "user_id"]));
        assert_eq!(row[5], field(e, &["organization", "id"]));
        assert_eq!(row[7], field(e, &["action"]));
        assert_eq!(row[10], field(e, &["outcome"]));
        assert_eq!(row[12], field(e, &["user_agent"]));
        if !row[13].is_empty() {
            let metadata: Value = serde_json::from_str(&row[13]).expect("metadata JSON");
            assert_eq!(metadata, e["metadata"]);
        }
        quoted += usize::from(row[12].contains(',') || row[13].contains('"'));
    }
    assert!(quoted > 0, "some fields needed quoting");
}

#[test]
fn pages_of_a_since_query_keep_the_first_pages_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    ingest_generated(&d, 200, 5);
    let page = |cursor: Option<&str>| {
        let mut args = vec!["query", "--data", &d, "--since", "3000d", "--limit", "30"];
        if let Some(c) = cursor {
            args.extend(["--cursor", c]);
        }
        json(&auditlog(&args))
    };
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = page(cursor.as_deref());
        seqs.extend(
            p["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| e["seq"].as_u64().expect("seq")),
        );
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<u64> = (0..200).rev().collect();
    assert_eq!(seqs, expected);
    let out = auditlog(&["query", "--data", &d, "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_export_into_a_pipe_closed_early_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    ingest_generated(&d, 6_000, 8);
    for format in ["jsonl", "csv"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args(["export", "--data", &d, "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 100];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("some output");
        // The reader is gone (like `| head -c 100`): the export must not call that an error.
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
    }
}

#[test]
fn a_repeated_query_reports_its_latency_and_can_log_each_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(dir.path());
    ingest_generated(&d, 500, 3);
    let once = auditlog(&["query", "--data", &d, "--format", "json", "--limit", "7"]);
    let timings = dir.path().join("timings.txt");
    let timings = timings.to_str().expect("UTF-8 path");
    let repeated = auditlog(&[
        "query",
        "--data",
        &d,
        "--format",
        "json",
        "--limit",
        "7",
        "--repeat",
        "5",
        "--timings",
        timings,
    ]);
    // The same answer, and the latency on stderr.
    assert_eq!(json(&repeated), json(&once));
    assert!(
        text(&repeated.stderr).contains("5 runs: p50 "),
        "{}",
        text(&repeated.stderr)
    );
    let runs: Vec<u64> = std::fs::read_to_string(timings)
        .expect("timings written")
        .lines()
        .map(|l| l.parse().expect("microseconds"))
        .collect();
    assert_eq!(runs.len(), 5);
}
