//! Deletion past retention through the binary: `auditlog expire` deletes the oldest
//! segments past retention, prints the signed receipt, records it in the `_system`
//! tenant, takes the same segments out of the archive, and the log and the archive still
//! verify; a legal hold keeps its tenant's segments until it is lifted.

mod common;

use common::{auditlog, data, ingest_generated, text};

fn expire(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["expire", "--json"];
    all.extend_from_slice(args);
    let out = auditlog(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(text(&out.stdout).trim()).expect("JSON")
}

#[test]
fn expire_deletes_past_retention_with_a_receipt_locally_and_in_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(&dir.path().join("log"));
    let out = auditlog(&["init", "--data", &d, "--segment-bytes", "65536"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The generator's events are of March 2026: past a retention of 30 days. Two ingests,
    // so a checkpoint (2,000) falls within the archived segments and the archive gets
    // tlog tiles, entry bundles (the records themselves) included.
    ingest_generated(&d, 2_000, 5);
    ingest_generated(&d, 1_000, 6);
    let archive = format!("file://{}", dir.path().join("archive").display());
    let out = auditlog(&["archive", "--data", &d, "--to", &archive, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let archived: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(archived["tiles_written"].as_u64() > Some(0), "{archived}");
    let archived = archived["segments_archived"].as_u64().unwrap();
    assert!(archived >= 1, "{archived}");
    let bundles = dir.path().join("archive/tile/entries");
    assert!(bundles.join("000").exists());

    // A hold on the tenant of the first event keeps every segment.
    let generated = common::generate(3_000, 5);
    let first: serde_json::Value = serde_json::from_str(generated.lines().next().unwrap()).unwrap();
    let tenant = first["organization"]["id"].as_str().unwrap().to_owned();
    let hold = |verb: &str| {
        let out = auditlog(&[
            "hold", verb, "--data", &d, "--tenant", &tenant, "--reason", "case 7",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    hold("place");
    let held = expire(&["--data", &d, "--retain-days", "30"]);
    assert!(held["deleted"].is_null(), "{held}");
    let why = held["kept_because"].as_str().unwrap_or_default();
    assert!(
        why.contains(&tenant) && why.contains("legal hold"),
        "{held}"
    );
    hold("lift");

    let parquet_files = || {
        walk(&dir.path().join("archive/segments"))
            .into_iter()
            .filter(|name| name.ends_with(".parquet"))
            .count() as u64
    };
    assert_eq!(parquet_files(), archived, "one Parquet file per segment");
    let done = expire(&["--data", &d, "--retain-days", "30", "--archive", &archive]);
    let end = done["deleted"]["end"].as_u64().expect("records deleted");
    assert_eq!(done["deleted"]["first"].as_u64(), Some(0));
    assert!(
        end > 0 && done["deleted"]["segments"].as_u64() > Some(1),
        "{done}"
    );
    let receipt = done["deleted"]["receipt"].as_str().unwrap();
    assert!(receipt.contains(&format!("deleted 0 {end}\n")), "{receipt}");
    assert!(receipt.contains("policy retain-days 30\n"), "{receipt}");
    // Every archived segment was past retention too.
    assert_eq!(
        done["archive"]["segments_deleted"].as_u64(),
        Some(archived),
        "{done}"
    );
    // Their Parquet went with them, and no entry bundle holding a deleted record is
    // left in the archive.
    assert_eq!(parquet_files(), 0);
    assert!(
        done["archive"]["entry_bundles_deleted"].as_u64() > Some(0),
        "{done}"
    );
    let left: Vec<String> = walk(&bundles);
    assert!(
        left.iter().all(|name| {
            let index = name.split(".p/").next().unwrap().replace(['x', '/'], "");
            index.parse::<u64>().unwrap() * 256 >= end
        }),
        "{left:?} (deleted up to {end})"
    );

    // Recorded in the `_system` tenant with the receipt.
    let system = text(&auditlog(&["export", "--data", &d, "--tenant", "_system"]).stdout);
    let recorded: Vec<serde_json::Value> = system
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .filter(|v: &serde_json::Value| v["action"] == "auditlog.retention.delete")
        .collect();
    assert_eq!(recorded.len(), 1, "{system}");
    assert_eq!(recorded[0]["metadata"]["receipt"].as_str(), Some(receipt));

    // Both verify, noting the gap the receipt covers.
    for args in [
        vec!["verify", "--data", &d],
        vec!["verify", "--archive", &archive],
    ] {
        let out = auditlog(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            said.contains(&format!("records 0..{end} were deleted")),
            "{said}"
        );
    }

    // Nothing more past retention: what is left is in the active segment.
    let again = expire(&["--data", &d, "--retain-days", "30"]);
    assert!(again["deleted"].is_null(), "{again}");
    assert!(
        again["kept_because"]
            .as_str()
            .is_some_and(|w| w.contains("active segment")),
        "{again}"
    );
}

/// The files under `dir`, as paths relative to it.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            found.extend(walk(&path).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            found.push(name);
        }
    }
    found
}
