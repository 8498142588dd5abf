//! Cross-domain hand-off tokens: how a session moves to another (trusted) domain of the group.
//!
//! The visitor page asks for a token bound to one target origin (`POST /api/handoff`, proving the
//! session with its key and secret sid); the page on the target origin redeems it once
//! (`POST /api/handoff/redeem`, whose `Origin` header must be the bound origin) and gets the
//! session info to store. Tokens are 128-bit random, single-use (any redeem attempt burns them),
//! live [`TOKEN_TTL`], and at most [`MAX_TOKENS`] are outstanding ([`MAX_TOKENS_PER_SESSION`] per
//! session). Pure (time is passed in).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a token may wait for its redeem.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Outstanding tokens kept at most (the oldest expire first; issuing beyond it is refused).
pub const MAX_TOKENS: usize = 10_000;
/// Outstanding tokens of one session at most (one session cannot use up [`MAX_TOKENS`]).
pub const MAX_TOKENS_PER_SESSION: usize = 32;

/// Why a hand-off was refused; `code()` is the error code sent to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffError {
    /// The target origin is not in the group's trusted domains (or not an http(s) origin).
    UntrustedOrigin,
    /// Unknown, already used or expired token.
    BadToken,
    /// The redeeming page's origin is not the origin the token was issued for.
    WrongOrigin,
    /// Too many outstanding tokens.
    Busy,
}

impl HandoffError {
    /// The error code of the JSON reply.
    pub fn code(self) -> &'static str {
        match self {
            HandoffError::UntrustedOrigin => "UNTRUSTED_ORIGIN",
            HandoffError::BadToken => "BAD_TOKEN",
            HandoffError::WrongOrigin => "WRONG_ORIGIN",
            HandoffError::Busy => "BUSY",
        }
    }
}

/// What a redeemed token hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Group id.
    pub group: String,
    /// Session key.
    pub key: String,
    /// Session id.
    pub sid: String,
    /// Canonical origin of the page that asked for the token (its `Origin` header): a helper page
    /// answers only to this origin.
    pub from: Option<String>,
}

#[derive(Debug)]
struct Pending {
    grant: Grant,
    origin: String,
    expires: Instant,
}

/// Outstanding tokens.
#[derive(Debug, Default)]
pub struct Handoffs {
    tokens: HashMap<String, Pending>,
}

impl Handoffs {
    /// Stores `token` for `grant`, bound to the canonical `origin`, until `now + TOKEN_TTL`.
    pub fn issue(
        &mut self,
        now: Instant,
        token: String,
        origin: String,
        grant: Grant,
    ) -> Result<(), HandoffError> {
        self.tokens.retain(|_, p| p.expires > now);
        if self.tokens.len() >= MAX_TOKENS
            || self
                .tokens
                .values()
                .filter(|p| p.grant.sid == grant.sid)
                .count()
                >= MAX_TOKENS_PER_SESSION
        {
            return Err(HandoffError::Busy);
        }
        let expires = now + TOKEN_TTL;
        self.tokens.insert(
            token,
            Pending {
                grant,
                origin,
                expires,
            },
        );
        Ok(())
    }

    /// Redeems `token` from a page of `origin` (the request's `Origin` header). The token is
    /// gone afterwards whatever the outcome.
    pub fn redeem(
        &mut self,
        now: Instant,
        token: &str,
        origin: Option<&str>,
    ) -> Result<Grant, HandoffError> {
        let p = self.tokens.remove(token).ok_or(HandoffError::BadToken)?;
        if p.expires <= now {
            return Err(HandoffError::BadToken);
        }
        if origin != Some(p.origin.as_str()) {
            return Err(HandoffError::WrongOrigin);
        }
        Ok(p.grant)
    }

