//! Rules for remote control and agent guidance (see `docs/PROTOCOL.md`, "Agent socket additions").
//!
//! Pure checks, shared by the session state machine and its tests: the fields of an agent's
//! `act`, `ptr` and `gesture` (anything out of range closes the agent socket with 1008), the
//! server's own trust check of a `nav` to an absolute URL (only `http(s)` on a host the group
//! trusts, or the visitor page's own origin), the short reason tokens a visitor may report, and
//! the per-agent pointer rate limit.

use std::time::{Duration, Instant};

use glance_cobrowse::protocol::{Act, ACT_KEYS, ACT_TYPES};

use crate::handoff::{canonical_origin, trusted_origin};

/// Longest `value` of an `act` (bytes).
pub const MAX_ACT_VALUE: usize = 32 * 1024;

/// Longest `nav` URL (bytes).
pub const MAX_NAV_URL: usize = 4096;

/// Largest pointer coordinate accepted (CSS pixels).
const MAX_COORD: f64 = 10_000_000.0;

/// Pointer frames relayed per agent per [`PTR_WINDOW`].
pub const PTR_PER_WINDOW: u32 = 30;

/// The pointer rate-limit window.
pub const PTR_WINDOW: Duration = Duration::from_secs(1);

/// Checks an `act`'s fields.
pub fn check_act(a: &Act) -> Result<(), String> {
    if !ACT_TYPES.contains(&a.kind.as_str()) {
        return Err("act: unknown type".into());
    }
    if a.id > (1 << 53) {
        return Err("act: id out of range".into());
    }
    if a.value.as_ref().is_some_and(|v| v.len() > MAX_ACT_VALUE) {
        return Err("act: value too long".into());
    }
    if let Some(k) = &a.key {
        if !ACT_KEYS.contains(&k.as_str()) {
            return Err("act: key must be Enter, Tab or Escape".into());
        }
    }
    for f in [a.x, a.y].into_iter().flatten() {
        if !(0.0..=1.0).contains(&f) {
            return Err("act: x and y are fractions of the element box (0..1)".into());
        }
    }
    match a.kind.as_str() {
        "type" | "change" if a.value.is_none() => Err("act: type/change need a value".into()),
        "key" if a.key.is_none() => Err("act: key needs a key".into()),
        _ => Ok(()),
    }
}

/// Checks a pointer position (`x` null hides the pointer; then `y` is ignored).
pub fn check_point(x: Option<f64>, y: Option<f64>) -> Result<(), String> {
    match (x, y) {
        (None, _) => Ok(()),
        (Some(x), Some(y)) if x.abs() <= MAX_COORD && y.abs() <= MAX_COORD => Ok(()),
        (Some(_), Some(_)) => Err("pointer coordinates out of range".into()),
        (Some(_), None) => Err("pointer needs x and y".into()),
    }
}

/// Checks a gesture: `outline` with a `gid`, or `clear`.
pub fn check_gesture(kind: &str, gid: Option<u32>) -> Result<(), String> {
    match (kind, gid) {
        ("outline", Some(_)) | ("clear", _) => Ok(()),
        ("outline", None) => Err("gesture: outline needs a gid".into()),
        _ => Err("gesture: kind must be outline or clear".into()),
    }
}

/// A short reason token reported by the visitor (`actres` / `navres`): 1..=32 of `a-z`.
pub fn valid_reason(r: &str) -> bool {
    !r.is_empty() && r.len() <= 32 && r.bytes().all(|b| b.is_ascii_lowercase())
}

/// Why the server refuses a `nav` itself (the `reason` of its `navres`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavRefusal {
    /// An `http(s)` URL on a host the group does not trust.
    Untrusted,
    /// Not a usable URL (other scheme, control characters, too long...).
    Invalid,
}

impl NavRefusal {
    /// The wire reason.
    pub fn as_str(self) -> &'static str {
        match self {
            NavRefusal::Untrusted => "untrusted",
            NavRefusal::Invalid => "invalid",
        }
    }
}

/// The `scheme://authority` of an absolute URL (`None`: not of that form).
fn origin_part(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let rest = rest.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme.to_ascii_lowercase(), &rest[..end]))
}

