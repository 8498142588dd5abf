//! URL resolution for attributes and CSS, so the agent's mirror (which lives on another
//! origin) loads the visitor's stylesheets, images and fonts.
//!
//! A small, dependency-free subset of the WHATWG URL resolution: absolute URLs pass through,
//! and scheme-relative, root-relative, query-, fragment- and path-relative references are
//! joined to the base with dot segments removed.

use alloc::{string::String, vec::Vec};
use core::slice::SliceIndex;

/// `&s[range]`, or `""` where a bound is not on a character boundary, which never happens here
/// (every index comes from a search in the same string). Unlike indexing it cannot panic, so
/// the panic-message code of `str` slicing stays out of the wasm module.
fn sub<R: SliceIndex<str, Output = str>>(s: &str, range: R) -> &str {
    s.get(range).unwrap_or("")
}

/// True when `s` starts with a URL scheme (`letter *(letter / digit / "+" / "-" / ".") ":"`).
fn scheme_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first().is_some_and(|c| c.is_ascii_alphabetic()) {
        for (i, &c) in b.iter().enumerate().skip(1) {
            if c == b':' {
                return Some(i);
            }
            if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.') {
                return None;
            }
        }
    }
    None
}

/// True for URLs that would run code or render active content in the mirror.
pub fn is_dangerous(value: &str) -> bool {
    // The first 16 characters that are not ASCII whitespace or controls, lowercased, in a buffer
    // (no allocation). A non-ASCII character becomes 0x80, which no prefix below contains.
    let mut v = [0u8; 16];
    let mut n = 0;
    for c in value.chars() {
        if n == v.len() {
            break;
        }
        if !c.is_ascii_whitespace() && !c.is_ascii_control() {
            v[n] = if c.is_ascii() {
                (c as u8).to_ascii_lowercase()
            } else {
                0x80
            };
            n += 1;
        }
    }
    let v = &v[..n];
    v.starts_with(b"javascript:") || v.starts_with(b"vbscript:") || v.starts_with(b"data:text/html")
}

/// Splits an absolute URL into (scheme+authority, path, rest-from-? or #).
fn split(base: &str) -> (&str, &str, &str) {
    let Some(sl) = scheme_len(base) else {
        return (base, "", "");
    };
    let after = sub(base, sl + 1..);
    let (auth_end, has_auth) = if let Some(rest) = after.strip_prefix("//") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        (sl + 3 + end, true)
    } else {
        (sl + 1, false)
    };
    let _ = has_auth;
    let rest = sub(base, auth_end..);
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    (
        sub(base, ..auth_end),
        sub(rest, ..path_end),
        sub(rest, path_end..),
    )
}

fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            "." => {
                if i == n - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == n - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        ["/", &joined].concat()
    }
}

/// Resolves `rel` against the absolute `base`.
pub fn resolve(base: &str, rel: &str) -> String {
    let rel = rel.trim_matches(|c: char| c.is_ascii_whitespace());
    if scheme_len(rel).is_some() {
        return rel.into();
    }
    let (origin, path, tail) = split(base);
    if rel.is_empty() {
        let q = tail.find('#').map(|i| sub(tail, ..i)).unwrap_or(tail);
        return [origin, path, q].concat();
    }
    if let Some(r) = rel.strip_prefix("//") {
        let scheme = scheme_len(base)
            .map(|i| sub(base, ..=i))
            .unwrap_or("https:");
        return [scheme, "//", r].concat();
    }
    if rel.starts_with('#') {
        let q = tail.find('#').map(|i| sub(tail, ..i)).unwrap_or(tail);
        return [origin, path, q, rel].concat();
    }
    if rel.starts_with('?') {
        return [origin, path, rel].concat();
    }
    let (rel_path, rel_tail) = match rel.find(['?', '#']) {
        Some(i) => (sub(rel, ..i), sub(rel, i..)),
        None => (rel, ""),
    };
    let merged = if rel_path.starts_with('/') {
        rel_path.into()
    } else {
        let dir = match path.rfind('/') {
            Some(i) => sub(path, ..=i),
            None => "/",
        };
        [dir, rel_path].concat()
    };
    [origin, &remove_dot_segments(&merged), rel_tail].concat()
}

