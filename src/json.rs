//! A tiny, allocation-light JSON writer for the engine's hot paths.
//!
//! The snapshot of a 100k-node page is written straight into one `String` instead of
//! building a `serde_json::Value` tree first. Only what the wire format needs is here:
//! strings (escaped per RFC 8259), integers, numbers, booleans and `null`.

use alloc::string::String;

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
        // `get`, not indexing (both bounds are at ASCII bytes): no panic path to ship.
        out.push_str(s.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends an unsigned integer.
pub fn uint(out: &mut String, n: u64) {
    // Most numbers on the wire are one-digit gid deltas and depths.
    if n < 10 {
        out.push((b'0' + n as u8) as char);
        return;
    }
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
    out.extend(buf[i..].iter().map(|&d| d as char));
}

/// Appends a finite number with at most 3 decimals; non-finite values become `0` (JSON has no
/// NaN). Written by hand: `core::fmt`'s float formatting would add ~15 KB to the wasm.
pub fn number(out: &mut String, n: f64) {
    if !n.is_finite() || n.abs() >= 9.0e15 {
        out.push('0');
        return;
    }
    let milli = round_half_up(n.abs() * 1000.0);
    if n < 0.0 && milli > 0 {
        out.push('-');
    }
    uint(out, milli / 1000);
    let frac = milli % 1000;
    if frac > 0 {
        out.push('.');
        let digits = [frac / 100, frac / 10 % 10, frac % 10];
        let keep = if frac.is_multiple_of(100) {
            1
        } else if frac.is_multiple_of(10) {
            2
        } else {
            3
        };
        for d in &digits[..keep] {
            out.push((b'0' + *d as u8) as char);
        }
    }
}

/// `f64::round` of a non-negative `x` below 2^63 (`round` is not in `core`). Exact: for
/// `x < 2^52` the fraction `x - trunc(x)` is computed without rounding, above it `x` is whole.
fn round_half_up(x: f64) -> u64 {
    let whole = x as u64;
    whole + u64::from(x - whole as f64 >= 0.5)
}

/// Builds one JSON object (`{"k":v,...}`) without a value tree.
#[derive(Debug)]
pub struct Obj {
    out: String,
    first: bool,
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj {
            out: String::from("{"),
            first: true,
        }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(&mut self.out, k);
        self.out.push(':');
    }
    /// Adds a string member.
    pub fn str(mut self, k: &str, v: &str) -> Obj {
        self.key(k);
        string(&mut self.out, v);
        self
    }
    /// Adds a string member, or `null`.
    pub fn opt_str(mut self, k: &str, v: Option<&str>) -> Obj {
        self.key(k);
        opt_string(&mut self.out, v);
        self
    }
    /// Adds a number member.
    pub fn num(mut self, k: &str, v: f64) -> Obj {
        self.key(k);
        number(&mut self.out, v);
        self
    }
    /// Adds a boolean member.
    pub fn bool(mut self, k: &str, v: bool) -> Obj {
        self.key(k);
        boolean(&mut self.out, v);
        self
    }
    /// Adds a member whose value is already JSON text.
    pub fn raw(mut self, k: &str, json: &str) -> Obj {
        self.key(k);
        self.out.push_str(json);
        self
    }
    /// The finished object.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of strings.
pub fn string_array(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, s);
    }
    out.push(']');
    out
}

/// Appends `true` or `false`.
pub fn boolean(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// `n` in decimal, as `n.to_string()` would write it (without `core::fmt`).
pub fn uint_string(n: u64) -> String {
    let mut out = String::new();
    uint(&mut out, n);
    out
}

/// `s` quoted and escaped as `format!("{s:?}")` writes it, without `core::fmt`, for error
/// messages. Exact for ASCII; other characters are kept as they are, where `Debug` would escape
/// the invisible ones (combining marks, format characters): its Unicode tables would add about
/// 3 KB to the wasm module for a message naming a bad mask selector.
pub fn debug_quoted(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{1}'..='\u{1f}' | '\u{7f}' => {
                let b = c as u8;
                out.push_str("\\u{");
                if b >= 16 {
                    out.push(HEX[(b >> 4) as usize] as char);
                }
                out.push(HEX[(b & 15) as usize] as char);
                out.push('}');
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
        out.push(',');
        number(&mut out, 0.125);
        out.push(',');
        number(&mut out, -2.05);
        assert_eq!(out, "0,4294967295,-12,1.5,0,0.125,-2.05");
    }

    #[test]
    fn debug_quoted_matches_debug() {
        for s in [
            "",
            "plain",
            "q\"uo'te\\ \n\r\t\0 \u{1}\u{1b}\u{1f}\u{7f} é 😀 div[[broken",
        ] {
            assert_eq!(debug_quoted(s), format!("{s:?}"));
        }
        assert_eq!(uint_string(1234567), "1234567");
    }

    #[test]
    fn objects_parse_back() {
        let o = Obj::new()
            .str("t", "hello")
            .opt_str("key", None)
            .num("v", 1.0)
            .bool("p", true)
            .raw("a", &string_array(&["x\"y".to_string()]))
            .finish();
        let v: serde_json::Value = serde_json::from_str(&o).unwrap();
        assert_eq!(v["t"], "hello");
        assert!(v["key"].is_null());
        assert_eq!(v["a"][0], "x\"y");
        assert_eq!(Obj::new().finish(), "{}");
    }
}
