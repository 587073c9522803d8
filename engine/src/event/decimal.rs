//! Decimal digits, written two at a time: a query or an export writes a timestamp and a
//! sequence number for every event it returns, and this halves their divisions.

/// "00", "01", … "99".
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// The two digits of `value % 100`.
fn pair(value: u64) -> [u8; 2] {
    let at = 2 * (value % 100) as usize;
    [DIGIT_PAIRS[at], DIGIT_PAIRS[at + 1]]
}

/// Writes `value` as decimal digits filling `slot`, zero-padded (clamped to 0 and to the
/// largest value that fits).
#[inline]
pub(super) fn put_digits(slot: &mut [u8], value: i64) {
    let mut v = value.clamp(0, 10i64.pow(slot.len() as u32) - 1) as u64;
    let mut end = slot.len();
    while end >= 2 {
        slot[end - 2..end].copy_from_slice(&pair(v));
        v /= 100;
        end -= 2;
    }
    if end == 1 {
        slot[0] = b'0' + v as u8;
    }
}

/// Appends `value` in decimal.
pub(super) fn write_u64(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = value;
    while v >= 100 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&pair(v));
        v /= 100;
    }
    if v >= 10 {
        at -= 2;
        digits[at..at + 2].copy_from_slice(&pair(v));
    } else {
        at -= 1;
        digits[at] = b'0' + v as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        let mut n = 1u64;
        let mut cases = vec![0, u64::MAX];
        while let Some(next) = n.checked_mul(10) {
            cases.extend([n - 1, n, n + 7, 3 * n + 1]);
            n = next;
        }
        for n in cases {
            let mut out = b"x".to_vec();
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn fixed_widths_are_zero_padded_and_clamped() {
        for width in 1..=6 {
            let max = 10i64.pow(width as u32) - 1;
            for value in [-5, 0, 7, 42, 305, 4_321, 98_765, 123_456, max, max + 1] {
                let mut slot = vec![b'?'; width];
                put_digits(&mut slot, value);
                let expected = format!("{:0width$}", value.clamp(0, max));
                assert_eq!(slot, expected.into_bytes(), "{value} in {width}");
            }
        }
    }
}
