//! The session registry and the per-session state machine.
//!
//! A [`Session`] is created by a visitor `hello` and lives until the visitor or an agent ends
//! it, until it has had no visitor socket for [`AWAY_TTL`] (the visitor left the tagged site), or
//! until it has had no agent for the idle timeout ([`IDLE_TTL`]).
//! It owns the server's [`Mirror`] of the visitor's page: every visitor frame is validated by
//! applying it, accepted frames are published unchanged on the [`Bus`], and a late or
//! resynchronizing agent gets `mirror.snapshot_json()`.
//!
//! Status (as sent to agents): `active`, `paused` (visitor paused), `away` (no visitor socket, or
//! the visitor said `bye`, or it is on a new page whose snapshot has not arrived yet), `ended`.
//!
//! Besides the page stream, a session relays session messages both ways (`msg`), keeps the
//! visitor's user state (`userstate`, read by agents) and the pause state (the visitor and agents
//! may both pause); agent messages that arrive while the visitor is between pages wait for it.
//! An ended session's id is remembered for [`TOMBSTONE_TTL`], so a page of it that comes back
//! (another tab, a slow navigation) is told it ended instead of starting a new session.
//!
//! Remote control and guidance (`docs/PROTOCOL.md`, "Agent socket additions"): agents' `rc`,
//! `act`, `nav`, `gesture` and `ptr` go to the visitor with the agent's identity added; the
//! session keeps the remote-control state (`off`, `requested`, `accepted`, `declined`; enabled
//! while `accepted`) and the visitor's last pointer. While the visitor is between pages, `rc` and
//! `nav` wait for its next page like session messages; an `act` is answered `actres` `missing`
//! and `gesture`/`ptr` are dropped (they name nodes / positions of a page that is gone). The
//! visitor's `actres`/`navres` go to the one agent they name (each agent has a direct queue).
//! Agents' `a11y` turns the visitor's accessibility features on or off (the last one wins; off
//! when the last agent leaves or the session ends): relayed like `rc` (only the latest one waits
//! for a page), and in the `welcome` and the agents' `session` frames.
//!
//! Locking: the registry lock may be taken before a session lock, never the other way round.
//! No lock is held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use glance_cobrowse::messages::{check_message, check_state, MAX_QUEUED};
use glance_cobrowse::mirror::{Mirror, MirrorError};
use glance_cobrowse::protocol::{valid_session_key, AgentMsg, Hello, VisitorMsg, RC_STATES};
use serde_json::json;
use tokio::sync::mpsc;

use crate::auth::Agent;
use crate::bus::{Bus, BusMsg, Subscription};
use crate::config::Config;
use crate::remote;

/// How long a session survives without a visitor socket (navigation, reconnect).
pub const AWAY_TTL: Duration = Duration::from_secs(30 * 60);

/// How long a session survives without any agent (none joined, or the last one left).
pub const IDLE_TTL: Duration = Duration::from_secs(30 * 60);

/// How long an ended session's id is remembered (see the module docs).
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60 * 60);

/// After a `snapreq`, further failing diffs do not trigger another one for this long.
const RESYNC_RETRY: Duration = Duration::from_secs(5);

/// Consecutive refused snapshots before the visitor socket is closed.
const MAX_SNAPSHOT_FAILURES: u32 = 3;

/// Longest agent display name kept (characters).
const MAX_NAME_CHARS: usize = 64;

/// Capacity of an agent's direct queue (`actres`, `navres`); beyond it replies are dropped.
pub const AGENT_QUEUE: usize = 64;

/// Session status as shown to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The visitor is connected and streaming.
    Active,
    /// The visitor paused the session.
    Paused,
    /// The visitor is not on a tagged page right now.
    Away,
    /// The session is over.
    Ended,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Away => "away",
            Status::Ended => "ended",
        }
    }
}

/// Why a session ended (the `reason` of `ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The visitor sent `end`.
    Visitor,
    /// An agent sent `end`.
    Agent,
    /// No visitor came back within [`AWAY_TTL`], or no agent was there for the idle timeout.
    Timeout,
}

impl EndReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Visitor => "visitor",
            EndReason::Agent => "agent",
            EndReason::Timeout => "timeout",
        }
    }
}

/// Instructions from the session to the task that owns a visitor socket.
#[derive(Debug)]
pub enum VisitorCtl {
    /// Send this text frame.
    Send(String),
    /// Send `{"t":"end","reason":..}` and close normally.
    End(EndReason),
    /// A newer socket took over the session: close this one normally.
    Replaced,
    /// Drop the connection abruptly, without a close frame (test hook).
    Drop,
}

/// Why a visitor `hello` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The group is not configured.
    UnknownGroup(String),
    /// The requested key is not a valid session key.
    InvalidKey,
    /// The requested key is live in the group and duplicates are not allowed.
    DupKey(String),
    /// No free server-assigned key was found.
    NoKeyAvailable,
    /// A malformed `hello` (unsupported version, missing page id...).
    Protocol(String),
    /// The `sid` names a session that has ended (the page is told `end` with this reason).
    Ended(EndReason),
}

impl OpenError {
    /// The `code` of the `error` message sent to the visitor.
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::UnknownGroup(_) | OpenError::NoKeyAvailable => "service",
            OpenError::InvalidKey | OpenError::Protocol(_) => "protocol",
            OpenError::DupKey(_) => "dupkey",
            OpenError::Ended(_) => "ended",
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::UnknownGroup(g) => write!(f, "unknown group {g}"),
            OpenError::InvalidKey => f.write_str("invalid session key"),
            OpenError::DupKey(k) => write!(f, "session key {k} is already in use"),
            OpenError::NoKeyAvailable => f.write_str("no session key available"),
            OpenError::Protocol(m) => f.write_str(m),
            OpenError::Ended(r) => write!(f, "the session has ended ({})", r.as_str()),
        }
    }
}

impl std::error::Error for OpenError {}

/// What the visitor socket should do after a message was handled.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitorOutcome {
    /// Send `{"t":"ack","page":..,"seq":..}`.
    Ack {
        /// Page of the acknowledged message.
        page: String,
        /// Its sequence number.
        seq: u64,
    },
    /// Send `{"t":"snapreq"}`.
    Snapreq,
    /// Nothing to send.
    Nothing,
    /// The visitor ended the session: close normally.
    Ended,
    /// Close with 1008 and this reason.
    Reject(String),
    /// This socket no longer owns the session (replaced or ended): close normally.
    Stale,
}

