//! UTC calendar arithmetic: days <-> civil dates, weekdays, and the
//! `YYYY-MM-DDTHH:MM:SSZ` timestamp format (parse and print).

/// Seconds in one day.
pub(crate) const SECS_PER_DAY: i64 = 86_400;

/// Seconds in one hour.
pub(crate) const SECS_PER_HOUR: i64 = 3_600;

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian `(year, month, day)` of the day `z` days after 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day of the week of the day `z` days after 1970-01-01, Monday = 0 .. Sunday = 6
/// (Python's `tm_wday`). 1970-01-01 was a Thursday.
pub(crate) fn weekday(z: i64) -> u32 {
    (z + 3).rem_euclid(7) as u32
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Parses a fixed-width run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC) into seconds since the Unix epoch.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let secs = i64::from(hour * 3600 + minute * 60 + second);
    Some(days_from_civil(year, month, day) * SECS_PER_DAY + secs)
}

/// Appends `value` as exactly `width` decimal digits (zero padded, truncated on the left).
fn push_digits(out: &mut String, value: u64, width: u32) {
    let mut div = 10u64.pow(width.saturating_sub(1));
    for _ in 0..width {
        out.push(char::from(b'0' + ((value / div) % 10) as u8));
        div /= 10;
    }
}

/// Appends `YYYY-MM-DDT` for the day `z` days after 1970-01-01 (years 0..=9999).
pub(crate) fn push_date_prefix(out: &mut String, z: i64) {
    let (y, m, d) = civil_from_days(z);
    push_digits(out, y.clamp(0, 9999) as u64, 4);
    out.push('-');
    push_digits(out, u64::from(m), 2);
    out.push('-');
    push_digits(out, u64::from(d), 2);
    out.push('T');
}

/// Appends `HH:MM:SSZ` for `second_of_day` in `[0, 86400)`.
pub(crate) fn push_time_suffix(out: &mut String, second_of_day: u32) {
    push_digits(out, u64::from(second_of_day / 3600), 2);
    out.push(':');
    push_digits(out, u64::from(second_of_day / 60 % 60), 2);
    out.push(':');
    push_digits(out, u64::from(second_of_day % 60), 2);
    out.push('Z');
}

/// Appends the full `YYYY-MM-DDTHH:MM:SSZ` form of `epoch` seconds.
pub(crate) fn push_timestamp(out: &mut String, epoch: i64) {
    push_date_prefix(out, epoch.div_euclid(SECS_PER_DAY));
    push_time_suffix(out, epoch.rem_euclid(SECS_PER_DAY) as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(epoch: i64) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, epoch);
        s
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn civil_round_trip_over_many_years() {
        let start = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2500, 12, 31);
        let mut prev = civil_from_days(start - 1);
        for z in start..=end {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!(d >= 1 && d <= days_in_month(y, m));
            // consecutive days advance the calendar by exactly one day
            let next_ok = (y, m, d == 1)
                == if prev.2 == days_in_month(prev.0, prev.1) {
                    if prev.1 == 12 {
                        (prev.0 + 1, 1, true)
                    } else {
                        (prev.0, prev.1 + 1, true)
                    }
                } else {
                    (prev.0, prev.1, false)
                };
            assert!(next_ok, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }

    #[test]
    fn weekdays() {
        assert_eq!(weekday(0), 3); // 1970-01-01 Thursday
        assert_eq!(weekday(days_from_civil(2026, 1, 1)), 3); // Thursday
        assert_eq!(weekday(days_from_civil(2026, 1, 3)), 5); // Saturday
        assert_eq!(weekday(days_from_civil(2026, 1, 5)), 0); // Monday
        assert_eq!(weekday(-1), 2); // 1969-12-31 Wednesday
    }

    #[test]
    fn parse_and_format_round_trip() {
        for s in [
            "2026-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "1969-07-20T20:17:40Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t = parse_timestamp(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(fmt(t), s);
        }
        assert_eq!(parse_timestamp("2026-01-01T00:00:00Z"), Some(1_767_225_600));
    }

    #[test]
    fn parse_rejects_malformed_input() {
        for s in [
            "",
            "2026-01-01",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+00:00",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-1-01T00:00:00Z ",
            "2026-+1-01T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }
}
