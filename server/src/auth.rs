//! Agent authentication (see `docs/PROTOCOL.md`, "Agent identities and authentication").
//!
//! Agents are configured in the server's TOML (`[agents.USERNAME]`, `[partners.ID]`). An agent
//! proves who it is with a password or with a partner's login key `$1$EXPIRES$SIG` (`SIG` =
//! lowercase hex HMAC-SHA256 of `"PARTNERID:PARTNERUSERID:EXPIRES"` keyed with the partner's
//! `apikey`), and gets a bearer token (32 hex, 12 hours, kept in memory: [`Tokens`]). A token
//! can mint single-use join tickets (60 s) that a viewer window opened elsewhere uses once.
//! Secrets are compared in constant time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::sessions::random_hex128;

/// How long a token lives.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// How long a join ticket lives.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// Most tokens kept at once (the oldest is dropped beyond it).
pub const MAX_TOKENS: usize = 10_000;

/// Most outstanding tickets at once (the oldest is dropped beyond it).
pub const MAX_TICKETS: usize = 10_000;

/// Longest partner user id accepted.
const MAX_PUID: usize = 128;

/// An authenticated agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Username (`[agents.USERNAME]`, or the partner user id for an unlisted login-key agent).
    pub username: String,
    /// Partner id, if any.
    pub partnerid: Option<u64>,
    /// Partner user id, if any.
    pub partneruserid: Option<String>,
    /// Display name.
    pub name: String,
    /// Title (may be empty).
    pub title: String,
}

impl Agent {
    /// The `agent` object of the auth answer and of the agent lists.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "username": self.username,
            "partnerid": self.partnerid,
            "partneruserid": self.partneruserid,
            "name": self.name,
            "title": self.title,
        })
    }

    /// A test / legacy identity with just a name.
    pub fn named(username: &str) -> Agent {
        Agent {
            username: username.to_string(),
            partnerid: None,
            partneruserid: None,
            name: username.to_string(),
            title: String::new(),
        }
    }
}

/// Why authentication failed (the `error` of the 401/400 answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// Malformed request.
    BadRequest,
    /// Unknown user or wrong password.
    BadCredentials,
    /// A correctly signed login key past its expiry.
    Expired,
    /// A login key that is malformed, for an unknown partner, or wrongly signed.
    BadKey,
}

impl AuthError {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            AuthError::BadRequest => "badrequest",
            AuthError::BadCredentials => "badcredentials",
            AuthError::Expired => "expired",
            AuthError::BadKey => "badkey",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for AuthError {}

/// A username: 1..=64 characters, no whitespace or control characters.
pub fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.chars().count() <= 64
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_puid(p: &str) -> bool {
    !p.is_empty() && p.len() <= MAX_PUID && !p.chars().any(char::is_control)
}

/// Equality of two secrets that takes the same time wherever they differ (also their lengths:
/// both are hashed first).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn agent_of(cfg: &Config, username: &str) -> Option<Agent> {
    let a = cfg.agents.get(username)?;
    Some(Agent {
        username: username.to_string(),
        partnerid: a.partnerid,
        partneruserid: a.partneruserid.clone(),
        name: a.name.clone().unwrap_or_else(|| username.to_string()),
        title: a.title.clone().unwrap_or_default(),
    })
}

/// Checks a username and password.
pub fn check_password(cfg: &Config, username: &str, password: &str) -> Result<Agent, AuthError> {
    let stored = cfg.agents.get(username).and_then(|a| a.password.as_deref());
    // Compare against something even for unknown users, so timing does not tell them apart.
    let ok = ct_eq(
        stored.unwrap_or("\u{0}no such user").as_bytes(),
        password.as_bytes(),
    );
    match (ok && stored.is_some(), agent_of(cfg, username)) {
        (true, Some(a)) => Ok(a),
        _ => Err(AuthError::BadCredentials),
    }
}

