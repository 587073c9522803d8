//! tlog-tiles from the engine (docs/PROOFS.md, "Tiles"): hash tiles are the level files'
//! nodes, entry bundles the records as stored; a tile reaching past the tree, over a hole
//! in the level files, or of a BLAKE3 log is refused.

mod common;

use std::os::unix::fs::FileExt;

use auditlog_engine::merkle::{MemoryTree, NodeSource, subtree_root};
use auditlog_engine::{HashAlg, Log, LogConfig};
use common::{append_all, lines};

#[test]
fn tiles_are_the_trees_nodes_and_bundles_its_records_and_holes_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::create(dir.path(), &LogConfig::default()).expect("create");
    append_all(&log, &lines(600, 3), 100);
    let size = log.tree_size();
    assert_eq!(size, 600);

    // The bundle's records hash to the tile's leaves, and the leaves to the root.
    let bundle = log.entry_bundle(0, 256, size).expect("bundle");
    let tile = log.tile(0, 0, 256, size).expect("tile");
    let mut rest = &bundle[..];
    let mut leaves = Vec::new();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(*hi) << 8 | usize::from(*lo); // big-endian u16
        leaves.push(HashAlg::Sha256.hash_leaf(&tail[..len]));
        rest = &tail[len..];
    }
    assert_eq!(
        leaves.concat(),
        tile,
        "256 leaves, as the level file holds them"
    );
    let partial = log.tile(0, 2, 88, size).expect("the partial tile of 600");
    assert_eq!(partial.len(), 88 * 32);
    let mut all: Vec<_> = tile.chunks(32).map(|h| h.try_into().expect("32")).collect();
    for index in 1..3 {
        let width = if index == 2 { 88 } else { 256 };
        let more = log.tile(0, index, width, size).expect("tile");
        all.extend(
            more.chunks(32)
                .map(|h| <[u8; 32]>::try_from(h).expect("32")),
        );
    }
    let tree = MemoryTree::new(HashAlg::Sha256, &all);
    assert_eq!(subtree_root(&tree, 0, size).expect("root"), log.root());
    assert_eq!(
        tree.node(8, 1).expect("node"),
        log.tile(1, 0, 2, size).expect("tile")[32..]
    );

    // Past the tree, too wide, an impossible level: refused.
    for (level, index, width) in [(0, 3, 1), (0, 2, 89), (1, 0, 3), (8, 0, 1), (0, 0, 0)] {
        assert!(
            log.tile(level, index, width, size).is_err(),
            "{level}/{index}.p/{width}"
        );
    }
    assert!(log.entry_bundle(2, 89, size).is_err());
    assert!(
        log.tile(0, 0, 1, size + 1).is_err(),
        "a tree the log has not"
    );

    // A hole (a node of zeros, as a tree rebuilt past retention has): refused.
    let level0 = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("tree/level-00.hashes"))
        .expect("level file");
    level0
        .write_all_at(&[0u8; 32], 16 + 300 * 32)
        .expect("a hole");
    assert!(log.tile(0, 1, 256, size).is_err(), "the tile over the hole");
    assert!(log.tile(0, 0, 256, size).is_ok(), "the one beside it");
    drop(log);

    let blake3 = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        hash: HashAlg::Blake3,
        ..LogConfig::default()
    };
    let log = Log::create(blake3.path(), &config).expect("create");
    append_all(&log, &lines(10, 3), 10);
    assert!(log.tile(0, 0, 10, 10).is_err(), "tiles are SHA-256 trees");
    assert!(log.entry_bundle(0, 10, 10).is_err());
}