/// Checks a `nav` target. `back`, `forward`, `refresh` and relative URLs pass (the visitor page
/// resolves them against itself). An absolute URL (also `//host/..`, and `\` counts as `/` as in
/// browsers) must be `http(s)` on a host trusted by the group (`trusted_domains` rules of
/// [`trusted_origin`]) or on the origin of the visitor's page `page_url`.
pub fn check_nav(url: &str, page_url: &str, trusted: &[String]) -> Result<(), NavRefusal> {
    if url.is_empty()
        || url.len() > MAX_NAV_URL
        || url.chars().any(char::is_control)
        || url.trim() != url
    {
        return Err(NavRefusal::Invalid);
    }
    if matches!(url, "back" | "forward" | "refresh") {
        return Ok(());
    }
    let url = url.replace('\\', "/");
    let page = canonical_page_origin(page_url);
    let absolute = if let Some(rest) = url.strip_prefix("//") {
        let scheme = page
            .as_deref()
            .and_then(|p| p.split_once(':'))
            .map_or("https", |(s, _)| s);
        format!("{scheme}://{rest}")
    } else {
        let scheme_end = url.find(':');
        let first_sep = url.find(['/', '?', '#']).unwrap_or(url.len());
        match scheme_end {
            Some(i) if i < first_sep && is_scheme(&url[..i]) => url.clone(),
            // No scheme (or a ':' after a '/'): a relative URL.
            _ => return Ok(()),
        }
    };
    let Some((scheme, authority)) = origin_part(&absolute) else {
        return Err(NavRefusal::Invalid);
    };
    if scheme != "http" && scheme != "https" {
        return Err(NavRefusal::Invalid);
    }
    let origin = format!("{scheme}://{authority}");
    let Some(canon) = canonical_origin(&origin) else {
        return Err(NavRefusal::Untrusted);
    };
    if trusted_origin(&canon, trusted).is_ok() || page.as_deref() == Some(canon.as_str()) {
        Ok(())
    } else {
        Err(NavRefusal::Untrusted)
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

fn canonical_page_origin(page_url: &str) -> Option<String> {
    let (scheme, authority) = origin_part(page_url)?;
    canonical_origin(&format!("{scheme}://{authority}"))
}

/// At most [`PTR_PER_WINDOW`] pointer frames per [`PTR_WINDOW`] (a fixed window per agent).
#[derive(Debug, Clone)]
pub struct RateLimit {
    start: Instant,
    count: u32,
}

impl RateLimit {
    /// A fresh limiter.
    pub fn new(now: Instant) -> Self {
        RateLimit {
            start: now,
            count: 0,
        }
    }

    /// True when one more frame may go out at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        if now.duration_since(self.start) >= PTR_WINDOW {
            self.start = now;
            self.count = 0;
        }
        if self.count < PTR_PER_WINDOW {
            self.count += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(kind: &str) -> Act {
        Act {
            id: 1,
            kind: kind.into(),
            gid: 5,
            value: None,
            key: None,
            x: Some(0.5),
            y: Some(1.0),
        }
    }

    #[test]
    fn acts() {
        assert!(check_act(&act("click")).is_ok());
        assert!(check_act(&act("hover")).is_err());
        assert!(check_act(&act("type")).is_err(), "no value");
        let mut t = act("type");
        t.value = Some("abc".into());
        assert!(check_act(&t).is_ok());
        t.value = Some("x".repeat(MAX_ACT_VALUE + 1));
        assert!(check_act(&t).is_err());
        let mut k = act("key");
        assert!(check_act(&k).is_err());
        k.key = Some("Enter".into());
        assert!(check_act(&k).is_ok());
        k.key = Some("F5".into());
        assert!(check_act(&k).is_err());
        let mut c = act("click");
        c.x = Some(1.5);
        assert!(check_act(&c).is_err());
        c.x = Some(-0.1);
        assert!(check_act(&c).is_err());
        c.x = None;
        c.id = u64::MAX;
        assert!(check_act(&c).is_err());
    }

    #[test]
    fn points_gestures_reasons() {
        assert!(check_point(None, None).is_ok());
        assert!(check_point(Some(1.0), Some(2.0)).is_ok());
        assert!(check_point(Some(1.0), None).is_err());
        assert!(check_point(Some(1e9), Some(0.0)).is_err());
        assert!(check_gesture("outline", Some(3)).is_ok());
        assert!(check_gesture("outline", None).is_err());
        assert!(check_gesture("clear", None).is_ok());
        assert!(check_gesture("scribble", None).is_err());
        assert!(valid_reason("masked"));
        assert!(!valid_reason("Masked"));
        assert!(!valid_reason(""));
        assert!(!valid_reason(&"a".repeat(33)));
    }

    #[test]
    fn nav_trust() {
        let trusted = vec!["localhost".to_string(), "https://pay.example".to_string()];
        let page = "http://127.0.0.1:8080/demo/checkout.html";
        let ok = |u: &str| check_nav(u, page, &trusted);
        for u in [
            "back",
            "forward",
            "refresh",
            "cart.html",
            "/demo/cart.html?x=1#y",
            "?q=1",
            "#top",
            "a/b:c",
            "http://localhost:9999/x",
            "https://LOCALHOST/",
            "https://pay.example/checkout",
            "http://127.0.0.1:8080/other",
            "//localhost/x",
        ] {
            assert_eq!(ok(u), Ok(()), "{u}");
        }
        for u in [
            "https://evil.example/",
            "http://pay.example/",
            "https://pay.example:8443/",
            "http://127.0.0.1:9000/",
            "//evil.example/x",
            "/\\evil.example/x",
            "\\\\evil.example",
            "https://localhost@evil.example/",
            "http://evil.example\\@localhost/",
        ] {
            assert_eq!(ok(u), Err(NavRefusal::Untrusted), "{u}");
        }
        for u in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "java\tscript:alert(1)",
            " javascript:alert(1)",
            "",
            "http:evil.example",
            &format!("/{}", "a".repeat(MAX_NAV_URL)),
        ] {
            assert_eq!(ok(u), Err(NavRefusal::Invalid), "{u:?}");
        }
    }

    #[test]
    fn pointer_rate_limit() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(t0);
        let passed = (0..100)
            .filter(|i| r.allow(t0 + Duration::from_millis(*i)))
            .count();
        assert_eq!(passed, PTR_PER_WINDOW as usize);
        assert!(r.allow(t0 + PTR_WINDOW + Duration::from_millis(1)));
    }
}