/// The signature part of a login key: lowercase hex HMAC-SHA256 of
/// `"PARTNERID:PARTNERUSERID:EXPIRES"` keyed with `apikey`.
pub fn sign(apikey: &str, partnerid: u64, partneruserid: &str, expires: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(apikey.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{partnerid}:{partneruserid}:{expires}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A whole login key `$1$EXPIRES$SIG` (what an integration's back end computes).
pub fn login_key(apikey: &str, partnerid: u64, partneruserid: &str, expires: u64) -> String {
    format!(
        "$1${expires}${}",
        sign(apikey, partnerid, partneruserid, expires)
    )
}

/// Checks a partner login key at unix time `now`.
pub fn check_login_key(
    cfg: &Config,
    partnerid: u64,
    partneruserid: &str,
    loginkey: &str,
    now: u64,
) -> Result<Agent, AuthError> {
    if !valid_puid(partneruserid) {
        return Err(AuthError::BadRequest);
    }
    let mut parts = loginkey.split('$');
    let (Some(""), Some("1"), Some(exp), Some(sig), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AuthError::BadKey);
    };
    let expires: u64 = match exp.parse() {
        Ok(e) if exp.len() <= 12 && exp.bytes().all(|b| b.is_ascii_digit()) => e,
        _ => return Err(AuthError::BadKey),
    };
    let Some(partner) = cfg.partners.get(&partnerid.to_string()) else {
        return Err(AuthError::BadKey);
    };
    let want = sign(&partner.apikey, partnerid, partneruserid, expires);
    if !ct_eq(want.as_bytes(), sig.to_ascii_lowercase().as_bytes()) {
        return Err(AuthError::BadKey);
    }
    if expires <= now {
        return Err(AuthError::Expired);
    }
    let listed = cfg.agents.iter().find(|(_, a)| {
        a.partnerid == Some(partnerid) && a.partneruserid.as_deref() == Some(partneruserid)
    });
    Ok(match listed.and_then(|(u, _)| agent_of(cfg, u)) {
        Some(a) => a,
        None => Agent {
            username: partneruserid.to_string(),
            partnerid: Some(partnerid),
            partneruserid: Some(partneruserid.to_string()),
            name: partneruserid.to_string(),
            title: String::new(),
        },
    })
}

/// Authenticates the JSON body of `POST /api/agent/auth` at unix time `now`:
/// `{"username","password"}` or `{"partnerid","partneruserid","loginkey"}` (`partnerid` a
/// number or a string of digits).
pub fn check_request(cfg: &Config, body: &serde_json::Value, now: u64) -> Result<Agent, AuthError> {
    let s = |n: &str| {
        body.get(n)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 1024)
    };
    if let (Some(u), Some(p)) = (s("username"), s("password")) {
        return check_password(cfg, u, p);
    }
    let pid = match body.get("partnerid") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(t)) if t.len() <= 20 => t.parse().ok(),
        _ => None,
    };
    match (pid, s("partneruserid"), s("loginkey")) {
        (Some(pid), Some(puid), Some(key)) => check_login_key(cfg, pid, puid, key, now),
        _ => Err(AuthError::BadRequest),
    }
}

/// Seconds since the unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issued tokens and join tickets (in memory, bounded).
#[derive(Default)]
pub struct Tokens {
    tokens: HashMap<String, (Arc<Agent>, Instant)>,
    tickets: HashMap<String, (Arc<Agent>, Instant)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("tokens", &self.tokens.len())
            .field("tickets", &self.tickets.len())
            .finish()
    }
}

/// Makes room for one more entry: drops expired ones, then the one expiring first.
fn make_room(map: &mut HashMap<String, (Arc<Agent>, Instant)>, now: Instant, max: usize) {
    if map.len() < max {
        return;
    }
    map.retain(|_, (_, exp)| *exp > now);
    while map.len() >= max {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, exp))| *exp)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

impl Tokens {
    /// A new token for `agent`, valid for [`TOKEN_TTL`] from `now`.
    pub fn issue(&mut self, now: Instant, agent: Agent) -> String {
        make_room(&mut self.tokens, now, MAX_TOKENS);
        let t = random_hex128();
        self.tokens
            .insert(t.clone(), (Arc::new(agent), now + TOKEN_TTL));
        t
    }

    /// The agent of a live token.
    pub fn agent(&self, now: Instant, token: &str) -> Option<Arc<Agent>> {
        self.tokens
            .get(token)
            .filter(|(_, exp)| *exp > now)
            .map(|(a, _)| a.clone())
    }

    /// A single-use join ticket for `agent`, valid for [`TICKET_TTL`].
    pub fn ticket(&mut self, now: Instant, agent: Arc<Agent>) -> String {
        make_room(&mut self.tickets, now, MAX_TICKETS);
        let t = random_hex128();
        self.tickets.insert(t.clone(), (agent, now + TICKET_TTL));
        t
    }

    /// Uses up a ticket: its agent if it was live (it is removed either way).
    pub fn redeem(&mut self, now: Instant, ticket: &str) -> Option<Arc<Agent>> {
        self.tickets
            .remove(ticket)
            .filter(|(_, exp)| *exp > now)
            .map(|(a, _)| a)
    }

