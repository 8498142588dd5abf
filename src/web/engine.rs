//! The visitor session state machine: connect, hand-shake, snapshot, stream diffs, reconnect
//! with backoff and resend, pause, session messages and user state, tabs (standby, takeover,
//! election; see [`crate::tabs`]), end and cleanup. Events are queued while the state is
//! borrowed and delivered after, so a listener may call back into the engine safely.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use crate::json::{self, string_array, Obj};
use crate::messages::{check_message, check_state, UserState, MAX_QUEUED};
use crate::tabs::{claim_wins, end_reason, TabMsg, ADOPT_WAIT_MS, CLAIM_WAIT_MS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::control::{Overlay, PointerFeed};
use super::dom::{self, Batch, DomCapture};
use super::socket::{SnapStream, Socket};
use super::storage::Store;
use super::tabs::{visible, Tabs};
use super::timer::Timeout;
use super::wire::{self, ServerMsg};
use crate::capture::{Flat, Recorder};
use crate::config::Config;
use crate::protocol::{valid_session_key, VERSION};
use crate::rc::RemoteControl;
use crate::session::{handed_over, Backoff, Outbox, SessionInfo};

/// Largest amount of unacknowledged data kept for resending (then: fresh snapshot).
const OUTBOX_LIMIT: usize = 32 * 1024 * 1024;
const NO_AGENTS: &str = r#"{"count":0,"agentlist":[]}"#;
const END_MSG: &str = r#"{"t":"end"}"#;
const BYE_MSG: &str = r#"{"t":"bye"}"#;

/// Socket backlog (bytes) above which diffs are dropped, and below which a resync starts.
const HIGH_WATER: f64 = 8.0 * 1024.0 * 1024.0;
const LOW_WATER: f64 = 1024.0 * 1024.0;

/// Close code the server uses when a newer connection of the same session replaced ours.
const CLOSE_REPLACED: u16 = 4001;
/// Time budget of one snapshot slice (ms): well under the 50 ms long-task threshold.
const SLICE_MS: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Starting,
    Live,
    Reconnecting,
    /// In the session, but another tab is the active one: no socket, no capture.
    Standby,
}

/// This tab's claim while two tabs may be starting a session at once (see [`crate::tabs`]);
/// kept until the welcome, so that a tab claiming late still learns it lost.
#[derive(Debug)]
struct Election {
    at: f64,
    /// Another tab's claim won: wait for its session.
    yielded: bool,
    /// This tab won and is connecting.
    connecting: bool,
    _timer: Option<Timeout>,
}

/// A Rust callback handed to JS that takes one value.
type JsCallback = Closure<dyn FnMut(JsValue)>;

#[path = "remote.rs"]
mod remote;

/// Shared engine state.
pub struct Inner {
    me: Weak<RefCell<Inner>>,
    /// The loader's `emit(name, payload)`.
    emit: js_sys::Function,
    cfg: Config,
    store: Store,
    phase: Phase,
    /// True when this page continues a session started on an earlier page.
    continuing: bool,
    /// Set once `sessionstart`/`sessioncontinue` were emitted on this page.
    announced: bool,
    requested_key: Option<String>,
    info: Option<SessionInfo>,
    socket: Option<Socket>,
    capture: Option<DomCapture>,
    notify: Option<Closure<dyn FnMut()>>,
    recorder: Recorder,
    outbox: Outbox,
    backoff: Backoff,
    masks: Option<Vec<String>>,
    paused: bool,
    snapshotting: bool,
    /// The snapshot being written: compressed slice by slice while the page is walked.
    snap_stream: Option<SnapStream>,
    snapshot_again: bool,
    snapshot_failed: bool,
    /// The socket backlog passed [`HIGH_WATER`]; diffs are dropped until a resync.
    congested: bool,
    congestion_timer: Option<Timeout>,
    /// The last `agents` event payload (JSON).
    agents: String,
    reconnect_timer: Option<Timeout>,
    /// The first snapshot of a connection, due in a task of its own.
    start_timer: Option<Timeout>,
    /// The recorder's warm-up run (once per page; kept so that it is not cancelled).
    warm_timer: Option<Timeout>,
    /// The running snapshot's chunk callback and its promise's two reactions.
    snapshot_reactions: Option<[JsCallback; 3]>,
    events: Vec<(&'static str, String)>,
    /// This tab's id (tab messages).
    tab: String,
    tabs: Option<Tabs>,
    election: Option<Election>,
    /// This tab is the session's active tab (it emitted `focus`, or started the session).
    focused: bool,
    /// Coming back from standby: `focus` is due with the welcome.
    refocus: bool,
    /// The session's user state: name -> JSON value.
    userstate: UserState,
    /// User-state names set while no socket could take them.
    state_dirty: Vec<String>,
    /// Session messages waiting for the socket (bounded).
    queue: VecDeque<String>,
    /// The visitor paused or resumed while no socket could say so.
    pause_dirty: bool,
    /// `statereceived` was emitted on this page.
    stated: bool,
    /// Remote-control consent (see [`crate::rc`]).
    rc: RemoteControl,
    /// Accessibility features are on (an agent's `a11y`, or the welcome's).
    a11y: bool,
    /// The `accessibility` event was emitted on this page for the current state.
    a11y_told: bool,
    /// A navigation waiting for the visitor's `confirm` answer.
    pending_nav: Option<wire::Nav>,
    /// The agent's marks on the page (outline, pointers), once shown.
    overlay: Option<Overlay>,
    /// The visitor's pointer feed and its callback (while capturing).
    pointer_feed: Option<(PointerFeed, JsCallback)>,
    /// Work that runs page code, done once the state is released (see [`run`]).
    later: Vec<Box<dyn FnOnce()>>,
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inner").field("phase", &self.phase).finish()
    }
}

