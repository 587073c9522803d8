//! Event timestamps: microseconds since the Unix epoch, UTC, parsed from and printed as
//! RFC 3339. Offsets are normalised to `Z` and fractions beyond microseconds are
//! truncated (docs/EVENTS.md, "Timestamps").

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use super::decimal::put_digits;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The earliest timestamp accepted: 0001-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_135_596_800 * MICROS_PER_SECOND);
    /// The latest timestamp accepted: 9999-12-31T23:59:59.999999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_800 * MICROS_PER_SECOND - 1);

    /// Whole seconds since the epoch.
    pub fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(MICROS_PER_SECOND))
    }

    /// The current time of the system clock.
    pub fn now() -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339 (`2026-03-08T14:32:01Z`, `…T14:32:01.250+02:00`).
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        parse_rfc3339(text.as_bytes()).ok_or_else(|| {
            format!(
                "`{}` is not an RFC 3339 timestamp like 2026-03-08T14:32:01Z",
                clip(text)
            )
        })
    }

    /// Formats as RFC 3339 in UTC: whole seconds when there is no fraction, else
    /// milliseconds or microseconds, whichever is exact.
    pub fn format(self, out: &mut String) {
        let mut bytes = Vec::with_capacity(27);
        self.format_into(&mut bytes);
        out.push_str(std::str::from_utf8(&bytes).unwrap_or_default());
    }

    /// [`Timestamp::format`] onto bytes, through a buffer on the stack, the date from a
    /// one-day cache (exports format millions, mostly of the day before).
    pub fn format_into(self, out: &mut Vec<u8>) {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND);
        let (days, second_of_day) = (
            seconds.div_euclid(SECONDS_PER_DAY),
            seconds.rem_euclid(SECONDS_PER_DAY),
        );
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        text[..10].copy_from_slice(&date_text(days));
        put_digits(&mut text[11..13], second_of_day / 3600);
        put_digits(&mut text[14..16], second_of_day / 60 % 60);
        put_digits(&mut text[17..19], second_of_day % 60);
        let len = if micros == 0 {
            19
        } else if micros % 1000 == 0 {
            put_digits(&mut text[20..23], micros / 1000);
            23
        } else {
            put_digits(&mut text[20..26], micros);
            26
        };
        text[len] = b'Z';
        out.extend_from_slice(&text[..=len]);
    }

    /// The timestamp as RFC 3339 text.
    pub fn to_rfc3339(self) -> String {
        let mut out = String::with_capacity(27);
        self.format(&mut out);
        out
    }
}

thread_local! {
    /// The day last formatted on this thread and its text: pages and exports write runs
    /// of events of one day, and the calendar arithmetic is most of a timestamp's cost.
    static LAST_DATE: Cell<(i64, [u8; 10])> = const { Cell::new((i64::MIN, [0; 10])) };
}

/// `YYYY-MM-DD` of a day counted from the epoch.
fn date_text(days: i64) -> [u8; 10] {
    LAST_DATE.with(|last| {
        let (cached, text) = last.get();
        if cached == days {
            return text;
        }
        let (year, month, day) = civil_from_days(days);
        let mut text = *b"0000-00-00";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        last.set((days, text));
        text
    })
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => text.get(..at).unwrap_or(text),
        None => text,
    }
}

fn digits(bytes: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = bytes.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn expect(bytes: &[u8], at: usize, allowed: &[u8]) -> Option<()> {
    allowed.contains(bytes.get(at)?).then_some(())
}

fn parse_rfc3339(b: &[u8]) -> Option<Timestamp> {
    let year = digits(b, 0, 4)?;
    expect(b, 4, b"-")?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b"-")?;
    let day = digits(b, 8, 2)?;
    expect(b, 10, b"Tt ")?;
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b":")?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b":")?;
    let second = digits(b, 17, 2)?;
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(b.get(at)? - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_seconds = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() => {
            let oh = digits(b, at + 1, 2)?;
            expect(b, at + 3, b":")?;
            let om = digits(b, at + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    // Second 60 (a leap second) is accepted as RFC 3339 allows and folds into the next.
    if year == 0 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset_seconds;
    let ts = Timestamp(seconds * MICROS_PER_SECOND + micros);
    (Timestamp::MIN..=Timestamp::MAX)
        .contains(&ts)
        .then_some(ts)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Option<i64> {
        Timestamp::parse(text).ok().map(|t| t.0)
    }

    #[test]
    fn known_answers() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(ts("2026-03-08T14:32:01Z"), Some(1_772_980_321_000_000));
        assert_eq!(ts("2026-03-08T16:32:01+02:00"), Some(1_772_980_321_000_000));
        assert_eq!(ts("2026-03-08T14:32:01.5Z"), Some(1_772_980_321_500_000));
        assert_eq!(
            ts("2026-03-08T14:32:01.123456789Z"),
            Some(1_772_980_321_123_456)
        );
        assert_eq!(ts("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert!(ts("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-03-08",
            "2026-03-08T14:32:01",
            "2026-13-08T14:32:01Z",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-03-08T24:00:00Z",
            "2026-03-08T14:32:01.Z",
            "2026-03-08T14:32:01Zjunk",
            "2026-03-08T14:32:01+2:00",
            "0000-01-01T00:00:00Z",
            "２０２６-03-08T14:32:01Z",
            "2026-03-08T14:32:01+24:00",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_exactly() {
        let f = |micros| Timestamp(micros).to_rfc3339();
        assert_eq!(f(0), "1970-01-01T00:00:00Z");
        assert_eq!(f(1_772_980_321_000_000), "2026-03-08T14:32:01Z");
        assert_eq!(f(1_772_980_321_500_000), "2026-03-08T14:32:01.500Z");
        assert_eq!(f(1_772_980_321_000_001), "2026-03-08T14:32:01.000001Z");
        assert_eq!(f(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp::MIN.to_rfc3339(), "0001-01-01T00:00:00Z");
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9999-12-31T23:59:59.999999Z");
        // The day before and after the one the date cache holds.
        assert_eq!(f(-86_400_000_000), "1969-12-31T00:00:00Z");
        assert_eq!(f(86_399_999_999), "1970-01-01T23:59:59.999999Z");
        assert_eq!(f(86_400_000_000), "1970-01-02T00:00:00Z");
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(micros in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let text = Timestamp(micros).to_rfc3339();
            proptest::prop_assert_eq!(ts(&text), Some(micros), "{}", text);
        }
    }
}