    /// Number of (possibly expired) tokens and tickets held.
    pub fn len(&self) -> (usize, usize) {
        (self.tokens.len(), self.tickets.len())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            r#"
            [groups.1]
            [agents.agnes]
            password = "agnes-pass"
            name = "Agnes Agent"
            title = "Support"
            partnerid = 1234
            partneruserid = "agnes@example.com"
            [agents.bob]
            password = "bob-pass"
            [agents.keyonly]
            name = "K"
            [partners.1234]
            apikey = "e2e-partner-secret"
            "#,
        )
        .expect("config")
    }

    #[test]
    fn passwords() {
        let c = cfg();
        let a = check_password(&c, "agnes", "agnes-pass").unwrap();
        assert_eq!(a.name, "Agnes Agent");
        assert_eq!(a.title, "Support");
        assert_eq!(a.partnerid, Some(1234));
        assert_eq!(check_password(&c, "bob", "bob-pass").unwrap().name, "bob");
        for (u, p) in [
            ("agnes", "bob-pass"),
            ("agnes", "agnes-pas"),
            ("nobody", "x"),
            ("keyonly", "\u{0}no such user"),
        ] {
            assert_eq!(
                check_password(&c, u, p),
                Err(AuthError::BadCredentials),
                "{u}"
            );
        }
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn login_keys() {
        let c = cfg();
        let now = 1_700_000_000;
        let key = login_key("e2e-partner-secret", 1234, "agnes@example.com", now + 60);
        // A known HMAC-SHA256 vector (RFC 4231 test case 2) checks the primitive itself.
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = check_login_key(&c, 1234, "agnes@example.com", &key, now).unwrap();
        assert_eq!(a.username, "agnes");
        // An unlisted partner user authenticates under its partner user id.
        let k2 = login_key("e2e-partner-secret", 1234, "zed@example.com", now + 60);
        let z = check_login_key(&c, 1234, "zed@example.com", &k2, now).unwrap();
        assert_eq!(
            (z.username.as_str(), z.name.as_str()),
            ("zed@example.com", "zed@example.com")
        );
        // Expired, forged, for another user, another partner, malformed.
        let old = login_key("e2e-partner-secret", 1234, "agnes@example.com", now - 1);
        assert_eq!(
            check_login_key(&c, 1234, "agnes@example.com", &old, now),
            Err(AuthError::Expired)
        );
        let forged = login_key("wrong-secret!", 1234, "agnes@example.com", now + 60);
        let later = key.replace(&(now + 60).to_string(), &(now + 6000).to_string());
        for (pid, puid, k) in [
            (1234, "agnes@example.com", forged.as_str()),
            (1234, "agnes@example.com", later.as_str()),
            (1234, "bob@example.com", key.as_str()),
            (99, "agnes@example.com", key.as_str()),
            (1234, "agnes@example.com", "$2$1$ab"),
            (1234, "agnes@example.com", "garbage"),
            (1234, "agnes@example.com", &format!("{key}$x")),
        ] {
            assert_eq!(
                check_login_key(&c, pid, puid, k, now),
                Err(AuthError::BadKey),
                "{pid} {puid} {k}"
            );
        }
        let body =
            json!({"partnerid": "1234", "partneruserid": "agnes@example.com", "loginkey": key});
        assert_eq!(check_request(&c, &body, now).unwrap().username, "agnes");
        assert_eq!(
            check_request(&c, &json!({"username": "agnes"}), now),
            Err(AuthError::BadRequest)
        );
        assert_eq!(
            check_request(&c, &json!([1]), now),
            Err(AuthError::BadRequest)
        );
    }

    #[test]
    fn tokens_and_tickets() {
        let mut t = Tokens::default();
        let now = Instant::now();
        let tok = t.issue(now, Agent::named("a"));
        assert_eq!(tok.len(), 32);
        assert_eq!(t.agent(now, &tok).unwrap().username, "a");
        assert!(t.agent(now + TOKEN_TTL, &tok).is_none(), "expired");
        assert!(t.agent(now, "nope").is_none());
        let a = t.agent(now, &tok).unwrap();
        let ticket = t.ticket(now, a.clone());
        assert!(t.redeem(now, &ticket).is_some());
        assert!(t.redeem(now, &ticket).is_none(), "single use");
        let late = t.ticket(now, a);
        assert!(t.redeem(now + TICKET_TTL, &late).is_none(), "expired");
        // Bounded: the oldest goes first.
        for i in 0..MAX_TOKENS + 5 {
            t.issue(now + Duration::from_millis(i as u64), Agent::named("x"));
        }
        assert!(t.len().0 <= MAX_TOKENS);
        assert!(t.agent(now, &tok).is_none(), "the oldest token was dropped");
    }

    #[test]
    fn cookies() {
        assert_eq!(
            cookie("a=1; glance_agent=XYZ; b=2", "glance_agent"),
            Some("XYZ")
        );
        assert_eq!(cookie("xglance_agent=1", "glance_agent"), None);
    }
}