/// Runs `f` on the state, then delivers the events it queued and runs the work it deferred
/// (outside the borrow).
pub fn run<R>(rc: &Rc<RefCell<Inner>>, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
    let (r, events, emit, later) = {
        let mut inner = rc.try_borrow_mut().ok()?;
        let r = f(&mut inner);
        let events = core::mem::take(&mut inner.events);
        let emit = (!events.is_empty()).then(|| inner.emit.clone());
        (r, events, emit, core::mem::take(&mut inner.later))
    };
    deliver(events, emit, later);
    Some(r)
}

/// Calls `emit(name, payload)` for each queued event, then the deferred work. Not generic and
/// never inlined: one copy serves every instance of [`run`].
#[inline(never)]
fn deliver(
    events: Vec<(&'static str, String)>,
    emit: Option<js_sys::Function>,
    later: Vec<Box<dyn FnOnce()>>,
) {
    if let Some(emit) = emit {
        for (name, payload) in events {
            let js = js_sys::JSON::parse(&payload).unwrap_or(JsValue::NULL);
            let _ = emit.call2(&JsValue::NULL, &JsValue::from_str(name), &js);
        }
    }
    for f in later {
        f();
    }
}

/// Runs `f` on the engine behind `me` (if it still exists) and delivers the events it queued:
/// what every callback from JS (socket, capture, timers) does.
pub fn with_engine(me: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner)) {
    if let Some(rc) = me.upgrade() {
        run(&rc, f);
    }
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| {
            let d = (js_sys::Math::random() * 16.0) as u32;
            char::from_digit(d.min(15), 16).unwrap_or('0')
        })
        .collect()
}

fn location() -> (String, String, String) {
    let loc = super::window().map(|w| w.location());
    let get = |f: fn(&web_sys::Location) -> Result<String, JsValue>| {
        loc.as_ref().and_then(|l| f(l).ok()).unwrap_or_default()
    };
    (
        get(web_sys::Location::protocol),
        get(web_sys::Location::host),
        get(web_sys::Location::href),
    )
}

/// `location.hostname` and whether the page is served over https.
fn page_host() -> (String, bool) {
    let loc = web_sys::window().map(|w| w.location());
    let host = loc.as_ref().and_then(|l| l.hostname().ok());
    let proto = loc.as_ref().and_then(|l| l.protocol().ok());
    (host.unwrap_or_default(), proto.as_deref() == Some("https:"))
}

/// The engine handle kept by the exported `Engine`.
pub struct Handle {
    pub rc: Rc<RefCell<Inner>>,
}

impl Handle {
    /// Creates the engine; continues a stored session of this group.
    pub fn new(cfg: Config, emit: js_sys::Function) -> Handle {
        let (host, https) = page_host();
        let store = Store::new(&cfg, &host, https);
        let rc = Rc::new_cyclic(|me| {
            RefCell::new(Inner {
                me: me.clone(),
                emit,
                paused: cfg.startpaused,
                store,
                cfg,
                phase: Phase::Idle,
                continuing: false,
                announced: false,
                requested_key: None,
                info: None,
                socket: None,
                capture: None,
                notify: None,
                recorder: Recorder::new(["p-", &random_hex(12)].concat()),
                outbox: Outbox::new(OUTBOX_LIMIT),
                backoff: Backoff::default(),
                masks: None,
                snapshotting: false,
                snap_stream: None,
                snapshot_again: false,
                snapshot_failed: false,
                congested: false,
                congestion_timer: None,
                agents: NO_AGENTS.to_string(),
                reconnect_timer: None,
                warm_timer: None,
                start_timer: None,
                snapshot_reactions: None,
                events: Vec::new(),
                tab: random_hex(12),
                tabs: None,
                election: None,
                focused: false,
                refocus: false,
                userstate: UserState::default(),
                state_dirty: Vec::new(),
                queue: VecDeque::new(),
                pause_dirty: false,
                stated: false,
                rc: RemoteControl::default(),
                a11y: false,
                a11y_told: false,
                pending_nav: None,
                overlay: None,
                pointer_feed: None,
                later: Vec::new(),
            })
        });
        let h = Handle { rc };
        h.run(|i| {
            // In a same-origin frame of a page with its own engine, that engine captures this
            // frame: continuing the session here would take the session over from the page.
            if dom::inside_engine_page().unwrap_or(false) {
                return;
            }
            // A session handed over from another domain is stored first (a helper page does
            // only that); the stored session is then continued as usual.
            if let Some(info) = handed_over(i.cfg.handoff.as_deref(), &i.cfg.groupid) {
                for issue in i.store.save(&info) {
                    i.error("storage", &issue.to_string());
                }
            }
            if i.cfg.helper {
                return;
            }
            i.listen_tabs();
            i.continue_stored();
        });
        h
    }

    /// Runs `f` with the state and delivers queued events.
    pub fn run<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        run(&self.rc, f)
    }
}

impl Inner {
    fn event(&mut self, name: &'static str, payload: String) {
        self.events.push((name, payload));
    }

    /// Runs `f` once the state is released (it may run page code that calls the engine).
    fn defer(&mut self, f: Box<dyn FnOnce()>) {
        self.later.push(f);
    }