struct VisitorSlot {
    conn: u64,
    tx: mpsc::Sender<VisitorCtl>,
}

struct AgentSlot {
    id: u64,
    agent: Arc<Agent>,
    num: u64,
    /// Frames for this agent only.
    tx: mpsc::Sender<String>,
}

impl AgentSlot {
    /// The `agent` object added to what this agent sends the visitor.
    fn who(&self) -> serde_json::Value {
        json!({
            "username": self.agent.username,
            "puid": self.agent.partneruserid,
            "num": self.num,
            "name": self.agent.name,
        })
    }
}

struct Inner {
    mirror: Mirror,
    url: String,
    title: String,
    ua: String,
    paused: bool,
    away: bool,
    ended: bool,
    visitor: Option<VisitorSlot>,
    /// When the visitor socket went away (expiry clock).
    away_since: Option<Instant>,
    agents: Vec<AgentSlot>,
    next_agent_num: u64,
    /// Publication counter (see [`BusMsg::n`]).
    n: u64,
    /// When the last `snapreq` was sent and no snapshot has arrived since.
    resync_pending: Option<Instant>,
    snap_failures: u32,
    /// The visitor's user state (`setUserState`), for agents.
    userstate: BTreeMap<String, serde_json::Value>,
    /// Frames for the visitor that arrived while it had no socket (agent messages).
    to_visitor: VecDeque<String>,
    /// Since when no agent has been connected (idle clock).
    idle_since: Option<Instant>,
    /// The attached visitor page said `bye` (it is unloading).
    leaving: bool,
    /// Remote-control state: one of [`RC_STATES`].
    rc: &'static str,
    /// The visitor's last pointer frame (for agents joining later).
    vptr: Option<String>,
    /// Accessibility features on the visitor's page (an agent's `a11y`; the last one wins).
    a11y: bool,
}

impl Inner {
    fn status(&self) -> Status {
        // A paused visitor on a new page sends no snapshot: it is paused, not away.
        if self.ended {
            Status::Ended
        } else if self.visitor.is_none() || self.leaving {
            Status::Away
        } else if self.paused {
            Status::Paused
        } else if self.away {
            Status::Away
        } else {
            Status::Active
        }
    }

    fn agents_value(&self) -> serde_json::Value {
        let list: Vec<_> = self
            .agents
            .iter()
            .map(|a| {
                let mut v = a.agent.json();
                v["role"] = json!("agent");
                v["num"] = json!(a.num);
                v
            })
            .collect();
        json!({"count": self.agents.len(), "agentlist": list})
    }

    fn last_value(&self) -> serde_json::Value {
        if self.mirror.has_snapshot() {
            json!({"page": self.mirror.page, "seq": self.mirror.seq})
        } else {
            serde_json::Value::Null
        }
    }

    fn send_visitor(&self, ctl: VisitorCtl) {
        if let Some(v) = &self.visitor {
            // A full queue means the visitor socket is stuck; it will be resynced or dropped.
            let _ = v.tx.try_send(ctl);
        }
    }

    /// Sends `text` to the visitor now, or when its next socket attaches (bounded: the oldest
    /// waiting frame is dropped first).
    fn send_or_keep(&mut self, text: String) {
        if self.visitor.is_some() && !self.leaving {
            self.send_visitor(VisitorCtl::Send(text));
        } else {
            if self.to_visitor.len() >= MAX_QUEUED {
                self.to_visitor.pop_front();
            }
            self.to_visitor.push_back(text);
        }
    }

    /// Sends an `a11y` frame now, or keeps it for the next page in place of an older one (the
    /// visitor only needs the latest state; its `welcome` has it too).
    fn send_a11y(&mut self, text: String) {
        if self.visitor.is_none() || self.leaving {
            // serde_json writes keys in order: `t` is the last one of this frame.
            self.to_visitor.retain(|f| !f.ends_with(r#","t":"a11y"}"#));
        }
        self.send_or_keep(text);
    }

    /// True when the visitor is on a page whose nodes the mirror shows (actions can land).
    fn visitor_present(&self) -> bool {
        self.visitor.is_some() && !self.leaving && !self.away
    }

    /// Sends `text` to agent `num` only (dropped when its queue is full or it is gone).
    fn send_agent(&self, num: u64, text: String) {
        if let Some(a) = self.agents.iter().find(|a| a.num == num) {
            let _ = a.tx.try_send(text);
        }
    }

    fn rc_value(&self) -> serde_json::Value {
        json!({"enabled": self.rc == "accepted", "state": self.rc})
    }

    fn rc_frame(&self) -> String {
        json!({"t": "rc", "enabled": self.rc == "accepted", "state": self.rc, "suspended": false})
            .to_string()
    }

    fn userstate_frames(&self) -> impl Iterator<Item = String> + '_ {
        self.userstate
            .iter()
            .map(|(k, v)| json!({"t": "userstate", "name": k, "value": v}).to_string())
    }
}

/// One cobrowse session.
pub struct Session {
    /// Group id.
    pub group: String,
    /// Session key (what the visitor reads to the agent).
    pub key: String,
    /// Secret session id (resume token held by the visitor).
    pub sid: String,
    bus: Arc<dyn Bus>,
    inner: Mutex<Inner>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("group", &self.group)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What an agent gets when it joins (see [`Session::join_agent`]).
pub struct AgentJoin {
    /// Agent id within the session (for [`Session::leave_agent`]).
    pub id: u64,
    /// Live messages published after `floor`.
    pub sub: Subscription,
    /// Frames to send first: `session`, then the current `snap` if any.
    pub frames: Vec<Utf8Bytes>,
    /// Skip bus messages with `n <= floor` (already contained in `frames`).
    pub floor: u64,
    /// The agent's number in the session (1-based join order).
    pub num: u64,
}

impl fmt::Debug for AgentJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentJoin")
            .field("id", &self.id)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

/// Public status of a session (`/api/session/KEY`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionStatus {
    /// Session key.
    pub key: String,
    /// `active|paused|away|ended`.
    pub state: &'static str,
    /// The visitor's page URL.
    pub url: String,
    /// Number of connected agents.
    pub agents: usize,
    /// Mirrored page id, if a snapshot was received.
    pub page: Option<String>,
    /// Last applied sequence number, if a snapshot was received.
    pub seq: Option<u64>,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves `Inner` consistent before anything can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, g: &mut Inner, text: Utf8Bytes) {
        g.n += 1;
        self.bus.publish(&self.sid, BusMsg { n: g.n, text });
    }

