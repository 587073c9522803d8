//! The archive as a static C2SP tlog-tiles log (docs/FORMAT.md, "Archive"): beside the
//! segments, each run writes the tiles and entry bundles of the newest checkpoint whose
//! tree the archived segments hold, then that checkpoint as `checkpoint`, so any
//! tlog-tiles client verifies the archive read over plain HTTP, with no auditlog code.
//! Tiles are the bytes `auditlogd` serves at the same paths; full ones never change and
//! are written once, partial ones are written for the checkpoint's size.

use auditlog_engine::checkpoint::{SignedCheckpoint, load_verifier};
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{Log, TILE_HEIGHT, TILE_WIDTH, TilePath};

use crate::error::Result;
use crate::location::Archive;
use crate::transfer::{read_small, upload_bytes};

/// The archive's object of the newest checkpoint its tiles are for.
pub const CHECKPOINT_OBJECT: &str = "checkpoint";

/// The tile levels with nodes in a tree of 2^64 − 1 leaves.
const TILE_LEVELS: u32 = 8;
/// The most leaves one run writes tiles for (about 8,200 objects, 64 MiB): a first run
/// over a long log goes checkpoint by checkpoint over several runs, each saving its
/// progress in `checkpoint`, instead of one unbounded upload.
const LEAVES_PER_RUN: u64 = 1 << 20;

/// Writes the tiles the archive lacks for the next checkpoint whose tree the archived
/// segments hold (`archived_tree_size`), at most about [`LEAVES_PER_RUN`] leaves past the
/// one the archive's `checkpoint` names, then that checkpoint; returns how many objects
/// were written. Nothing for a BLAKE3 log (tiles are SHA-256) or before any such
/// checkpoint. Every hash tile is read before the first upload, so a tree that cannot
/// give them (one rebuilt past retention has holes) writes nothing. Entry bundles that
/// would hold records deleted past retention are not written.
pub(crate) async fn write_tiles(
    log: &Log,
    archive: &Archive,
    archived_tree_size: u64,
) -> Result<u64> {
    if !log.is_standard_tree() {
        return Ok(0);
    }
    let object = archive.object(CHECKPOINT_OBJECT);
    let key = load_verifier(&FsStorage::default(), log.dir())?;
    let held = read_small(archive.store(), &object, &archive.name(CHECKPOINT_OBJECT)).await?;
    // An object the log's key does not sign is not progress: tiles are written again.
    let written_for = held
        .and_then(|bytes| match &key {
            Some(key) => SignedCheckpoint::open(&bytes, key).ok(),
            None => SignedCheckpoint::parse(&bytes).ok(),
        })
        .map_or(0, |c| c.checkpoint.tree_size);
    let candidates: Vec<SignedCheckpoint> = log
        .checkpoints()?
        .into_iter()
        .filter(|c| (written_for + 1..=archived_tree_size).contains(&c.checkpoint.tree_size))
        .collect();
    let within = candidates
        .iter()
        .filter(|c| c.checkpoint.tree_size <= written_for.saturating_add(LEAVES_PER_RUN))
        .max_by_key(|c| c.checkpoint.tree_size);
    let next = within.or_else(|| candidates.iter().min_by_key(|c| c.checkpoint.tree_size));
    let Some(next) = next else {
        return Ok(0);
    };
    let size = next.checkpoint.tree_size;
    // What to write, level by level: the full tiles the previous run had not completed,
    // then this size's partial one.
    let mut planned = Vec::new();
    for level in (0..TILE_LEVELS).map(Some).chain([None]) {
        let height = level.map_or(0, |l| l * TILE_HEIGHT);
        let (old, new) = (written_for >> height, size >> height);
        for index in old / TILE_WIDTH..new / TILE_WIDTH {
            planned.push((level, index, TILE_WIDTH));
        }
        if new % TILE_WIDTH > 0 {
            planned.push((level, new / TILE_WIDTH, new % TILE_WIDTH));
        }
    }
    let mut hash_tiles = Vec::new();
    for &(level, index, width) in &planned {
        if let Some(level) = level {
            hash_tiles.push((
                tile_name(Some(level), index, width),
                log.tile(level, index, width, size)?,
            ));
        }
    }
    let mut written = 0;
    for (relative, bytes) in hash_tiles {
        upload(archive, &relative, bytes).await?;
        written += 1;
    }
    let first_kept = log.first_kept();
    for &(level, index, width) in &planned {
        if level.is_some() || index.saturating_mul(TILE_WIDTH) < first_kept {
            continue;
        }
        let bytes = log.entry_bundle(index, width, size)?;
        upload(archive, &tile_name(None, index, width), bytes).await?;
        written += 1;
    }
    upload(archive, CHECKPOINT_OBJECT, next.to_text().into_bytes()).await?;
    Ok(written + 1)
}

/// `tile/<L>/<N>[.p/<W>]`, or `tile/entries/…` for `level` `None`.
fn tile_name(level: Option<u32>, index: u64, width: u64) -> String {
    let path = TilePath {
        level,
        index,
        width,
    };
    format!("tile/{}", path.to_path())
}

async fn upload(archive: &Archive, relative: &str, bytes: Vec<u8>) -> Result<()> {
    upload_bytes(
        archive.store(),
        &archive.object(relative),
        bytes,
        &archive.name(relative),
    )
    .await
}

/// Deletes every entry bundle that holds a record below `first_kept` (deleted past
/// retention: a bundle is the records themselves), full or partial; returns how many.
/// Hash tiles stay: they hold hashes only, and the tree above the deleted records is
/// still what proofs of the kept ones need.
pub(crate) async fn delete_entry_bundles_below(archive: &Archive, first_kept: u64) -> Result<u64> {
    use futures_util::TryStreamExt;
    let folder = "tile/entries";
    let listed: Vec<_> = archive
        .store()
        .list(Some(&archive.object(folder)))
        .try_collect()
        .await
        .map_err(|source| crate::error::ArchiveError::Store {
            action: "listing",
            object: archive.name(folder),
            cause: source,
        })?;
    let mut deleted = 0;
    for meta in listed {
        let relative = archive.relative(&meta.location);
        let tile = relative
            .strip_prefix("tile/")
            .and_then(TilePath::parse)
            .filter(|t| t.level.is_none());
        let Some(tile) = tile else { continue };
        if tile.index.saturating_mul(TILE_WIDTH) < first_kept {
            archive.delete_for_good(&relative).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
