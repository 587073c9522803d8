//! The worked examples of docs/PROOFS.md, each produced again by the binary and compared
//! with the text, so the docs cannot drift from the code. Each example is the fenced
//! block after a `<!-- example: NAME -->` line; every name there must be checked here.
//! In a block, `$ auditlog …` lines are commands, run with the lines after them as their
//! expected output, and `…` stands for text left out.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use auditlog_engine::HashAlg;
use auditlog_engine::checkpoint::TlogProof;
use common::{auditlog, auditlog_stdin, data, generate, prove_tlog, text};

/// The worked examples of the file, by name.
fn examples(doc: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let markers = doc.matches("<!--").count();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("<!-- example: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().expect("a block after the marker");
        assert!(
            fence.starts_with("```"),
            "{name}: no block after its marker"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let mut block = block.join("\n");
        block.push('\n');
        assert!(
            found.insert(name.to_owned(), block).is_none(),
            "{name} twice"
        );
    }
    // A marker spelt otherwise would be skipped silently: every comment is a marker.
    assert_eq!(
        markers,
        found.len(),
        "a comment that is not `<!-- example: NAME -->`"
    );
    found
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `actual` is `pattern` with each `…` standing for any text.
fn matches(pattern: &str, actual: &str) -> bool {
    let mut pieces = pattern.split('…');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    for (i, piece) in pieces.iter().enumerate() {
        if i + 1 == pieces.len() {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Runs the `$ auditlog …` commands of `block` in `dir`, comparing each one's stdout with
/// the lines after it.
fn run_commands(block: &str, dir: &Path) {
    let mut commands = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ auditlog ") {
            Some(args) => commands.push((args.to_owned(), String::new())),
            None => {
                let (_, expected) = commands.last_mut().expect("a command first");
                expected.push_str(line);
                expected.push('\n');
            }
        }
    }
    assert!(!commands.is_empty(), "no command in {block}");
    for (args, expected) in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .expect("auditlog runs");
        assert!(out.status.success(), "{args}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected, "auditlog {args}");
    }
}

/// The log of the checkpoint examples: `generate --count 1000 --seed 1` in a log named
/// `audit.example.com/demo` with the example key of cli/tests/data/demo-key.
fn demo_log(dir: &Path) -> String {
    let d = data(&dir.join("demo"));
    let out = auditlog(&["init", "--data", &d, "--origin", "audit.example.com/demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for file in ["checkpoint.key", "checkpoint.pub"] {
        let key = repo().join("cli/tests/data/demo-key").join(file);
        std::fs::copy(key, dir.join("demo/keys").join(file)).expect("the example key");
    }
    let out = auditlog_stdin(&["ingest", "--data", &d, "-"], generate(1000, 1).as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    d
}

/// The two records of FORMAT.md's example: the same event twice for tenant `o1`.
fn format_log(dir: &Path) -> String {
    let d = data(&dir.join("format"));
    let event = r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"u1"},"organization":{"id":"o1"},"action":"auth.login","outcome":"denied"}"#;
    let out = auditlog_stdin(
        &["ingest", "--data", &d, "-"],
        format!("{event}\n{event}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    d
}

fn stdout_of(args: &[&str]) -> String {
    let out = auditlog(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_worked_example_of_proofs_md_is_what_the_binary_prints() {
    let doc = std::fs::read_to_string(repo().join("docs/PROOFS.md")).expect("PROOFS.md");
    let examples = examples(&doc);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = Vec::new();
    let mut check = |name: &str| {
        checked.push(name.to_owned());
        examples
            .get(name)
            .unwrap_or_else(|| panic!("no example {name}"))
            .clone()
    };

    // The two FORMAT.md records: leaves, root, and the proof JSON of leaf 1.
    let f = format_log(dir.path());
    let proof = stdout_of(&["prove", "inclusion", "--data", &f, "--index", "1"]);
    let json: serde_json::Value = serde_json::from_str(&proof).expect("proof JSON");
    let payload = |index: &str| {
        let tlog = text(&prove_tlog(&f, index).stdout);
        TlogProof::parse(&tlog)
            .expect("tlog-proof")
            .extra
            .expect("its record")
    };
    let shortened = |p: &[u8]| format!("{} … {}", hex(&p[..4]), hex(&p[p.len() - 9..]));
    let (record0, record1) = (payload("0"), payload("1"));
    // Hashed here, as the text says, and held to the proof's own.
    let sha = HashAlg::Sha256;
    let (leaf0, leaf1) = (sha.hash_leaf(&record0), sha.hash_leaf(&record1));
    let root = sha.hash_children(&leaf0, &leaf1);
    let flat = |h: &[u8]| hex(h).replace(' ', "");
    assert_eq!(json["path"][0], flat(&leaf0));
    assert_eq!(json["leaf_hash"], flat(&leaf1));
    assert_eq!(json["root"], flat(&root));
    let leaves = format!(
        "leaf 0 = SHA-256(00 ‖ {})\n       = {}\nleaf 1 = SHA-256(00 ‖ {})\n       = {}\n\
         root of size 2 = SHA-256(01 ‖ leaf 0 ‖ leaf 1)\n               = {}\n",
        shortened(&record0),
        flat(&leaf0),
        shortened(&record1),
        flat(&leaf1),
        flat(&root),
    );
    assert_eq!(check("leaf-hashes"), leaves);
    let documented: serde_json::Value =
        serde_json::from_str(&check("inclusion-json")).expect("the documented JSON");
    assert_eq!(documented, json);

    // The script "by hand" agrees with `proof verify`, both ways.
    let script = dir.path().join("check.py");
    std::fs::write(&script, check("check-by-hand")).expect("script");
    let proof_file = dir.path().join("proof.json");
    for (proof, verdict) in [
        (proof.clone(), "valid\n"),
        (
            proof.replace("\"leaf_index\":1", "\"leaf_index\":0"),
            "invalid\n",
        ),
    ] {
        std::fs::write(&proof_file, &proof).expect("proof");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&proof_file)
            .output()
            .expect("python3 runs");
        assert_eq!(text(&out.stdout), verdict, "{}", text(&out.stderr));
        assert_eq!(out.status.success(), verdict == "valid\n");
    }

    // The signed checkpoint, its check, and a tlog-proof against it.
    let d = demo_log(dir.path());
    let note = stdout_of(&["checkpoint", "--data", &d]);
    assert_eq!(check("checkpoint-note"), note);
    let key = stdout_of(&["key", "show", "--data", &d]);
    let key_id = key.split('+').nth(1).expect("a key ID");
    let spaced: Vec<&str> = (0..4).map(|i| &key_id[2 * i..2 * i + 2]).collect();
    assert!(
        doc.contains(&format!("the key ID `{}`", spaced.join(" "))),
        "the prose names the example's key ID {key_id}"
    );
    std::fs::write(dir.path().join("cp.txt"), &note).expect("cp.txt");
    run_commands(&check("checkpoint-verify"), dir.path());
    let tlog = text(&prove_tlog(&d, "5").stdout);
    assert_eq!(check("tlog-proof"), tlog);
    std::fs::write(dir.path().join("entry5.tlog-proof"), &tlog).expect("tlog-proof");
    run_commands(&check("tlog-proof-verify"), dir.path());

    // The tenant bundle of the completeness example: acme at 1, 4, 5 and 8, bolt else.
    let b = data(&dir.path().join("bundle"));
    let tenants = [
        "bolt", "acme", "bolt", "bolt", "acme", "acme", "bolt", "bolt", "acme", "bolt",
    ];
    let events: String = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                r#"{{"timestamp":"2026-03-08T14:32:{i:02}Z","actor":{{"user_id":"u{i}"}},"organization":{{"id":"{t}"}},"action":"auth.login","outcome":"success"}}"#
            ) + "\n"
        })
        .collect();
    let out = auditlog_stdin(&["ingest", "--data", &b, "-"], events.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = dir.path().join("b.jsonl");
    let path = file.to_str().expect("UTF-8 path");
    stdout_of(&[
        "export",
        "--data",
        &b,
        "--bundle",
        path,
        "--tenant",
        "acme",
        "--from-seq",
        "3",
    ]);
    let bundle = std::fs::read_to_string(&file).expect("bundle");
    let documented = check("tenant-bundle");
    assert_eq!(documented.lines().count(), bundle.lines().count());
    for (pattern, line) in documented.lines().zip(bundle.lines()) {
        assert!(matches(pattern, line), "{pattern}\n is not\n{line}");
    }
    // "The path's one node": exactly one.
    let trailer: serde_json::Value =
        serde_json::from_str(bundle.lines().last().expect("a trailer")).expect("JSON");
    assert_eq!(
        trailer["tenant_head"]["path"].as_array().map(Vec::len),
        Some(1)
    );

    // Every example in the file was checked.
    let all: Vec<&String> = examples.keys().collect();
    checked.sort();
    assert_eq!(all, checked.iter().collect::<Vec<_>>());
}

#[test]
fn the_pattern_matcher_holds_its_wildcards_to_their_places() {
    assert!(matches("a…c", "abc"));
    assert!(matches("a…c", "ac"));
    assert!(matches("{\"x\":…,\"y\":1}", "{\"x\":[1,2],\"y\":1}"));
    assert!(!matches("a…c", "abd"));
    assert!(!matches("a…c…e", "ace!"));
    assert!(!matches("abc", "abcd"));
    assert!(matches("abc", "abc"));
}