    fn session_json(&self, g: &Inner) -> String {
        self.session_value(g).to_string()
    }

    fn session_value(&self, g: &Inner) -> serde_json::Value {
        json!({
            "t": "session",
            "key": self.key,
            "group": self.group,
            "ssnid": crate::agent_api::public_session_id(&self.sid),
            "visitorversion": glance_cobrowse::protocol::ENGINE_VERSION,
            "url": g.url,
            "title": g.title,
            "ua": g.ua,
            "state": g.status().as_str(),
            "rc": g.rc_value(),
            "a11y": g.a11y,
        })
    }

    /// Publishes the session message if the status or page info changed.
    fn publish_session_if_changed(&self, g: &mut Inner, before: (Status, String, String)) {
        if before != (g.status(), g.url.clone(), g.title.clone()) {
            let s = self.session_json(g);
            self.publish(g, s.into());
        }
    }

    /// `session` (with `you` for agent `id`), the user state, the current `snap` and the
    /// visitor's last pointer.
    fn snapshot_frames(&self, g: &Inner, id: u64) -> Vec<Utf8Bytes> {
        let mut session = self.session_value(g);
        if let Some(a) = g.agents.iter().find(|a| a.id == id) {
            session["you"] = json!({
                "username": a.agent.username,
                "name": a.agent.name,
                "num": a.num,
            });
        }
        let mut agents = g.agents_value();
        agents["t"] = json!("agents");
        let mut frames = vec![
            Utf8Bytes::from(session.to_string()),
            Utf8Bytes::from(agents.to_string()),
        ];
        frames.extend(g.userstate_frames().map(Utf8Bytes::from));
        if g.mirror.has_snapshot() && !g.ended {
            frames.push(g.mirror.snapshot_json().into());
        }
        if let Some(v) = &g.vptr {
            frames.push(v.clone().into());
        }
        frames
    }

    fn welcome_json(&self, g: &Inner, masks: &[String], takeover: bool) -> String {
        json!({
            "t": "welcome",
            "key": self.key,
            "sid": self.sid,
            "masks": masks,
            "last": g.last_value(),
            "agents": g.agents_value(),
            "paused": g.paused,
            "userstate": g.userstate,
            "takeover": takeover,
            "rc": g.rc == "accepted",
            "a11y": g.a11y,
        })
        .to_string()
    }

    /// Attaches a (new) visitor socket; the previous one, if any, is told to close. A `fresh`
    /// session takes its pause state from the `hello`; a resumed one keeps its own (an agent may
    /// have paused it meanwhile) and tells the page in the welcome.
    /// Returns the welcome message, or `None` when the session has ended.
    fn attach(
        &self,
        conn: u64,
        tx: mpsc::Sender<VisitorCtl>,
        hello: &Hello,
        masks: &[String],
        fresh: bool,
    ) -> Option<String> {
        let mut g = self.lock();
        if g.ended {
            return None;
        }
        let before = (g.status(), g.url.clone(), g.title.clone());
        // Another live page (a second tab) had the session: this one takes it over.
        let mut takeover = false;
        if let Some(old) = g.visitor.take() {
            takeover = !g.leaving;
            let _ = old.tx.try_send(VisitorCtl::Replaced);
        }
        // Agent messages kept while the visitor was between pages go out after the welcome.
        for text in g.to_visitor.drain(..) {
            let _ = tx.try_send(VisitorCtl::Send(text));
        }
        g.visitor = Some(VisitorSlot { conn, tx });
        g.away_since = None;
        g.leaving = false;
        if fresh {
            g.paused = hello.paused;
        }
        // On a new page the mirror still shows the old one: stay away until its snapshot.
        g.away = g.mirror.has_snapshot() && g.mirror.page != hello.page;
        if g.mirror.page != hello.page {
            g.vptr = None;
        }
        g.url.clone_from(&hello.url);
        g.title.clone_from(&hello.title);
        g.ua.clone_from(&hello.ua);
        g.resync_pending = None;
        g.snap_failures = 0;
        self.publish_session_if_changed(&mut g, before);
        Some(self.welcome_json(&g, masks, takeover))
    }