/// Resolves every candidate URL of a `srcset` value.
pub fn resolve_srcset(base: &str, srcset: &str) -> String {
    srcset
        .split(',')
        .map(|cand| {
            let cand = cand.trim();
            match cand.find(char::is_whitespace) {
                Some(i) => [&resolve(base, sub(cand, ..i)), " ", sub(cand, i..).trim()].concat(),
                None if cand.is_empty() => String::new(),
                None => resolve(base, cand),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `hay` contains `needle` (lowercase ASCII) in any ASCII case. A plain scan: `str`'s
/// two-way searcher is larger, and no faster for these short needles.
fn contains_ignore_ascii_case(hay: &str, needle: &[u8]) -> bool {
    let h = hay.as_bytes();
    (0..(h.len() + 1).saturating_sub(needle.len())).any(|i| {
        h[i].to_ascii_lowercase() == needle[0]
            && h[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

/// Rewrites `url(...)` and `@import "..."` references in CSS text to absolute URLs.
/// Returns `None` when nothing changed (the common case; no allocation).
pub fn rewrite_css(base: &str, css: &str) -> Option<String> {
    if !contains_ignore_ascii_case(css, b"url(") && !contains_ignore_ascii_case(css, b"@import") {
        return None;
    }
    let lower = css.to_ascii_lowercase();
    let mut out = String::with_capacity(css.len() + 64);
    let mut i = 0;
    let bytes = css.as_bytes();
    let mut changed = false;
    while i < css.len() {
        if sub(&lower, i..).starts_with("url(") {
            out.push_str(sub(css, i..i + 4));
            i += 4;
            let rest = sub(css, i..);
            let trimmed = rest.trim_start();
            let ws = rest.len() - trimmed.len();
            let (inner, consumed) = match trimmed.chars().next() {
                Some(q @ ('"' | '\'')) => match sub(trimmed, 1..).find(q) {
                    Some(end) => (sub(trimmed, 1..1 + end), ws + end + 2),
                    None => break,
                },
                _ => match trimmed.find(')') {
                    Some(end) => (sub(trimmed, ..end).trim_end(), ws + end),
                    None => break,
                },
            };
            if inner.starts_with("data:") || inner.starts_with('#') {
                out.push_str(sub(css, i..i + consumed));
            } else {
                let abs = resolve(base, inner);
                out.push('"');
                out.push_str(&abs.replace('"', "%22"));
                out.push('"');
                changed = true;
            }
            i += consumed;
        } else if sub(&lower, i..).starts_with("@import") {
            out.push_str(sub(css, i..i + 7));
            i += 7;
            let rest = sub(css, i..);
            let trimmed = rest.trim_start();
            let ws = rest.len() - trimmed.len();
            if let Some(q @ ('"' | '\'')) = trimmed.chars().next() {
                if let Some(end) = sub(trimmed, 1..).find(q) {
                    out.push_str(sub(rest, ..ws));
                    out.push('"');
                    out.push_str(&resolve(base, sub(trimmed, 1..1 + end)).replace('"', "%22"));
                    out.push('"');
                    i += ws + end + 2;
                    changed = true;
                }
            }
        } else {
            let ch_len = utf8_len(bytes[i]);
            out.push_str(sub(css, i..i + ch_len));
            i += ch_len;
        }
    }
    if i < css.len() {
        out.push_str(sub(css, i..));
    }
    changed.then_some(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "http://shop.test:8080/demo/a/page.html?x=1#top";

    #[test]
    fn resolves_like_browsers() {
        assert_eq!(resolve(B, "https://x.test/y"), "https://x.test/y");
        assert_eq!(resolve(B, "//cdn.test/z.css"), "http://cdn.test/z.css");
        assert_eq!(resolve(B, "/root.css"), "http://shop.test:8080/root.css");
        assert_eq!(
            resolve(B, "img/p.png"),
            "http://shop.test:8080/demo/a/img/p.png"
        );
        assert_eq!(resolve(B, "../up.png"), "http://shop.test:8080/demo/up.png");
        assert_eq!(resolve(B, "../../../../x"), "http://shop.test:8080/x");
        assert_eq!(resolve(B, "./"), "http://shop.test:8080/demo/a/");
        assert_eq!(
            resolve(B, "?q=2"),
            "http://shop.test:8080/demo/a/page.html?q=2"
        );
        assert_eq!(
            resolve(B, "#frag"),
            "http://shop.test:8080/demo/a/page.html?x=1#frag"
        );
        assert_eq!(resolve(B, ""), "http://shop.test:8080/demo/a/page.html?x=1");
        assert_eq!(resolve("http://h.test", "a.css"), "http://h.test/a.css");
    }

    #[test]
    fn flags_script_urls() {
        assert!(is_dangerous(" JavaScript:alert(1)"));
        assert!(is_dangerous("java\tscript:alert(1)"));
        assert!(is_dangerous("data:text/html,<script>"));
        assert!(!is_dangerous("data:image/png;base64,AAA"));
        assert!(!is_dangerous("/javascript/app.js"));
        assert!(is_dangerous("\u{1}jav\u{0}ascript:x"));
        assert!(!is_dangerous("é javascript:x"));
        assert!(!is_dangerous("\u{ff4a}avascript:x"));
    }

    #[test]
    fn rewrites_css() {
        let css = "a{background:url(img/x.png)} b{src:url( 'f.woff' )} @import \"t.css\"; c{x:url(data:image/png,1)}";
        let out = rewrite_css(B, css).unwrap();
        assert!(
            out.contains("url(\"http://shop.test:8080/demo/a/img/x.png\")"),
            "{out}"
        );
        assert!(
            out.contains("url(\"http://shop.test:8080/demo/a/f.woff\" )"),
            "{out}"
        );
        assert!(
            out.contains("@import \"http://shop.test:8080/demo/a/t.css\""),
            "{out}"
        );
        assert!(out.contains("url(data:image/png,1)"), "{out}");
        assert_eq!(rewrite_css(B, "p{color:red} é"), None);
        assert_eq!(
            resolve_srcset(B, "a.png 1x, /b.png 2x"),
            "http://shop.test:8080/demo/a/a.png 1x, http://shop.test:8080/b.png 2x"
        );
    }
}
