//! Parquet, read by DuckDB (PyPI `duckdb`, in the project's venv) and Spark (PyPI
//! `pyspark` in local mode, scripts/spark-env.sh): `auditlog export --format parquet` and
//! the archive's `segments/<base>.parquet` (one per archived segment). Their rows are the
//! log's events, counted and paged by tenant, actor, action and time exactly as
//! `auditlog query` answers, their fields those of `auditlog export`, and their leaf
//! hashes the ones inclusion proofs prove, so an analysis can cite provable events. Each
//! file states its schema version, origin and hash.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use auditlog_engine::event::Timestamp;
use common::{auditlog, data, ingest_generated, project_script, python, text};
use serde_json::{Value, json};

/// Runs `statements` with DuckDB; their rows.
fn duckdb(statements: &[String]) -> Vec<Vec<Vec<Value>>> {
    sql(&python(), &["duckdb".to_owned()], statements)
}

/// Runs `statements` with `python` and tests/data/sql_query.py (`args`: `duckdb`, or
/// `spark VIEW=PATH…`); their rows, as it prints them.
fn sql(python: &str, args: &[String], statements: &[String]) -> Vec<Vec<Vec<Value>>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sql_query.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
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

/// Runs Spark SQL `statements`, each `(view, path)` a view over the Parquet at `path` (a
/// file or a glob); their rows.
fn spark(views: &[(&str, String)], statements: &[String]) -> Vec<Vec<Vec<Value>>> {
    let python = project_script("spark-env.sh");
    let mut args = vec!["spark".to_owned()];
    args.extend(views.iter().map(|(name, path)| format!("{name}={path}")));
    sql(&python, &args, statements)
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

/// Parquet rows of the log at `d`: the log's records below `end`, read by DuckDB as
/// `duckdb` (a `read_parquet(…)`) and by Spark as the view `spark`.
struct Rows<'a> {
    d: &'a str,
    duckdb: String,
    spark: &'a str,
    end: u64,
    /// Seqs whose leaf hashes are checked (those below `end`).
    sample: Vec<u64>,
}

/// Spark statements, and the rows they must give.
#[derive(Default)]
struct ForSpark {
    statements: Vec<String>,
    expected: Vec<Vec<Vec<Value>>>,
}