    /// Handles one parsed visitor message (`text` is its original JSON, forwarded unchanged).
    pub fn visitor_message(&self, conn: u64, msg: &VisitorMsg, text: &Utf8Bytes) -> VisitorOutcome {
        let mut g = self.lock();
        if g.ended || g.visitor.as_ref().map(|v| v.conn) != Some(conn) {
            return VisitorOutcome::Stale;
        }
        let before = (g.status(), g.url.clone(), g.title.clone());
        let outcome = match msg {
            VisitorMsg::Hello(_) => VisitorOutcome::Reject("unexpected hello".into()),
            VisitorMsg::Snap(s) if !valid_page_id(&s.page) => {
                VisitorOutcome::Reject("invalid page id".into())
            }
            VisitorMsg::Snap(s) => {
                if g.mirror.has_snapshot() && s.page == g.mirror.page && s.seq <= g.mirror.seq {
                    // A resend of something already applied.
                    return VisitorOutcome::Ack {
                        page: s.page.clone(),
                        seq: s.seq,
                    };
                }
                match g.mirror.apply_snapshot(s) {
                    Ok(()) => {
                        g.snap_failures = 0;
                        g.resync_pending = None;
                        g.away = false;
                        if !s.url.is_empty() {
                            g.url.clone_from(&s.url);
                        }
                        if !s.title.is_empty() {
                            g.title.clone_from(&s.title);
                        }
                        self.publish(&mut g, text.clone());
                        VisitorOutcome::Ack {
                            page: s.page.clone(),
                            seq: s.seq,
                        }
                    }
                    Err(e) => {
                        g.snap_failures += 1;
                        if g.snap_failures >= MAX_SNAPSHOT_FAILURES {
                            VisitorOutcome::Reject(format!("snapshot refused: {e}"))
                        } else {
                            g.resync_pending = Some(Instant::now());
                            VisitorOutcome::Snapreq
                        }
                    }
                }
            }
            VisitorMsg::Diff(d) => {
                if g.mirror.has_snapshot() && d.page == g.mirror.page && d.seq <= g.mirror.seq {
                    return VisitorOutcome::Ack {
                        page: d.page.clone(),
                        seq: d.seq,
                    };
                }
                let resync_recent = g.resync_pending.is_some_and(|t| t.elapsed() < RESYNC_RETRY);
                match g.mirror.apply_diff(d) {
                    Ok(()) => {
                        self.publish(&mut g, text.clone());
                        VisitorOutcome::Ack {
                            page: d.page.clone(),
                            seq: d.seq,
                        }
                    }
                    Err(e) => {
                        if matches!(e, MirrorError::Tree(_) | MirrorError::WrongKind(_)) {
                            // The mirror may be partly updated: never serve it to an agent.
                            g.mirror = Mirror::new();
                        }
                        if resync_recent {
                            VisitorOutcome::Nothing
                        } else {
                            g.resync_pending = Some(Instant::now());
                            VisitorOutcome::Snapreq
                        }
                    }
                }
            }
            VisitorMsg::Pause { paused } => {
                g.paused = *paused;
                VisitorOutcome::Nothing
            }
            VisitorMsg::Bye => {
                g.away = true;
                g.leaving = true;
                g.vptr = None;
                VisitorOutcome::Nothing
            }
            VisitorMsg::End => VisitorOutcome::Ended,
            VisitorMsg::Msg { name, data } => {
                let payload = data.to_string();
                match check_message(name, &payload) {
                    Ok(()) => {
                        let m = json!({"t": "msg", "name": name, "data": data}).to_string();
                        self.publish(&mut g, m.into());
                        VisitorOutcome::Nothing
                    }
                    Err(e) => VisitorOutcome::Reject(format!("session message refused: {e}")),
                }
            }
            VisitorMsg::Userstate { name, value } => {
                let known = g.userstate.contains_key(name);
                match check_state(name, &value.to_string(), g.userstate.len(), known) {
                    Ok(()) => {
                        if value.is_null() {
                            g.userstate.remove(name);
                        } else {
                            g.userstate.insert(name.clone(), value.clone());
                        }
                        let m = json!({"t": "userstate", "name": name, "value": value}).to_string();
                        self.publish(&mut g, m.into());
                        VisitorOutcome::Nothing
                    }
                    Err(e) => VisitorOutcome::Reject(format!("user state refused: {e}")),
                }
            }
            VisitorMsg::Rc { state } => match RC_STATES.iter().find(|s| *s == state) {
                Some(st) => {
                    g.rc = st;
                    let f = g.rc_frame();
                    self.publish(&mut g, f.into());
                    VisitorOutcome::Nothing
                }
                None => VisitorOutcome::Reject("rc: unknown state".into()),
            },
            VisitorMsg::Actres {
                id,
                num,
                ok,
                reason,
            } => {
                if reason.as_deref().is_some_and(|r| !remote::valid_reason(r)) {
                    VisitorOutcome::Reject("actres: invalid reason".into())
                } else {
                    let f =
                        json!({"t": "actres", "id": id, "num": num, "ok": ok, "reason": reason});
                    g.send_agent(*num, f.to_string());
                    VisitorOutcome::Nothing
                }
            }
            VisitorMsg::Navres {
                num,
                ok,
                url,
                reason,
            } => {
                if reason.as_deref().is_some_and(|r| !remote::valid_reason(r))
                    || url.as_ref().is_some_and(|u| u.len() > remote::MAX_NAV_URL)
                {
                    VisitorOutcome::Reject("navres: invalid url or reason".into())
                } else {
                    let f =
                        json!({"t": "navres", "num": num, "ok": ok, "url": url, "reason": reason});
                    g.send_agent(*num, f.to_string());
                    VisitorOutcome::Nothing
                }
            }
            VisitorMsg::Vptr { x, y } => match remote::check_point(*x, *y) {
                Ok(()) => {
                    let f = json!({"t": "vptr", "x": x, "y": if x.is_some() { *y } else { None }})
                        .to_string();
                    g.vptr = x.is_some().then(|| f.clone());
                    self.publish(&mut g, f.into());
                    VisitorOutcome::Nothing
                }
                Err(e) => VisitorOutcome::Reject(format!("vptr: {e}")),
            },
        };
        self.publish_session_if_changed(&mut g, before);
        outcome
    }

    /// The visitor socket `conn` closed (without `end`): the session waits for it to come back.
    pub fn detach_visitor(&self, conn: u64) {
        let mut g = self.lock();
        if g.visitor.as_ref().map(|v| v.conn) != Some(conn) {
            return;
        }
        let before = (g.status(), g.url.clone(), g.title.clone());
        g.visitor = None;
        g.away = true;
        g.vptr = None;
        g.away_since = Some(Instant::now());
        self.publish_session_if_changed(&mut g, before);
    }

    /// Registers an agent: subscribes it and returns what it must be sent first. Frames for this
    /// agent only (`actres`, `navres`) go to `tx`. `None` when the session has ended.
    pub fn join_agent(
        &self,
        agent: Arc<Agent>,
        id: u64,
        tx: mpsc::Sender<String>,
    ) -> Option<AgentJoin> {
        let mut g = self.lock();
        if g.ended {
            return None;
        }
        g.idle_since = None;
        let sub = self.bus.subscribe(&self.sid);
        g.next_agent_num += 1;
        let num = g.next_agent_num;
        let mut agent = (*agent).clone();
        agent.name = clean_name(&agent.name);
        g.agents.push(AgentSlot {
            id,
            agent: Arc::new(agent),
            num,
            tx,
        });
        self.agents_changed(&mut g);
        Some(AgentJoin {
            id,
            sub,
            frames: self.snapshot_frames(&g, id),
            floor: g.n,
            num,
        })
    }

    /// Tells the visitor and the agents the new agent list.
    fn agents_changed(&self, g: &mut Inner) {
        let mut agents = g.agents_value();
        agents["t"] = json!("agents");
        let text = agents.to_string();
        g.send_visitor(VisitorCtl::Send(text.clone()));
        self.publish(g, text.into());
    }

    /// Unregisters an agent. When the last one leaves, remote control ends.
    pub fn leave_agent(&self, id: u64) {
        let mut g = self.lock();
        let Some(pos) = g.agents.iter().position(|a| a.id == id) else {
            return;
        };
        let gone = g.agents.remove(pos);
        if g.agents.is_empty() && g.idle_since.is_none() {
            g.idle_since = Some(Instant::now());
        }
        if g.ended {
            return;
        }
        self.agents_changed(&mut g);
        if g.agents.is_empty() && g.rc != "off" {
            g.rc = "off";
            let m = json!({"t": "rc", "on": false, "agent": gone.who()}).to_string();
            g.send_or_keep(m);
        }
        if g.agents.is_empty() && g.a11y {
            g.a11y = false;
            g.send_a11y(json!({"t": "a11y", "on": false, "agent": gone.who()}).to_string());
        }
    }

