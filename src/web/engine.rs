//! The visitor session state machine: connect, hand-shake, snapshot, stream diffs, reconnect
//! with backoff and resend, pause, end. Events are queued while the state is borrowed and
//! delivered after, so a listener may call back into the engine safely.

use alloc::rc::{Rc, Weak};
use alloc::{boxed::Box, string::String, string::ToString, vec::Vec};
use core::cell::RefCell;

use crate::json::{self, string_array, Obj};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::dom::{self, Batch, DomCapture};
use super::socket::{SnapStream, Socket};
use super::storage::Store;
use super::timer::Timeout;
use super::wire::{self, ServerMsg};
use crate::capture::{Flat, Recorder};
use crate::config::Config;
use crate::protocol::{valid_session_key, VERSION};
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
}

/// A Rust callback handed to JS that takes one value.
type JsCallback = Closure<dyn FnMut(JsValue)>;

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
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inner").field("phase", &self.phase).finish()
    }
}

/// Runs `f` on the state, then delivers the events it queued (outside the borrow).
pub fn run<R>(rc: &Rc<RefCell<Inner>>, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
    let (r, events, emit) = {
        let mut inner = rc.try_borrow_mut().ok()?;
        let r = f(&mut inner);
        let events = core::mem::take(&mut inner.events);
        let emit = (!events.is_empty()).then(|| inner.emit.clone());
        (r, events, emit)
    };
    if let Some(emit) = emit {
        deliver(events, &emit);
    }
    Some(r)
}

/// Calls `emit(name, payload)` for each queued event. Not generic and never inlined: one copy
/// serves every instance of [`run`].
#[inline(never)]
fn deliver(events: Vec<(&'static str, String)>, emit: &js_sys::Function) {
    for (name, payload) in events {
        let js = js_sys::JSON::parse(&payload).unwrap_or(JsValue::NULL);
        let _ = emit.call2(&JsValue::NULL, &JsValue::from_str(name), &js);
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

/// The engine handle kept by the exported `Engine`.
pub struct Handle {
    pub rc: Rc<RefCell<Inner>>,
}

impl Handle {
    /// Creates the engine; continues a stored session of this group.
    pub fn new(cfg: Config, emit: js_sys::Function) -> Handle {
        let store = Store::new(&cfg);
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
            })
        });
        let h = Handle { rc };
        h.run(|i| {
            // A session handed over from another domain is stored first (a helper page does only that).
            let handed = handed_over(i.cfg.handoff.as_deref(), &i.cfg.groupid);
            if let Some(info) = &handed {
                if let Err(why) = i.store.save(info) {
                    i.error("service", &why);
                }
            }
            if i.cfg.helper {
                return;
            }
            let stored = handed.or_else(|| i.store.load().filter(|s| s.group == i.cfg.groupid));
            if let Some(info) = stored {
                i.paused = info.paused;
                i.info = Some(info);
                i.continuing = true;
                i.phase = Phase::Starting;
                i.connect();
            }
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

    fn error(&mut self, code: &str, msg: &str) {
        let payload = Obj::new().str("code", code).str("msg", msg).finish();
        self.event("error", payload);
    }

    /// Whether a session is running on this page.
    pub fn in_session(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// `getSessionState()` as JSON (`null` outside a session).
    pub fn session_state(&self) -> String {
        match &self.info {
            Some(info) if self.phase != Phase::Idle => Obj::new()
                .str("sessionKey", &info.key)
                .str("groupid", &info.group)
                .bool("paused", self.paused)
                .bool("connected", self.phase == Phase::Live)
                .raw("agents", &self.agents)
                .finish(),
            _ => "null".into(),
        }
    }

    /// `startSession(params)`.
    pub fn start(&mut self, key: Option<String>) {
        if self.phase != Phase::Idle {
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
        self.requested_key = key;
        self.continuing = false;
        self.announced = false;
        self.phase = Phase::Starting;
        self.event("sessionstarting", "{}".into());
        self.connect();
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
            } => self.on_welcome(key, sid, masks, last, agents),
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
            ServerMsg::End(reason) => {
                let visitor = reason.as_deref() == Some("visitor");
                self.end_local(if visitor { "visitor" } else { "agent" });
            }
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

    fn on_welcome(
        &mut self,
        key: String,
        sid: String,
        masks: Vec<String>,
        last: Option<(String, u64)>,
        agents: Option<String>,
    ) {
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
                    self.send_text(END_MSG);
                    self.end_local("error");
                    return;
                }
                Err(_) => {
                    self.error("maskingerror", "mask selectors could not be checked");
                    self.end_local("error");
                    return;
                }
            }
        }
        let info = SessionInfo {
            key: key.clone(),
            sid,
            group: self.cfg.groupid.clone(),
            paused: self.paused,
        };
        if let Err(why) = self.store.save(&info) {
            self.error(
                "service",
                &[&why, ": the session will not continue on other pages"].concat(),
            );
        }
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
        if self.snapshotting || self.paused || self.phase == Phase::Idle {
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
            // A newer page or tab of this session took over: stop here, keep the stored session.
            if let Some(c) = self.capture.take() {
                c.stop();
            }
            self.notify = None;
            self.reconnect_timer = None;
            self.phase = Phase::Idle;
            return;
        }
        match self.phase {
            Phase::Idle => {}
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

    /// `stopSession()`.
    pub fn stop(&mut self) {
        if self.phase == Phase::Idle {
            return;
        }
        self.send_text(END_MSG);
        self.end_local("visitor");
    }

    /// `pause(bool)`.
    pub fn set_paused(&mut self, paused: bool) {
        if self.paused == paused {
            return;
        }
        self.paused = paused;
        if let Some(info) = &mut self.info {
            info.paused = paused;
            let info = info.clone();
            let _ = self.store.save(&info);
        }
        self.send_text(&Obj::new().str("t", "pause").bool("paused", paused).finish());
        if paused {
            if let Some(c) = self.capture.take() {
                c.stop();
            }
            self.notify = None;
            self.outbox.clear();
        } else if self.phase == Phase::Live {
            self.begin_snapshot();
        }
        if self.phase != Phase::Idle {
            self.event("sessionpaused", Obj::new().bool("paused", paused).finish());
        }
    }

    /// The page is going away: tell the server it is a navigation, not a drop.
    pub fn page_hide(&mut self) {
        if self.phase == Phase::Live {
            self.flush();
            self.send_text(BYE_MSG);
        }
    }

    fn teardown(&mut self) {
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
        self.phase = Phase::Idle;
        self.info = None;
        self.masks = None;
        self.announced = false;
        self.continuing = false;
        self.backoff.reset();
    }

    fn end_local(&mut self, reason: &str) {
        if self.phase == Phase::Idle {
            return;
        }
        self.store.clear();
        self.teardown();
        self.event("sessionend", Obj::new().str("reason", reason).finish());
    }
}
