//! `auditlog export --format parquet`, read by DuckDB (PyPI `duckdb`, in the project's
//! venv) and Spark (PyPI `pyspark` in local mode, scripts/spark-env.sh): the rows are the
//! log's events, counted and paged by tenant, actor, action and time exactly as
//! `auditlog query` answers, their fields those of `auditlog export`,
//! and their leaf hashes the ones inclusion proofs prove, so an analysis can cite
//! provable events. The file states its schema version, origin and hash.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use auditlog_engine::event::Timestamp;
use common::{auditlog, data, ingest_generated, project_script, python, text};
use serde_json::Value;

/// Runs `statements` with DuckDB; their rows.
fn duckdb(statements: &[String]) -> Vec<Vec<Vec<Value>>> {
    sql(&python(), "duckdb", None, statements)
}

/// Runs `statements` with `python` and tests/data/sql_query.py on `engine` (`duckdb`, or
/// `spark` over `file`); their rows, as it prints them.
fn sql(
    python: &str,
    engine: &str,
    file: Option<&std::path::Path>,
    statements: &[String],
) -> Vec<Vec<Vec<Value>>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sql_query.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(engine)
        .args(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = serde_json::to_vec(statements).expect("JSON");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("written");
    let out = child.wait_with_output().expect("waits");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

/// Runs Spark SQL `statements` over the Parquet `file` (the view `events`); their rows.
fn spark(file: &std::path::Path, statements: &[String]) -> Vec<Vec<Vec<Value>>> {
    let python = project_script("spark-env.sh");
    sql(&python, "spark", Some(file), statements)
}

/// `auditlog ARGS` to success; its stdout.
fn run(args: &[&str]) -> String {
    let out = auditlog(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `auditlog query --data d --count --format json FILTERS`: the count.
fn count(d: &str, filters: &[&str]) -> u64 {
    let args = [
        &["query", "--data", d, "--count", "--format", "json"][..],
        filters,
    ]
    .concat();
    let answer: Value = serde_json::from_str(&run(&args)).expect("JSON");
    answer["count"].as_u64().expect("a count")
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .expect("a number")
}

#[test]
fn duckdb_reads_the_parquet_export_as_the_log_and_its_leaf_hashes_are_proven() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("log"));
    run(&[
        "init",
        "--data",
        &d,
        "--origin",
        "audit.example.com/parquet",
    ]);
    // Past one row group (65,536) and one query page: both paths run.
    ingest_generated(&d, 70_000, 11);
    let file = dir.path().join("events.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(["export", "--data", &d, "--format", "parquet"])
        .stdout(std::fs::File::create(&file).expect("file"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("70000 events written as Parquet"));
    let t = format!("read_parquet('{}')", file.display());

    // What to compare: the biggest tenants, an actor of the first, the commonest
    // actions, the middle half of the time range.
    let found = duckdb(&[
        format!("SELECT count(*) FROM {t}"),
        format!("SELECT tenant_id FROM {t} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3"),
        format!("SELECT action FROM {t} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"),
        format!(
            "SELECT epoch_us(quantile_disc(timestamp, 0.25)), \
             epoch_us(quantile_disc(timestamp, 0.75)) FROM {t}"
        ),
        "SELECT key::VARCHAR, value::VARCHAR FROM parquet_kv_metadata('".to_owned()
            + &file.display().to_string()
            + "') WHERE key::VARCHAR LIKE 'auditlog.%' ORDER BY 1",
        "SELECT count(*) FROM parquet_metadata('".to_owned()
            + &file.display().to_string()
            + "') WHERE path_in_schema = 'tenant_id' AND stats_min_value IS NOT NULL",
        "SELECT count(DISTINCT row_group_id) FROM parquet_metadata('".to_owned()
            + &file.display().to_string()
            + "')",
    ]);
    assert_eq!(as_u64(&found[0][0][0]), 70_000);
    assert_eq!(as_u64(&found[6][0][0]), 2, "two row groups");
    let tenants: Vec<String> = found[1]
        .iter()
        .map(|r| r[0].as_str().expect("id").to_owned())
        .collect();
    let actions: Vec<String> = found[2]
        .iter()
        .map(|r| r[0].as_str().expect("action").to_owned())
        .collect();
    let (from_us, to_us) = (as_u64(&found[3][0][0]), as_u64(&found[3][0][1]));
    let (from, to) = (
        Timestamp(from_us as i64).to_rfc3339(),
        Timestamp(to_us as i64).to_rfc3339(),
    );
    let facts: Vec<(String, String)> = found[4]
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("key").to_owned(),
                r[1].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            ("auditlog.hash".to_owned(), "sha256".to_owned()),
            (
                "auditlog.origin".to_owned(),
                "audit.example.com/parquet".to_owned()
            ),
            ("auditlog.schema".to_owned(), "1".to_owned()),
        ]
    );
    assert!(as_u64(&found[5][0][0]) >= 1, "tenant_id has statistics");
    let tenant = &tenants[0];
    let actor = duckdb(&[format!(
        "SELECT actor_id FROM {t} WHERE tenant_id = '{tenant}' GROUP BY 1 \
         ORDER BY count(*) DESC, 1 LIMIT 1"
    )])[0][0][0]
        .as_str()
        .expect("an actor")
        .to_owned();

    // Counts: the same in DuckDB and in the log's own query engine.
    let mut statements = Vec::new();
    let mut expected = Vec::new();
    for tenant in &tenants {
        statements.push(format!(
            "SELECT count(*) FROM {t} WHERE tenant_id = '{tenant}'"
        ));
        expected.push(count(&d, &["--tenant", tenant]));
    }
    statements.push(format!(
        "SELECT count(*) FROM {t} WHERE tenant_id = '{tenant}' AND actor_id = '{actor}'"
    ));
    expected.push(count(&d, &["--tenant", tenant, "--actor", &actor]));
    let list = actions.join(",");
    let quoted: Vec<String> = actions.iter().map(|a| format!("'{a}'")).collect();
    statements.push(format!(
        "SELECT count(*) FROM {t} WHERE action IN ({})",
        quoted.join(",")
    ));
    expected.push(count(&d, &["--action", &list]));
    statements.push(format!(
        "SELECT count(*) FROM {t} WHERE timestamp >= '{from}'::TIMESTAMPTZ \
         AND timestamp < '{to}'::TIMESTAMPTZ"
    ));
    expected.push(count(&d, &["--from", &from, "--to", &to]));
    let counted: Vec<u64> = duckdb(&statements)
        .iter()
        .map(|rows| as_u64(&rows[0][0]))
        .collect();
    assert_eq!(counted, expected);
    assert!(
        expected.iter().all(|&n| n > 0 && n < 70_000),
        "{expected:?}"
    );

    // A page: the tenant's ten newest, and their fields as `auditlog export` gives them.
    let page: Value = serde_json::from_str(&run(&[
        "query", "--data", &d, "--tenant", tenant, "--limit", "10", "--format", "json",
    ]))
    .expect("JSON");
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| as_u64(&e["seq"]))
        .collect();
    let rows = duckdb(&[format!(
        "SELECT seq, action, actor_id, resource_id, metadata, epoch_us(timestamp) FROM {t} \
         WHERE tenant_id = '{tenant}' ORDER BY seq DESC LIMIT 10"
    )])
    .remove(0);
    let parquet_seqs: Vec<u64> = rows.iter().map(|r| as_u64(&r[0])).collect();
    assert_eq!(parquet_seqs, seqs);
    for (row, event) in rows.iter().zip(page["events"].as_array().expect("events")) {
        assert_eq!(row[1], event["action"]);
        assert_eq!(row[2], event["actor"]["user_id"]);
        assert_eq!(row[3], event["resource"]["id"]);
        let metadata: Option<Value> = row[4]
            .as_str()
            .map(|m| serde_json::from_str(m).expect("metadata JSON"));
        assert_eq!(metadata.as_ref(), event.get("metadata"));
        let time = Timestamp(as_u64(&row[5]) as i64).to_rfc3339();
        assert_eq!(Some(time.as_str()), event["timestamp"].as_str());
    }

    // Leaf hashes: those inclusion proofs prove, at tile edges and the ends.
    let sample = [0u64, 1, 255, 256, 9_999, 65_535, 65_536, 69_999];
    let list: Vec<String> = sample.iter().map(u64::to_string).collect();
    let rows = duckdb(&[format!(
        "SELECT seq, leaf_hash FROM {t} WHERE seq IN ({}) ORDER BY seq",
        list.join(",")
    )])
    .remove(0);
    assert_eq!(rows.len(), sample.len());
    let mut proven = Vec::new();
    for row in rows {
        let seq = as_u64(&row[0]);
        let proof: Value = serde_json::from_str(&run(&[
            "prove",
            "inclusion",
            "--data",
            &d,
            "--index",
            &seq.to_string(),
        ]))
        .expect("proof JSON");
        assert_eq!(row[1], proof["leaf_hash"], "seq {seq}");
        proven.push(vec![row[0].clone(), proof["leaf_hash"].clone()]);
    }

    // Spark (PyPI `pyspark`, local mode) reads the same file to the same counts, page
    // and leaf hashes.
    let mut statements: Vec<String> = tenants
        .iter()
        .map(|tenant| format!("SELECT count(*) FROM events WHERE tenant_id = '{tenant}'"))
        .collect();
    statements.push(format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{tenant}' AND actor_id = '{actor}'"
    ));
    statements.push(format!(
        "SELECT count(*) FROM events WHERE action IN ({})",
        quoted.join(",")
    ));
    statements.push(format!(
        "SELECT count(*) FROM events WHERE unix_micros(timestamp) >= {from_us} \
         AND unix_micros(timestamp) < {to_us}"
    ));
    statements.push(format!(
        "SELECT seq FROM events WHERE tenant_id = '{tenant}' ORDER BY seq DESC LIMIT 10"
    ));
    statements.push(format!(
        "SELECT seq, leaf_hash FROM events WHERE seq IN ({}) ORDER BY seq",
        list.join(",")
    ));
    let spark = spark(&file, &statements);
    let n = tenants.len() + 3;
    let spark_counts: Vec<u64> = spark[..n].iter().map(|rows| as_u64(&rows[0][0])).collect();
    assert_eq!(spark_counts, expected);
    let spark_page: Vec<u64> = spark[n].iter().map(|r| as_u64(&r[0])).collect();
    assert_eq!(spark_page, seqs);
    assert_eq!(spark[n + 1], proven);

    // A filtered export is the same rows: one tenant's.
    let one = dir.path().join("tenant.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args([
            "export", "--data", &d, "--format", "parquet", "--tenant", tenant,
        ])
        .stdout(std::fs::File::create(&one).expect("file"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let same = duckdb(&[format!(
        "SELECT count(*) FROM (SELECT * FROM read_parquet('{}') EXCEPT SELECT * FROM {t} \
         WHERE tenant_id = '{tenant}')",
        one.display()
    )]);
    assert_eq!(as_u64(&same[0][0][0]), 0);
    assert_eq!(count(&d, &["--tenant", tenant]), {
        let n = duckdb(&[format!(
            "SELECT count(*) FROM read_parquet('{}')",
            one.display()
        )]);
        as_u64(&n[0][0][0])
    });

    // Refused where it cannot be: from a server.
    let out = auditlog(&[
        "export",
        "--server",
        "http://127.0.0.1:9",
        "--format",
        "parquet",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not --server"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_sealing_logs_parquet_keeps_personal_fields_sealed_without_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("log"));
    let kek = data(&dir.path().join("kek"));
    run(&["init", "--data", &d, "--seal", "--kek-file", &kek]);
    let events = common::generate(300, 5);
    let emails: Vec<String> = events
        .lines()
        .filter_map(|l| {
            let e: Value = serde_json::from_str(l).expect("JSON");
            e["actor"]["email"].as_str().map(str::to_owned)
        })
        .collect();
    assert!(!emails.is_empty(), "the workload has e-mails");
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, &events).expect("written");
    run(&["ingest", "--data", &d, &data(&file), "--kek-file", &kek]);
    let export = |name: &str, key: bool| {
        let path = dir.path().join(name);
        let mut args = vec!["export", "--data", &d, "--format", "parquet"];
        if key {
            args.extend(["--kek-file", &kek]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args(&args)
            .stdout(std::fs::File::create(&path).expect("file"))
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        format!("read_parquet('{}')", path.display())
    };
    let (sealed, open) = (
        export("sealed.parquet", false),
        export("open.parquet", true),
    );
    let found = duckdb(&[
        format!("SELECT count(*) FROM {sealed} WHERE actor_email = '[sealed]'"),
        format!("SELECT count(*) FROM {sealed} WHERE actor_email LIKE '%@%'"),
        format!("SELECT actor_email FROM {open} WHERE actor_email IS NOT NULL ORDER BY seq"),
        format!(
            "SELECT count(*) FROM {sealed} s JOIN {open} o USING (seq) \
             WHERE s.leaf_hash = o.leaf_hash"
        ),
    ]);
    assert_eq!(as_u64(&found[0][0][0]), emails.len() as u64);
    assert_eq!(
        as_u64(&found[1][0][0]),
        0,
        "no e-mail in the clear without the key"
    );
    let opened: Vec<&str> = found[2]
        .iter()
        .map(|r| r[0].as_str().expect("text"))
        .collect();
    assert_eq!(opened, emails, "with the key, the e-mails as ingested");
    assert_eq!(as_u64(&found[3][0][0]), 300, "the same leaves either way");
}
