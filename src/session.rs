//! Session state that outlives a page: what is stored, how reconnects back off, and which
//! messages wait for the server's acknowledgement.
//!
//! All pure: the browser edge (`web`) supplies time, randomness and storage.

use alloc::{string::String, vec::Vec};

use alloc::collections::VecDeque;

/// Name of the session cookie and localStorage key.
pub const STORAGE_KEY: &str = "glance_ssn_info";

/// localStorage key used when a `normal`/`secure` session cookie is refused (the session then
/// follows the visitor through localStorage, on this origin only).
pub const FALLBACK_KEY: &str = "glance_ssn_info_fb";

/// Largest `name=value` of a cookie browsers keep (RFC 6265bis drops larger ones).
pub const COOKIE_LIMIT: usize = 4096;

/// Largest cookie value we write (well under the 4096-byte per-cookie limit).
pub const MAX_COOKIE_VALUE: usize = 1024;

/// What survives page loads.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// Session key shown to the visitor and typed by the agent.
    pub key: String,
    /// Server session id (secret; resumes the session).
    pub sid: String,
    /// Group id.
    pub group: String,
    /// Paused.
    pub paused: bool,
}

impl SessionInfo {
    /// Encodes for a cookie value or localStorage: `v1.KEY.SID.GROUP.P`, each field
    /// percent-encoded, so the value is cookie-safe and small.
    pub fn encode(&self) -> String {
        [
            "v1.",
            &percent_encode(&self.key),
            ".",
            &percent_encode(&self.sid),
            ".",
            &percent_encode(&self.group),
            if self.paused { ".1" } else { ".0" },
        ]
        .concat()
    }

    /// Decodes a stored value; `None` for anything malformed (treated as no session).
    pub fn decode(raw: &str) -> Option<SessionInfo> {
        let mut parts = raw.trim().split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let key = percent_decode(parts.next()?)?;
        let sid = percent_decode(parts.next()?)?;
        let group = percent_decode(parts.next()?)?;
        let paused = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let ok = parts.next().is_none()
            && crate::protocol::valid_session_key(&key)
            && !sid.is_empty()
            && sid.len() <= 64
            && sid.bytes().all(|b| b.is_ascii_alphanumeric())
            && !group.is_empty()
            && group.len() <= 64;
        ok.then_some(SessionInfo {
            key,
            sid,
            group,
            paused,
        })
    }
}

/// The session handed over by another domain of the group (the loader's `handoff` config, from a
/// redeemed token), if it is well-formed and of `group`; anything else is ignored.
pub fn handed_over(raw: Option<&str>, group: &str) -> Option<SessionInfo> {
    raw.and_then(SessionInfo::decode)
        .filter(|s| s.group == group)
}

/// Percent-encodes everything but ASCII letters, digits, `-` and `_`.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Cookie attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CookieOptions {
    /// `Secure` (always on https pages).
    pub secure: bool,
    /// `Domain=` (None: host-only).
    pub domain: Option<String>,
}

/// The `document.cookie` assignment that stores `value` (or deletes it when `None`).
/// `Path=/` so every page of the site sees it; `SameSite=Lax` (never `None` without `Secure`).
pub fn cookie_assignment(value: Option<&str>, opts: &CookieOptions) -> String {
    let mut s = [
        STORAGE_KEY,
        "=",
        value.unwrap_or(""),
        "; Path=/; SameSite=Lax",
    ]
    .concat();
    if let Some(d) = &opts.domain {
        s.push_str("; Domain=");
        s.push_str(d);
    }
    if value.is_none() {
        s.push_str("; Max-Age=0");
    }
    if opts.secure {
        s.push_str("; Secure");
    }
    s
}

/// Finds our value in a `document.cookie` string (the first of that name).
pub fn find_cookie<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|c| {
        let (k, v) = c.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// Every value of cookies named `name` (a host-only and a `Domain=` cookie may both be visible).
pub fn find_cookies<'a>(cookies: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    cookies.split(';').filter_map(move |c| {
        let (k, v) = c.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

/// Where a session went when its preferred storage refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A host-only cookie (no `Domain=`).
    HostOnly,
    /// localStorage ([`FALLBACK_KEY`]).
    LocalStorage,
}