    fn error(&mut self, code: &str, msg: &str) {
        let payload = Obj::new().str("code", code).str("msg", msg).finish();
        self.event("error", payload);
    }

    /// Stores the session for the next page; storage problems become `error` `storage` events
    /// (each once per page) and the session keeps running here.
    fn persist(&mut self) {
        let Some(info) = &self.info else { return };
        for issue in self.store.save(info) {
            self.error("storage", &issue.to_string());
        }
    }

    /// Whether a session is running on this page.
    pub fn in_session(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// `getSessionState()` as JSON (`null` outside a session).
    pub fn session_state(&self) -> String {
        match &self.info {
            Some(info) if self.phase != Phase::Idle => {
                let mut state = Obj::new();
                for (k, v) in self.userstate.iter() {
                    state = state.raw(k, v);
                }
                Obj::new()
                    .str("sessionKey", &info.key)
                    .str("groupid", &info.group)
                    .bool("paused", self.paused)
                    .bool("connected", self.phase == Phase::Live)
                    .bool("active", self.phase != Phase::Standby)
                    .bool("rc", self.rc.enabled())
                    .bool("accessibility", self.a11y)
                    .raw("agents", &self.agents)
                    .raw("userstate", &state.finish())
                    .finish()
            }
            _ => "null".into(),
        }
    }

    /// `getUserState(name)`: the JSON value, if set.
    pub fn user_state(&self, name: &str) -> Option<String> {
        self.userstate.get(name).map(str::to_string)
    }

    /// Listens to the other tabs of the site and to what makes this tab the active one.
    fn listen_tabs(&mut self) {
        let (m1, m2, m3) = (self.me.clone(), self.me.clone(), self.me.clone());
        self.tabs = Some(Tabs::new(
            &self.cfg.groupid,
            move |text: String| with_engine(&m1, |i| i.on_tab(&text)),
            move || with_engine(&m2, |i| i.activate()),
            move || {
                with_engine(&m3, |i| {
                    if i.phase != Phase::Idle && i.store.load(&i.cfg.groupid).is_none() {
                        i.end_with("visitor", false);
                    }
                })
            },
        ));
    }

    fn post(&self, msg: TabMsg) {
        if let Some(t) = &self.tabs {
            t.post(&msg);
        }
    }

    fn sid(&self) -> Option<&str> {
        self.info.as_ref().map(|i| i.sid.as_str())
    }

    /// Continues the stored session of this group, if any: this tab connects when it is visible,
    /// and waits in standby when it is a background tab.
    fn continue_stored(&mut self) {
        let Some(info) = self.store.load(&self.cfg.groupid) else {
            return;
        };
        self.paused = info.paused;
        let key = info.key.clone();
        self.info = Some(info);
        self.continuing = true;
        if visible() {
            self.phase = Phase::Starting;
            self.connect();
        } else {
            self.phase = Phase::Standby;
            self.announced = true;
            self.event(
                "sessioncontinue",
                Obj::new().str("sessionKey", &key).finish(),
            );
        }
    }

    /// Focus, visibility or user input: a standby tab takes the session over; an idle tab picks
    /// up a session another tab (maybe on another subdomain) has stored.
    pub fn activate(&mut self) {
        match self.phase {
            Phase::Standby => {
                self.continuing = true;
                self.refocus = true;
                self.phase = Phase::Starting;
                self.connect();
            }
            Phase::Idle if self.election.is_none() => self.continue_stored(),
            _ => {}
        }
    }

    /// A message from another tab.
    fn on_tab(&mut self, text: &str) {
        let Some(msg) = wire::tab_msg(text) else {
            return;
        };
        let ours = |i: &Inner, sid: &str| i.phase != Phase::Idle && i.sid() == Some(sid);
        match msg {
            TabMsg::Claim { tab, at } => {
                if let Some(e) = &mut self.election {
                    if e.yielded {
                        // Waiting for the winner's session.
                    } else if !e.connecting && claim_wins((at, &tab), (e.at, &self.tab)) {
                        // The other tab starts the session; this one joins it.
                        e.yielded = true;
                        let me = self.me.clone();
                        e._timer = Timeout::new(ADOPT_WAIT_MS, move || {
                            with_engine(&me, |i| i.election_over())
                        });
                    } else {
                        // This tab wins (or already connects): tell the late claimant.
                        let at = if e.connecting { 0.0 } else { e.at };
                        let tab = self.tab.clone();
                        self.post(TabMsg::Claim { tab, at });
                    }
                } else if self.phase != Phase::Idle {
                    if let Some(info) = &self.info {
                        self.post(TabMsg::Started {
                            tab: self.tab.clone(),
                            info: info.encode(),
                        });
                    }
                }
            }
            TabMsg::Started { info, .. } => {
                let Some(info) = SessionInfo::decode(&info).filter(|i| i.group == self.cfg.groupid)
                else {
                    return;
                };
                let other_key = self.election.is_some()
                    && self.requested_key.as_ref().is_some_and(|k| *k != info.key);
                if self.election.as_ref().is_some_and(|e| e.connecting) || other_key {
                    // Connecting already, or asked for another key: this tab starts its own.
                    return;
                }
                let asked = self.election.take().is_some();
                if asked || self.phase == Phase::Idle {
                    self.join_standby(info, asked);
                }
            }
            TabMsg::Active { tab, sid } => {
                let live = matches!(
                    self.phase,
                    Phase::Live | Phase::Starting | Phase::Reconnecting
                );
                if tab != self.tab && live && ours(self, &sid) {
                    self.go_standby();
                }
            }
            TabMsg::End { sid, reason } => {
                if ours(self, &sid) {
                    if reason == "visitor" {
                        // Ended in a tab without a socket: this one tells the server.
                        self.send_text(END_MSG);
                    }
                    self.end_with(end_reason(Some(&reason)), false);
                }
            }
            TabMsg::Pause { sid, paused } => {
                if ours(self, &sid) && paused != self.paused {
                    self.apply_pause(paused, false);
                }
            }
            TabMsg::Relay { sid, line } => {
                if ours(self, &sid) && self.phase == Phase::Live {
                    self.send_text(&line);
                }
            }
        }
    }

    /// Joins a session another tab has, without taking it over (`started`: this tab asked for a
    /// session and gets that one).
    fn join_standby(&mut self, info: SessionInfo, started: bool) {
        let key = info.key.clone();
        self.paused = info.paused;
        self.info = Some(info);
        self.phase = Phase::Standby;
        self.announced = true;
        self.continuing = true;
        self.focused = false;
        let payload = Obj::new().str("sessionKey", &key).finish();
        if started {
            self.event("sessionstart", payload.clone());
        }
        self.event("sessioncontinue", payload);
    }

    /// The election wait is over: start the session (no other tab claimed first, or the winner
    /// never said it started).
    fn election_over(&mut self) {
        let Some(e) = &mut self.election else { return };
        if e.connecting || self.phase != Phase::Starting {
            return;
        }
        e.connecting = true;
        e.yielded = false;
        e._timer = None;
        self.connect();
    }

    /// Another tab became the active one: stop capturing and streaming here, keep the session.
    fn go_standby(&mut self) {
        if matches!(self.phase, Phase::Idle | Phase::Standby) {
            return;
        }
        self.release();
        self.phase = Phase::Standby;
        if core::mem::take(&mut self.focused) {
            self.event("blur", "{}".into());
        }
    }

    /// Stops the socket, the capture and the timers of this page (the session itself goes on).
    fn release(&mut self) {
        self.stop_pointer_feed();
        self.drop_overlay();
        self.start_timer = None;
        if let Some(s) = self.snap_stream.take() {
            s.discard();
        }
        self.congestion_timer = None;
        self.congested = false;
        if let Some(c) = self.capture.take() {
            c.stop();
        }
        self.notify = None;
        self.socket = None;
        self.reconnect_timer = None;
        self.outbox.clear();
        self.backoff.reset();
    }

    /// Sends a message for the server now, through the live tab, or once connected.
    fn send_line(&mut self, line: String) {
        match self.phase {
            Phase::Live => {
                self.send_text(&line);
            }
            Phase::Standby => {
                if let Some(sid) = self.sid() {
                    let sid = sid.to_string();
                    self.post(TabMsg::Relay { sid, line });
                }
            }
            _ => {
                if self.queue.len() >= MAX_QUEUED {
                    self.queue.pop_front();
                }
                self.queue.push_back(line);
            }
        }
    }

    /// `sendSessionMessage(name, msg)`; `json` is `JSON.stringify(msg)`.
    pub fn send_message(&mut self, name: &str, json: &str) {
        let checked = check_message(name, json)
            .map_err(|e| e.to_string())
            .and_then(|_| match wire::parse_object(json) {
                Some(_) => Ok(()),
                None => Err("the message is not valid JSON".into()),
            });
        if let Err(e) = checked {
            return self.error("badparams", &format!("sendSessionMessage(\"{name}\"): {e}"));
        }
        if self.phase == Phase::Idle {
            return self.error(
                "badparams",
                &format!("sendSessionMessage(\"{name}\"): not in a session"),
            );
        }
        let line = Obj::new()
            .str("t", "msg")
            .str("name", name)
            .raw("data", json)
            .finish();
        self.send_line(line);
    }

    /// `setUserState(name, value)`; `json` is `JSON.stringify(value)` (`null` removes it).
    pub fn set_user_state(&mut self, name: &str, json: &str) {
        let known = self.userstate.contains(name);
        let checked = check_state(name, json, self.userstate.len(), known)
            .map_err(|e| e.to_string())
            .and_then(|_| match js_sys::JSON::parse(json) {
                Ok(_) => Ok(()),
                Err(_) => Err("the value is not valid JSON".into()),
            });
        if let Err(e) = checked {
            return self.error("badparams", &format!("setUserState(\"{name}\"): {e}"));
        }
        if self.phase == Phase::Idle {
            return self.error(
                "badparams",
                &format!("setUserState(\"{name}\"): not in a session"),
            );
        }
        self.userstate.set(name, json);
        if matches!(self.phase, Phase::Live | Phase::Standby) {
            self.send_line(state_line(name, json));
        } else if !self.state_dirty.iter().any(|n| n == name) {
            self.state_dirty.push(name.to_string());
        }
    }

    /// `startSession(params)`.
    pub fn start(&mut self, key: Option<String>) {
        if self.phase == Phase::Standby {
            return self.activate();
        }
        if self.phase != Phase::Idle || self.election.is_some() {
            return;
        }
        let key = key
            .filter(|k| !k.trim().is_empty())
            .or_else(|| self.cfg.visitorid.clone().filter(|v| !v.trim().is_empty()));
        if let Some(k) = &key {
            if !valid_session_key(k) {
                self.error(
                    "service",
                    "invalid session key: use 1 to 64 letters, digits, '-' or '_'",
                );
                return;
            }
        }
        self.continuing = false;
        self.announced = false;
        self.phase = Phase::Starting;
        self.event("sessionstarting", "{}".into());
        // Another tab of the site already has a session: this tab takes it over.
        let stored = self
            .store
            .load(&self.cfg.groupid)
            .filter(|s| key.as_ref().is_none_or(|k| *k == s.key));
        self.requested_key = key;
        if let Some(info) = stored {
            self.paused = info.paused;
            self.info = Some(info);
            return self.connect();
        }
        // Otherwise claim the start, so that two tabs starting at once end in one session.
        match &self.tabs {
            Some(t) if t.available() => {
                let at = js_sys::Date::now() + js_sys::Math::random();
                t.post(&TabMsg::Claim {
                    tab: self.tab.clone(),
                    at,
                });
                let me = self.me.clone();
                self.election = Some(Election {
                    at,
                    yielded: false,
                    connecting: false,
                    _timer: Timeout::new(CLAIM_WAIT_MS, move || {
                        with_engine(&me, |i| i.election_over())
                    }),
                });
            }
            _ => self.connect(),
        }
    }

    fn connect(&mut self) {
        // While the socket connects: compile the recorder (see `crate::warm`) in a task of its own.
        if self.warm_timer.is_none() {
            self.warm_timer = Timeout::new(0, || {
                let _ = crate::warm::run();
            });
        }
        let (protocol, host, _) = location();
        let url = self.cfg.visitor_socket_url(&protocol, &host);
        let me = self.me.clone();
        let on = move |f: Box<dyn FnOnce(&mut Inner)>| with_engine(&me, f);
        let (o1, o2, o3) = (on.clone(), on.clone(), on);
        let sock = Socket::connect(
            &url,
            move || o1(Box::new(|i: &mut Inner| i.on_open())),
            move |text| o2(Box::new(move |i: &mut Inner| i.on_message(&text))),
            move |code, reason| o3(Box::new(move |i: &mut Inner| i.on_close(code, reason))),
        );
        match sock {
            Ok(s) => self.socket = Some(s),
            Err(_) => self.on_close(1006, "could not open the socket".into()),
        }
    }

    fn on_open(&mut self) {
        let (_, _, href) = location();
        let doc = super::window().and_then(|w| w.document());
        let title = doc.map(|d| d.title()).unwrap_or_default();
        let ua = super::window()
            .and_then(|w| w.navigator().user_agent().ok())
            .unwrap_or_default();
        let key = self
            .info
            .as_ref()
            .map(|i| i.key.clone())
            .or_else(|| self.requested_key.clone());
        let hello = Obj::new()
            .str("t", "hello")
            .num("v", VERSION as f64)
            .str("group", &self.cfg.groupid)
            .str("site", &self.cfg.site)
            .opt_str("key", key.as_deref())
            .opt_str("sid", self.info.as_ref().map(|i| i.sid.as_str()))
            .str("page", self.recorder.page())
            .str("url", &href)
            .str("title", &title)
            .str("ua", &ua)
            .bool("paused", self.paused)
            .opt_str("visitorid", self.cfg.visitorid.as_deref())
            .finish();
        if let Some(s) = &self.socket {
            s.send(&hello);
        }
    }

    fn on_message(&mut self, text: &str) {
        let Some(msg) = wire::server_msg(text) else {
            return;
        };
        match msg {
            ServerMsg::Welcome {
                key,
                sid,
                masks,
                last,
                agents,
                paused,
                userstate,
                takeover,
                rc,
                a11y,
            } => {
                if self.on_welcome(key, sid, masks, agents) {
                    self.rc_welcome(rc);
                    self.set_a11y(a11y);
                    self.after_welcome(paused, userstate, takeover, last);
                }
            }
            ServerMsg::Rc(on, agent) => self.on_rc(on, &agent),
            ServerMsg::A11y(on) => self.set_a11y(on),
            ServerMsg::Act(act) => self.on_act(act),
            ServerMsg::Nav(nav) => self.on_nav(nav),
            ServerMsg::Gesture(kind, gid, agent) => self.on_gesture(&kind, gid, &agent),
            ServerMsg::Ptr(num, at) => self.on_ptr(num, at),
            ServerMsg::Msg(name, data) => {
                let payload = Obj::new().str("name", &name).raw("data", &data).finish();
                self.event("sessionmessage", payload);
            }
            ServerMsg::Pause(paused) => {
                if paused != self.paused {
                    self.apply_pause(paused, true);
                }
            }
            ServerMsg::Ack(page, seq) => {
                if page == self.recorder.page() {
                    self.outbox.ack(seq);
                }
            }
            ServerMsg::Agents(payload) => {
                self.agents = payload.clone();
                self.event("agents", payload);
            }
            ServerMsg::Snapreq => self.begin_snapshot(),
            ServerMsg::End(reason) => self.end_local(end_reason(reason.as_deref())),
            ServerMsg::Error(code, msg) => {
                self.error(&code, &msg);
                if self.phase == Phase::Starting && !self.continuing {
                    self.teardown();
                } else {
                    self.end_local("error");
                }
            }
        }
    }

    /// The first part of a welcome: masks checked, session stored, announced. False when the
    /// session ended instead (invalid masks).
    fn on_welcome(
        &mut self,
        key: String,
        sid: String,
        masks: Vec<String>,
        agents: Option<String>,
    ) -> bool {
        if self.masks.is_none() {
            match dom::invalid_selector(&string_array(&masks)) {
                Ok(i) if i < 0 => self.masks = Some(masks),
                Ok(i) => {
                    let bad = masks.get(i as usize).cloned().unwrap_or_default();
                    self.error(
                        "maskingerror",
                        &[
                            "invalid mask selector ",
                            &json::debug_quoted(&bad),
                            ": no page content is sent",
                        ]
                        .concat(),
                    );
                    if let Some(s) = &self.socket {
                        s.send(END_MSG);
                    }
                    self.end_local("error");
                    return false;
                }
                Err(_) => {
                    self.error("maskingerror", "mask selectors could not be checked");
                    self.end_local("error");
                    return false;
                }
            }
        }
        let info = SessionInfo {
            key: key.clone(),
            sid,
            group: self.cfg.groupid.clone(),
            paused: self.paused,
        };
        self.info = Some(info);
        let was_reconnecting = self.phase == Phase::Reconnecting;
        self.phase = Phase::Live;
        self.backoff.reset();
        self.reconnect_timer = None;
        if was_reconnecting {
            self.event("connection", Obj::new().str("status", "ok").finish());
        }
        if let Some(a) = agents {
            self.agents = a;
        }
        if !self.announced {
            self.announced = true;
            self.election = None;
            if !self.continuing {
                self.event("sessionstart", Obj::new().str("sessionKey", &key).finish());
            }
            self.event(
                "sessioncontinue",
                Obj::new().str("sessionKey", &key).finish(),
            );
            let a = self.agents.clone();
            self.event("agents", a);
            if self.paused {
                self.event("sessionpaused", Obj::new().bool("paused", true).finish());
            }
            if !self.continuing {
                // Tabs opened before the session join it (in standby).
                let info = self.info.as_ref().map(SessionInfo::encode);
                if let Some(info) = info {
                    let tab = self.tab.clone();
                    self.post(TabMsg::Started { tab, info });
                }
            }
        }
        // Stored for the next page; problems are reported after the start was announced.
        self.persist();
        true
    }

    /// The rest of a welcome: pause and user state reconciled with the server's, `statereceived`,
    /// `focus`, what waited for the socket, then the snapshot or the resend.
    fn after_welcome(
        &mut self,
        server_paused: Option<bool>,
        server_state: Vec<(String, String)>,
        takeover: bool,
        last: Option<(String, u64)>,
    ) {
        // Pause: the visitor's change made while disconnected wins, else the server's (an agent
        // may have paused or resumed meanwhile).
        if core::mem::take(&mut self.pause_dirty) {
            let m = pause_line(self.paused);
            self.send_text(&m);
        } else if let Some(p) = server_paused.filter(|p| *p != self.paused) {
            self.paused = p;
            if let Some(i) = &mut self.info {
                i.paused = p;
            }
            self.persist();
            if p {
                self.release_capture();
            }
            if let Some(sid) = self.sid().map(str::to_string) {
                self.post(TabMsg::Pause { sid, paused: p });
            }
            self.event("sessionpaused", Obj::new().bool("paused", p).finish());
        }
        // User state: the server's, then what was set here while disconnected.
        let mine: Vec<(String, Option<String>)> = self
            .state_dirty
            .drain(..)
            .map(|n| {
                let v = self.userstate.get(&n).map(str::to_string);
                (n, v)
            })
            .collect();
        self.userstate = UserState::from_pairs(server_state);
        for (name, value) in mine {
            let json = value.unwrap_or_else(|| "null".into());
            self.send_text(&state_line(&name, &json));
            self.userstate.set(&name, &json);
        }
        for line in core::mem::take(&mut self.queue) {
            self.send_text(&line);
        }
        if !core::mem::replace(&mut self.stated, true) {
            let state = self.session_state();
            self.event("statereceived", state);
        }
        if core::mem::take(&mut self.refocus) || takeover {
            self.event("focus", "{}".into());
        }
        self.focused = true;
        if let Some(sid) = self.sid().map(str::to_string) {
            let tab = self.tab.clone();
            self.post(TabMsg::Active { tab, sid });
        }
        if self.paused {
            return;
        }
        if self.capture.is_none() {
            // In a task of its own: the session's listeners (run from this task) and the
            // snapshot's first slice each get a task.
            let me = self.me.clone();
            self.start_timer = Timeout::new(0, move || with_engine(&me, |i| i.begin_snapshot()));
            return;
        }
        if self.snapshotting {
            return;
        }
        let resend = match &last {
            Some((page, seq)) if page == self.recorder.page() => self
                .outbox
                .after(*seq)
                .map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>()),
            _ => None,
        };
        match resend {
            Some(msgs) => {
                for m in msgs {
                    self.send_text(&m);
                }
            }
            None => self.begin_snapshot(),
        }
    }

