//! Reading JSON in the browser: the loader's config and the server's messages are parsed with
//! the browser's own `JSON.parse` and read field by field, so no JSON parser ships in the wasm.

use alloc::{string::String, vec::Vec};

use wasm_bindgen::prelude::*;

use crate::config::{Config, CookieType};
use crate::tabs::TabMsg;

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

fn number(obj: &JsValue, key: &str) -> Option<f64> {
    get(obj, key).as_f64()
}

fn strings(v: &JsValue) -> Vec<String> {
    if !js_sys::Array::is_array(v) {
        return Vec::new();
    }
    js_sys::Array::from(v)
        .iter()
        .filter_map(|s| s.as_string())
        .collect()
}

/// Parses JSON text; `None` when it is not a JSON object.
pub fn parse_object(text: &str) -> Option<JsValue> {
    js_sys::JSON::parse(text).ok().filter(|v| v.is_object())
}

/// The loader's configuration.
pub fn config(json: &str) -> Result<Config, String> {
    let o = parse_object(json).ok_or("bad config: not a JSON object")?;
    let groupid = string(&o, "groupid").unwrap_or_default();
    if groupid.trim().is_empty() {
        return Err("data-groupid missing".into());
    }
    let cookietype = match string(&o, "cookietype") {
        None => CookieType::Normal,
        Some(t) => CookieType::parse(&t).ok_or("bad config: unknown cookietype")?,
    };
    Ok(Config {
        groupid,
        site: string(&o, "site").unwrap_or_else(|| "production".into()),
        ws: string(&o, "ws").unwrap_or_default(),
        scriptserver: string(&o, "scriptserver"),
        cookietype,
        cookiedomain: string(&o, "cookiedomain"),
        startpaused: get(&o, "startpaused").as_bool().unwrap_or(false),
        ui: string(&o, "ui"),
        video: string(&o, "video"),
        visitorid: string(&o, "visitorid"),
        presence: string(&o, "presence"),
        additionalgroupids: strings(&get(&o, "additionalgroupids")),
        // Not read by the engine (key bindings are not implemented in it), and a `BTreeMap`
        // would add ~1.8 KB gzip to the module: left empty here.
        inputevents: Default::default(),
        slicems: number(&o, "slicems"),
        handoff: string(&o, "handoff"),
        helper: get(&o, "helper").as_bool().unwrap_or(false),
    })
}

/// `startSession` parameters: the session key, if any.
pub fn session_key(params_json: &str) -> Option<String> {
    let o = parse_object(params_json)?;
    let k = get(&o, "sessionKey");
    k.as_string()
        .or_else(|| k.as_f64().map(|n| crate::json::uint_string(n as u64)))
}

/// A message from the session server.
#[derive(Debug)]
pub enum ServerMsg {
    /// Handshake answer: key, sid, masks, the server's position (page, seq), agents JSON.
    Welcome {
        /// Session key.
        key: String,
        /// Session id.
        sid: String,
        /// The group's mask selectors.
        masks: Vec<String>,
        /// What the server already has.
        last: Option<(String, u64)>,
        /// The `agents` event payload, as JSON.
        agents: Option<String>,
        /// The session's pause state as the server has it (an agent may have paused it).
        paused: Option<bool>,
        /// The user state: (name, JSON value) pairs.
        userstate: Vec<(String, String)>,
        /// This page took the session over from another live page (a second tab).
        takeover: bool,
        /// Remote control is enabled for the session.
        rc: bool,
        /// Accessibility features are on for the session.
        a11y: bool,
    },
    /// An agent turned accessibility features on (`true`) or off.
    A11y(bool),
    /// An agent asks for remote control (`true`) or stops it.
    Rc(bool, Agent),
    /// An agent's action (remote control).
    Act(Act),
    /// An agent navigates the visitor.
    Nav(Nav),
    /// An agent's gesture: `outline` an element (`gid`) or `clear`.
    Gesture(String, Option<f64>, Agent),
    /// An agent's pointer (its `num`) at page coordinates, or hidden (`None`).
    Ptr(f64, Option<(f64, f64)>),
    /// A session message from an agent: name, payload JSON.
    Msg(String, String),
    /// An agent paused or resumed the session.
    Pause(bool),
    /// A message was applied.
    Ack(String, u64),
    /// The agents watching changed (JSON payload of the `agents` event).
    Agents(String),
    /// Send a fresh snapshot.
    Snapreq,
    /// The session ended on the server side.
    End(Option<String>),
    /// An error (code, message); the socket closes after it.
    Error(String, String),
}