/// Why the session cannot follow the visitor across pages as configured (reported as an
/// `error` event with code `storage`; the session itself keeps running on the current page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageIssue {
    /// The cookie did not read back after being written on `domain` (`None`: host-only).
    CookieRefused {
        /// The refused cookie's `Domain=`.
        domain: Option<String>,
        /// What holds the session instead.
        fallback: Fallback,
    },
    /// Nothing could be stored: the session cannot continue on another page.
    Unavailable {
        /// Why the cookie failed (None: no cookie was tried).
        cookie: Option<String>,
        /// Why localStorage failed (None: not tried).
        local: Option<String>,
    },
    /// The host or `data-cookiedomain` could not be parsed (`ERR_DOMAINPARSE`).
    Domain(crate::domain::DomainError),
    /// The host is on a public suffix (a hosting platform): the cookie is confined to the host,
    /// where the product would fail; `data-cookiedomain` naming the host acknowledges it.
    PublicSuffix {
        /// The page's host.
        host: String,
        /// The suffix.
        suffix: String,
    },
}

impl core::fmt::Display for StorageIssue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StorageIssue::CookieRefused { domain, fallback } => {
                match domain {
                    Some(d) => write!(
                        f,
                        "the browser refused the session cookie on Domain={d} (a public suffix?)"
                    )?,
                    None => f.write_str("the browser refused the session cookie")?,
                }
                match fallback {
                    Fallback::HostOnly => f.write_str(
                        "; using a host-only cookie: the session follows the visitor on this \
                         host only (set data-cookiedomain to this host name)",
                    ),
                    Fallback::LocalStorage => f.write_str(
                        "; using localStorage: the session follows the visitor on this origin only",
                    ),
                }
            }
            StorageIssue::Unavailable { cookie, local } => {
                f.write_str("session storage is unavailable (")?;
                let mut first = true;
                for (what, why) in [("cookie", cookie), ("localStorage", local)] {
                    if let Some(why) = why {
                        if !first {
                            f.write_str("; ")?;
                        }
                        write!(f, "{what}: {why}")?;
                        first = false;
                    }
                }
                f.write_str("): the session runs on this page but cannot continue on other pages")
            }
            StorageIssue::Domain(e) => write!(f, "{e}"),
            StorageIssue::PublicSuffix { host, suffix } => write!(
                f,
                "{host} is on the public suffix {suffix}, where no cookie can be shared with \
                 other sites: the session cookie is kept for {host} only (set \
                 data-cookiedomain=\"{host}\" to make this explicit)"
            ),
        }
    }
}

impl core::error::Error for StorageIssue {}

/// Capped exponential backoff with jitter for reconnects.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    /// First delay (ms).
    pub base_ms: f64,
    /// Largest delay (ms).
    pub cap_ms: f64,
    /// Attempts before giving up.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempt: 0,
            base_ms: 250.0,
            cap_ms: 8_000.0,
            max_attempts: 12,
        }
    }
}

impl Backoff {
    /// The next delay given a uniform random number in `[0,1)`, or `None` to give up.
    /// "Equal jitter": half the exponential delay plus a random half.
    pub fn next_delay(&mut self, random: f64) -> Option<u32> {
        if self.attempt >= self.max_attempts {
            return None;
        }
        // 2^attempt built from its bits (`powi` is not in `core`); exact, as `powi` is.
        let pow2 = if self.attempt < 1024 {
            f64::from_bits((1023 + u64::from(self.attempt)) << 52)
        } else {
            f64::INFINITY
        };
        let exp = (self.base_ms * pow2).min(self.cap_ms);
        self.attempt += 1;
        let r = random.clamp(0.0, 1.0);
        Some((exp / 2.0 + r * exp / 2.0) as u32)
    }