    /// Handles a message agent `id` sent: a session message for the visitor, pause/resume, or
    /// remote control and guidance (`trusted`: the group's trusted domains, for `nav`).
    /// `Ok` holds the frames to send back to this agent only (refusals); `Err` (the agent socket
    /// is closed with it) is an invalid message.
    pub fn agent_message(
        &self,
        id: u64,
        msg: &AgentMsg,
        trusted: &[String],
    ) -> Result<Vec<String>, String> {
        let mut g = self.lock();
        if g.ended {
            return Ok(Vec::new());
        }
        let Some((who, num)) = g
            .agents
            .iter()
            .find(|a| a.id == id)
            .map(|a| (a.who(), a.num))
        else {
            return Ok(Vec::new());
        };
        let mut replies = Vec::new();
        match msg {
            AgentMsg::Msg { name, data } => {
                check_message(name, &data.to_string())
                    .map_err(|e| format!("session message refused: {e}"))?;
                let m = json!({"t": "msg", "name": name, "data": data}).to_string();
                g.send_or_keep(m);
            }
            AgentMsg::Pause { paused } => {
                let before = (g.status(), g.url.clone(), g.title.clone());
                g.paused = *paused;
                let m = json!({"t": "pause", "paused": paused}).to_string();
                // A visitor between pages learns it from the welcome (`paused`).
                if g.visitor.is_some() && !g.leaving {
                    g.send_visitor(VisitorCtl::Send(m));
                }
                self.publish_session_if_changed(&mut g, before);
            }
            AgentMsg::Rc { on } => {
                if !on && g.rc != "off" {
                    g.rc = "off";
                    let f = g.rc_frame();
                    self.publish(&mut g, f.into());
                }
                g.send_or_keep(json!({"t": "rc", "on": on, "agent": who}).to_string());
            }
            AgentMsg::A11y { on } => {
                if g.a11y != *on {
                    g.a11y = *on;
                    let s = self.session_json(&g);
                    self.publish(&mut g, s.into());
                }
                g.send_a11y(json!({"t": "a11y", "on": on, "agent": who}).to_string());
            }
            AgentMsg::Act(a) => {
                remote::check_act(a)?;
                let refusal = if g.rc != "accepted" {
                    Some("notenabled")
                } else if !g.visitor_present() {
                    Some("missing")
                } else {
                    None
                };
                match refusal {
                    Some(reason) => replies.push(
                        json!({"t": "actres", "id": a.id, "num": num, "ok": false, "reason": reason})
                            .to_string(),
                    ),
                    None => {
                        let mut f = json!({"t": "act", "id": a.id, "type": a.kind, "gid": a.gid});
                        let fields = [
                            ("value", a.value.as_ref().map(|v| json!(v))),
                            ("key", a.key.as_ref().map(|v| json!(v))),
                            ("x", a.x.map(|v| json!(v))),
                            ("y", a.y.map(|v| json!(v))),
                        ];
                        for (k, v) in fields {
                            if let Some(v) = v {
                                f[k] = v;
                            }
                        }
                        f["agent"] = who;
                        g.send_visitor(VisitorCtl::Send(f.to_string()));
                    }
                }
            }
            AgentMsg::Nav {
                url,
                confirm,
                open,
                link,
            } => match remote::check_nav(url, &g.url, trusted) {
                Ok(()) => g.send_or_keep(
                    json!({"t": "nav", "url": url, "confirm": confirm, "open": open,
                           "link": link, "agent": who})
                    .to_string(),
                ),
                Err(r) => {
                    if url.len() > remote::MAX_NAV_URL {
                        return Err("nav: url too long".into());
                    }
                    replies.push(
                        json!({"t": "navres", "num": num, "ok": false, "url": url,
                               "reason": r.as_str()})
                        .to_string(),
                    );
                }
            },
            AgentMsg::Gesture { kind, gid } => {
                remote::check_gesture(kind, *gid)?;
                if g.visitor_present() {
                    let mut f = json!({"t": "gesture", "kind": kind, "agent": who});
                    if let (Some(gid), "outline") = (gid, kind.as_str()) {
                        f["gid"] = json!(gid);
                    }
                    g.send_visitor(VisitorCtl::Send(f.to_string()));
                }
            }
            AgentMsg::Ptr { x, y } => {
                remote::check_point(*x, *y)?;
                if g.visitor_present() {
                    let y = if x.is_some() { *y } else { None };
                    let f = json!({"t": "ptr", "x": x, "y": y, "agent": {"num": num}});
                    g.send_visitor(VisitorCtl::Send(f.to_string()));
                }
            }
            AgentMsg::Snapreq | AgentMsg::End => {}
        }
        Ok(replies)
    }

    /// The current `session` and `snap` frames for agent `id`, and the publication counter they
    /// correspond to.
    pub fn resync(&self, id: u64) -> (Vec<Utf8Bytes>, u64) {
        let g = self.lock();
        (self.snapshot_frames(&g, id), g.n)
    }

    /// Current public status.
    pub fn status(&self) -> SessionStatus {
        let g = self.lock();
        let has = g.mirror.has_snapshot();
        SessionStatus {
            key: self.key.clone(),
            state: g.status().as_str(),
            url: g.url.clone(),
            agents: g.agents.len(),
            page: has.then(|| g.mirror.page.clone()),
            seq: has.then_some(g.mirror.seq),
        }
    }

    /// True once the session has ended.
    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// True while the visitor has the session paused.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Marks the session ended, tells everyone, closes its topic. Returns false if it already was.
    fn finish(&self, reason: EndReason) -> bool {
        let mut g = self.lock();
        if g.ended {
            return false;
        }
        g.ended = true;
        g.rc = "off";
        g.a11y = false;
        let ended = json!({"t": "ended", "reason": reason.as_str()}).to_string();
        self.publish(&mut g, ended.into());
        match reason {
            EndReason::Visitor => {}
            EndReason::Agent | EndReason::Timeout => g.send_visitor(VisitorCtl::End(reason)),
        }
        g.visitor = None;
        self.bus.close(&self.sid);
        true
    }

