//! Some records of a released segment that the cache does not hold, read as byte ranges
//! of its archived copy (the engine asks for the offset table's entries, then the frames,
//! and checks each record against its CRC and its leaf hash, kept locally): the first
//! page of an old tenant's events costs two round trips, not the whole segment. The
//! whole file is then fetched into the cache in the background, so the pages after read
//! it locally.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use auditlog_engine::storage::Storage;
use auditlog_engine::stub_for;

use super::cache::{Tier, file_name};
use crate::manifest::SEGMENTS_DIR;

/// The byte ranges `ranges` (offset, length) of the released segment at `path`, if it is
/// one the cache does not hold; `None` otherwise (the caller maps the file, from the
/// cache or the disk).
pub(super) fn read_ranges(
    tier: &Arc<Tier>,
    path: &Path,
    ranges: &[(u64, u64)],
) -> io::Result<Option<Vec<Vec<u8>>>> {
    let name = file_name(path);
    if tier.holds(&name) || tier.local.exists(path) {
        return Ok(None);
    }
    if !stub_for(path).is_some_and(|stub| tier.local.exists(&stub)) {
        return Ok(None);
    }
    let relative = format!("{SEGMENTS_DIR}/{name}");
    let object = tier.archive.object(&relative);
    let object_name = tier.archive.name(&relative);
    let wanted: Vec<std::ops::Range<u64>> = ranges
        .iter()
        .map(|&(offset, len)| offset..offset.saturating_add(len))
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let archive = tier.archive.clone();
    // Spawned, not blocked on: the caller may itself be on an async runtime's thread.
    tier.runtime.spawn(async move {
        let got = archive.store().get_ranges(&object, &wanted).await;
        let _ = tx.send(got);
    });
    let got = rx
        .recv()
        .map_err(|_| io::Error::other(format!("reading {object_name}: cut short")))?
        .map_err(|e| io::Error::other(format!("reading {object_name}: {e}")))?;
    let parts: Vec<Vec<u8>> = got.into_iter().map(|bytes| bytes.to_vec()).collect();
    let bytes: u64 = parts.iter().map(|p| p.len() as u64).sum();
    tier.ranged_reads.fetch_add(1, Ordering::Relaxed);
    tier.ranged_bytes.fetch_add(bytes, Ordering::Relaxed);
    fill_in_background(tier, &name, path);
    Ok(Some(parts))
}

/// Fetches the released segment `name` (at `path`) into the cache on a thread of its
/// own, unless one is at it already.
fn fill_in_background(tier: &Arc<Tier>, name: &str, path: &Path) {
    if !tier.filling.lock().insert(name.to_owned()) {
        return;
    }
    let (tier, name, path) = (Arc::clone(tier), name.to_owned(), path.to_path_buf());
    let started = std::thread::Builder::new()
        .name("auditlog-cache-fill".into())
        .spawn({
            let tier = Arc::clone(&tier);
            let name = name.clone();
            move || {
                // A failure here is the next read's to meet (and report).
                let _ = tier.copy_of(&path);
                tier.filling.lock().remove(&name);
            }
        });
    if started.is_err() {
        tier.filling.lock().remove(&name);
    }
}
