//! Signed checkpoints of a real log: issued on demand, on a cadence and at close, kept in
//! the checkpoint log across reopens, signed by the key in the data directory, and
//! enforced at open (records that contradict a signed checkpoint are refused).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use auditlog_engine::checkpoint::{NoteVerifier, SignedCheckpoint};
use auditlog_engine::merkle::Proof;
use auditlog_engine::{CorruptionKind, Error, Log, LogConfig, OpenOptions};
use common::{append_all, copy_dir, lines};

fn config(interval: Duration) -> LogConfig {
    LogConfig {
        origin: "audit.example.com/test".into(),
        checkpoint_interval: interval,
        ..LogConfig::default()
    }
}

fn verifier(dir: &Path) -> NoteVerifier {
    let text = std::fs::read_to_string(dir.join("keys/checkpoint.pub")).expect("public key");
    NoteVerifier::parse(&text).expect("verifier key")
}

#[test]
fn checkpoints_on_demand_verify_and_are_kept_across_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(300, 1), 100);
    let first = log.checkpoint().expect("checkpoint");
    assert_eq!(first.checkpoint.tree_size, 300);
    assert_eq!(first.checkpoint.root, log.root());
    assert_eq!(first.checkpoint.origin, "audit.example.com/test");
    // Asking again without new events gives the same checkpoint, not a second one.
    assert_eq!(log.checkpoint().expect("again"), first);
    append_all(&log, &lines(200, 2), 100);
    let second = log.checkpoint().expect("checkpoint");
    assert_eq!(second.checkpoint.tree_size, 500);
    drop(log);

    let key = verifier(dir.path());
    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    let kept = log.checkpoints().expect("checkpoints");
    assert_eq!(kept, vec![first.clone(), second.clone()]);
    for signed in &kept {
        let reopened = SignedCheckpoint::open(signed.to_text().as_bytes(), &key).expect("signed");
        assert_eq!(&reopened, signed);
    }
    // Any two checkpoints are provably consistent.
    let proof = log.prove_consistency(300, 500).expect("proof");
    assert_eq!(proof.root1, first.checkpoint.root.to_vec());
    assert_eq!(proof.root2, second.checkpoint.root.to_vec());
    Proof::Consistency(proof).verify().expect("consistent");
}

#[test]
fn the_cadence_signs_the_growing_tree_and_close_signs_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::from_millis(20))).expect("create");
    append_all(&log, &lines(50, 3), 50);
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.latest_checkpoint().map(|c| c.checkpoint.tree_size) != Some(50) {
        assert!(Instant::now() < deadline, "no checkpoint of the grown tree");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(log);

    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(70, 4), 10);
    assert_eq!(
        log.latest_checkpoint(),
        None,
        "no cadence, no checkpoint yet"
    );
    let root = log.root();
    log.close();
    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    let latest = log.latest_checkpoint().expect("signed at close");
    assert_eq!(
        (latest.checkpoint.tree_size, latest.checkpoint.root),
        (70, root)
    );
    SignedCheckpoint::open(latest.to_text().as_bytes(), &verifier(dir.path())).expect("signed");
}

#[test]
fn the_private_key_is_owner_only_and_never_printed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    let private = dir.path().join("keys/checkpoint.key");
    let mode = std::fs::metadata(&private)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&private).expect("read");
    // PRIVATE+KEY+<name>+<id>+<base64 key>; base64 itself may hold `+`.
    let secret = text.trim_end().splitn(5, '+').nth(4).expect("key material");
    assert!(secret.len() >= 44, "{secret}");
    assert!(text.starts_with("PRIVATE+KEY+audit.example.com/test+"));
    assert!(!format!("{log:?}").contains(secret));
}

#[test]
fn records_that_contradict_a_signed_checkpoint_are_refused() {
    // Log A signs a checkpoint at 100 events. Log B holds other events; given A's key and
    // checkpoint log, as someone rebuilding the log without the events would have to, it
    // does not open.
    let a = tempfile::tempdir().expect("tempdir");
    let log = Log::create(a.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(100, 5), 50);
    log.checkpoint().expect("checkpoint");
    drop(log);
    let b = tempfile::tempdir().expect("tempdir");
    let log = Log::create(b.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(120, 6), 60);
    drop(log);
    std::fs::remove_dir_all(b.path().join("keys")).expect("rm keys");
    std::fs::remove_file(b.path().join("checkpoints")).expect("rm checkpoints");
    copy_dir(&a.path().join("keys"), &b.path().join("keys"));
    std::fs::copy(a.path().join("checkpoints"), b.path().join("checkpoints")).expect("copy");
    match Log::open(b.path()) {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, b.path().join("checkpoints"));
            assert!(matches!(c.kind, CorruptionKind::HashMismatch(_)), "{c}");
        }
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }

    // Fewer records than a signed checkpoint counts: acknowledged events are missing.
    let c = tempfile::tempdir().expect("tempdir");
    let log = Log::create(c.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(40, 5), 40);
    drop(log);
    std::fs::remove_dir_all(c.path().join("keys")).expect("rm keys");
    std::fs::remove_file(c.path().join("checkpoints")).expect("rm checkpoints");
    copy_dir(&a.path().join("keys"), &c.path().join("keys"));
    std::fs::copy(a.path().join("checkpoints"), c.path().join("checkpoints")).expect("copy");
    match OpenOptions::new().read_only(true).open(c.path()) {
        Err(Error::Corruption(c)) => assert!(matches!(c.kind, CorruptionKind::LostEvents(_))),
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }
}

