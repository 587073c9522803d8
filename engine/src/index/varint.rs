//! LEB128 varints for postings: seven bits per byte, low bits first, high bit set on
//! every byte but the last (docs/FORMAT.md, "Index file").

/// Appends `value`.
pub(crate) fn put(value: u32, out: &mut Vec<u8>) {
    let mut v = value;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one value from the front of `bytes[*at..]`, advancing `at`; `None` when the bytes
/// end first, the value does not fit 32 bits, or it is not in its shortest form (a last
/// byte of zero after others): one value has one encoding.
pub(crate) fn get(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        let bits = u32::from(byte & 0x7f);
        if shift == 28 && bits > 0x0f {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return (byte != 0 || shift == 0).then_some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_overflow() {
        let values = [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX - 1, u32::MAX];
        let mut bytes = Vec::new();
        for v in values {
            put(v, &mut bytes);
        }
        let mut at = 0;
        for v in values {
            assert_eq!(get(&bytes, &mut at), Some(v));
        }
        assert_eq!(at, bytes.len());
        assert_eq!(get(&[0xff, 0xff, 0xff, 0xff, 0x1f], &mut 0), None);
        assert_eq!(get(&[0x80, 0x80], &mut 0), None);
        assert_eq!(get(&[0x81, 0x00], &mut 0), None, "1 in two bytes");
        assert_eq!(get(&[0x00], &mut 0), Some(0));
        assert_eq!(get(&[], &mut 0), None);
    }
}