    /// True when the visitor has been gone for at least `away_ttl`, or no agent has been there
    /// for `idle_ttl`.
    fn expired(&self, now: Instant, away_ttl: Duration, idle_ttl: Duration) -> bool {
        let g = self.lock();
        let away = g.visitor.is_none()
            && g.away_since
                .is_some_and(|t| now.duration_since(t) >= away_ttl);
        let idle = g
            .idle_since
            .is_some_and(|t| now.duration_since(t) >= idle_ttl);
        away || idle
    }

    fn drop_visitor(&self) -> bool {
        let g = self.lock();
        match &g.visitor {
            Some(v) => v.tx.try_send(VisitorCtl::Drop).is_ok(),
            None => false,
        }
    }
}

/// A page id is what `hello` and `snap` name the page load by: non-empty and short.
fn valid_page_id(page: &str) -> bool {
    !page.is_empty() && page.len() <= 128
}

/// Keeps an agent display name printable and short.
fn clean_name(name: &str) -> String {
    let n: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let n = n.trim();
    if n.is_empty() {
        "Agent".to_string()
    } else {
        n.to_string()
    }
}

/// A visitor socket attached to a session.
#[derive(Debug)]
pub struct Opened {
    /// The session.
    pub session: Arc<Session>,
    /// This socket's connection id (identifies it to the session).
    pub conn: u64,
    /// The `welcome` message to send.
    pub welcome: String,
    /// True when an existing session was resumed.
    pub resumed: bool,
}

#[derive(Default)]
struct Maps {
    by_sid: HashMap<String, Arc<Session>>,
    /// Live sessions per (group, key), oldest first.
    by_key: HashMap<(String, String), Vec<Arc<Session>>>,
    /// Ended sessions' ids, why and when they ended (see [`TOMBSTONE_TTL`]).
    ended: HashMap<String, (EndReason, Instant)>,
}

/// All live sessions.
pub struct Registry {
    config: Arc<Config>,
    bus: Arc<dyn Bus>,
    away_ttl: Duration,
    idle_ttl: Duration,
    maps: Mutex<Maps>,
    next_id: AtomicU64,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("sessions", &self.lock().by_sid.len())
            .field("away_ttl", &self.away_ttl)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new(config: Arc<Config>, bus: Arc<dyn Bus>, away_ttl: Duration) -> Self {
        Registry {
            config,
            bus,
            away_ttl,
            idle_ttl: IDLE_TTL,
            maps: Mutex::new(Maps::default()),
            next_id: AtomicU64::new(1),
        }
    }

    /// The whole configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration of group `id`, if configured.
    pub fn group_config(&self, id: &str) -> Option<&crate::config::GroupConfig> {
        self.config.group(id)
    }

    /// Sets how long a session may go without any agent.
    pub fn with_idle_ttl(mut self, idle_ttl: Duration) -> Self {
        self.idle_ttl = idle_ttl;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh id for a connection or an agent.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Handles a visitor `hello`: resumes the session named by `sid` or creates one.
    pub fn open_visitor(
        &self,
        hello: &Hello,
        tx: mpsc::Sender<VisitorCtl>,
    ) -> Result<Opened, OpenError> {
        if hello.v != glance_cobrowse::protocol::VERSION {
            return Err(OpenError::Protocol(format!(
                "unsupported protocol version {}",
                hello.v
            )));
        }
        if !valid_page_id(&hello.page) {
            return Err(OpenError::Protocol("invalid page id".into()));
        }
        let group = self
            .config
            .group(&hello.group)
            .ok_or_else(|| OpenError::UnknownGroup(hello.group.clone()))?;
        if let Some(k) = &hello.key {
            if !valid_session_key(k) {
                return Err(OpenError::InvalidKey);
            }
        }
        let conn = self.next_id();
        let mut maps = self.lock();
        if let Some(sid) = &hello.sid {
            if let Some((reason, _)) = maps.ended.get(sid) {
                return Err(OpenError::Ended(*reason));
            }
            if let Some(s) = maps.by_sid.get(sid).filter(|s| s.group == hello.group) {
                if let Some(welcome) = s.attach(conn, tx.clone(), hello, &group.masks, false) {
                    return Ok(Opened {
                        session: s.clone(),
                        conn,
                        welcome,
                        resumed: true,
                    });
                }
            }
        }
        let live = |maps: &Maps, key: &str| {
            maps.by_key
                .get(&(hello.group.clone(), key.to_string()))
                .is_some_and(|v| v.iter().any(|s| !s.is_ended()))
        };
        let key = match &hello.key {
            Some(k) => {
                if !group.allow_duplicate_keys && live(&maps, k) {
                    return Err(OpenError::DupKey(k.clone()));
                }
                k.clone()
            }
            None => {
                let mut found = None;
                'digits: for digits in 4..=6u32 {
                    let low = 10u64.pow(digits - 1);
                    for _ in 0..32 {
                        let k = (low + random_u64() % (low * 9)).to_string();
                        if !live(&maps, &k) {
                            found = Some(k);
                            break 'digits;
                        }
                    }
                }
                found.ok_or(OpenError::NoKeyAvailable)?
            }
        };
        let session = Arc::new(Session {
            group: hello.group.clone(),
            key: key.clone(),
            sid: random_hex128(),
            bus: self.bus.clone(),
            inner: Mutex::new(Inner {
                mirror: Mirror::new(),
                url: String::new(),
                title: String::new(),
                ua: String::new(),
                paused: false,
                away: false,
                ended: false,
                visitor: None,
                away_since: None,
                agents: Vec::new(),
                next_agent_num: 0,
                n: 0,
                resync_pending: None,
                snap_failures: 0,
                userstate: BTreeMap::new(),
                to_visitor: VecDeque::new(),
                idle_since: Some(Instant::now()),
                leaving: false,
                rc: "off",
                vptr: None,
                a11y: false,
            }),
        });
        let welcome = session
            .attach(conn, tx, hello, &group.masks, true)
            .ok_or(OpenError::NoKeyAvailable)?;
        maps.by_sid.insert(session.sid.clone(), session.clone());
        maps.by_key
            .entry((hello.group.clone(), key))
            .or_default()
            .push(session.clone());
        Ok(Opened {
            session,
            conn,
            welcome,
            resumed: false,
        })
    }

    /// The live session `sid` of `group` whose key is `key` (a cross-domain hand-off proves both).
    pub fn by_sid(&self, group: &str, key: &str, sid: &str) -> Option<Arc<Session>> {
        let maps = self.lock();
        maps.by_sid
            .get(sid)
            .filter(|s| s.group == group && s.key == key && !s.is_ended())
            .cloned()
    }