fn agents_payload(o: &JsValue) -> String {
    let list = get(o, "agentlist");
    let list = js_sys::JSON::stringify(&list)
        .ok()
        .and_then(|s| s.as_string())
        .filter(|_| js_sys::Array::is_array(&list))
        .unwrap_or_else(|| "[]".into());
    crate::json::Obj::new()
        .num("count", number(o, "count").unwrap_or(0.0))
        .raw("agentlist", &list)
        .finish()
}

fn stringify(v: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(v).ok()?.as_string()
}

/// The members of a JSON object as (name, JSON text) pairs.
fn entries(o: &JsValue) -> Vec<(String, String)> {
    if !o.is_object() || js_sys::Array::is_array(o) {
        return Vec::new();
    }
    js_sys::Object::entries(&js_sys::Object::from(o.clone()))
        .iter()
        .filter_map(|e| {
            let e = js_sys::Array::from(&e);
            Some((e.get(0).as_string()?, stringify(&e.get(1))?))
        })
        .collect()
}

/// A message from another tab (see [`crate::tabs`]); `None` for anything else.
pub fn tab_msg(text: &str) -> Option<TabMsg> {
    let o = parse_object(text)?;
    let s = |k: &str| string(&o, k);
    Some(match s("t")?.as_str() {
        "claim" => TabMsg::Claim {
            tab: s("tab")?,
            at: number(&o, "at")?,
        },
        "started" => TabMsg::Started {
            tab: s("tab")?,
            info: s("info")?,
        },
        "active" => TabMsg::Active {
            tab: s("tab")?,
            sid: s("sid")?,
        },
        "end" => TabMsg::End {
            sid: s("sid")?,
            reason: s("reason")?,
        },
        "pause" => TabMsg::Pause {
            sid: s("sid")?,
            paused: get(&o, "paused").as_bool()?,
        },
        "relay" => TabMsg::Relay {
            sid: s("sid")?,
            line: s("line")?,
        },
        _ => return None,
    })
}

/// The agent a remote-control frame comes from (added by the server).
#[derive(Debug, Clone, Default)]
pub struct Agent {
    /// Agent username.
    pub username: String,
    /// Partner user id (`puid`), or empty.
    pub puid: String,
    /// The agent's number in the session.
    pub num: f64,
    /// Display name.
    pub name: String,
}

impl Agent {
    /// The `agent` object of visitor events: `{username, puid, num}`.
    pub fn json(&self) -> String {
        crate::json::Obj::new()
            .str("username", &self.username)
            .str("puid", &self.puid)
            .num("num", self.num)
            .finish()
    }
}

/// An agent's action (`act`).
#[derive(Debug, Clone)]
pub struct Act {
    /// The agent's action id (echoed in `actres`).
    pub id: f64,
    /// `click`, `type`, `change` or `key`.
    pub kind: String,
    /// The target element's gid (0 when the frame has none: refused as invalid).
    pub gid: f64,
    /// The field's whole new value (`type`).
    pub value: Option<String>,
    /// The key pressed (`key`).
    pub key: Option<String>,
    /// Click point as fractions of the element box.
    pub x: Option<f64>,
    /// See `x`.
    pub y: Option<f64>,
    /// Who acts.
    pub agent: Agent,
}

/// An agent's navigation request (`nav`).
#[derive(Debug, Clone)]
pub struct Nav {
    /// `back`, `forward`, `refresh`, or a URL.
    pub url: String,
    /// Ask the visitor first (`confirm` event).
    pub confirm: bool,
    /// Open in a new window.
    pub open: bool,
    /// Navigate by clicking a link.
    pub link: bool,
    /// Who navigates.
    pub agent: Agent,
}

fn agent(o: &JsValue) -> Agent {
    let a = get(o, "agent");
    if !a.is_object() {
        return Agent::default();
    }
    Agent {
        username: string(&a, "username").unwrap_or_default(),
        puid: string(&a, "puid").unwrap_or_default(),
        num: number(&a, "num").unwrap_or(0.0),
        name: string(&a, "name").unwrap_or_default(),
    }
}

fn flag(o: &JsValue, k: &str) -> bool {
    get(o, k).as_bool().unwrap_or(false)
}

