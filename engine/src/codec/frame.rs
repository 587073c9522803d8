//! Record framing: `u32 len ‖ u32 crc32(len ‖ payload) ‖ payload`, little-endian. The CRC
//! covers the length so a damaged length is caught before it is trusted.

/// Bytes before each payload.
pub const FRAME_HEADER_BYTES: usize = 8;
/// The largest payload a frame may carry. Validated events are far smaller (about 20 KiB
/// at most); the bound keeps a damaged length from sending a reader far off.
pub const MAX_RECORD_LEN_BYTES: usize = 64 * 1024;

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the frame needs.
    #[error("truncated record frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame claims.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The length is zero or above [`MAX_RECORD_LEN_BYTES`].
    #[error("record length {0} is out of range")]
    BadLength(u32),
    /// The CRC does not match.
    #[error("record checksum mismatch (stored {expected:#010x}, computed {found:#010x})")]
    ChecksumMismatch {
        /// The stored CRC.
        expected: u32,
        /// The CRC of the bytes.
        found: u32,
    },
}

fn crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one frame holding `payload`; an empty or oversized payload appends nothing and
/// fails.
pub fn encode_frame_into(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = begin_frame(out);
    out.extend_from_slice(payload);
    finish_frame(out, start)
}

/// Starts a frame in `out` whose payload the caller appends next; returns the frame's
/// start for [`finish_frame`]. Lets encoders write the payload in place, without a copy.
pub fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    start
}

/// Fills in the length and CRC of the frame begun at `start`; on an empty or oversized
/// payload, removes the frame again and fails.
pub fn finish_frame(out: &mut Vec<u8>, start: usize) -> Result<(), FrameError> {
    finish_frame_len(out, start)?;
    if let Some(frame) = out.get_mut(start..) {
        let crc = crc(
            frame_len_bytes(frame),
            frame.get(FRAME_HEADER_BYTES..).unwrap_or_default(),
        );
        frame[4..FRAME_HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
    }
    Ok(())
}

/// Fills in only the length of the frame begun at `start` (the CRC is left to
/// [`set_frame_crc`], once the payload's last bytes are known); on an empty or oversized
/// payload, removes the frame again and fails.
pub fn finish_frame_len(out: &mut Vec<u8>, start: usize) -> Result<(), FrameError> {
    let payload_len = out.len().saturating_sub(start + FRAME_HEADER_BYTES);
    if payload_len == 0 || payload_len > MAX_RECORD_LEN_BYTES {
        out.truncate(start);
        return Err(FrameError::BadLength(
            u32::try_from(payload_len).unwrap_or(u32::MAX),
        ));
    }
    let len_bytes = u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes();
    if let Some(len) = out.get_mut(start..start + 4) {
        len.copy_from_slice(&len_bytes);
    }
    Ok(())
}

/// The CRC of a frame whose length is filled in, up to but not including its last `tail`
/// payload bytes: [`set_frame_crc`] resumes from it.
pub fn frame_crc_before(frame: &[u8], tail: usize) -> u32 {
    let end = frame.len().saturating_sub(tail).max(FRAME_HEADER_BYTES);
    crc(
        frame_len_bytes(frame),
        frame.get(FRAME_HEADER_BYTES..end).unwrap_or_default(),
    )
}

/// Stores a frame's CRC, resuming from `before` ([`frame_crc_before`] with the same
/// `tail`) over the last `tail` payload bytes.
pub fn set_frame_crc(frame: &mut [u8], before: u32, tail: usize) {
    let start = frame.len().saturating_sub(tail).max(FRAME_HEADER_BYTES);
    let mut hasher = crc32fast::Hasher::new_with_initial(before);
    hasher.update(frame.get(start..).unwrap_or_default());
    let crc = hasher.finalize();
    if let Some(field) = frame.get_mut(4..FRAME_HEADER_BYTES) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
}

fn frame_len_bytes(frame: &[u8]) -> [u8; 4] {
    match frame {
        [a, b, c, d, ..] => [*a, *b, *c, *d],
        _ => [0; 4],
    }
}

/// Decodes the frame at the start of `bytes`: its payload and the frame's total length.
pub fn decode_frame(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let frame = split_frame(bytes)?;
    frame.check()?;
    Ok((frame.payload, frame.total))
}

/// A frame whose length was checked but not yet its CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitFrame<'a> {
    /// The payload the length names.
    pub payload: &'a [u8],
    /// Header and payload bytes.
    pub total: usize,
    /// The CRC stored in the header.
    pub stored_crc: u32,
}