    /// Back to the first delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Sent messages kept until the server acknowledges them, so a reconnect loses nothing.
#[derive(Debug, Default)]
pub struct Outbox {
    items: VecDeque<(u64, String)>,
    bytes: usize,
    /// Most bytes kept; beyond it everything is dropped and a fresh snapshot is needed.
    pub limit: usize,
    overflowed: bool,
    /// Messages up to and including this sequence are not held (see [`Outbox::sent_unheld`]).
    unheld_through: u64,
}

impl Outbox {
    /// An outbox holding at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Outbox {
            limit,
            ..Default::default()
        }
    }

    /// Keeps `msg` (sequence `seq`) until acknowledged. Returns false when the outbox overflowed
    /// (it is then emptied and [`Outbox::overflowed`] is set).
    pub fn push(&mut self, seq: u64, msg: String) -> bool {
        self.bytes += msg.len();
        self.items.push_back((seq, msg));
        if self.bytes > self.limit {
            self.clear();
            self.overflowed = true;
            return false;
        }
        true
    }

    /// Records that message `seq` (a snapshot, which supersedes everything before it) was sent
    /// without being kept: until the server acknowledges it, [`Outbox::after`] answers `None`, so
    /// a reconnect sends a fresh snapshot instead of resending.
    pub fn sent_unheld(&mut self, seq: u64) {
        self.clear();
        self.unheld_through = seq;
    }

    /// Drops everything up to and including `seq`.
    pub fn ack(&mut self, seq: u64) {
        while let Some((s, m)) = self.items.front() {
            if *s > seq {
                break;
            }
            self.bytes -= m.len();
            self.items.pop_front();
        }
    }

    /// Messages after `seq`, in order. `None` when some of them are no longer held (the
    /// caller must send a fresh snapshot).
    pub fn after(&self, seq: u64) -> Option<Vec<&str>> {
        if self.overflowed || seq < self.unheld_through {
            return None;
        }
        match self.items.front() {
            Some((first, _)) if *first > seq + 1 => None,
            _ => Some(
                self.items
                    .iter()
                    .filter(|(s, _)| *s > seq)
                    .map(|(_, m)| m.as_str())
                    .collect(),
            ),
        }
    }

    /// Empties the outbox (a fresh snapshot supersedes everything).
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.overflowed = false;
        self.unheld_through = 0;
    }

    /// True after an overflow, until [`Outbox::clear`].
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Number of unacknowledged messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when everything was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handed_over_sessions_must_be_of_the_group() {
        let raw = "v1.ABC.00ff.1234.1";
        let i = handed_over(Some(raw), "1234").unwrap();
        assert_eq!(
            (i.key.as_str(), i.sid.as_str(), i.paused),
            ("ABC", "00ff", true)
        );
        assert_eq!(handed_over(Some(raw), "5678"), None);
        assert_eq!(handed_over(Some("v1.ABC.0 0.1234.0"), "1234"), None);
        assert_eq!(handed_over(Some("junk"), "1234"), None);
        assert_eq!(handed_over(None, "1234"), None);
    }

    #[test]
    fn session_info_round_trips_and_rejects_junk() {
        let i = SessionInfo {
            key: "1234".into(),
            sid: "abcdef0123".into(),
            group: "77".into(),
            paused: true,
        };
        let enc = i.encode();
        assert!(!enc.contains(';') && !enc.contains(' ') && !enc.contains(','));
        assert_eq!(SessionInfo::decode(&enc), Some(i));
        let odd = SessionInfo {
            key: "k".into(),
            sid: "a1".into(),
            group: "g.1 ;=é".into(),
            paused: false,
        };
        let enc = odd.encode();
        assert!(!enc.contains(';') && !enc.contains(' ') && !enc.contains('='));
        assert_eq!(SessionInfo::decode(&enc), Some(odd));
        assert_eq!(SessionInfo::decode("garbage"), None);
        assert_eq!(SessionInfo::decode("v1.a b.s.g.0"), None);
        assert_eq!(SessionInfo::decode("v1.k.s.g.2"), None);
        assert_eq!(SessionInfo::decode("v1.k.s.g.0.extra"), None);
    }

    #[test]
    fn the_largest_session_cookie_stays_under_the_limits() {
        let big = SessionInfo {
            key: "k".repeat(64),
            sid: "s".repeat(64),
            group: "\u{e9}".repeat(32),
            paused: true,
        };
        let value = big.encode();
        assert_eq!(SessionInfo::decode(&value), Some(big));
        assert!(value.len() <= MAX_COOKIE_VALUE, "{}", value.len());
        let line = cookie_assignment(
            Some(&value),
            &CookieOptions {
                secure: true,
                domain: Some("x".repeat(253)),
            },
        );
        assert!(STORAGE_KEY.len() + 1 + value.len() < COOKIE_LIMIT);
        assert!(line.len() < COOKIE_LIMIT, "{}", line.len());
    }

    #[test]
    fn storage_issues_read_clearly() {
        let e = StorageIssue::CookieRefused {
            domain: Some("azurewebsites.net".into()),
            fallback: Fallback::HostOnly,
        }
        .to_string();
        assert!(
            e.contains("Domain=azurewebsites.net") && e.contains("host-only"),
            "{e}"
        );
        let e = StorageIssue::Unavailable {
            cookie: Some("cookies are blocked".into()),
            local: Some("QuotaExceededError".into()),
        }
        .to_string();
        assert!(
            e.contains("cookies are blocked; localStorage: QuotaExceededError")
                && e.contains("cannot continue on other pages"),
            "{e}"
        );
        let e = StorageIssue::PublicSuffix {
            host: "shop.azurewebsites.net".into(),
            suffix: "azurewebsites.net".into(),
        }
        .to_string();
        assert!(
            e.contains("public suffix azurewebsites.net")
                && e.contains("data-cookiedomain=\"shop.azurewebsites.net\""),
            "{e}"
        );
        assert_eq!(
            find_cookies("glance_ssn_info=a; x=1; glance_ssn_info=b", STORAGE_KEY)
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn cookie_strings() {
        let set = cookie_assignment(
            Some("v"),
            &CookieOptions {
                secure: true,
                domain: Some("example.com".into()),
            },
        );
        assert_eq!(
            set,
            "glance_ssn_info=v; Path=/; SameSite=Lax; Domain=example.com; Secure"
        );
        assert!(cookie_assignment(None, &CookieOptions::default()).contains("Max-Age=0"));
        assert_eq!(
            find_cookie("a=1; glance_ssn_info=xyz; b=2", STORAGE_KEY),
            Some("xyz")
        );
        assert_eq!(find_cookie("a=1", STORAGE_KEY), None);
    }

    #[test]
    fn backoff_is_capped_jittered_and_gives_up() {
        let mut b = Backoff::default();
        let delays: Vec<u32> = (0..12).map(|_| b.next_delay(1.0).unwrap()).collect();
        assert_eq!(delays[0], 250);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), 8_000);
        assert_eq!(b.next_delay(0.5), None);
        b.reset();
        assert_eq!(b.next_delay(0.0), Some(125));
    }

    #[test]
    fn outbox_resends_after_ack_and_detects_loss() {
        let mut o = Outbox::new(100);
        for s in 1..=4 {
            assert!(o.push(s, format!("m{s}")));
        }
        o.ack(2);
        assert_eq!(o.after(2).unwrap(), vec!["m3", "m4"]);
        assert_eq!(o.after(3).unwrap(), vec!["m4"]);
        assert!(o.after(0).is_none(), "m1..m2 are gone: needs a snapshot");
        assert!(!o.push(5, "x".repeat(200)));
        assert!(o.overflowed() && o.after(4).is_none());
    }

    #[test]
    fn outbox_unheld_snapshot_needs_a_fresh_one_until_acknowledged() {
        let mut o = Outbox::new(100);
        o.push(1, "old".into());
        o.sent_unheld(2);
        assert!(o.is_empty());
        assert!(
            o.after(1).is_none(),
            "the snapshot was not kept: resend needs a new one"
        );
        o.push(3, "d3".into());
        assert!(o.after(0).is_none());
        assert_eq!(
            o.after(2).unwrap(),
            vec!["d3"],
            "acknowledged snapshot: diffs resend"
        );
        o.clear();
        assert!(o.after(0).unwrap().is_empty());
    }
}