/// Parses one server message; `None` for anything unknown or malformed.
pub fn server_msg(text: &str) -> Option<ServerMsg> {
    let o = parse_object(text)?;
    Some(match string(&o, "t")?.as_str() {
        "welcome" => {
            let last = get(&o, "last");
            let agents = get(&o, "agents");
            ServerMsg::Welcome {
                key: string(&o, "key")?,
                sid: string(&o, "sid")?,
                masks: strings(&get(&o, "masks")),
                last: if last.is_object() {
                    Some((string(&last, "page")?, number(&last, "seq")? as u64))
                } else {
                    None
                },
                agents: agents.is_object().then(|| agents_payload(&agents)),
                paused: get(&o, "paused").as_bool(),
                userstate: entries(&get(&o, "userstate")),
                takeover: flag(&o, "takeover"),
                rc: flag(&o, "rc"),
                a11y: flag(&o, "a11y"),
            }
        }
        "a11y" => ServerMsg::A11y(get(&o, "on").as_bool()?),
        "rc" => ServerMsg::Rc(get(&o, "on").as_bool()?, agent(&o)),
        "act" => ServerMsg::Act(Act {
            id: number(&o, "id")?,
            kind: string(&o, "type").unwrap_or_default(),
            gid: number(&o, "gid").unwrap_or(0.0),
            value: string(&o, "value"),
            key: string(&o, "key"),
            x: number(&o, "x"),
            y: number(&o, "y"),
            agent: agent(&o),
        }),
        "nav" => ServerMsg::Nav(Nav {
            url: string(&o, "url")?,
            confirm: flag(&o, "confirm"),
            open: flag(&o, "open"),
            link: flag(&o, "link"),
            agent: agent(&o),
        }),
        "gesture" => ServerMsg::Gesture(string(&o, "kind")?, number(&o, "gid"), agent(&o)),
        "ptr" => ServerMsg::Ptr(number(&o, "num")?, number(&o, "x").zip(number(&o, "y"))),
        "msg" => {
            let data = get(&o, "data");
            if !data.is_object() || js_sys::Array::is_array(&data) {
                return None;
            }
            ServerMsg::Msg(string(&o, "name")?, stringify(&data)?)
        }
        "pause" => ServerMsg::Pause(get(&o, "paused").as_bool()?),
        "ack" => ServerMsg::Ack(string(&o, "page")?, number(&o, "seq")? as u64),
        "agents" => ServerMsg::Agents(agents_payload(&o)),
        "snapreq" => ServerMsg::Snapreq,
        "end" => ServerMsg::End(string(&o, "reason")),
        "error" => ServerMsg::Error(
            string(&o, "code").unwrap_or_else(|| "service".into()),
            string(&o, "msg").unwrap_or_default(),
        ),
        _ => return None,
    })
}

/// Snapshot header facts from `dom.js`'s `pageMeta()` object.
pub fn page_meta(o: &JsValue) -> crate::capture::PageMeta {
    crate::capture::PageMeta {
        url: string(o, "url").unwrap_or_default(),
        base: string(o, "base").unwrap_or_default(),
        title: string(o, "title").unwrap_or_default(),
        viewport: (
            number(o, "vw").unwrap_or(0.0),
            number(o, "vh").unwrap_or(0.0),
        ),
        scroll: (
            number(o, "sx").unwrap_or(0.0),
            number(o, "sy").unwrap_or(0.0),
        ),
    }
}

/// `control.js` `inspect` facts as [`crate::rc::Target`].
pub fn target(o: &JsValue) -> crate::rc::Target {
    let b = |k: &str| flag(o, k);
    crate::rc::Target {
        found: b("found"),
        masked: b("masked"),
        password: b("password"),
        disabled: b("disabled"),
        readonly: b("readonly"),
        kind: match string(o, "kind").as_deref() {
            Some("text") => "text",
            Some("select") => "select",
            Some("toggle") => "toggle",
            _ => "other",
        },
        urls: strings(&get(o, "urls")),
    }
}

/// The label of agent `num`'s pointer: its name from the `agents` payload (JSON), else its
/// username, else "Agent N".
pub fn agent_name(agents_json: &str, num: f64) -> String {
    let list = parse_object(agents_json)
        .map(|o| get(&o, "agentlist"))
        .filter(js_sys::Array::is_array)
        .map(|l| js_sys::Array::from(&l));
    let found = list.and_then(|l| l.iter().find(|a| number(a, "num") == Some(num)));
    found
        .and_then(|a| string(&a, "name").or_else(|| string(&a, "username")))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| ["Agent ", &crate::json::uint_string(num as u64)].concat())
}
