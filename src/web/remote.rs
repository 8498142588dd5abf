//! Remote control and agent guidance on the visitor's page: the consent flow (`rc` frames,
//! `rcrequested`/`rcaccepted`/`rcdeclined`/`rcenabled`, `disableRC()`), agents' actions (checked
//! by [`crate::rc`], applied by `control.js`, answered with `actres`, announced with `rcevent`),
//! navigation (`confirm`, `navigation`, `navres`), gestures (`outline`, with the outlined
//! element's accessible text while accessibility features are on: `accessibility`), and pointers
//! (the agent's `ptr`, the visitor's `vptr`).
//!
//! Whatever runs page code (a click, typing, a navigation) is deferred until the engine's state
//! is released (see [`Inner::defer`]): the page's handlers may call the visitor API.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{with_engine, Inner, Phase};
use crate::json::{self, Obj};
use crate::rc::{check_action, navigable, ActKind, NavTarget, RcStep, Refusal};
use crate::web::control::{self, Overlay, PointerFeed};
use crate::web::wire::{self, Act, Agent, Nav};

/// The `path` of an element in visitor events: `[data-gid="N"]`.
fn gid_path(gid: f64) -> String {
    ["[data-gid=\"", &json::uint_string(gid as u64), "\"]"].concat()
}

const RC_REQUESTED: &str = r#"{"t":"rc","state":"requested"}"#;
const RC_ACCEPTED: &str = r#"{"t":"rc","state":"accepted"}"#;
const RC_DECLINED: &str = r#"{"t":"rc","state":"declined"}"#;
const RC_OFF: &str = r#"{"t":"rc","state":"off"}"#;

fn enabled_payload(on: bool) -> String {
    String::from(if on {
        r#"{"enabled":true}"#
    } else {
        r#"{"enabled":false}"#
    })
}

/// `{username, puid, num, name}`: the agent as the visitor's prompts show it.
fn agent_named(a: &Agent) -> String {
    Obj::new()
        .str("username", &a.username)
        .str("puid", &a.puid)
        .num("num", a.num)
        .str("name", &a.name)
        .finish()
}

impl Inner {
    /// An `rc` frame: an agent asks for control or stops it.
    pub(super) fn on_rc(&mut self, on: bool, agent: &Agent) {
        let step = if on {
            self.rc.request()
        } else {
            self.rc.agent_stop()
        };
        self.rc_step(step, Some(agent));
    }

    /// The visitor's answer to `rcrequested` (its `accept`/`decline`).
    pub fn rc_answer(&mut self, accept: bool) {
        let step = self.rc.answer(accept);
        self.rc_step(step, None);
    }

    /// `disableRC()`: the visitor takes control back.
    pub fn disable_rc(&mut self) {
        let step = self.rc.revoke();
        self.rc_step(step, None);
    }

    /// A welcome's `rc` flag (every page load and reconnect).
    pub(super) fn rc_welcome(&mut self, rc: bool) {
        let step = self.rc.welcome(rc);
        self.rc_step(step, None);
    }

    fn rc_step(&mut self, step: RcStep, agent: Option<&Agent>) {
        match step {
            RcStep::Nothing | RcStep::Withdrawn => {}
            RcStep::Ask => {
                self.send_text(RC_REQUESTED);
                let a = agent.map(agent_named).unwrap_or_else(|| "{}".into());
                self.event("rcrequested", Obj::new().raw("agent", &a).finish());
            }
            RcStep::Reaffirm => {
                self.send_text(RC_ACCEPTED);
            }
            RcStep::Accepted => {
                self.send_text(RC_ACCEPTED);
                self.event("rcaccepted", "{}".into());
                self.event("rcenabled", enabled_payload(true));
            }
            RcStep::Declined => {
                self.send_text(RC_DECLINED);
                self.event("rcdeclined", "{}".into());
            }
            RcStep::Enabled => self.event("rcenabled", enabled_payload(true)),
            RcStep::Disabled { tell } => {
                if tell {
                    self.send_text(RC_OFF);
                }
                self.event("rcenabled", enabled_payload(false));
            }
        }
    }

    /// An agent's `a11y`, or a welcome's: `accessibility` `{enabled}` when it changes, and once
    /// on each page where it is on.
    pub(super) fn set_a11y(&mut self, on: bool) {
        if on != self.a11y || (on && !self.a11y_told) {
            self.a11y = on;
            self.a11y_told = true;
            self.event("accessibility", enabled_payload(on));
        }
    }