impl Rows<'_> {
    /// `auditlog query --count` with `filters`, below `end`.
    fn count(&self, filters: &[&str]) -> u64 {
        let end = self.end.to_string();
        count(self.d, &[filters, &["--to-seq", &end]].concat())
    }

    /// Checks with DuckDB that the rows are the log's below `end`, each once, and that
    /// counts and a page by tenant, actor, action and time are `auditlog query`'s, and
    /// sampled leaf hashes those of `prove inclusion`; adds the same checks for Spark
    /// to `spark`.
    fn check(&self, spark: &mut ForSpark) {
        let t = &self.duckdb;
        // Every record below `end` once; what to compare: the biggest tenants, an actor
        // of the first, the commonest actions, the middle half of the time range.
        let found = duckdb(&[
            format!("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM {t}"),
            format!("SELECT tenant_id FROM {t} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3"),
            format!("SELECT action FROM {t} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"),
            format!(
                "SELECT epoch_us(quantile_disc(timestamp, 0.25)), \
                 epoch_us(quantile_disc(timestamp, 0.75)) FROM {t}"
            ),
        ]);
        let whole: Vec<u64> = found[0][0].iter().map(as_u64).collect();
        assert_eq!(whole, [self.end, self.end, 0, self.end - 1]);
        let column = |rows: &Vec<Vec<Value>>| -> Vec<String> {
            rows.iter()
                .map(|r| r[0].as_str().expect("text").to_owned())
                .collect()
        };
        let (tenants, actions) = (column(&found[1]), column(&found[2]));
        let (from_us, to_us) = (as_u64(&found[3][0][0]), as_u64(&found[3][0][1]));
        let (from, to) = (
            Timestamp(from_us as i64).to_rfc3339(),
            Timestamp(to_us as i64).to_rfc3339(),
        );
        let tenant = &tenants[0];
        let actor = duckdb(&[format!(
            "SELECT actor_id FROM {t} WHERE tenant_id = '{tenant}' GROUP BY 1 \
             ORDER BY count(*) DESC, 1 LIMIT 1"
        )])[0][0][0]
            .as_str()
            .expect("an actor")
            .to_owned();

        // Counts: the same in DuckDB, in Spark and in the log's own query engine. Each
        // condition is written for both (DuckDB's table, Spark's view).
        let quoted: Vec<String> = actions.iter().map(|a| format!("'{a}'")).collect();
        let mut conditions: Vec<(String, String)> = Vec::new();
        let mut expected = Vec::new();
        for tenant in &tenants {
            let c = format!("tenant_id = '{tenant}'");
            conditions.push((c.clone(), c));
            expected.push(self.count(&["--tenant", tenant]));
        }
        let c = format!("tenant_id = '{tenant}' AND actor_id = '{actor}'");
        conditions.push((c.clone(), c));
        expected.push(self.count(&["--tenant", tenant, "--actor", &actor]));
        let c = format!("action IN ({})", quoted.join(","));
        conditions.push((c.clone(), c));
        expected.push(self.count(&["--action", &actions.join(",")]));
        conditions.push((
            format!("timestamp >= '{from}'::TIMESTAMPTZ AND timestamp < '{to}'::TIMESTAMPTZ"),
            format!("unix_micros(timestamp) >= {from_us} AND unix_micros(timestamp) < {to_us}"),
        ));
        expected.push(self.count(&["--from", &from, "--to", &to]));
        let statements: Vec<String> = conditions
            .iter()
            .map(|(duck, _)| format!("SELECT count(*) FROM {t} WHERE {duck}"))
            .collect();
        let counted: Vec<u64> = duckdb(&statements)
            .iter()
            .map(|rows| as_u64(&rows[0][0]))
            .collect();
        assert_eq!(counted, expected);
        assert!(
            expected.iter().all(|&n| n > 0 && n < self.end),
            "{expected:?}"
        );
        for ((_, condition), n) in conditions.iter().zip(&expected) {
            spark.statements.push(format!(
                "SELECT count(*) FROM {} WHERE {condition}",
                self.spark
            ));
            spark.expected.push(vec![vec![json!(n)]]);
        }

        // A page: the tenant's ten newest, and their fields as `auditlog export` gives
        // them.
        let end = self.end.to_string();
        let page: Value = serde_json::from_str(&run(&[
            "query", "--data", self.d, "--tenant", tenant, "--to-seq", &end, "--limit", "10",
            "--format", "json",
        ]))
        .expect("JSON");
        let events = page["events"].as_array().expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| as_u64(&e["seq"])).collect();
        assert_eq!(seqs.len(), 10);
        let rows = duckdb(&[format!(
            "SELECT seq, action, actor_id, resource_id, metadata, epoch_us(timestamp) \
             FROM {t} WHERE tenant_id = '{tenant}' ORDER BY seq DESC LIMIT 10"
        )])
        .remove(0);
        let parquet_seqs: Vec<u64> = rows.iter().map(|r| as_u64(&r[0])).collect();
        assert_eq!(parquet_seqs, seqs);
        for (row, event) in rows.iter().zip(events) {
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
        spark.statements.push(format!(
            "SELECT seq FROM {} WHERE tenant_id = '{tenant}' ORDER BY seq DESC LIMIT 10",
            self.spark
        ));
        spark
            .expected
            .push(seqs.iter().map(|s| vec![json!(s)]).collect());

        // Leaf hashes: those inclusion proofs prove.
        let sample: Vec<String> = self
            .sample
            .iter()
            .filter(|&&s| s < self.end)
            .map(u64::to_string)
            .collect();
        let list = sample.join(",");
        let rows = duckdb(&[format!(
            "SELECT seq, leaf_hash FROM {t} WHERE seq IN ({list}) ORDER BY seq"
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
                self.d,
                "--index",
                &seq.to_string(),
            ]))
            .expect("proof JSON");
            assert_eq!(row[1], proof["leaf_hash"], "seq {seq}");
            proven.push(vec![json!(seq), proof["leaf_hash"].clone()]);
        }
        spark.statements.push(format!(
            "SELECT seq, leaf_hash FROM {} WHERE seq IN ({list}) ORDER BY seq",
            self.spark
        ));
        spark.expected.push(proven);
    }
}

