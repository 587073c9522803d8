//! Releasing archived segments from the local disk: a stub stands for each released file,
//! the log opens and answers over them through a storage that fetches them, nothing that
//! needs no records (proofs, the planner's skips) fetches, and a release is refused when
//! the archived copy is not the file.

mod common;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auditlog_engine::query::{Filter, Order, Query};
use auditlog_engine::storage::{FsStorage, MappedBytes, OpenMode, Storage, StorageFile};
use auditlog_engine::verify::VerifyOptions;
use auditlog_engine::{Log, OpenOptions, Release, TimeRange};
use common::{append_all, lines, read_all, small_segments};

/// The file system, plus a folder that stands for the archive: a segment file missing
/// locally is read from there, and counted; with `ranged`, as byte ranges where the log
/// asks for them.
#[derive(Debug)]
struct WithArchive {
    local: FsStorage,
    archive: PathBuf,
    fetches: AtomicUsize,
    ranged: bool,
    ranged_reads: AtomicUsize,
}

impl WithArchive {
    fn new(archive: &Path) -> Arc<WithArchive> {
        Arc::new(WithArchive {
            local: FsStorage::default(),
            archive: archive.to_path_buf(),
            fetches: AtomicUsize::new(0),
            ranged: false,
            ranged_reads: AtomicUsize::new(0),
        })
    }