#[test]
fn an_interrupted_checkpoint_append_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(30, 7), 30);
    let signed = log.checkpoint().expect("checkpoint");
    drop(log);
    let path = dir.path().join("checkpoints");
    let mut bytes = std::fs::read(&path).expect("read");
    let whole = bytes.len();
    // The start of a second frame: a length, a CRC, part of a note.
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4]);
    bytes.extend_from_slice(b"audit.example.com/test\n3");
    std::fs::write(&path, &bytes).expect("write");

    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("read-only open");
    assert_eq!(log.recovery_report().torn_checkpoint_bytes, Some(32));
    drop(log);
    assert_eq!(
        std::fs::read(&path).expect("read").len(),
        bytes.len(),
        "read-only cuts nothing"
    );
    let log = Log::open(dir.path()).expect("open");
    assert_eq!(log.recovery_report().torn_checkpoint_bytes, Some(32));
    assert_eq!(log.latest_checkpoint(), Some(signed));
    drop(log);
    assert_eq!(std::fs::read(&path).expect("read").len(), whole);
}

#[test]
fn records_a_checkpoint_covers_are_never_cut_as_a_torn_tail() {
    // Checkpoints run ahead of the tree state: records signed at 100 may lie past the
    // durable tree size. Damage at the end of them must stop the open, not be cut.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(100, 11), 25);
    log.checkpoint().expect("checkpoint");
    let image = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), image.path()); // what a kill -9 now would leave
    drop(log);
    let segment = common::segment_files(image.path())
        .pop()
        .expect("active segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write");
    match Log::open(image.path()) {
        Err(Error::Corruption(c)) => {
            assert_eq!(c.file, image.path().join("checkpoints"));
            assert!(matches!(c.kind, CorruptionKind::LostEvents(_)), "{c}");
        }
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }
    assert_eq!(
        std::fs::read(&segment).expect("read"),
        bytes,
        "nothing was cut"
    );
}

#[test]
fn a_damaged_length_in_the_checkpoint_log_is_corruption_not_a_tear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    for seed in 0..3 {
        append_all(&log, &lines(10, seed), 10);
        log.checkpoint().expect("checkpoint");
    }
    drop(log);
    let path = dir.path().join("checkpoints");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[16..20].copy_from_slice(&0u32.to_le_bytes()); // the first frame's length
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(Log::open(dir.path()), Err(Error::Corruption(_))));
    assert!(matches!(
        auditlog_engine::verify::verify_dir(dir.path(), &mut |_| {}),
        Err(Error::Corruption(_))
    ));
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "nothing was cut"
    );
}

#[test]
fn a_lost_private_key_is_not_quietly_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    append_all(&log, &lines(10, 1), 10);
    drop(log); // signs at close
    let public = std::fs::read(dir.path().join("keys/checkpoint.pub")).expect("read");
    std::fs::remove_file(dir.path().join("keys/checkpoint.key")).expect("rm");
    match Log::open(dir.path()) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("private key"), "{why}"),
        other => panic!("must be refused: {:?}", other.map(|l| l.tree_size())),
    }
    assert!(!dir.path().join("keys/checkpoint.key").exists());
    assert_eq!(
        std::fs::read(dir.path().join("keys/checkpoint.pub")).expect("read"),
        public
    );
    // Reading needs no private key.
    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("read-only");
    assert_eq!(log.tree_size(), 10);
    assert!(log.checkpoint().is_err(), "a read-only open does not sign");
}

#[test]
fn a_checkpoint_is_found_by_its_size_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &config(Duration::ZERO)).expect("create");
    let mut issued = Vec::new();
    for seed in 0..5 {
        append_all(&log, &lines(10, seed), 10);
        issued.push(log.checkpoint().expect("checkpoint"));
    }
    for signed in &issued {
        let size = signed.checkpoint.tree_size;
        assert_eq!(
            log.checkpoint_at(size).expect("read").as_ref(),
            Some(signed)
        );
    }
    assert_eq!(
        log.checkpoint_at(15).expect("read"),
        None,
        "between two sizes"
    );
    assert_eq!(
        log.checkpoint_at(60).expect("read"),
        None,
        "past the newest"
    );
    drop(log);
    // Found by the sizes read at open: damage to another checkpoint's note does not
    // stand in the way, damage to its own is named.
    let path = dir.path().join("checkpoints");
    let mut bytes = std::fs::read(&path).expect("read");
    let log = OpenOptions::new()
        .read_only(true)
        .open(dir.path())
        .expect("open");
    assert_eq!(
        log.checkpoint_at(30).expect("read").as_ref(),
        Some(&issued[2])
    );
    let first_note = 16 + 8 + 10; // header, frame header, a few bytes into the note
    bytes[first_note] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    assert_eq!(
        log.checkpoint_at(30).expect("read").as_ref(),
        Some(&issued[2])
    );
    match log.checkpoint_at(10) {
        Err(Error::Corruption(c)) => assert_eq!((c.file, c.offset), (path, 16)),
        other => panic!("the damaged one is named: {other:?}"),
    }
}
