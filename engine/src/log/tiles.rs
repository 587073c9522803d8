//! The tree and the records in the shape of C2SP tlog-tiles (docs/PROOFS.md, "Tiles"):
//! a hash tile is a slice of one level file, read as stored; an entry bundle is the
//! stored payloads of 256 consecutive records, each behind its big-endian `u16` length.

use crate::error::{Error, Result};
use crate::log::Log;
use crate::log::TimeRange;
use crate::merkle::HashAlg;

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels a tile spans: tile level `L` holds the nodes of tree level `8·L`.
pub const TILE_HEIGHT: u32 = 8;
/// The highest tile level with nodes in a tree of at most 2^64 − 1 leaves.
const MAX_TILE_LEVEL: u32 = 7;

/// Why a tile cannot be had: it is not in the tree asked about (absent, not an error of
/// the log's).
fn not_in_tree(what: String) -> Error {
    Error::InvalidArgument(format!("{what} is not in the tree"))
}

/// The index of the first hash or entry of tile `index`, and the end of its `width`.
fn span(index: u64, width: u64) -> Option<(u64, u64)> {
    if !(1..=TILE_WIDTH).contains(&width) {
        return None;
    }
    let first = index.checked_mul(TILE_WIDTH)?;
    Some((first, first.checked_add(width)?))
}

impl Log {
    /// Hash tile `index` of tile level `level`, `width` hashes wide (256 for a full tile),
    /// of the tree of `tree_size` leaves: the nodes `(8·level, index·256 ..)`, 32 bytes
    /// each, as the level file holds them. Only for SHA-256 logs (the hash tlog-tiles
    /// defines); refused if the tile reaches past what a tree of `tree_size` completes.
    pub fn tile(&self, level: u32, index: u64, width: u64, tree_size: u64) -> Result<Vec<u8>> {
        self.require_sha256()?;
        let what = || format!("tile {level}/{index} of width {width}");
        let (first, end) = span(index, width).ok_or_else(|| not_in_tree(what()))?;
        if level > MAX_TILE_LEVEL {
            return Err(not_in_tree(what()));
        }
        let tree_level = level * TILE_HEIGHT;
        let complete = crate::tree::nodes_at(tree_size, tree_level);
        if tree_size > self.tree_size() || end > complete {
            return Err(not_in_tree(what()));
        }
        let nodes = self.shared.tree.read_nodes(tree_level, first, width)?;
        // A tree rebuilt from its first kept record (a restore past retention, lost
        // level files) keeps only the boundary nodes of the deleted part: the rest are
        // holes in the level files, read as zeros. No hash is all zeros by chance.
        if nodes.chunks(32).any(|node| node.iter().all(|&b| b == 0)) {
            return Err(not_in_tree(format!(
                "{} (its nodes over records deleted past retention were not kept)",
                what()
            )));
        }
        Ok(nodes)
    }

    /// Whether the log's tree is SHA-256, the only tree tlog-tiles and tlog-proof define.
    pub fn is_standard_tree(&self) -> bool {
        self.config().hash == HashAlg::Sha256
    }

    /// Entry bundle `index`, `width` entries wide (256 for a full bundle), of the tree of
    /// `tree_size` leaves: each record's stored payload (what its leaf hash covers) after
    /// its length as a big-endian `u16`. Refused if the bundle reaches past `tree_size`,
    /// holds a record deleted past retention, or one of 65,536 bytes (the one payload
    /// length a `u16` cannot state).
    pub fn entry_bundle(&self, index: u64, width: u64, tree_size: u64) -> Result<Vec<u8>> {
        self.require_sha256()?;
        let what = || format!("entry bundle {index} of width {width}");
        let (first, end) = span(index, width).ok_or_else(|| not_in_tree(what()))?;
        if tree_size > self.tree_size() || end > tree_size {
            return Err(not_in_tree(what()));
        }
        let mut bundle = Vec::new();
        let mut next = first;
        let deleted =
            || Error::InvalidArgument(format!("{} holds records deleted past retention", what()));
        self.scan_payloads(first..end, TimeRange::default(), |seq, payload, _| {
            if seq != next {
                return Err(deleted());
            }
            let len = u16::try_from(payload.len()).map_err(|_| {
                Error::InvalidArgument(format!(
                    "record {seq} is {} bytes, more than an entry bundle's u16 length states",
                    payload.len()
                ))
            })?;
            next = seq + 1;
            bundle.extend_from_slice(&entry_length(len));
            bundle.extend_from_slice(payload);
            Ok(true)
        })?;
        if next != end {
            return Err(deleted());
        }
        Ok(bundle)
    }