    fn ranged(archive: &Path) -> Arc<WithArchive> {
        Arc::new(WithArchive {
            ranged: true,
            ..Arc::into_inner(WithArchive::new(archive)).expect("one")
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn ranged_reads(&self) -> usize {
        self.ranged_reads.load(Ordering::SeqCst)
    }
}

impl Storage for WithArchive {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.local.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.local.list(dir)
    }
    fn exists(&self, path: &Path) -> bool {
        self.local.exists(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        self.local.open(path, mode)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.local.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.local.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.local.sync_dir(dir)
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        if self.local.exists(path) {
            return self.local.map(path);
        }
        let name = path.file_name().ok_or(io::ErrorKind::NotFound)?;
        let bytes = std::fs::read(self.archive.join(name))?;
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(MappedBytes::from_vec(bytes))
    }
    fn read_ranges(&self, path: &Path, ranges: &[(u64, u64)]) -> io::Result<Option<Vec<Vec<u8>>>> {
        if !self.ranged || self.local.exists(path) {
            return Ok(None);
        }
        let name = path.file_name().ok_or(io::ErrorKind::NotFound)?;
        let file = std::fs::File::open(self.archive.join(name))?;
        let mut parts = Vec::new();
        for &(offset, len) in ranges {
            let mut part = vec![0; len as usize];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut part, offset)?;
            parts.push(part);
        }
        self.ranged_reads.fetch_add(1, Ordering::SeqCst);
        Ok(Some(parts))
    }
}

fn sealed_files(dir: &Path) -> Vec<PathBuf> {
    common::segment_files(dir)
}

/// A log of several segments, closed, each sealed segment also copied to `archive`.
fn archived_log(dir: &Path, archive: &Path) -> Vec<String> {
    let events = lines(3_000, 23);
    let log = Log::create(dir, &small_segments(128 << 10)).expect("create");
    append_all(&log, &events, 100);
    log.checkpoint().expect("checkpoint");
    assert!(log.segment_count() >= 5, "{}", log.segment_count());
    std::fs::create_dir_all(archive).expect("mkdir");
    for segment in log.sealed_segments() {
        let name = segment.path.file_name().expect("name");
        std::fs::copy(&segment.path, archive.join(name)).expect("copy");
    }
    events
}

fn blake3_of(path: &Path) -> [u8; 32] {
    *blake3::hash(&std::fs::read(path).expect("read")).as_bytes()
}

/// Releases every sealed segment but the newest, from a read-write open.
fn release_old(dir: &Path, archive: &Path) -> Vec<u64> {
    let log = OpenOptions::new()
        .storage(WithArchive::new(archive))
        .open(dir)
        .expect("open");
    let sealed = log.sealed_segments();
    let mut released = Vec::new();
    for segment in &sealed[..sealed.len() - 1] {
        let name = segment.path.file_name().expect("name");
        let hash = blake3_of(&archive.join(name));
        let freed = log
            .release_segment(segment.base_seq, &hash)
            .expect("release");
        assert_eq!(freed, Release::Released(segment.bytes));
        assert_eq!(
            log.release_segment(segment.base_seq, &hash).expect("again"),
            Release::AlreadyReleased
        );
        released.push(segment.base_seq);
    }
    assert!(
        log.sealed_segments()[..released.len()]
            .iter()
            .all(|s| !s.local)
    );
    released
}

fn tenant_query(tenant: &str, time: TimeRange) -> Query {
    Query {
        filter: Filter {
            tenant: Some(tenant.to_owned()),
            time,
            ..Filter::default()
        },
        order: Order::NewestFirst,
        limit: None,
        cursor: None,
    }
}

fn seqs(log: &Log, query: &Query) -> Vec<u64> {
    let mut out = Vec::new();
    log.query(query, |seq, _| {
        out.push(seq);
        Ok(true)
    })
    .expect("query");
    out
}

#[test]
fn released_segments_are_read_through_the_storage_and_proofs_never_fetch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    let events = archived_log(&data, &archive);
    let tenant = common::parse(&events[0]).tenant_id.into_owned();
    let (before, all, root, size) = {
        let log = Log::open(&data).expect("open");
        let before = seqs(&log, &tenant_query(&tenant, TimeRange::default()));
        (before, read_all(&log), log.root(), log.tree_size())
    };
    let released = release_old(&data, &archive);
    assert_eq!(
        sealed_files(&data).len(),
        2,
        "the newest sealed and the active"
    );
    for base in &released {
        let stub = data.join(format!("segments/{base:020}.archived"));
        assert!(stub.exists(), "{}", stub.display());
        assert!(data.join(format!("segments/{base:020}.idx")).exists());
    }

    let storage = WithArchive::new(&archive);
    let log = OpenOptions::new()
        .storage(storage.clone())
        .open(&data)
        .expect("reopen over stubs");
    assert_eq!((log.root(), log.tree_size()), (root, size));
    assert_eq!(storage.fetches(), 0, "nothing fetched to open");
    for seq in [0, size / 3, size / 2] {
        let proof = log.prove_inclusion(seq, None).expect("inclusion");
        auditlog_engine::merkle::Proof::Inclusion(proof)
            .verify()
            .expect("verifies");
    }
    // The planner skips released segments by their time bounds and tenant presence.
    let newest = log.sealed_segments().last().expect("sealed").min_timestamp;
    let late = TimeRange {
        from: Some(newest),
        to: None,
    };
    assert_eq!(storage.fetches(), 0, "nothing fetched for proofs");
    assert!(!seqs(&log, &tenant_query(&tenant, late)).is_empty());
    assert_eq!(storage.fetches(), 0, "nothing fetched for later times");
    assert!(seqs(&log, &tenant_query("no-such-tenant", TimeRange::default())).is_empty());
    assert_eq!(
        storage.fetches(),
        0,
        "nothing fetched for proofs or skipped segments"
    );

    assert_eq!(
        seqs(&log, &tenant_query(&tenant, TimeRange::default())),
        before
    );
    assert!(storage.fetches() > 0);
    assert_eq!(read_all(&log), all);
    drop(log);
    let report = VerifyOptions::new()
        .storage(storage.clone())
        .verify_dir(&data, &mut |_| {})
        .expect("verifies over the archive");
    assert_eq!(report.records, size);
}

#[test]
fn a_page_of_released_records_is_read_as_ranges_each_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    let events = archived_log(&data, &archive);
    let tenant = common::parse(&events[0]).tenant_id.into_owned();
    let (before, first_page) = {
        let log = Log::open(&data).expect("open");
        let mut query = tenant_query(&tenant, TimeRange::default());
        let before = seqs(&log, &query);
        query.order = Order::OldestFirst;
        query.limit = Some(20);
        (before, seqs(&log, &query))
    };
    let released = release_old(&data, &archive);
    let storage = WithArchive::ranged(&archive);
    let log = OpenOptions::new()
        .storage(storage.clone())
        .read_only(true)
        .open(&data)
        .expect("open over stubs");
    // A page from the oldest segment: two ranged reads, no whole file.
    let mut query = tenant_query(&tenant, TimeRange::default());
    query.order = Order::OldestFirst;
    query.limit = Some(20);
    assert_eq!(seqs(&log, &query), first_page);
    assert_eq!(storage.fetches(), 0, "no whole segment fetched");
    let touched = log
        .sealed_segments()
        .iter()
        .filter(|s| !s.local)
        .filter(|s| {
            first_page
                .iter()
                .any(|seq| (s.base_seq..s.tree_size).contains(seq))
        })
        .count();
    assert!(touched >= 1);
    assert_eq!(
        storage.ranged_reads(),
        2 * touched,
        "per segment, the offset table's entries, then the frames"
    );
    // Every page of the tenant, across every released segment, as before the release.
    assert_eq!(
        seqs(&log, &tenant_query(&tenant, TimeRange::default())),
        before
    );
    assert_eq!(storage.fetches(), 0);
    drop(log);

