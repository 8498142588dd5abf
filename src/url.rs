//! URL resolution for attributes and CSS, so the agent's mirror (which lives on another
//! origin) loads the visitor's stylesheets, images and fonts.
//!
//! A small, dependency-free subset of the WHATWG URL resolution: absolute URLs pass through,
//! and scheme-relative, root-relative, query-, fragment- and path-relative references are
//! joined to the base with dot segments removed.

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
    let v: String = value
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    v.starts_with("javascript:") || v.starts_with("vbscript:") || v.starts_with("data:text/html")
}

/// Splits an absolute URL into (scheme+authority, path, rest-from-? or #).
fn split(base: &str) -> (&str, &str, &str) {
    let Some(sl) = scheme_len(base) else {
        return (base, "", "");
    };
    let after = &base[sl + 1..];
    let (auth_end, has_auth) = if let Some(rest) = after.strip_prefix("//") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        (sl + 3 + end, true)
    } else {
        (sl + 1, false)
    };
    let _ = has_auth;
    let rest = &base[auth_end..];
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    (&base[..auth_end], &rest[..path_end], &rest[path_end..])
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
        format!("/{joined}")
    }
}

/// Resolves `rel` against the absolute `base`.
pub fn resolve(base: &str, rel: &str) -> String {
    let rel = rel.trim_matches(|c: char| c.is_ascii_whitespace());
    if scheme_len(rel).is_some() {
        return rel.to_string();
    }
    let (origin, path, tail) = split(base);
    if rel.is_empty() {
        let q = tail.find('#').map(|i| &tail[..i]).unwrap_or(tail);
        return format!("{origin}{path}{q}");
    }
    if let Some(r) = rel.strip_prefix("//") {
        let scheme = scheme_len(base).map(|i| &base[..=i]).unwrap_or("https:");
        return format!("{scheme}//{r}");
    }
    if rel.starts_with('#') {
        let q = tail.find('#').map(|i| &tail[..i]).unwrap_or(tail);
        return format!("{origin}{path}{q}{rel}");
    }
    if rel.starts_with('?') {
        return format!("{origin}{path}{rel}");
    }
    let (rel_path, rel_tail) = match rel.find(['?', '#']) {
        Some(i) => (&rel[..i], &rel[i..]),
        None => (rel, ""),
    };
    let merged = if rel_path.starts_with('/') {
        rel_path.to_string()
    } else {
        let dir = match path.rfind('/') {
            Some(i) => &path[..=i],
            None => "/",
        };
        format!("{dir}{rel_path}")
    };
    format!("{origin}{}{rel_tail}", remove_dot_segments(&merged))
}

/// Resolves every candidate URL of a `srcset` value.
pub fn resolve_srcset(base: &str, srcset: &str) -> String {
    srcset
        .split(',')
        .map(|cand| {
            let cand = cand.trim();
            match cand.find(char::is_whitespace) {
                Some(i) => format!("{} {}", resolve(base, &cand[..i]), cand[i..].trim()),
                None if cand.is_empty() => String::new(),
                None => resolve(base, cand),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rewrites `url(...)` and `@import "..."` references in CSS text to absolute URLs.
/// Returns `None` when nothing changed (the common case; no allocation).
pub fn rewrite_css(base: &str, css: &str) -> Option<String> {
    let lower = css.to_ascii_lowercase();
    if !lower.contains("url(") && !lower.contains("@import") {
        return None;
    }
    let mut out = String::with_capacity(css.len() + 64);
    let mut i = 0;
    let bytes = css.as_bytes();
    let mut changed = false;
    while i < css.len() {
        if lower[i..].starts_with("url(") {
            out.push_str(&css[i..i + 4]);
            i += 4;
            let rest = &css[i..];
            let trimmed = rest.trim_start();
            let ws = rest.len() - trimmed.len();
            let (inner, consumed) = match trimmed.chars().next() {
                Some(q @ ('"' | '\'')) => match trimmed[1..].find(q) {
                    Some(end) => (&trimmed[1..1 + end], ws + end + 2),
                    None => break,
                },
                _ => match trimmed.find(')') {
                    Some(end) => (trimmed[..end].trim_end(), ws + end),
                    None => break,
                },
            };
            if inner.starts_with("data:") || inner.starts_with('#') {
                out.push_str(&css[i..i + consumed]);
            } else {
                let abs = resolve(base, inner);
                out.push('"');
                out.push_str(&abs.replace('"', "%22"));
                out.push('"');
                changed = true;
            }
            i += consumed;
        } else if lower[i..].starts_with("@import") {
            out.push_str(&css[i..i + 7]);
            i += 7;
            let rest = &css[i..];
            let trimmed = rest.trim_start();
            let ws = rest.len() - trimmed.len();
            if let Some(q @ ('"' | '\'')) = trimmed.chars().next() {
                if let Some(end) = trimmed[1..].find(q) {
                    out.push_str(&rest[..ws]);
                    out.push('"');
                    out.push_str(&resolve(base, &trimmed[1..1 + end]).replace('"', "%22"));
                    out.push('"');
                    i += ws + end + 2;
                    changed = true;
                }
            }
        } else {
            let ch_len = utf8_len(bytes[i]);
            out.push_str(&css[i..i + ch_len]);
            i += ch_len;
        }
    }
    if i < css.len() {
        out.push_str(&css[i..]);
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
