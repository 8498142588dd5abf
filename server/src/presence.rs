//! The presence registry (in memory): visitors known to be on a page, by group and visitor id
//! (see `docs/PROTOCOL.md`, "Presence").
//!
//! A visitor is *present* from its first socket until it has had no socket for [`GRACE`];
//! signals and invokes for a present visitor without a socket wait (at most [`MAX_PENDING`]) and
//! go out on its next socket. Agents subscribe to a visitor id (present or not) and get its
//! events as JSON text on a bounded channel. Everything is bounded: visitors, agents per
//! visitor, unique ids, presence data.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::auth::unix_now;

/// How long a visitor stays present without a socket.
pub const GRACE: Duration = Duration::from_secs(5);
/// How long a unique id lives (and how much `extend` adds).
pub const UNIQUE_TTL: Duration = Duration::from_secs(5 * 60);
/// Most visitor entries at once.
pub const MAX_VISITORS: usize = 50_000;
/// Most unique ids at once.
pub const MAX_UNIQUES: usize = 100_000;
/// Most agents watching one visitor.
pub const MAX_AGENTS: usize = 32;
/// Most signals / invokes waiting for a visitor's next socket.
pub const MAX_PENDING: usize = 32;
/// Largest presence data (serialized JSON bytes).
pub const MAX_DATA: usize = 16 * 1024;
/// Capacity of a socket's outgoing channel.
pub const CHANNEL: usize = 128;

/// The functions an agent may invoke on a visitor's page.
pub const INVOKE_ALLOWED: [&str; 4] = [
    "GLANCE.Cobrowse.VisitorUI.showTerms",
    "GLANCE.Cobrowse.Visitor.startSession",
    "GLANCE.Cobrowse.Visitor.stopSession",
    "GLANCE.Cobrowse.Visitor.pause",
];

/// Outgoing frames of one socket.
pub type Tx = mpsc::Sender<String>;

/// Why a presence operation failed (the wire `reason` / error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceError {
    /// The visitor is not present.
    VisitorNotFound,
    /// The function is not on the invoke allow-list.
    Forbidden,
    /// Malformed input (bad id, data too large, ...).
    Invalid,
    /// A limit of the registry was reached.
    Busy,
}

impl PresenceError {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            PresenceError::VisitorNotFound => "visitornotfound",
            PresenceError::Forbidden => "forbidden",
            PresenceError::Invalid => "invalid",
            PresenceError::Busy => "busy",
        }
    }
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for PresenceError {}

/// A visitor id: 1..=128 characters, no whitespace, control characters, `*` or `>`.
pub fn valid_visitor_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= 128
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
}

/// True for a function on [`INVOKE_ALLOWED`].
pub fn invoke_allowed(func: &str) -> bool {
    INVOKE_ALLOWED.contains(&func)
}

#[derive(Default)]
struct Visitor {
    sock: Option<(u64, Tx)>,
    last_closed: Option<Instant>,
    since: Option<u64>,
    data: Map<String, Value>,
    pending: VecDeque<String>,
    agents: Vec<(u64, Tx)>,
    terms: Option<Value>,
    visibility: Option<Value>,
}

impl Visitor {
    fn present(&self, now: Instant) -> bool {
        self.sock.is_some() || self.last_closed.is_some_and(|t| now < t + GRACE)
    }

    fn tell_agents(&self, frame: &str) {
        for (_, tx) in &self.agents {
            let _ = tx.try_send(frame.to_string());
        }
    }

    fn forget_presence(&mut self) {
        self.since = None;
        self.last_closed = None;
        self.data.clear();
        self.pending.clear();
        self.terms = None;
        self.visibility = None;
    }
}

#[derive(Default)]
struct Inner {
    visitors: HashMap<(String, String), Visitor>,
    uniques: HashMap<String, (String, Instant)>,
    next: u64,
}

impl Inner {
    /// A new connection number and the entry of visitor `id` (created if needed, within
    /// [`MAX_VISITORS`]).
    fn connection(&mut self, group: &str, id: &str) -> Result<(u64, &mut Visitor), PresenceError> {
        self.next += 1;
        let conn = self.next;
        let k = key(group, id);
        if !self.visitors.contains_key(&k) && self.visitors.len() >= MAX_VISITORS {
            return Err(PresenceError::Busy);
        }
        Ok((conn, self.visitors.entry(k).or_default()))
    }
}

/// The registry.
pub struct Presence {
    inner: Mutex<Inner>,
    secret: Vec<u8>,
}

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Presence { .. }")
    }
}

fn key(group: &str, id: &str) -> (String, String) {
    (group.to_string(), id.to_string())
}

/// What a lookup reports about a present visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Unix seconds since when it is present.
    pub since: u64,
    /// Its merged presence data.
    pub data: Value,
}

impl Presence {
    /// A registry signing its tokens with `secret`.
    pub fn new(secret: Vec<u8>) -> Self {
        Presence {
            inner: Mutex::default(),
            secret,
        }
    }