    /// Session end: control and accessibility features off (`rcenabled` / `accessibility`
    /// `{enabled:false}` if they were on), marks removed, a navigation waiting for the visitor
    /// dropped.
    pub(super) fn rc_teardown(&mut self) {
        if self.rc.end() {
            self.event("rcenabled", enabled_payload(false));
        }
        self.set_a11y(false);
        self.a11y_told = false;
        self.pending_nav = None;
        self.drop_overlay();
    }

    fn act_result(&self, id: f64, agent: &Agent, refused: Option<Refusal>) {
        let mut o = Obj::new()
            .str("t", "actres")
            .num("id", id)
            .num("num", agent.num)
            .bool("ok", refused.is_none());
        if let Some(r) = refused {
            o = o.str("reason", r.as_str());
        }
        self.send_text(&o.finish());
    }

    /// An `act` frame: checked here, applied once the state is released.
    pub(super) fn on_act(&mut self, act: Act) {
        let checked = self.check_act(&act);
        let kind = match checked {
            Ok(k) => k,
            Err(r) => return self.act_result(act.id, &act.agent, Some(r)),
        };
        let Some(cap) = self.capture.as_ref() else {
            return;
        };
        let cap: super::DomCapture = JsValue::clone(cap.as_ref()).unchecked_into();
        let me = self.me.clone();
        self.defer(Box::new(move || {
            let res = control::apply(
                &cap,
                act.gid,
                kind.as_str(),
                act.value.clone(),
                act.key.clone(),
                act.x,
                act.y,
            );
            with_engine(&me, |i| i.act_done(&act, res));
        }));
    }

    fn check_act(&self, act: &Act) -> Result<ActKind, Refusal> {
        if !self.rc.enabled() {
            return Err(Refusal::NotEnabled);
        }
        let kind = ActKind::parse(&act.kind).ok_or(Refusal::Invalid)?;
        if !(act.gid >= 1.0 && act.gid == (act.gid as u64) as f64) {
            return Err(Refusal::Invalid);
        }
        // Paused (or another tab is active): nothing is captured, so nothing can be checked.
        let cap = self.capture.as_ref().ok_or(Refusal::NotEnabled)?;
        let facts = control::inspect(cap, act.gid, kind.as_str()).map_err(|_| Refusal::Missing)?;
        let target = wire::target(&facts);
        check_action(kind, &target, act.value.as_deref(), act.key.as_deref())?;
        Ok(kind)
    }

    /// An action was applied (or found impossible after all): `actres`, and `rcevent`.
    fn act_done(&mut self, act: &Act, res: Result<JsValue, JsValue>) {
        if self.phase == Phase::Idle {
            return;
        }
        let res = res.unwrap_or(JsValue::NULL);
        let field = |k: &str| js_sys::Reflect::get(&res, &JsValue::from_str(k)).ok();
        if let Some(err) = field("err").and_then(|e| e.as_string()) {
            let r = if err == "missing" {
                Refusal::Missing
            } else {
                Refusal::Invalid
            };
            return self.act_result(act.id, &act.agent, Some(r));
        }
        self.act_result(act.id, &act.agent, None);
        let ev = field("ev").and_then(|e| e.as_string()).unwrap_or_default();
        if !ev.is_empty() {
            let mut o = Obj::new()
                .str("type", &ev)
                .raw("agent", &act.agent.json())
                .str("path", &gid_path(act.gid));
            if let Some(v) = field("value").and_then(|v| v.as_string()) {
                o = o.str("value", &v);
            }
            self.event("rcevent", o.finish());
        }
    }

    fn nav_result(&self, agent: &Agent, url: &str, refused: Option<Refusal>) {
        let mut o = Obj::new()
            .str("t", "navres")
            .num("num", agent.num)
            .bool("ok", refused.is_none())
            .str("url", url);
        if let Some(r) = refused {
            o = o.str("reason", r.as_str());
        }
        self.send_text(&o.finish());
    }

    /// A `nav` frame: asked first (`confirm` event) when the agent wants it, else done.
    pub(super) fn on_nav(&mut self, nav: Nav) {
        if !nav.confirm {
            return self.do_nav(nav);
        }
        let payload = Obj::new()
            .str("url", &nav.url)
            .bool("confirm", true)
            .bool("open", nav.open)
            .bool("link", nav.link)
            .raw("agent", &agent_named(&nav.agent))
            .finish();
        if let Some(old) = self.pending_nav.replace(nav) {
            self.nav_result(&old.agent, &old.url, Some(Refusal::Declined));
        }
        self.event("confirm", payload);
    }