    // Two records of one length swapped in the archived copy: each frame passes its
    // CRC and lies where the offset table says, but is not the record its leaf hash
    // names.
    swap_two_records_of_one_length(
        &archive.join(format!("{:020}.seg", released[0])),
        released[0],
    );
    let log = OpenOptions::new()
        .storage(WithArchive::ranged(&archive))
        .read_only(true)
        .open(&data)
        .expect("open over stubs");
    let mut all = tenant_query(&tenant, TimeRange::default());
    all.filter.tenant = None;
    all.order = Order::OldestFirst;
    let err = log
        .query(&all, |_, _| Ok(true))
        .expect_err("a substituted record is refused");
    assert!(
        err.to_string().contains("differs from its leaf hash"),
        "{err}"
    );
}

/// Swaps two records of the same frame length in the segment file at `path` (base
/// `base`), keeping every frame whole.
fn swap_two_records_of_one_length(path: &Path, base: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    let mut at = 36 + 32 * base.count_ones() as usize;
    let mut seen: std::collections::HashMap<usize, usize> = Default::default();
    loop {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        assert!(len > 0 && len < 1 << 16, "walked past the records at {at}");
        let size = 8 + len;
        if let Some(&other) = seen.get(&size)
            && bytes[other..other + size] != bytes[at..at + size]
        {
            let first = bytes[other..other + size].to_vec();
            bytes.copy_within(at..at + size, other);
            bytes[at..at + size].copy_from_slice(&first);
            std::fs::write(path, bytes).expect("write");
            return;
        }
        seen.insert(size, at);
        at += size;
    }
}

#[test]
fn a_log_without_its_archive_opens_and_names_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    let events = archived_log(&data, &archive);
    release_old(&data, &archive);
    let log = Log::open(&data).expect("opens from the stubs");
    let tenant = common::parse(&events[0]).tenant_id.into_owned();
    let err = log
        .query(&tenant_query(&tenant, TimeRange::default()), |_, _| {
            Ok(true)
        })
        .expect_err("the released records are not here");
    assert!(err.to_string().contains("released to the archive"), "{err}");
}

#[test]
fn a_release_is_refused_when_the_archived_copy_differs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    archived_log(&data, &archive);
    let log = Log::open(&data).expect("open");
    let first = log.sealed_segments().remove(0);
    let err = log
        .release_segment(first.base_seq, &[0; 32])
        .expect_err("wrong hash");
    assert!(
        err.to_string().contains("differs from its archived copy"),
        "{err}"
    );
    assert!(first.path.exists());
    assert!(!data.join("segments/00000000000000000000.archived").exists());
}

#[test]
fn a_release_cut_between_stub_and_removal_leaves_the_file_counting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    let events = archived_log(&data, &archive);
    let first = sealed_files(&data).remove(0);
    let kept = std::fs::read(&first).expect("read");
    release_old(&data, &archive);
    // As a crash after the stub was made durable and before the file was removed.
    std::fs::write(&first, &kept).expect("put back");
    let log = OpenOptions::new()
        .storage(WithArchive::new(&archive))
        .open(&data)
        .expect("open");
    assert!(log.sealed_segments()[0].local, "the file counts");
    assert_eq!(read_all(&log).len(), events.len());
    // And releasing it again finishes the job.
    let hash = blake3_of(&first);
    assert!(matches!(
        log.release_segment(0, &hash).expect("release"),
        Release::Released(_)
    ));
    assert!(!first.exists());
}

#[test]
fn only_checkpointed_segments_are_released_and_their_index_files_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    archived_log(&data, &archive);
    // A missing index file is written before its segment goes.
    let first = common::segment_files(&data).remove(0);
    std::fs::remove_file(first.with_extension("idx")).expect("remove the index");
    let log = OpenOptions::new()
        .storage(WithArchive::new(&archive))
        .read_only(false)
        .open(&data)
        .expect("open");
    let hash = blake3_of(&first);
    assert!(matches!(
        log.release_segment(0, &hash).expect("release"),
        Release::Released(_)
    ));
    assert!(
        first.with_extension("idx").exists(),
        "the index file was written"
    );
    // Records past the newest checkpoint stay local: opening the log reads them.
    append_all(&log, &lines(2_000, 24), 100);
    log.seal().expect("seal");
    let newest = log.sealed_segments().pop().expect("sealed");
    assert!(
        newest.tree_size
            > log
                .latest_checkpoint()
                .expect("signed")
                .checkpoint
                .tree_size
    );
    let err = log
        .release_segment(newest.base_seq, &blake3_of(&newest.path))
        .expect_err("not checkpointed");
    assert!(
        err.to_string()
            .contains("past the newest signed checkpoint"),
        "{err}"
    );
    assert!(newest.path.exists());
}
