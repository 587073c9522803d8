//! Compact JSON text output: string escaping identical to Python's
//! `json.dumps` (default `ensure_ascii=True`) and allocation-free number formatting.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True for bytes Python's `json.dumps` emits verbatim inside a string:
/// printable ASCII except `"` and `\`.
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

fn push_u_escape(out: &mut String, unit: u16) {
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
    }
}

/// Appends `s` as a quoted JSON string, escaped exactly as Python's `json.dumps`
/// does: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control characters,
/// DEL and every non-ASCII character as `\uXXXX` (UTF-16 surrogate pairs beyond
/// the BMP). `/` and `+` are not escaped.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_str_content(out, s);
    out.push('"');
}

/// Appends the escaped content of `s` without the surrounding quotes
/// (see [`push_str`]).
pub(crate) fn push_str_content(out: &mut String, s: &str) {
    if s.bytes().all(is_plain) {
        out.push_str(s);
    } else {
        push_escaped(out, s);
    }
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for &unit in c.encode_utf16(&mut units).iter() {
                    push_u_escape(out, unit);
                }
            }
        }
    }
}

/// Appends `value` in decimal, left-padded with zeros to at least `width` digits
/// (Python's `%0Nd`; `width` 0 or 1 means no padding).
pub(crate) fn push_dec(out: &mut String, value: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push_padded(out, &buf[i..], width);
}

/// Appends `value` in lowercase hexadecimal, left-padded with zeros to at least
/// `width` digits (Python's `%0Nx`; `width` 0 means `%x`).
pub(crate) fn push_hex(out: &mut String, value: u64, width: usize) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = HEX[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    push_padded(out, &buf[i..], width);
}

fn push_padded(out: &mut String, digits: &[u8], width: usize) {
    for _ in digits.len()..width {
        out.push('0');
    }
    for &d in digits {
        out.push(char::from(d));
    }
}

/// Appends `true` or `false`.
pub(crate) fn push_bool(out: &mut String, value: bool) {
    out.push_str(if value { "true" } else { "false" });
}

/// Returns `s` as a quoted JSON string (see [`push_str`]).
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_only_quoted() {
        assert_eq!(quoted("alice.smith@acme.com"), r#""alice.smith@acme.com""#);
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(
            quoted("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
            r#""node-fetch/1.0 (+https://github.com/bitinn/node-fetch)""#
        );
    }

    #[test]
    fn escapes_match_python_json_dumps() {
        // Expected values are what `json.dumps(s)` prints in CPython.
        assert_eq!(quoted("a\"b"), r#""a\"b""#);
        assert_eq!(quoted("a\\b"), r#""a\\b""#);
        assert_eq!(quoted("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(
            quoted("\u{8}\u{c}\u{0}\u{1f}\u{7f}"),
            r#""\b\f\u0000\u001f\u007f""#
        );
        assert_eq!(quoted("caf\u{e9} \u{20ac}"), r#""caf\u00e9 \u20ac""#);
        assert_eq!(quoted("\u{1f600}"), r#""\ud83d\ude00""#);
        assert_eq!(quoted("a/b+c"), r#""a/b+c""#);
    }

    #[test]
    fn numbers() {
        let mut s = String::new();
        push_dec(&mut s, 0, 0);
        s.push(',');
        push_dec(&mut s, 42, 6);
        s.push(',');
        push_dec(&mut s, 1234567, 4);
        s.push(',');
        push_dec(&mut s, u64::MAX, 0);
        s.push(',');
        push_hex(&mut s, 0, 0);
        s.push(',');
        push_hex(&mut s, 0xbeef, 8);
        s.push(',');
        push_hex(&mut s, 0xffff_ffff, 8);
        s.push(',');
        push_hex(&mut s, u64::MAX, 0);
        s.push(',');
        push_bool(&mut s, true);
        push_bool(&mut s, false);
        assert_eq!(
            s,
            "0,000042,1234567,18446744073709551615,0,0000beef,ffffffff,ffffffffffffffff,truefalse"
        );
    }
}
