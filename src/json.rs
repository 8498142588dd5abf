//! A tiny, allocation-light JSON writer for the engine's hot paths.
//!
//! The snapshot of a 100k-node page is written straight into one `String` instead of
//! building a `serde_json::Value` tree first. Only what the wire format needs is here:
//! strings (escaped per RFC 8259), integers, numbers, booleans and `null`.

use std::fmt::Write;

/// Appends `s` as a JSON string literal (with quotes) to `out`.
pub fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends an unsigned integer.
pub fn uint(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY-free: the bytes are ASCII digits.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends a finite number; non-finite values become `0` (JSON has no NaN).
pub fn number(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push('0');
    } else if n.fract() == 0.0 && n.abs() < 9.0e15 {
        if n < 0.0 {
            out.push('-');
        }
        uint(out, n.abs() as u64);
    } else {
        let _ = write!(out, "{}", n);
    }
}

/// Appends `true` or `false`.
pub fn boolean(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// Appends `s` as a JSON string, or `null` when absent.
pub fn opt_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_through_serde() {
        let nasty = "a\"b\\c\n\r\t\u{0}\u{1f} é 😀 </script>";
        let mut out = String::new();
        string(&mut out, nasty);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn numbers() {
        let mut out = String::new();
        uint(&mut out, 0);
        out.push(',');
        uint(&mut out, 4294967295);
        out.push(',');
        number(&mut out, -12.0);
        out.push(',');
        number(&mut out, 1.5);
        out.push(',');
        number(&mut out, f64::NAN);
        assert_eq!(out, "0,4294967295,-12,1.5,0");
    }
}
