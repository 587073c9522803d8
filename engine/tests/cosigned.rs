//! Witnesses' cosignatures kept with the log's checkpoints (docs/FORMAT.md, "Cosigned
//! checkpoint log"): kept across a reopen, carried by the checkpoints the log hands out,
//! never for a size below the newest kept; and `verify` with a witness policy finds the
//! newest checkpoint it accepts, and refuses a cosigned checkpoint that is not the one the
//! log signed at its size (a second history under the log's key).

mod common;

use std::sync::Arc;

use auditlog_engine::checkpoint::{
    Checkpoint, CheckpointLog, Cosigner, SignedCheckpoint, WitnessPolicy, load_signer,
    with_cosignatures,
};
use auditlog_engine::storage::{FsStorage, Storage};
use auditlog_engine::verify::VerifyOptions;
use auditlog_engine::{Error, Log, LogConfig};
use common::{append_all, lines};

#[test]
fn cosignatures_are_kept_handed_out_and_checked_by_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &LogConfig::default()).expect("create");
    let witnesses: Vec<Cosigner> = (1..=2)
        .map(|i| Cosigner::generate(&format!("witness.example/w{i}")).expect("key"))
        .collect();
    append_all(&log, &lines(40, 1), 10);
    let first = log.checkpoint().expect("checkpoint");
    append_all(&log, &lines(30, 2), 10);
    let second = log.checkpoint().expect("checkpoint");
    let cosign = |signed: &SignedCheckpoint, w: &Cosigner| w.cosign(&signed.note.text, 100);

    // The first checkpoint, by one witness then the other: both lines kept.
    log.keep_cosignatures(40, &[cosign(&first, &witnesses[0])])
        .expect("kept");
    let both = log
        .keep_cosignatures(40, &[cosign(&first, &witnesses[1])])
        .expect("kept");
    assert_eq!(
        both.note.signatures.len(),
        3,
        "the log's and two witnesses'"
    );
    assert_eq!(log.checkpoint_at(40).expect("read"), Some(both.clone()));
    assert_eq!(
        log.latest_checkpoint(),
        Some(second.clone()),
        "the newest is not cosigned yet"
    );
    log.keep_cosignatures(70, &[cosign(&second, &witnesses[0])])
        .expect("kept");
    let later = witnesses[0].cosign(&first.note.text, 200);
    let refused = log.keep_cosignatures(40, &[later]);
    assert!(refused.is_err(), "below the newest size kept");
    assert!(
        log.keep_cosignatures(55, &[]).is_err(),
        "no checkpoint at 55"
    );
    log.close();
    drop(log);

    let log = Log::open(dir.path()).expect("reopen");
    let newest = log.latest_checkpoint().expect("newest");
    assert_eq!(newest.note.text, second.note.text);
    assert_eq!(newest.note.signatures.len(), 2, "kept across the reopen");
    assert_eq!(log.latest_cosigned_checkpoint(), Some(newest));
    log.close();
    drop(log);

    let keys: Vec<_> = witnesses.iter().map(Cosigner::verifier).collect();
    let policy = |quorum| WitnessPolicy::new(keys.clone(), Some(quorum)).expect("policy");
    let (one, two) = (policy(1), policy(2));
    let report = VerifyOptions::new()
        .witnesses(Some(&two))
        .verify_dir(dir.path(), &mut |_| {})
        .expect("verifies");
    let witnessed = report.witnessed.expect("the quorum of two is met");
    assert_eq!(witnessed.tree_size, 40);
    assert_eq!(report.cosigned_checkpoints, 3);
    let report = VerifyOptions::new()
        .witnesses(Some(&one))
        .verify_dir(dir.path(), &mut |_| {})
        .expect("verifies");
    assert_eq!(report.witnessed.expect("met").tree_size, 70);

    // A cosigned checkpoint of size 70 with another root, signed with the log's own key:
    // two histories. verify names the cosigned log and the entry.
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::default());
    let signer = load_signer(storage.as_ref(), dir.path())
        .expect("load")
        .expect("a key");
    let other = SignedCheckpoint::sign(
        Checkpoint {
            root: [7; 32],
            ..second.checkpoint.clone()
        },
        &signer,
    )
    .expect("signed");
    let mut cosigned =
        CheckpointLog::open_cosigned(Arc::clone(&storage), dir.path(), signer.name(), false)
            .expect("open");
    let at = std::fs::metadata(cosigned.path()).expect("stat").len();
    cosigned
        .append(with_cosignatures(&other, &[cosign(&other, &witnesses[0])]))
        .expect("appended");
    let path = cosigned.path().to_path_buf();
    drop(cosigned);
    // The log hands out its own checkpoint, never the other history's note.
    let log = auditlog_engine::OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    let newest = log.latest_checkpoint().expect("newest");
    assert_eq!(newest.checkpoint.root, second.checkpoint.root);
    assert_eq!(log.latest_cosigned_checkpoint(), None);
    drop(log);
    match VerifyOptions::new().verify_dir(dir.path(), &mut |_| {}) {
        Err(Error::Corruption(c)) => {
            assert!(c.to_string().contains("two histories"), "{c}");
            assert_eq!((c.file, c.offset), (path, at));
        }
        other => panic!("must fail: {:?}", other.map(|r| r.records)),
    }
}