/// The key-value metadata `auditlog.*` of the Parquet at `path` (a glob: of each file),
/// and how many files and row groups DuckDB finds there.
fn file_facts(path: &str) -> (Vec<(String, String)>, u64, u64) {
    let found = duckdb(&[
        format!(
            "SELECT DISTINCT key::VARCHAR, value::VARCHAR FROM parquet_kv_metadata('{path}') \
             WHERE key::VARCHAR LIKE 'auditlog.%' ORDER BY 1"
        ),
        format!(
            "SELECT count(DISTINCT file_name), count(*) FROM (SELECT DISTINCT file_name, \
             row_group_id FROM parquet_metadata('{path}'))"
        ),
        format!(
            "SELECT count(*) FILTER (WHERE stats_min_value IS NOT NULL \
             AND stats_max_value IS NOT NULL), count(*) FROM parquet_metadata('{path}') \
             WHERE path_in_schema = 'tenant_id'"
        ),
    ]);
    let facts = found[0]
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("key").to_owned(),
                r[1].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    let groups = as_u64(&found[1][0][1]);
    let with_stats: Vec<u64> = found[2][0].iter().map(as_u64).collect();
    assert_eq!(
        with_stats,
        [groups, groups],
        "tenant_id has statistics in every group"
    );
    (facts, as_u64(&found[1][0][0]), groups)
}