    /// The visitor's answer to the `confirm` event.
    pub fn nav_answer(&mut self, accept: bool) {
        let Some(nav) = self.pending_nav.take() else {
            return;
        };
        if accept {
            self.do_nav(nav);
        } else {
            self.nav_result(&nav.agent, &nav.url, Some(Refusal::Declined));
        }
    }

    fn do_nav(&mut self, nav: Nav) {
        let target = NavTarget::parse(&nav.url);
        let action = target.action();
        let href = match action {
            Some(a) => a.to_string(),
            None => control::resolve_url(&nav.url).unwrap_or_default(),
        };
        if action.is_none() && !navigable(&href) {
            return self.nav_result(&nav.agent, &nav.url, Some(Refusal::Invalid));
        }
        let key = if action.is_some() { "action" } else { "url" };
        let payload = Obj::new()
            .str(key, &href)
            .raw("agent", &nav.agent.json())
            .finish();
        self.event("navigation", payload);
        if nav.open {
            // A new window: its outcome is known at once (a blocked popup is refused).
            let me = self.me.clone();
            return self.defer(Box::new(move || {
                let ok = control::navigate("", &href, true, false).unwrap_or(false);
                with_engine(&me, |i| {
                    let r = (!ok).then_some(Refusal::Declined);
                    i.nav_result(&nav.agent, &href, r);
                });
            }));
        }
        // Said before the page goes away.
        self.nav_result(&nav.agent, &href, None);
        let action = action.unwrap_or("");
        self.defer(Box::new(move || {
            let _ = control::navigate(action, &href, false, nav.link);
        }));
    }

    /// A `gesture` frame: outline an element (`outline` event) or clear the outline.
    pub(super) fn on_gesture(&mut self, kind: &str, gid: Option<f64>, agent: &Agent) {
        if kind == "clear" {
            if let Some(o) = &self.overlay {
                o.clear();
            }
            return;
        }
        let (Some(gid), "outline", Some(cap)) = (gid, kind, &self.capture) else {
            return;
        };
        let el = match cap.find(gid) {
            Ok(el) if !el.is_null() => el,
            _ => return,
        };
        let _ = cap.tag_now(&el);
        if self.overlay.is_none() {
            self.overlay = Some(Overlay::new());
        }
        if let Some(o) = &self.overlay {
            let _ = o.outline(&el);
        }
        let mut payload = Obj::new()
            .num("gid", gid)
            .str("path", &gid_path(gid))
            .raw("agent", &agent.json());
        if self.a11y {
            // What the visitor's UI announces (nothing of a masked element or a password):
            // `label` is JSON text from `control.js`, absent when there is none.
            payload = payload.raw("accessibility", "true");
            if let Some(l) = control::label(cap, &el).as_string() {
                payload = payload.raw("label", &l);
            }
        }
        self.event("outline", payload.finish());
    }

    /// A `ptr` frame: an agent's pointer shown (labelled with its name) or hidden.
    pub(super) fn on_ptr(&mut self, num: f64, at: Option<(f64, f64)>) {
        if self.capture.is_none() {
            return;
        }
        if self.overlay.is_none() {
            if at.is_none() {
                return;
            }
            self.overlay = Some(Overlay::new());
        }
        let label = wire::agent_name(&self.agents, num);
        if let Some(o) = &self.overlay {
            let _ = o.pointer(num, &label, at.map(|p| p.0), at.map(|p| p.1));
        }
    }

    /// Removes the agent's marks from the page.
    pub(super) fn drop_overlay(&mut self) {
        if let Some(o) = self.overlay.take() {
            o.remove();
        }
    }

    /// Starts sending the visitor's pointer (while a capture runs).
    pub(super) fn start_pointer_feed(&mut self) {
        if self.pointer_feed.is_some() {
            return;
        }
        let me = self.me.clone();
        let send = Closure::<dyn FnMut(JsValue)>::new(move |line: JsValue| {
            with_engine(&me, |i| i.send_vptr(line.as_string()))
        });
        let feed = PointerFeed::new(send.as_ref().unchecked_ref());
        self.pointer_feed = Some((feed, send));
    }

    /// Stops sending the visitor's pointer.
    pub(super) fn stop_pointer_feed(&mut self) {
        if let Some((feed, _send)) = self.pointer_feed.take() {
            feed.stop();
        }
    }

    /// Sends a `vptr` line (written by `control.js`) while live and not paused.
    fn send_vptr(&mut self, line: Option<String>) {
        if let Some(line) = line.filter(|_| self.phase == Phase::Live && !self.paused) {
            self.send_text(&line);
        }
    }
}