    /// The most recent live session with this key (in `group`, or in any group).
    pub fn find(&self, group: Option<&str>, key: &str) -> Option<Arc<Session>> {
        let maps = self.lock();
        let mut best: Option<&Arc<Session>> = None;
        for ((g, k), list) in &maps.by_key {
            if k != key || group.is_some_and(|want| want != g) {
                continue;
            }
            // Later sessions get later conn ids; prefer the newest (last in the list).
            if let Some(s) = list.iter().rev().find(|s| !s.is_ended()) {
                best = Some(s);
            }
        }
        best.cloned()
    }

    /// Ends `session` for `reason` and forgets it.
    pub fn end(&self, session: &Arc<Session>, reason: EndReason) {
        let first = session.finish(reason);
        let mut maps = self.lock();
        maps.by_sid.remove(&session.sid);
        maps.ended
            .entry(session.sid.clone())
            .or_insert((reason, Instant::now()));
        let k = (session.group.clone(), session.key.clone());
        if let Some(list) = maps.by_key.get_mut(&k) {
            list.retain(|s| !Arc::ptr_eq(s, session));
            if list.is_empty() {
                maps.by_key.remove(&k);
            }
        }
        if first {
            eprintln!(
                "session {}/{} ended ({})",
                session.group,
                session.key,
                reason.as_str()
            );
        }
    }

    /// Ends every session whose visitor has been gone for the away TTL or that had no agent for
    /// the idle TTL; forgets old tombstones.
    pub fn sweep(&self, now: Instant) {
        let expired: Vec<Arc<Session>> = {
            let mut maps = self.lock();
            maps.ended
                .retain(|_, (_, t)| now.duration_since(*t) < TOMBSTONE_TTL);
            maps.by_sid
                .values()
                .filter(|s| s.expired(now, self.away_ttl, self.idle_ttl))
                .cloned()
                .collect()
        };
        for s in expired {
            self.end(&s, EndReason::Timeout);
        }
    }

    /// Abruptly drops the visitor socket of the session `key` (test hook).
    pub fn drop_visitor(&self, key: &str) -> bool {
        self.find(None, key).is_some_and(|s| s.drop_visitor())
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().by_sid.len()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to a clock-and-counter mix (never expected on a server).
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut x = (t as u64) ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        for byte in b.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *byte = x as u8;
        }
    }
    b
}

fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

