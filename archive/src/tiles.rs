//! The archive as a static C2SP tlog-tiles log (docs/FORMAT.md, "Archive"): beside the
//! segments, each run writes the tiles and entry bundles of the newest checkpoint whose
//! tree the archived segments hold, then that checkpoint as `checkpoint`, so any
//! tlog-tiles client verifies the archive read over plain HTTP, with no auditlog code.
//! Tiles are the bytes `auditlogd` serves at the same paths; full ones never change and
//! are written once, partial ones are written for the checkpoint's size.

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_engine::{Log, TILE_HEIGHT, TILE_WIDTH, TilePath};

use crate::error::Result;
use crate::location::Archive;
use crate::transfer::{read_small, upload_bytes};

/// The archive's object of the newest checkpoint its tiles are for.
pub const CHECKPOINT_OBJECT: &str = "checkpoint";

/// The tile levels with nodes in a tree of 2^64 − 1 leaves.
const TILE_LEVELS: u32 = 8;

/// Writes the tiles of the newest checkpoint with at most `archived_tree_size` leaves
/// that the archive lacks, then that checkpoint; returns how many objects were written.
/// Nothing for a BLAKE3 log (tiles are SHA-256) or before any such checkpoint.
pub(crate) async fn write_tiles(
    log: &Log,
    archive: &Archive,
    archived_tree_size: u64,
) -> Result<u64> {
    if !log.is_standard_tree() {
        return Ok(0);
    }
    let newest = log
        .checkpoints()?
        .into_iter()
        .filter(|c| c.checkpoint.tree_size <= archived_tree_size)
        .max_by_key(|c| c.checkpoint.tree_size);
    let Some(newest) = newest else {
        return Ok(0);
    };
    let size = newest.checkpoint.tree_size;
    let object = archive.object(CHECKPOINT_OBJECT);
    let written_for = read_small(archive.store(), &object, &archive.name(CHECKPOINT_OBJECT))
        .await?
        .and_then(|bytes| SignedCheckpoint::parse(&bytes).ok())
        .map_or(0, |c| c.checkpoint.tree_size);
    if written_for >= size {
        return Ok(0);
    }
    let mut written = 0;
    for level in (0..TILE_LEVELS).map(Some).chain([None]) {
        let height = level.map_or(0, |l| l * TILE_HEIGHT);
        let (old, new) = (written_for >> height, size >> height);
        // Full tiles the previous run had not completed, then this size's partial one.
        for index in old / TILE_WIDTH..new / TILE_WIDTH {
            put_tile(log, archive, level, index, TILE_WIDTH, size).await?;
            written += 1;
        }
        let width = new % TILE_WIDTH;
        if width > 0 {
            put_tile(log, archive, level, new / TILE_WIDTH, width, size).await?;
            written += 1;
        }
    }
    let text = newest.to_text().into_bytes();
    upload_bytes(
        archive.store(),
        &object,
        text,
        &archive.name(CHECKPOINT_OBJECT),
    )
    .await?;
    Ok(written + 1)
}

/// One hash tile (`level`) or entry bundle (`None`) of the tree of `size`, uploaded.
async fn put_tile(
    log: &Log,
    archive: &Archive,
    level: Option<u32>,
    index: u64,
    width: u64,
    size: u64,
) -> Result<()> {
    let bytes = match level {
        Some(level) => log.tile(level, index, width, size)?,
        None => log.entry_bundle(index, width, size)?,
    };
    let path = TilePath {
        level,
        index,
        width,
    };
    let relative = format!("tile/{}", path.to_path());
    upload_bytes(
        archive.store(),
        &archive.object(&relative),
        bytes,
        &archive.name(&relative),
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
