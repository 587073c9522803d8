//! The envelope every binary file of a data directory shares (docs/FORMAT.md, "File
//! envelope"): an 8-byte magic (`\x89AL?\r\n\x1a\n`, one letter per kind), a `u16` format
//! version at byte 8, reserved bytes that are written as zeros, and, in most kinds, a
//! CRC32 of the bytes before it. Every kind is checked here, in one order: magic, CRC
//! (damage is said first), version (what intact bytes say), reserved bytes (which a later
//! version may use, so they are read only in a version this build knows).

use std::ops::{Range, RangeInclusive};

use crate::error::CorruptionKind;
use crate::le::{u16_at, u32_at};

/// The format this build writes (docs/FORMAT.md, "Version history"): 2 added the
/// checkpoint keys and the checkpoint log, and `checkpoint_interval_ms` in `config.json`;
/// 3, event records that end in their tenant link (record kind 2); 4, sealed personal
/// data (record kind 3, the subject key store).
pub const FORMAT_VERSION: u16 = 5;
/// The oldest format this build reads.
pub const OLDEST_SUPPORTED_FORMAT_VERSION: u16 = 1;

/// Where the version is, in every kind.
pub(crate) const VERSION_AT: usize = 8;

/// One file kind's envelope.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// What the file is, for `Truncated`.
    pub(crate) what: &'static str,
    pub(crate) magic: [u8; 8],
    /// The versions this build reads.
    pub(crate) versions: RangeInclusive<u16>,
    /// Bytes that must be zero.
    pub(crate) reserved: Range<usize>,
}

impl Envelope {
    /// A kind of the data directory's format (versions
    /// `OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION`).
    pub(crate) const fn of_format(
        what: &'static str,
        magic: [u8; 8],
        reserved: Range<usize>,
    ) -> Envelope {
        Envelope {
            what,
            magic,
            versions: OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION,
            reserved,
        }
    }

    /// Checks `bytes` (the file, or its head) against the envelope; `crc_at` is where
    /// the CRC32 of every byte before it is stored, for kinds that have one. The version,
    /// or the offset of the first fault and what it is.
    pub(crate) fn check(
        &self,
        bytes: &[u8],
        crc_at: Option<usize>,
    ) -> Result<u16, (u64, CorruptionKind)> {
        let truncated = (0, CorruptionKind::Truncated(self.what));
        if bytes.len() < self.reserved.end.max(VERSION_AT + 2) {
            return Err(truncated);
        }
        if bytes.get(..8) != Some(&self.magic[..]) {
            return Err((0, CorruptionKind::BadMagic));
        }
        if let Some(at) = crc_at {
            let stored = u32_at(bytes, at).ok_or((at as u64, truncated.1.clone()))?;
            let found = crc32fast::hash(bytes.get(..at).unwrap_or_default());
            if stored != found {
                let kind = CorruptionKind::ChecksumMismatch {
                    expected: stored,
                    found,
                };
                return Err((at as u64, kind));
            }
        }
        let version = u16_at(bytes, VERSION_AT).ok_or(truncated)?;
        if !self.versions.contains(&version) {
            let kind = CorruptionKind::UnsupportedVersion {
                found: version,
                oldest: *self.versions.start(),
                newest: *self.versions.end(),
            };
            return Err((VERSION_AT as u64, kind));
        }
        if bytes
            .get(self.reserved.clone())
            .is_none_or(|r| r.iter().any(|&b| b != 0))
        {
            let why = format!("reserved {} bytes are not zero", self.what);
            return Err((self.reserved.start as u64, CorruptionKind::BadField(why)));
        }
        Ok(version)
    }

    /// Starts a file of this kind in `out`: the magic and `version`.
    pub(crate) fn begin(&self, out: &mut Vec<u8>, version: u16) {
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&version.to_le_bytes());
    }
}

/// Appends the CRC32 of `out[start..]`.
pub(crate) fn seal_crc(out: &mut Vec<u8>, start: usize) {
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: Envelope = Envelope::of_format(
        "test file",
        [0x89, b'A', b'L', b'Z', b'\r', b'\n', 0x1a, b'\n'],
        10..16,
    );

    fn file(version: u16) -> Vec<u8> {
        let mut out = Vec::new();
        KIND.begin(&mut out, version);
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(b"payload!");
        seal_crc(&mut out, 0);
        out
    }

    #[test]
    fn checks_magic_then_crc_then_version_then_reserved() {
        let crc_at = Some(24);
        assert_eq!(
            KIND.check(&file(FORMAT_VERSION), crc_at),
            Ok(FORMAT_VERSION)
        );
        assert_eq!(
            KIND.check(&file(FORMAT_VERSION)[..5], crc_at),
            Err((0, CorruptionKind::Truncated("test file")))
        );
        let mut bad = file(FORMAT_VERSION);
        bad[1] = b'X';
        bad[12] = 1; // reserved too: the magic is said first
        assert_eq!(KIND.check(&bad, crc_at), Err((0, CorruptionKind::BadMagic)));
        let mut flipped = file(FORMAT_VERSION);
        flipped[8] ^= 0x40; // damage to the version is damage first
        assert!(matches!(
            KIND.check(&flipped, crc_at),
            Err((24, CorruptionKind::ChecksumMismatch { .. }))
        ));
        // A newer build's file, intact, with its reserved bytes in use.
        let mut newer = file(FORMAT_VERSION + 1);
        newer[12] = 7;
        newer.truncate(24);
        seal_crc(&mut newer, 0);
        assert!(matches!(
            KIND.check(&newer, crc_at),
            Err((8, CorruptionKind::UnsupportedVersion { .. }))
        ));
        let mut reserved = file(FORMAT_VERSION);
        reserved[13] = 1;
        reserved.truncate(24);
        seal_crc(&mut reserved, 0);
        assert!(matches!(
            KIND.check(&reserved, crc_at),
            Err((10, CorruptionKind::BadField(_)))
        ));
        // Without a CRC, the version comes right after the magic.
        assert!(matches!(
            KIND.check(&file(0), None),
            Err((8, CorruptionKind::UnsupportedVersion { .. }))
        ));
    }
}