pub(crate) fn random_hex128() -> String {
    random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Delivery, InProcessBus};
    use futures_util::StreamExt;
    use glance_cobrowse::protocol::parse_visitor;

    fn registry(capacity: usize) -> Registry {
        let cfg = Config::parse("[groups.1]\nmasks = [\".m\"]\n").expect("config");
        Registry::new(
            Arc::new(cfg),
            Arc::new(InProcessBus::new(capacity)),
            AWAY_TTL,
        )
    }

    fn hello(key: Option<&str>) -> Hello {
        Hello {
            v: 1,
            group: "1".into(),
            site: None,
            key: key.map(str::to_string),
            sid: None,
            page: "p".into(),
            url: "http://x/".into(),
            title: "T".into(),
            ua: "UA".into(),
            paused: false,
            visitorid: None,
        }
    }

    /// Joins agent `id` named `name`; returns the join and its direct queue.
    fn join(s: &Session, name: &str, id: u64) -> (AgentJoin, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(AGENT_QUEUE);
        let j = s
            .join_agent(Arc::new(Agent::named(name)), id, tx)
            .expect("join");
        (j, rx)
    }

    fn feed(s: &Session, conn: u64, text: &str) -> VisitorOutcome {
        let msg = parse_visitor(text).expect("valid message");
        s.visitor_message(conn, &msg, &Utf8Bytes::from(text))
    }

    #[tokio::test]
    async fn a_lagging_agent_is_resynced_from_the_mirror() {
        let reg = registry(2);
        let (tx, _rx) = mpsc::channel(8);
        let o = reg.open_visitor(&hello(None), tx).expect("open");
        assert_eq!(o.session.key.len(), 4);
        let snap = r#"{"t":"snap","page":"p","seq":1,"nodes":[[1,1,1,"html",[]],[1,2,3,"a"]]}"#;
        assert!(matches!(
            feed(&o.session, o.conn, snap),
            VisitorOutcome::Ack { seq: 1, .. }
        ));
        let (join, _arx) = join(&o.session, "A", 1);
        assert_eq!(join.frames.len(), 3, "session, agents, snap");
        let mut sub = join.sub;
        for seq in 2..=6 {
            let d = format!(r#"{{"t":"diff","page":"p","seq":{seq},"ops":[["x",2,"v{seq}"]]}}"#);
            assert!(matches!(
                feed(&o.session, o.conn, &d),
                VisitorOutcome::Ack { .. }
            ));
        }
        assert!(matches!(sub.next().await, Some(Delivery::Lagged(_))));
        let (frames, floor) = o.session.resync(1);
        assert!(frames[0]
            .as_str()
            .contains(r#""you":{"name":"A","num":1,"username":"A"}"#));
        assert!(frames[2].as_str().contains(r#""seq":6"#));
        assert!(frames[2].as_str().contains(r#""v6""#));
        // What is still buffered is older than the snapshot and gets skipped.
        while let Ok(Some(Delivery::Msg(m))) =
            tokio::time::timeout(std::time::Duration::from_millis(20), sub.next()).await
        {
            assert!(m.n <= floor);
        }
    }

    #[test]
    fn a_replaced_socket_is_stale() {
        let reg = registry(8);
        let (tx1, mut rx1) = mpsc::channel(8);
        let o1 = reg.open_visitor(&hello(Some("K")), tx1).expect("open");
        let mut h = hello(None);
        h.sid = Some(o1.session.sid.clone());
        let (tx2, _rx2) = mpsc::channel(8);
        let o2 = reg.open_visitor(&h, tx2).expect("resume");
        assert!(o2.resumed);
        assert!(Arc::ptr_eq(&o1.session, &o2.session));
        assert!(matches!(rx1.try_recv(), Ok(VisitorCtl::Replaced)));
        assert_eq!(
            feed(&o1.session, o1.conn, r#"{"t":"bye"}"#),
            VisitorOutcome::Stale
        );
        assert_eq!(
            feed(&o2.session, o2.conn, r#"{"t":"bye"}"#),
            VisitorOutcome::Nothing
        );
        assert_eq!(o2.session.status().state, "away");
        reg.end(&o2.session, EndReason::Visitor);
        assert!(reg.is_empty());
        assert!(reg.find(None, "K").is_none());
    }

    fn sent(rx: &mut mpsc::Receiver<VisitorCtl>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(c) = rx.try_recv() {
            if let VisitorCtl::Send(s) = c {
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn messages_and_user_state_travel_between_visitor_and_agents() {
        let reg = registry(64);
        let (tx, mut rx) = mpsc::channel(64);
        let o = reg.open_visitor(&hello(Some("MSG")), tx).expect("open");
        let s = &o.session;
        assert_eq!(
            feed(
                s,
                o.conn,
                r#"{"t":"userstate","name":"step","value":"cart"}"#
            ),
            VisitorOutcome::Nothing
        );
        let (join, _arx) = join(s, "A", 7);
        let frames: Vec<&str> = join.frames.iter().map(|f| f.as_str()).collect();
        assert!(
            frames.contains(&r#"{"name":"step","t":"userstate","value":"cart"}"#),
            "{frames:?}"
        );
        let _ = sent(&mut rx);
        // Visitor -> agents: published; non-objects and bad names close the socket.
        let n = s.lock().n;
        assert_eq!(
            feed(
                s,
                o.conn,
                r#"{"t":"msg","name":"hello","data":{"foo":123}}"#
            ),
            VisitorOutcome::Nothing
        );
        assert_eq!(s.lock().n, n + 1);
        assert!(matches!(
            feed(s, o.conn, r#"{"t":"msg","name":"hello","data":[1]}"#),
            VisitorOutcome::Reject(r) if r.contains("must be an object")
        ));
        // Agent -> visitor.
        let m = AgentMsg::Msg {
            name: "hi".into(),
            data: json!({"x": 1}),
        };
        s.agent_message(7, &m, &[]).expect("relay");
        assert_eq!(
            sent(&mut rx),
            vec![r#"{"data":{"x":1},"name":"hi","t":"msg"}"#]
        );
        let bad = AgentMsg::Msg {
            name: "hi".into(),
            data: json!("text"),
        };
        assert!(s
            .agent_message(7, &bad, &[])
            .unwrap_err()
            .contains("must be an object"));
        // Removing a user-state entry.
        feed(s, o.conn, r#"{"t":"userstate","name":"step","value":null}"#);
        assert!(s.lock().userstate.is_empty());
    }

    #[test]
    fn agent_messages_wait_for_the_next_page_and_pause_is_kept_for_it() {
        let reg = registry(64);
        let (tx, _rx) = mpsc::channel(64);
        let o = reg.open_visitor(&hello(Some("NAV")), tx).expect("open");
        assert_eq!(
            feed(&o.session, o.conn, r#"{"t":"bye"}"#),
            VisitorOutcome::Nothing
        );
        let m = AgentMsg::Msg {
            name: "later".into(),
            data: json!({}),
        };
        let (_j, _arx) = join(&o.session, "A", 3);
        o.session.agent_message(3, &m, &[]).expect("kept");
        o.session
            .agent_message(3, &AgentMsg::Pause { paused: true }, &[])
            .expect("pause");
        assert_eq!(o.session.status().state, "away");
        let mut h = hello(None);
        h.sid = Some(o.session.sid.clone());
        h.page = "p2".into();
        let (tx2, mut rx2) = mpsc::channel(64);
        let o2 = reg.open_visitor(&h, tx2).expect("resume");
        let w: serde_json::Value = serde_json::from_str(&o2.welcome).expect("json");
        assert_eq!(w["paused"], true, "the agent paused meanwhile: {w}");
        assert_eq!(w["takeover"], false, "the old page had said bye");
        assert_eq!(
            sent(&mut rx2),
            vec![r#"{"data":{},"name":"later","t":"msg"}"#]
        );
    }

    #[test]
    fn a_second_live_page_takes_over() {
        let reg = registry(64);
        let (tx, _rx) = mpsc::channel(64);
        let o = reg.open_visitor(&hello(Some("TAB")), tx).expect("open");
        let mut h = hello(None);
        h.sid = Some(o.session.sid.clone());
        let (tx2, _rx2) = mpsc::channel(64);
        let o2 = reg.open_visitor(&h, tx2).expect("resume");
        let w: serde_json::Value = serde_json::from_str(&o2.welcome).expect("json");
        assert_eq!(w["takeover"], true);
    }

    #[test]
    fn idle_sessions_time_out_and_ended_sessions_are_remembered() {
        let cfg = Config::parse("[groups.1]\nmasks = []\n").expect("config");
        let reg = Registry::new(Arc::new(cfg), Arc::new(InProcessBus::new(8)), AWAY_TTL)
            .with_idle_ttl(Duration::from_secs(60));
        let (tx, mut rx) = mpsc::channel(8);
        let o = reg.open_visitor(&hello(Some("IDLE")), tx).expect("open");
        let t0 = Instant::now();
        reg.sweep(t0 + Duration::from_secs(30));
        assert_eq!(reg.len(), 1, "not idle long enough");
        // An agent present stops the clock; it restarts when the last one leaves.
        let (j, _arx) = join(&o.session, "A", 1);
        reg.sweep(t0 + Duration::from_secs(120));
        assert_eq!(reg.len(), 1, "an agent is there");
        drop(j);
        o.session.leave_agent(1);
        reg.sweep(Instant::now() + Duration::from_secs(61));
        assert!(reg.is_empty(), "idle for the timeout: ended");
        let mut got_end = false;
        while let Ok(c) = rx.try_recv() {
            got_end |= matches!(c, VisitorCtl::End(EndReason::Timeout));
        }
        assert!(got_end, "the visitor is told");
        // Its pages coming back are told it ended, not given a new session.
        let mut h = hello(Some("IDLE"));
        h.sid = Some(o.session.sid.clone());
        let (tx2, _rx2) = mpsc::channel(8);
        assert_eq!(
            reg.open_visitor(&h, tx2).unwrap_err(),
            OpenError::Ended(EndReason::Timeout)
        );
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  Ann\u{7}e "), "Anne");
        assert_eq!(clean_name(""), "Agent");
        assert_eq!(clean_name(&"x".repeat(100)).len(), MAX_NAME_CHARS);
    }

    #[test]
    fn sids_are_128_bit_hex() {
        let a = random_hex128();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex128());
    }
}
