//! Legal holds through the binary: placed and lifted with `auditlog hold`, recorded as
//! events of the `_system` tenant (so exported, verified and proved like any event), and
//! listed from them.

mod common;

use common::{auditlog, data, ingest_generated, text};

fn holds(d: &str) -> Vec<serde_json::Value> {
    let out = auditlog(&["hold", "list", "--data", d, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

#[test]
fn holds_are_placed_lifted_and_listed_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(&dir.path().join("log"));
    assert!(auditlog(&["init", "--data", &d]).status.success());
    ingest_generated(&d, 300, 5);
    assert!(holds(&d).is_empty());
    for (tenant, reason) in [("org_x", "case 2026-117"), ("org_y", "regulator request")] {
        let out = auditlog(&[
            "hold", "place", "--data", &d, "--tenant", tenant, "--reason", reason,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let twice = auditlog(&[
        "hold", "place", "--data", &d, "--tenant", "org_x", "--reason", "again",
    ]);
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("under a legal hold since"),
        "{}",
        text(&twice.stderr)
    );
    let out = auditlog(&[
        "hold",
        "lift",
        "--data",
        &d,
        "--tenant",
        "org_y",
        "--reason",
        "withdrawn",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let not_held = auditlog(&[
        "hold", "lift", "--data", &d, "--tenant", "org_z", "--reason", "none",
    ]);
    assert!(!not_held.status.success());

    let listed = holds(&d);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["tenant"], "org_x");
    assert_eq!(listed[0]["reason"], "case 2026-117");
    assert_eq!(listed[0]["seq"].as_u64(), Some(300));

    // The history is in the log: three events of the `_system` tenant, which verify.
    let system = text(&auditlog(&["export", "--data", &d, "--tenant", "_system"]).stdout);
    let actions: Vec<String> = system
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            format!(
                "{} {}",
                v["action"].as_str().unwrap(),
                v["resource"]["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "auditlog.hold.place org_x",
            "auditlog.hold.place org_y",
            "auditlog.hold.lift org_y"
        ]
    );
    let verified = auditlog(&["verify", "--data", &d]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
}