impl SplitFrame<'_> {
    /// Checks the stored CRC against the length and payload.
    pub fn check(&self) -> Result<(), FrameError> {
        let len = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        let found = crc(len.to_le_bytes(), self.payload);
        if found != self.stored_crc {
            return Err(FrameError::ChecksumMismatch {
                expected: self.stored_crc,
                found,
            });
        }
        Ok(())
    }
}

/// Splits the frame at the start of `bytes` by its length, leaving the CRC to
/// [`SplitFrame::check`]: a reader can walk the frames in order and check their CRCs on
/// every core. Until the CRC is checked, the length may be damaged.
pub fn split_frame(bytes: &[u8]) -> Result<SplitFrame<'_>, FrameError> {
    let truncated = |needed| FrameError::Truncated {
        needed,
        available: bytes.len(),
    };
    let header = bytes
        .first_chunk::<FRAME_HEADER_BYTES>()
        .ok_or(truncated(FRAME_HEADER_BYTES))?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored_crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len as usize > MAX_RECORD_LEN_BYTES {
        return Err(FrameError::BadLength(len));
    }
    let total = FRAME_HEADER_BYTES + len as usize;
    let payload = bytes
        .get(FRAME_HEADER_BYTES..total)
        .ok_or(truncated(total))?;
    Ok(SplitFrame {
        payload,
        total,
        stored_crc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_single_byte_damage_is_caught() {
        let mut buf = Vec::new();
        encode_frame_into(b"hello record", &mut buf).expect("frame");
        assert_eq!(decode_frame(&buf), Ok((&b"hello record"[..], buf.len())));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(decode_frame(&bad).is_err(), "flip at {i}");
        }
        for cut in 0..buf.len() {
            assert!(matches!(
                decode_frame(&buf[..cut]),
                Err(FrameError::Truncated { .. }) | Err(FrameError::BadLength(_))
            ));
        }
    }

    #[test]
    fn a_crc_resumed_over_the_last_bytes_equals_the_whole_one() {
        for tail in [0, 1, 8, 12] {
            let mut whole = Vec::new();
            encode_frame_into(b"payload ending in a link", &mut whole).expect("frame");
            let mut resumed = whole.clone();
            resumed[4..8].fill(0);
            let before = frame_crc_before(&resumed, tail);
            set_frame_crc(&mut resumed, before, tail);
            assert_eq!(resumed, whole, "tail {tail}");
        }
    }

    #[test]
    fn in_place_frames_equal_copied_ones() {
        let mut a = Vec::new();
        encode_frame_into(b"payload", &mut a).expect("frame");
        let mut b = vec![];
        let start = begin_frame(&mut b);
        b.extend_from_slice(b"payload");
        assert_eq!(finish_frame(&mut b, start), Ok(()));
        assert_eq!(a, b);
        let start = begin_frame(&mut b);
        assert_eq!(finish_frame(&mut b, start), Err(FrameError::BadLength(0)));
        assert_eq!(a, b);
    }

    #[test]
    fn known_layout() {
        let mut buf = Vec::new();
        encode_frame_into(b"a", &mut buf).expect("frame");
        assert!(encode_frame_into(b"", &mut buf).is_err());
        assert_eq!(buf.len(), 9, "a refused frame appends nothing");
        assert_eq!(&buf[..4], &[1, 0, 0, 0]);
        let mut h = crc32fast::Hasher::new();
        h.update(&[1, 0, 0, 0, b'a']);
        assert_eq!(&buf[4..8], &h.finalize().to_le_bytes());
        assert_eq!(buf[8], b'a');
    }
}