    fn require_sha256(&self) -> Result<()> {
        match self.is_standard_tree() {
            true => Ok(()),
            false => Err(Error::InvalidArgument(
                "tlog tiles are SHA-256 trees; this log is BLAKE3".into(),
            )),
        }
    }
}

#[expect(
    clippy::big_endian_bytes,
    reason = "tlog-tiles entry bundles state lengths big-endian"
)]
fn entry_length(len: u16) -> [u8; 2] {
    len.to_be_bytes()
}

/// A tile's name in the tlog-tiles API, after `tile/`: `<L>/<N>[.p/<W>]` for hash tiles,
/// `entries/<N>[.p/<W>]` for entry bundles, `<N>` in 3-digit groups all but the last
/// prefixed with `x` (`x001/x234/067`). Only the canonical spelling parses, so one tile
/// has one name (and one cache entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// The tile level (0 to 63); `None` for an entry bundle.
    pub level: Option<u32>,
    /// The tile's index within its level.
    pub index: u64,
    /// Hashes or entries in it: 256 for a full tile, 1 to 255 for a partial one.
    pub width: u64,
}

/// A decimal without leading zeros, at most `max`.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    crate::checkpoint::decimal(text).filter(|&n| n <= max)
}

impl TilePath {
    /// Parses the part of a tile's URL after `tile/`; `None` unless it is a tile name
    /// spelt canonically.
    pub fn parse(path: &str) -> Option<TilePath> {
        let (level, rest) = path.split_once('/')?;
        let level = match level {
            "entries" => None,
            _ => Some(u32::try_from(parse_decimal(level, 63)?).ok()?),
        };
        let (groups, width) = match rest.split_once(".p/") {
            Some((groups, width)) => (groups, parse_decimal(width, TILE_WIDTH - 1)?),
            None => (rest, TILE_WIDTH),
        };
        if width == 0 {
            return None;
        }
        let mut index = 0u64;
        let mut groups = groups.split('/').peekable();
        while let Some(group) = groups.next() {
            let digits = match groups.peek() {
                Some(_) => group.strip_prefix('x')?,
                None => group,
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            index = index
                .checked_mul(1000)?
                .checked_add(digits.parse::<u64>().ok()?)?;
        }
        let tile = TilePath {
            level,
            index,
            width,
        };
        (tile.to_path() == path).then_some(tile)
    }

    /// The canonical name, as [`TilePath::parse`] reads it.
    pub fn to_path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut path = match self.level {
            Some(level) => level.to_string(),
            None => "entries".to_owned(),
        };
        for (i, group) in groups.iter().enumerate().rev() {
            let x = if i == 0 { "" } else { "x" };
            path.push_str(&format!("/{x}{group:03}"));
        }
        if self.width != TILE_WIDTH {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_names_parse_as_c2sp_spells_them_and_only_so() {
        let tile = |level, index, width| TilePath {
            level,
            index,
            width,
        };
        for (path, want) in [
            ("0/000", tile(Some(0), 0, 256)),
            ("1/x001/x234/067", tile(Some(1), 1_234_067, 256)),
            ("2/005.p/17", tile(Some(2), 5, 17)),
            ("entries/x001/000.p/1", tile(None, 1000, 1)),
            ("63/999", tile(Some(63), 999, 256)),
        ] {
            assert_eq!(TilePath::parse(path), Some(want), "{path}");
            assert_eq!(want.to_path(), path);
        }
        for path in [
            "0/0",
            "0/x000/005",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "64/000",
            "00/000",
            "0/001/002",
            "0/x1/002",
            "entries/",
            "0/000.p/",
            "-1/000",
            "0/+01",
            "0/x001",
        ] {
            assert_eq!(TilePath::parse(path), None, "{path}");
        }
    }
}