    /// The token signing secret.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the socket of visitor `id`: the previous socket (if any) is dropped; returns the
    /// connection number and the frames that waited for it.
    pub fn visitor_connect(
        &self,
        group: &str,
        id: &str,
        tx: Tx,
    ) -> Result<(u64, Vec<String>), PresenceError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let (conn, v) = inner.connection(group, id)?;
        let was_present = v.present(now);
        if !was_present {
            v.forget_presence();
            v.since = Some(unix_now());
        }
        v.sock = Some((conn, tx));
        v.last_closed = None;
        if !was_present {
            v.tell_agents(&json!({"t": "visitorconn", "connected": true}).to_string());
        }
        v.tell_agents(&json!({"t": "visitorsock", "connected": true}).to_string());
        Ok((conn, v.pending.drain(..).collect()))
    }

    /// The socket `conn` of visitor `id` closed. True when it was the current one (the caller
    /// then calls [`Presence::expire`] after [`GRACE`]).
    pub fn visitor_disconnect(&self, group: &str, id: &str, conn: u64) -> bool {
        let mut inner = self.lock();
        let Some(v) = inner.visitors.get_mut(&key(group, id)) else {
            return false;
        };
        if v.sock.as_ref().map(|s| s.0) != Some(conn) {
            return false;
        }
        v.sock = None;
        v.last_closed = Some(Instant::now());
        v.tell_agents(&json!({"t": "visitorsock", "connected": false}).to_string());
        true
    }

    /// Ends the presence of visitor `id` if its grace time is over (agents get
    /// `visitorconn` false); forgets the entry when no agent watches it.
    pub fn expire(&self, group: &str, id: &str, now: Instant) {
        let mut inner = self.lock();
        let k = key(group, id);
        let Some(v) = inner.visitors.get_mut(&k) else {
            return;
        };
        if v.present(now) || v.since.is_none() {
            return;
        }
        v.forget_presence();
        v.tell_agents(&json!({"t": "visitorconn", "connected": false}).to_string());
        if v.agents.is_empty() {
            inner.visitors.remove(&k);
        }
    }

    /// Merges `update` into the visitor's presence data; agents get the whole data.
    pub fn merge_data(
        &self,
        group: &str,
        id: &str,
        update: Map<String, Value>,
    ) -> Result<(), PresenceError> {
        let mut inner = self.lock();
        let Some(v) = inner.visitors.get_mut(&key(group, id)) else {
            return Err(PresenceError::VisitorNotFound);
        };
        let mut merged = v.data.clone();
        merged.extend(update);
        let data = serde_json::to_string(&merged).map_err(|_| PresenceError::Invalid)?;
        if data.len() > MAX_DATA {
            return Err(PresenceError::Invalid);
        }
        let frame = format!(r#"{{"t":"presence","data":{data}}}"#);
        v.data = merged;
        v.tell_agents(&frame);
        Ok(())
    }

    /// Relays a visitor frame to its agents (`terms` and `visibility` are kept for late agents).
    pub fn visitor_event(&self, group: &str, id: &str, frame: Value) {
        let mut inner = self.lock();
        let Some(v) = inner.visitors.get_mut(&key(group, id)) else {
            return;
        };
        match frame["t"].as_str() {
            Some("terms") => v.terms = Some(frame.clone()),
            Some("visibility") => v.visibility = Some(frame.clone()),
            _ => {}
        }
        v.tell_agents(&frame.to_string());
    }

    /// Sends `frame` to visitor `id`: now, or on its next socket while present.
    pub fn to_visitor(&self, group: &str, id: &str, frame: String) -> Result<(), PresenceError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(v) = inner.visitors.get_mut(&key(group, id)) else {
            return Err(PresenceError::VisitorNotFound);
        };
        if let Some((_, tx)) = &v.sock {
            return tx.try_send(frame).map_err(|_| PresenceError::Busy);
        }
        if !v.present(now) {
            return Err(PresenceError::VisitorNotFound);
        }
        if v.pending.len() >= MAX_PENDING {
            return Err(PresenceError::Busy);
        }
        v.pending.push_back(frame);
        Ok(())
    }

    /// The visitor if present.
    pub fn lookup(&self, group: &str, id: &str) -> Option<Found> {
        let now = Instant::now();
        let inner = self.lock();
        let v = inner.visitors.get(&key(group, id))?;
        v.present(now).then(|| Found {
            since: v.since.unwrap_or_else(unix_now),
            data: Value::Object(v.data.clone()),
        })
    }

    /// Subscribes an agent to visitor `id`; returns its number and the current state frames
    /// (`visitorconn`, `visitorsock`, `presence`, then `terms` / `visibility` when known).
    pub fn subscribe(
        &self,
        group: &str,
        id: &str,
        tx: Tx,
    ) -> Result<(u64, Vec<String>), PresenceError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let (conn, v) = inner.connection(group, id)?;
        if v.agents.len() >= MAX_AGENTS {
            return Err(PresenceError::Busy);
        }
        v.agents.push((conn, tx));
        let mut frames = vec![
            json!({"t": "visitorconn", "connected": v.present(now)}).to_string(),
            json!({"t": "visitorsock", "connected": v.sock.is_some()}).to_string(),
            json!({"t": "presence", "data": v.data}).to_string(),
        ];
        frames.extend(v.terms.iter().chain(&v.visibility).map(|f| f.to_string()));
        Ok((conn, frames))
    }

    /// Removes agent `conn` (and the entry when nothing is left of it).
    pub fn unsubscribe(&self, group: &str, id: &str, conn: u64) {
        let now = Instant::now();
        let mut inner = self.lock();
        let k = key(group, id);
        if let Some(v) = inner.visitors.get_mut(&k) {
            v.agents.retain(|(c, _)| *c != conn);
            if v.agents.is_empty() && !v.present(now) {
                inner.visitors.remove(&k);
            }
        }
    }

    /// A new 6-digit unique id for a visitor of `group`, valid [`UNIQUE_TTL`]: (id, unix expiry).
    pub fn unique(&self, group: &str) -> Result<(String, u64), PresenceError> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.uniques.retain(|_, (_, exp)| *exp > now);
        if inner.uniques.len() >= MAX_UNIQUES {
            return Err(PresenceError::Busy);
        }
        for _ in 0..64 {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).map_err(|_| PresenceError::Busy)?;
            let id = format!("{:06}", u32::from_le_bytes(b) % 900_000 + 100_000);
            if !inner.uniques.contains_key(&id) && !inner.visitors.contains_key(&key(group, &id)) {
                inner
                    .uniques
                    .insert(id.clone(), (group.to_string(), now + UNIQUE_TTL));
                return Ok((id, unix_now() + UNIQUE_TTL.as_secs()));
            }
        }
        Err(PresenceError::Busy)
    }

    /// Extends unique id `id` by [`UNIQUE_TTL`] from now: the new unix expiry.
    pub fn extend(&self, group: &str, id: &str) -> Option<u64> {
        let now = Instant::now();
        let mut inner = self.lock();
        let e = inner
            .uniques
            .get_mut(id)
            .filter(|(g, exp)| g == group && *exp > now)?;
        e.1 = now + UNIQUE_TTL;
        Some(unix_now() + UNIQUE_TTL.as_secs())
    }

    /// True when `id` is a live unique id of `group`.
    pub fn unique_valid(&self, group: &str, id: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .uniques
            .get(id)
            .is_some_and(|(g, exp)| g == group && *exp > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_ids() {
        assert!(valid_visitor_id("abc-123@x.y"));
        assert!(valid_visitor_id(&"x".repeat(128)));
        for bad in ["", "a b", "a*", "a>b", "a\u{1}", "a\tb"] {
            assert!(!valid_visitor_id(bad), "{bad:?}");
        }
        assert!(!valid_visitor_id(&"x".repeat(129)));
    }

    #[tokio::test]
    async fn presence_grace_pending_and_agents() {
        let p = Presence::new(b"s".to_vec());
        assert_eq!(
            p.to_visitor("g", "v", "x".into()),
            Err(PresenceError::VisitorNotFound)
        );
        let (atx, mut arx) = mpsc::channel(CHANNEL);
        let (_, init) = p.subscribe("g", "v", atx).expect("sub");
        assert!(init[0].contains(r#""connected":false"#));
        let (vtx, _vrx) = mpsc::channel(CHANNEL);
        let (c1, pend) = p.visitor_connect("g", "v", vtx).expect("conn");
        assert!(pend.is_empty());
        assert!(arx.recv().await.unwrap().contains("visitorconn"));
        assert!(arx.recv().await.unwrap().contains("visitorsock"));
        assert!(p.visitor_disconnect("g", "v", c1));
        assert!(
            p.lookup("g", "v").is_some(),
            "present during the grace time"
        );
        p.to_visitor("g", "v", "sig".into()).expect("queued");
        p.expire("g", "v", Instant::now());
        assert!(
            p.lookup("g", "v").is_some(),
            "expire before the grace is a no-op"
        );
        let (vtx, _vrx) = mpsc::channel(CHANNEL);
        let (_, pend) = p.visitor_connect("g", "v", vtx).expect("conn");
        assert_eq!(pend, vec!["sig".to_string()]);
        let big: Map<String, Value> = [("x".to_string(), json!("y".repeat(MAX_DATA)))]
            .into_iter()
            .collect();
        assert_eq!(p.merge_data("g", "v", big), Err(PresenceError::Invalid));
    }

    #[test]
    fn unique_ids() {
        let p = Presence::new(Vec::new());
        let (id, exp) = p.unique("g").expect("unique");
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert!(exp >= unix_now() + 299);
        assert!(p.unique_valid("g", &id));
        assert!(!p.unique_valid("h", &id));
        assert!(p.extend("g", &id).is_some());
        assert!(p.extend("g", "000000").is_none());
    }
}