    fn send_text(&self, text: &str) -> bool {
        match &self.socket {
            Some(s) if self.phase == Phase::Live => s.send(text),
            _ => false,
        }
    }

    fn ensure_capture(&mut self) -> bool {
        if self.capture.is_some() {
            return true;
        }
        let json = string_array(self.masks.as_deref().unwrap_or_default());
        let me = self.me.clone();
        let notify = Closure::<dyn FnMut()>::new(move || with_engine(&me, |i| i.flush()));
        match DomCapture::new(&json, notify.as_ref().unchecked_ref()) {
            Ok(c) => {
                self.capture = Some(c);
                self.notify = Some(notify);
                self.start_pointer_feed();
                true
            }
            Err(_) => {
                self.error("maskingerror", "the page could not be captured");
                false
            }
        }
    }

    /// Starts a (time-sliced) full snapshot; a second request while one runs repeats it after.
    /// Each walker slice is serialized as it arrives, so no single task holds the page long.
    fn begin_snapshot(&mut self) {
        if self.paused || self.masks.is_none() {
            return;
        }
        if self.snapshotting {
            self.snapshot_again = true;
            return;
        }
        if !self.ensure_capture() {
            return;
        }
        let meta = dom::page_meta()
            .map(|m| wire::page_meta(&m))
            .unwrap_or_default();
        self.recorder.snapshot_begin(&meta);
        if let Some(old) = self.snap_stream.replace(SnapStream::start()) {
            old.discard();
        }
        self.snapshot_failed = false;
        let me = self.me.clone();
        let on_chunk = Closure::<dyn FnMut(JsValue)>::new(move |batch: JsValue| {
            with_engine(&me, |i| i.snapshot_chunk(batch.unchecked_into()))
        });
        let Some(capture) = &self.capture else { return };
        let slice = self.cfg.slicems.filter(|s| *s > 0.0).unwrap_or(SLICE_MS);
        let promise = match capture.snapshot(slice, on_chunk.as_ref().unchecked_ref()) {
            Ok(p) => p,
            Err(_) => return,
        };
        self.snapshotting = true;
        let Some(rc) = self.me.upgrade() else {
            return;
        };
        // The promise's reactions hold the engine (and `on_chunk`) until the walk settles, as a
        // spawned future would, without shipping a futures executor; settling releases them.
        let reaction = |walked: bool, rc: Rc<RefCell<Inner>>| {
            Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
                let held = run(&rc, |i| {
                    let held = i.snapshot_reactions.take();
                    i.finish_snapshot(walked);
                    held
                });
                drop(held);
            })
        };
        let (done, failed) = (reaction(true, rc.clone()), reaction(false, rc));
        let _ = promise.then2(&done, &failed);
        self.snapshot_reactions = Some([on_chunk, done, failed]);
    }

    fn snapshot_chunk(&mut self, batch: Batch) {
        if !self.snapshotting || self.snapshot_failed {
            return;
        }
        self.recorder.add_names(&batch.names());
        let ints = batch.ints();
        let strs = batch.strs();
        if let Err(e) = self.recorder.snapshot_chunk(Flat {
            ints: &ints,
            strs: &strs,
        }) {
            self.snapshot_failed = true;
            self.error("service", &["snapshot failed: ", &e.message()].concat());
            return;
        }
        if let Some(stream) = &self.snap_stream {
            self.recorder.snapshot_drain(|text| stream.append(text));
        }
    }

    fn finish_snapshot(&mut self, walked: bool) {
        self.snapshotting = false;
        let rest = self.recorder.snapshot_end();
        let Some(stream) = self.snap_stream.take() else {
            return;
        };
        if self.phase == Phase::Idle || self.paused || !walked || self.snapshot_failed {
            stream.discard();
            return;
        }
        stream.append(&rest);
        // The snapshot supersedes every earlier message; it is not kept for resending (a
        // reconnect before the server acknowledges it takes a fresh one).
        let seq = self.recorder.seq();
        self.outbox.sent_unheld(seq);
        match &self.socket {
            Some(s) if self.phase == Phase::Live => {
                s.send_stream(&stream);
            }
            _ => stream.discard(),
        }
        if core::mem::take(&mut self.snapshot_again) {
            self.begin_snapshot();
        }
    }

    /// True while the socket's backlog is above the high-water mark; the diffs of that time are
    /// dropped and a fresh snapshot follows once the backlog is below the low-water mark.
    fn congested(&mut self) -> bool {
        let backlog = self.socket.as_ref().map(|s| s.backlog()).unwrap_or(0.0);
        if self.congested {
            if backlog > LOW_WATER {
                return true;
            }
            self.congested = false;
            self.begin_snapshot();
            return true;
        }
        if backlog > HIGH_WATER {
            self.congested = true;
            return true;
        }
        false
    }

    /// Collects pending page changes into one diff (called from the capture's timer).
    fn flush(&mut self) {
        if self.snapshotting || self.paused || matches!(self.phase, Phase::Idle | Phase::Standby) {
            return;
        }
        if self.phase == Phase::Live && self.congested() {
            // Take the changes (so they do not pile up) but send nothing: a snapshot follows.
            if let Some(c) = &self.capture {
                let _ = c.collect();
            }
            // Look again soon even if the page goes quiet.
            let me = self.me.clone();
            self.congestion_timer = Timeout::new(250, move || with_engine(&me, |i| i.flush()));
            return;
        }
        let Some(capture) = &self.capture else { return };
        let batch = match capture.collect() {
            Ok(v) if !v.is_null() && !v.is_undefined() => v.unchecked_into::<Batch>(),
            Ok(_) => return,
            Err(_) => return self.begin_snapshot(),
        };
        if batch.resync() == Some(true) {
            return self.begin_snapshot();
        }
        self.recorder.add_names(&batch.names());
        let ints = batch.ints();
        let strs = batch.strs();
        match self.recorder.diff(Flat {
            ints: &ints,
            strs: &strs,
        }) {
            Ok(Some(msg)) => {
                let seq = self.recorder.seq();
                self.send_text(&msg);
                if !self.outbox.push(seq, msg) && self.phase == Phase::Live {
                    self.begin_snapshot();
                }
            }
            Ok(None) => {}
            Err(_) => self.begin_snapshot(),
        }
    }

    fn on_close(&mut self, code: u16, _reason: String) {
        self.socket = None;
        if code == CLOSE_REPLACED {
            // Another page or tab of this session took over: standby, the session goes on.
            return self.go_standby();
        }
        match self.phase {
            Phase::Idle | Phase::Standby => {}
            Phase::Starting if !self.continuing => {
                self.error("service", "could not connect to the cobrowse service");
                self.teardown();
            }
            Phase::Starting | Phase::Live | Phase::Reconnecting => {
                if self.phase == Phase::Live {
                    self.event(
                        "connection",
                        Obj::new().str("status", "reconnecting").finish(),
                    );
                }
                self.phase = Phase::Reconnecting;
                self.schedule_reconnect();
            }
        }
    }

    fn schedule_reconnect(&mut self) {
        match self.backoff.next_delay(js_sys::Math::random()) {
            Some(ms) => {
                let me = self.me.clone();
                self.reconnect_timer = Timeout::new(ms, move || {
                    with_engine(&me, |i| {
                        if i.phase == Phase::Reconnecting && i.socket.is_none() {
                            i.connect();
                        }
                    })
                });
            }
            None => {
                self.error(
                    "conndrop",
                    "the connection to the cobrowse service was lost",
                );
                self.end_local("error");
            }
        }
    }

    /// `stopSession()`: tells the server (or the live tab), cleans up, `leavesession` and
    /// `sessionend` `{reason: 'visitor'}`.
    pub fn stop(&mut self) {
        if self.phase == Phase::Idle && self.election.is_none() {
            return;
        }
        if let Some(s) = &self.socket {
            s.send(END_MSG);
        }
        self.event("leavesession", "{}".into());
        self.end_local("visitor");
    }

    /// `pause(bool)` from the visitor API.
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused != paused {
            self.apply_pause(paused, true);
        }
    }

    /// Pauses or resumes: nothing of the page is captured or sent while paused; resuming sends
    /// a fresh snapshot. `tell_tabs`: the change started in this tab (or came from the server).
    fn apply_pause(&mut self, paused: bool, tell_tabs: bool) {
        self.paused = paused;
        if let Some(info) = &mut self.info {
            info.paused = paused;
            self.persist();
        }
        match self.phase {
            Phase::Live => {
                self.send_text(&pause_line(paused));
            }
            // Said once connected (a standby tab also tells the live tab, if there is one).
            Phase::Starting | Phase::Reconnecting | Phase::Standby => self.pause_dirty = true,
            Phase::Idle => {}
        }
        if tell_tabs {
            if let Some(sid) = self.sid().map(str::to_string) {
                self.post(TabMsg::Pause { sid, paused });
            }
        }
        if paused {
            self.release_capture();
        } else if self.phase == Phase::Live {
            self.begin_snapshot();
        }
        if self.phase != Phase::Idle {
            self.event("sessionpaused", Obj::new().bool("paused", paused).finish());
        }
    }

    /// Stops capturing (pause): nothing is observed or sent until a fresh snapshot.
    fn release_capture(&mut self) {
        self.stop_pointer_feed();
        self.drop_overlay();
        self.start_timer = None;
        if let Some(s) = self.snap_stream.take() {
            s.discard();
        }
        if let Some(c) = self.capture.take() {
            c.stop();
        }
        self.notify = None;
        self.outbox.clear();
    }

    /// The page is going away: tell the server it is a navigation, not a drop.
    pub fn page_hide(&mut self) {
        if self.phase == Phase::Live {
            self.flush();
            self.send_text(BYE_MSG);
        }
    }

    /// Back to no session: socket, capture, timers, tab election, user state and queued
    /// messages dropped; the page's `data-gid` attributes removed if a session tagged it.
    fn teardown(&mut self) {
        let tagged = self.capture.is_some() || self.announced;
        self.rc_teardown();
        self.release();
        if tagged {
            dom::clear_gids();
        }
        self.phase = Phase::Idle;
        self.info = None;
        self.masks = None;
        self.announced = false;
        self.continuing = false;
        self.election = None;
        self.requested_key = None;
        self.focused = false;
        self.refocus = false;
        self.userstate.clear();
        self.state_dirty.clear();
        self.queue.clear();
        self.pause_dirty = false;
        self.stated = false;
        self.agents = NO_AGENTS.to_string();
        self.paused = self.cfg.startpaused;
    }

    /// Ends the session here and in the site's other tabs.
    fn end_local(&mut self, reason: &str) {
        self.end_with(reason, true);
    }

    /// Ends the session: storage cleared, other tabs told (`tell_tabs`), cleanup, `sessionend`.
    fn end_with(&mut self, reason: &str, tell_tabs: bool) {
        if self.phase == Phase::Idle && self.election.is_none() {
            return;
        }
        self.store.clear();
        if tell_tabs {
            if let Some(sid) = self.sid().map(str::to_string) {
                let reason = reason.to_string();
                self.post(TabMsg::End { sid, reason });
            }
        }
        self.teardown();
        self.event("sessionend", Obj::new().str("reason", reason).finish());
    }
}

fn pause_line(paused: bool) -> String {
    Obj::new().str("t", "pause").bool("paused", paused).finish()
}

fn state_line(name: &str, json: &str) -> String {
    Obj::new()
        .str("t", "userstate")
        .str("name", name)
        .raw("value", json)
        .finish()
}