#[test]
fn duckdb_and_spark_read_the_export_and_the_archive_as_the_log_with_proven_leaf_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = data(&dir.path().join("log"));
    // Segments of 2 MiB: some fifteen archived, each one Parquet file.
    run(&[
        "init",
        "--data",
        &d,
        "--origin",
        "audit.example.com/parquet",
        "--segment-bytes",
        "2097152",
    ]);
    // Past one row group (65,536) and one query page: both paths run.
    ingest_generated(&d, 70_000, 11);
    let origin_facts = [
        ("auditlog.hash", "sha256"),
        ("auditlog.origin", "audit.example.com/parquet"),
        ("auditlog.schema", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();

    // The export: every event, in one file of two row groups.
    let file = dir.path().join("events.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args(["export", "--data", &d, "--format", "parquet"])
        .stdout(std::fs::File::create(&file).expect("file"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("70000 events written as Parquet"));
    let file_path = file.display().to_string();
    assert_eq!(file_facts(&file_path), (origin_facts.clone(), 1, 2));

    // The archive: a Parquet file beside each segment, named in its manifest entry.
    let archive_dir = dir.path().join("archive");
    let url = format!("file://{}", archive_dir.display());
    let report: Value =
        serde_json::from_str(&run(&["archive", "--data", &d, "--to", &url, "--json"]))
            .expect("JSON report");
    let archived = report["archived_tree_size"].as_u64().expect("archived");
    let segments = report["segments_archived"].as_u64().expect("segments");
    assert!(segments >= 5 && archived < 70_000, "{report}");
    assert!(report["parquet_bytes"].as_u64() > Some(0), "{report}");
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(archive_dir.join("manifest")).expect("manifest") {
        let entry: Value =
            serde_json::from_slice(&std::fs::read(entry.expect("entry").path()).expect("read"))
                .expect("JSON");
        let parquet = &entry["parquet"];
        let object = parquet["object"].as_str().expect("a Parquet object");
        let bytes = std::fs::read(archive_dir.join(object)).expect("the Parquet");
        assert_eq!(Some(bytes.len() as u64), parquet["bytes"].as_u64());
        assert_eq!(
            Some(blake3::hash(&bytes).to_hex().as_str()),
            parquet["blake3"].as_str()
        );
        bases.push(as_u64(&entry["base_seq"]));
    }
    bases.sort_unstable();
    assert_eq!(bases.len() as u64, segments);
    let glob = format!("{}/segments/*.parquet", archive_dir.display());
    assert_eq!(file_facts(&glob), (origin_facts, segments, segments));

    // Both read as the log: DuckDB here, Spark once for both below. Leaf hashes at tile
    // edges, row group and segment edges, and the ends.
    let export = Rows {
        d: &d,
        duckdb: format!("read_parquet('{file_path}')"),
        spark: "export",
        end: 70_000,
        sample: vec![0, 1, 255, 256, 9_999, 65_535, 65_536, 69_999],
    };
    let edge = bases[1];
    let in_archive = Rows {
        d: &d,
        duckdb: format!("read_parquet('{glob}')"),
        spark: "archive",
        end: archived,
        sample: vec![0, 1, edge - 1, edge, archived / 2, archived - 1],
    };
    let mut for_spark = ForSpark::default();
    export.check(&mut for_spark);
    in_archive.check(&mut for_spark);
    let answers = spark(
        &[("export", file_path.clone()), ("archive", glob)],
        &for_spark.statements,
    );
    for ((statement, answer), expected) in for_spark
        .statements
        .iter()
        .zip(&answers)
        .zip(&for_spark.expected)
    {
        assert_eq!(answer, expected, "{statement}");
    }
    assert_eq!(answers.len(), for_spark.expected.len());

    // `verify --archive` reads each Parquet file back; a damaged one fails it, named.
    let out = auditlog(&["verify", "--archive", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains(&format!("{segments} Parquet files")),
        "{said}"
    );
    let victim = archive_dir.join(format!("segments/{:020}.parquet", bases[1]));
    let mut bytes = std::fs::read(&victim).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&victim, &bytes).expect("written");
    let out = auditlog(&["verify", "--archive", &url]);
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("{:020}.parquet", bases[1])),
        "{said}"
    );

    // Without Parquet: none written, none named.
    let plain = dir.path().join("plain");
    run(&[
        "archive",
        "--data",
        &d,
        "--to",
        &format!("file://{}", plain.display()),
        "--no-parquet",
    ]);
    let names: Vec<String> = std::fs::read_dir(plain.join("segments"))
        .expect("segments")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".seg")), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".parquet")), "{names:?}");
    for entry in std::fs::read_dir(plain.join("manifest")).expect("manifest") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        assert!(!text.contains("parquet"), "{text}");
    }

    // A filtered export is the same rows: one tenant's.
    let tenant = duckdb(&[format!(
        "SELECT tenant_id FROM {} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        export.duckdb
    )])[0][0][0]
        .as_str()
        .expect("a tenant")
        .to_owned();
    let one = dir.path().join("tenant.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .args([
            "export", "--data", &d, "--format", "parquet", "--tenant", &tenant,
        ])
        .stdout(std::fs::File::create(&one).expect("file"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let same = duckdb(&[
        format!(
            "SELECT count(*) FROM (SELECT * FROM read_parquet('{}') EXCEPT SELECT * FROM {} \
             WHERE tenant_id = '{tenant}')",
            one.display(),
            export.duckdb
        ),
        format!("SELECT count(*) FROM read_parquet('{}')", one.display()),
    ]);
    assert_eq!(as_u64(&same[0][0][0]), 0);
    assert_eq!(as_u64(&same[1][0][0]), count(&d, &["--tenant", &tenant]));

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