    /// Outstanding (possibly expired) tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when no token is outstanding.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The canonical origin `scheme://host[:port]` of an `http(s)` origin string, or `None` when it is
/// not exactly one (paths, user info, `null`, other schemes, odd characters). Default ports dropped.
pub fn canonical_origin(o: &str) -> Option<String> {
    let (scheme, rest) = if let Some(r) = o.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = o.strip_prefix("http://") {
        ("http", r)
    } else {
        return None;
    };
    if rest.is_empty()
        || rest.len() > 253
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return None;
    }
    let lower = rest.to_ascii_lowercase();
    let (host, port) = split_port(&lower)?;
    if host.is_empty() {
        return None;
    }
    let default = if scheme == "https" { "443" } else { "80" };
    Some(match port {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn split_port(hp: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        let (h, tail) = hp.split_at(end + 1);
        match tail {
            "" => (h, None),
            t => (h, Some(t.strip_prefix(':')?)),
        }
    } else {
        match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    if host.contains(']') && !host.starts_with('[') {
        return None;
    }
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.parse::<u32>().ok()? > 65535 {
            return None;
        }
    }
    Some((host, port))
}

/// The host name of a canonical origin (without port).
fn origin_host(canon: &str) -> &str {
    let rest = canon.split_once("://").map_or(canon, |(_, r)| r);
    split_port(rest).map_or(rest, |(h, _)| h)
}

/// Whether `origin` matches the group's `trusted_domains`, as the loader checks `glance_invoke`
/// senders: an entry `"shop.example"` matches `http(s)://shop.example[:port]` (no subdomains), an
/// entry `"https://chat.example"` only that exact origin. Returns the canonical origin.
pub fn trusted_origin(origin: &str, trusted: &[String]) -> Result<String, HandoffError> {
    let canon = canonical_origin(origin).ok_or(HandoffError::UntrustedOrigin)?;
    let host = origin_host(&canon);
    let ok = trusted.iter().any(|d| {
        let d = d.trim();
        if d.starts_with("http://") || d.starts_with("https://") {
            canonical_origin(d).as_deref() == Some(canon.as_str())
        } else {
            d.eq_ignore_ascii_case(host)
        }
    });
    if ok {
        Ok(canon)
    } else {
        Err(HandoffError::UntrustedOrigin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            group: "1234".into(),
            key: "ABC".into(),
            sid: "00ff".into(),
            from: Some("http://localhost:8080".into()),
        }
    }

    #[test]
    fn origins_are_canonical_and_exact() {
        assert_eq!(
            canonical_origin("http://LocalHost:8080").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            canonical_origin("https://a.example:443").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            canonical_origin("http://[::1]:81").as_deref(),
            Some("http://[::1]:81")
        );
        for bad in [
            "null",
            "",
            "http://",
            "ftp://a",
            "http://a/b",
            "http://u@a",
            "http://a:99999",
            "http://a:",
            "http://a b",
            "javascript:alert(1)",
        ] {
            assert_eq!(canonical_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn trusted_matching() {
        let list = vec!["localhost".to_string(), "https://chat.example".to_string()];
        assert_eq!(
            trusted_origin("http://localhost:8080", &list).as_deref(),
            Ok("http://localhost:8080")
        );
        assert!(trusted_origin("https://localhost", &list).is_ok());
        assert!(trusted_origin("https://chat.example", &list).is_ok());
        assert!(trusted_origin("https://chat.example:8443", &list).is_err());
        assert!(trusted_origin("http://chat.example", &list).is_err());
        assert!(trusted_origin("http://evil.localhost", &list).is_err());
        assert!(trusted_origin("http://localhost.evil", &list).is_err());
        assert_eq!(
            trusted_origin("null", &list),
            Err(HandoffError::UntrustedOrigin)
        );
        assert_eq!(HandoffError::UntrustedOrigin.code(), "UNTRUSTED_ORIGIN");
    }

    #[test]
    fn tokens_are_single_use_short_lived_and_bound() {
        let t0 = Instant::now();
        let mut h = Handoffs::default();
        let o = "http://127.0.0.1:8080".to_string();
        h.issue(t0, "t1".into(), o.clone(), grant()).unwrap();
        assert_eq!(h.redeem(t0, "t1", Some(&o)), Ok(grant()));
        assert_eq!(h.redeem(t0, "t1", Some(&o)), Err(HandoffError::BadToken));
        // Wrong origin: refused, and the token is burnt.
        h.issue(t0, "t2".into(), o.clone(), grant()).unwrap();
        assert_eq!(
            h.redeem(t0, "t2", Some("http://evil.example")),
            Err(HandoffError::WrongOrigin)
        );
        assert_eq!(h.redeem(t0, "t2", Some(&o)), Err(HandoffError::BadToken));
        h.issue(t0, "t3".into(), o.clone(), grant()).unwrap();
        assert_eq!(h.redeem(t0, "t3", None), Err(HandoffError::WrongOrigin));
        // Expired.
        h.issue(t0, "t4".into(), o.clone(), grant()).unwrap();
        assert_eq!(
            h.redeem(t0 + TOKEN_TTL, "t4", Some(&o)),
            Err(HandoffError::BadToken)
        );
        assert!(h.is_empty());
        // Expired tokens are swept on issue; the cap holds.
        h.issue(t0, "old".into(), o.clone(), grant()).unwrap();
        h.issue(t0 + TOKEN_TTL, "new".into(), o.clone(), grant())
            .unwrap();
        assert_eq!(h.len(), 1);
        for i in 1..MAX_TOKENS_PER_SESSION {
            h.issue(t0 + TOKEN_TTL, i.to_string(), o.clone(), grant())
                .unwrap();
        }
        assert_eq!(
            h.issue(t0 + TOKEN_TTL, "x".into(), o.clone(), grant()),
            Err(HandoffError::Busy),
            "one session's cap"
        );
        for i in MAX_TOKENS_PER_SESSION..MAX_TOKENS {
            let other = Grant {
                sid: i.to_string(),
                ..grant()
            };
            h.issue(t0 + TOKEN_TTL, i.to_string(), o.clone(), other)
                .unwrap();
        }
        let fresh = Grant {
            sid: "fresh".into(),
            ..grant()
        };
        assert_eq!(
            h.issue(t0 + TOKEN_TTL, "x".into(), o, fresh),
            Err(HandoffError::Busy)
        );
    }
}
