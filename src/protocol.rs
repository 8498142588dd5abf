//! The wire protocol between the visitor engine, the session server and the agent viewer.
//!
//! See `docs/PROTOCOL.md` for the prose description. Messages are JSON. Node records and
//! diff operations are JSON *arrays* (compact, and flat so that deep pages need no recursion).
//! The engine writes records with the functions in [`write`]; the server and the tests parse
//! them into the owned types below.

use alloc::{format, string::String, string::ToString, vec, vec::Vec};

use core::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::json;

/// A node id, unique within one page load. The document itself is [`DOCUMENT`].
pub type Gid = u32;

/// The gid of the document node (implicit, never sent as a record).
pub const DOCUMENT: Gid = 0;

/// Protocol version sent in `hello`.
pub const VERSION: u32 = 1;

/// The engine crate's version (`visitorversion` of the agent lookup).
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Node kind codes, as in the DOM's `nodeType`.
pub mod kind {
    /// An element.
    pub const ELEMENT: u8 = 1;
    /// A text node.
    pub const TEXT: u8 = 3;
    /// A comment.
    pub const COMMENT: u8 = 8;
    /// A doctype.
    pub const DOCTYPE: u8 = 10;
    /// A same-origin iframe's document (a content root: the first child of its `<iframe>`).
    pub const DOCUMENT: u8 = 9;
    /// An open shadow root (a content root: the first child of its host element).
    pub const SHADOW: u8 = 11;

    /// True for the kinds that hold children: elements and content roots.
    pub fn is_container(k: u8) -> bool {
        k == ELEMENT || k == DOCUMENT || k == SHADOW
    }
}

/// Per-element extras (`opts` in the record).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ElementOpts {
    /// Masked placeholder size (CSS px). A masked element has no children.
    pub masked: Option<(f64, f64)>,
    /// Current value of a form control.
    pub value: Option<String>,
    /// Checked state of a checkbox or radio.
    pub checked: Option<bool>,
    /// `"svg"` or `"math"` for non-HTML elements.
    pub ns: Option<String>,
}

impl ElementOpts {
    /// True when nothing needs to be written.
    pub fn is_empty(&self) -> bool {
        self.masked.is_none() && self.value.is_none() && self.checked.is_none() && self.ns.is_none()
    }
}

/// An element's data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Tag name (`localName`).
    pub tag: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Extras.
    pub opts: ElementOpts,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeData {
    /// An element.
    Element(Element),
    /// A text node's data.
    Text(String),
    /// A comment's data.
    Comment(String),
    /// A doctype's name.
    Doctype(String),
    /// An iframe's document, with its base URL (relative URLs inside it are resolved against it).
    Document(String),
    /// An open shadow root, with its mode (`open`).
    Shadow(String),
}

impl NodeData {
    /// The DOM `nodeType` code.
    pub fn kind(&self) -> u8 {
        match self {
            NodeData::Element(_) => kind::ELEMENT,
            NodeData::Text(_) => kind::TEXT,
            NodeData::Comment(_) => kind::COMMENT,
            NodeData::Doctype(_) => kind::DOCTYPE,
            NodeData::Document(_) => kind::DOCUMENT,
            NodeData::Shadow(_) => kind::SHADOW,
        }
    }

    /// True when the node may hold children (an element or a content root).
    pub fn is_container(&self) -> bool {
        kind::is_container(self.kind())
    }
}

/// One node record: `[gid, parent, kind, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    /// This node's id.
    pub gid: Gid,
    /// Its parent's id.
    pub parent: Gid,
    /// What it is.
    pub data: NodeData,
}

/// One diff operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `["c", parent, [gids], [records]]`: the children of `parent` become exactly `list`.
    Children {
        /// The parent whose children are set.
        parent: Gid,
        /// The new child list; each gid is a current child of `parent` or a new record.
        list: Vec<Gid>,
        /// New nodes, in preorder.
        records: Vec<NodeRecord>,
    },
    /// `["a", gid, name, value|null]`.
    Attr {
        /// Element.
        gid: Gid,
        /// Attribute name.
        name: String,
        /// New value, or `None` when removed.
        value: Option<String>,
    },
    /// `["x", gid, data]`: text or comment data.
    Text {
        /// Text or comment node.
        gid: Gid,
        /// New data.
        data: String,
    },
    /// `["v", gid, value]`: form control value.
    Value {
        /// Form control.
        gid: Gid,
        /// New value.
        value: String,
    },
    /// `["k", gid, checked]`.
    Checked {
        /// Checkbox or radio.
        gid: Gid,
        /// New checked state.
        checked: bool,
    },
    /// `["s", gid, x, y]`: scroll position (gid 0 = window).
    Scroll {
        /// Scrolled element, or 0 for the window.
        gid: Gid,
        /// scrollLeft.
        x: f64,
        /// scrollTop.
        y: f64,
    },
    /// `["w", width, height]`: viewport size.
    Viewport {
        /// innerWidth.
        w: f64,
        /// innerHeight.
        h: f64,
    },
    /// `["m", gid, w, h]`: the element becomes (or stays) a masked placeholder of this size.
    Mask {
        /// Element.
        gid: Gid,
        /// Width.
        w: f64,
        /// Height.
        h: f64,
    },
    /// `["css", gid, text]`: the rules of a `<style>` element as the CSSOM has them (rules added
    /// with `insertRule`, as CSS-in-JS libraries do, are in no text node).
    Css {
        /// The `<style>` element.
        gid: Gid,
        /// Its rules' text.
        text: String,
    },
    /// `["sheet", id, text]`: a constructed stylesheet's rules (`new CSSStyleSheet()`).
    Sheet {
        /// Page-wide sheet id.
        id: u32,
        /// Its rules' text.
        text: String,
    },
    /// `["adopt", gid, [ids]]`: the `adoptedStyleSheets` of the document (0), a frame document
    /// or a shadow root.
    Adopt {
        /// The document or shadow root.
        gid: Gid,
        /// Sheet ids, in order.
        ids: Vec<u32>,
    },
    /// `["o", gid, [indexes]]`: the selected options of a `<select>`.
    Select {
        /// The `<select>`.
        gid: Gid,
        /// Indexes of the selected options.
        selected: Vec<u32>,
    },
    /// `["f", gid]`: the focused element (0: none).
    Focus {
        /// Focused element.
        gid: Gid,
    },
    /// `["h", gid]`: the element under the pointer (0: none).
    Hover {
        /// Hovered element.
        gid: Gid,
    },
    /// `["media", gid, paused, time, rate, muted]`: a `<video>`/`<audio>` playback state.
    Media {
        /// The media element.
        gid: Gid,
        /// Paused.
        paused: bool,
        /// `currentTime`, seconds.
        time: f64,
        /// `playbackRate`.
        rate: f64,
        /// Muted.
        muted: bool,
    },
    /// `["img", gid, dataUrl]`: a `<canvas>`'s current picture.
    Image {
        /// The canvas.
        gid: Gid,
        /// A `data:image/...` URL.
        url: String,
    },
    /// `["top", gid, open, modal]`: a dialog or popover shown (modal: `showModal()`).
    Top {
        /// The dialog or popover element.
        gid: Gid,
        /// Shown.
        open: bool,
        /// Shown as a modal dialog.
        modal: bool,
    },
}

impl Op {
    /// For ops that set a piece of state (not the tree): the key that a later op of the same
    /// kind replaces, as (kind, gid or sheet id). The server keeps the last op per key for
    /// agents that join later.
    pub fn state_key(&self) -> Option<(u8, u32)> {
        Some(match self {
            Op::Sheet { id, .. } => (0, *id),
            Op::Css { gid, .. } => (1, *gid),
            Op::Adopt { gid, .. } => (2, *gid),
            Op::Select { gid, .. } => (3, *gid),
            Op::Media { gid, .. } => (4, *gid),
            Op::Image { gid, .. } => (5, *gid),
            Op::Top { gid, .. } => (6, *gid),
            Op::Focus { .. } => (7, 0),
            Op::Hover { .. } => (8, 0),
            _ => return None,
        })
    }
}

/// The first message on a visitor socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Hello {
    /// Protocol version.
    pub v: u32,
    /// Group id.
    pub group: String,
    /// `staging` or `production`.
    #[serde(default)]
    pub site: Option<String>,
    /// Requested session key (None: the server assigns one).
    #[serde(default)]
    pub key: Option<String>,
    /// Session id to resume.
    #[serde(default)]
    pub sid: Option<String>,
    /// This page load's id.
    pub page: String,
    /// Page URL.
    #[serde(default)]
    pub url: String,
    /// Page title.
    #[serde(default)]
    pub title: String,
    /// User agent.
    #[serde(default)]
    pub ua: String,
    /// Whether the session starts paused.
    #[serde(default)]
    pub paused: bool,
    /// Visitor id from the script tag.
    #[serde(default)]
    pub visitorid: Option<String>,
}

/// A full snapshot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Snapshot {
    /// Page load id.
    pub page: String,
    /// Sequence number.
    pub seq: u64,
    /// Page URL.
    #[serde(default)]
    pub url: String,
    /// Base URL.
    #[serde(default)]
    pub base: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Viewport width.
    #[serde(default)]
    pub vw: f64,
    /// Viewport height.
    #[serde(default)]
    pub vh: f64,
    /// Window scroll x.
    #[serde(default)]
    pub sx: f64,
    /// Window scroll y.
    #[serde(default)]
    pub sy: f64,
    /// Nodes in preorder.
    #[serde(deserialize_with = "document_records")]
    pub nodes: Vec<NodeRecord>,
    /// State ops applied after the nodes (stylesheets, selections, focus, media...).
    #[serde(default)]
    pub ops: Vec<Op>,
}

/// An incremental diff.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Diff {
    /// Page load id.
    pub page: String,
    /// Sequence number.
    pub seq: u64,
    /// Operations, applied in order.
    pub ops: Vec<Op>,
}

/// Messages a visitor engine sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum VisitorMsg {
    /// Opening handshake.
    Hello(Hello),
    /// Full snapshot.
    Snap(Snapshot),
    /// Incremental diff.
    Diff(Diff),
    /// Pause state change.
    Pause {
        /// Paused or not.
        paused: bool,
    },
    /// The page is unloading (navigation).
    Bye,
    /// The visitor ended the session.
    End,
    /// A session message for the agents (`sendSessionMessage`).
    Msg {
        /// Message name.
        name: String,
        /// Payload (a JSON object; see [`crate::messages`]).
        data: serde_json::Value,
    },
    /// A user-state entry (`setUserState`); `null` removes it.
    Userstate {
        /// Entry name.
        name: String,
        /// Any JSON value.
        value: serde_json::Value,
    },
    /// The remote-control state on the visitor's side: `requested` (the visitor is asked),
    /// `accepted`, `declined` or `off` (see [`RC_STATES`]; the server checks the value).
    Rc {
        /// The new state.
        state: String,
    },
    /// The outcome of an agent's `act`, for agent `num` only.
    Actres {
        /// The agent's action id.
        id: u64,
        /// The agent's number in the session.
        num: u64,
        /// Whether the action was performed.
        ok: bool,
        /// Why not (see [`ACT_REFUSALS`]).
        #[serde(default)]
        reason: Option<String>,
    },
    /// The outcome of an agent's `nav`, for agent `num` only.
    Navres {
        /// The agent's number in the session.
        num: u64,
        /// Whether the navigation was done.
        ok: bool,
        /// The URL navigated to (or refused).
        #[serde(default)]
        url: Option<String>,
        /// Why not: `untrusted`, `declined` or `invalid`.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The visitor's pointer in document CSS pixels; `x` null: it left the page.
    Vptr {
        /// X, or null.
        #[serde(default)]
        x: Option<f64>,
        /// Y, or null.
        #[serde(default)]
        y: Option<f64>,
    },
}

/// The visitor's remote-control states (`{"t":"rc","state":..}`).
pub const RC_STATES: [&str; 4] = ["requested", "accepted", "declined", "off"];

/// The reasons an `actres` may give.
pub const ACT_REFUSALS: [&str; 7] = [
    "masked",
    "password",
    "javascript",
    "missing",
    "notenabled",
    "disabled",
    "invalid",
];

/// The kinds of agent action (`act` `type`).
pub const ACT_TYPES: [&str; 4] = ["click", "type", "change", "key"];

/// The keys an agent may press in a field (`act` `type":"key"`).
pub const ACT_KEYS: [&str; 3] = ["Enter", "Tab", "Escape"];

/// An agent's action on the visitor's page (remote control).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Act {
    /// The agent's counter.
    pub id: u64,
    /// `click`, `type`, `change` or `key` (see [`ACT_TYPES`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The target element.
    pub gid: Gid,
    /// The field's whole new value (`type`, `change`).
    #[serde(default)]
    pub value: Option<String>,
    /// The key pressed (`key`): see [`ACT_KEYS`].
    #[serde(default)]
    pub key: Option<String>,
    /// Click point as a fraction of the element box.
    #[serde(default)]
    pub x: Option<f64>,
    /// Click point as a fraction of the element box.
    #[serde(default)]
    pub y: Option<f64>,
}

/// Messages an agent viewer sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum AgentMsg {
    /// Please send the current snapshot.
    Snapreq,
    /// The agent ends the session.
    End,
    /// A session message for the visitor (`sendSessionMessage`).
    Msg {
        /// Message name.
        name: String,
        /// Payload (a JSON object).
        data: serde_json::Value,
    },
    /// The agent pauses or resumes the session.
    Pause {
        /// Paused or not.
        paused: bool,
    },
    /// The agent requests (`on`) or stops remote control.
    Rc {
        /// Request or stop.
        on: bool,
    },
    /// The agent turns the visitor's accessibility features (screen-reader announcements of
    /// gestures) on or off for the session.
    A11y {
        /// On or off.
        on: bool,
    },
    /// A remote-control action.
    Act(Act),
    /// Navigate the visitor: a relative or absolute URL, or `back`, `forward`, `refresh`.
    Nav {
        /// Where to.
        url: String,
        /// Ask the visitor first.
        #[serde(default)]
        confirm: bool,
        /// In a new window.
        #[serde(default)]
        open: bool,
        /// Show it as a link the visitor clicks.
        #[serde(default)]
        link: bool,
    },
    /// A gesture: `outline` an element (`gid`) or `clear`.
    Gesture {
        /// `outline` or `clear`.
        kind: String,
        /// The outlined element.
        #[serde(default)]
        gid: Option<Gid>,
    },
    /// The agent's pointer in document CSS pixels; `x` null hides it.
    Ptr {
        /// X, or null.
        #[serde(default)]
        x: Option<f64>,
        /// Y, or null.
        #[serde(default)]
        y: Option<f64>,
    },
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

impl core::error::Error for ProtocolError {}

/// Largest message a server should accept (bytes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Parses a visitor message, rejecting oversized input.
pub fn parse_visitor(text: &str) -> Result<VisitorMsg, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError("message too large".into()));
    }
    serde_json::from_str(text).map_err(|e| ProtocolError(e.to_string()))
}

/// Parses an agent message.
pub fn parse_agent(text: &str) -> Result<AgentMsg, ProtocolError> {
    if text.len() > 64 * 1024 {
        return Err(ProtocolError("message too large".into()));
    }
    serde_json::from_str(text).map_err(|e| ProtocolError(e.to_string()))
}

/// True for a valid session key: 1..=64 of letters, digits, `-`, `_`.
pub fn valid_session_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

// ---------------------------------------------------------------------------------------------
// Deserialization of the array forms.

struct Elements<'de, A: SeqAccess<'de>>(A, core::marker::PhantomData<&'de ()>);

impl<'de, A: SeqAccess<'de>> Elements<'de, A> {
    fn next<T: Deserialize<'de>>(&mut self, what: &'static str) -> Result<T, A::Error> {
        self.0
            .next_element()?
            .ok_or_else(|| de::Error::custom(format_args!("missing {what}")))
    }
    fn opt<T: Deserialize<'de>>(&mut self) -> Result<Option<T>, A::Error> {
        self.0.next_element()
    }
    fn end(mut self) -> Result<(), A::Error> {
        if self.0.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("trailing elements"));
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
struct OptsWire {
    #[serde(default)]
    m: Option<(f64, f64)>,
    #[serde(default)]
    v: Option<String>,
    #[serde(default)]
    k: Option<bool>,
    #[serde(default)]
    ns: Option<String>,
}

struct AttrList(Vec<(String, String)>);

impl<'de> Deserialize<'de> for AttrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let flat: Vec<String> = Vec::deserialize(d)?;
        if !flat.len().is_multiple_of(2) {
            return Err(de::Error::custom("attribute list has odd length"));
        }
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(n), Some(v)) = (it.next(), it.next()) {
            out.push((n, v));
        }
        Ok(AttrList(out))
    }
}

/// A record as it is on the wire: `[gidDelta, depth, kind, ...]`.
struct RawRecord {
    delta: i64,
    depth: u32,
    data: NodeData,
}

impl<'de> Deserialize<'de> for RawRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRecord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node record array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawRecord, A::Error> {
                let mut s = Elements(seq, core::marker::PhantomData);
                let delta: i64 = s.next("gid delta")?;
                let depth: u32 = s.next("depth")?;
                let k: u8 = s.next("kind")?;
                let data = match k {
                    kind::ELEMENT => {
                        let tag: String = s.next("tag")?;
                        if tag.is_empty() || tag.len() > 256 {
                            return Err(de::Error::custom("bad tag name"));
                        }
                        let attrs: AttrList = s.next("attrs")?;
                        let o: OptsWire = s.opt()?.unwrap_or_default();
                        NodeData::Element(Element {
                            tag,
                            attrs: attrs.0,
                            opts: ElementOpts {
                                masked: o.m,
                                value: o.v,
                                checked: o.k,
                                ns: o.ns,
                            },
                        })
                    }
                    kind::TEXT => NodeData::Text(s.next("data")?),
                    kind::COMMENT => NodeData::Comment(s.next("data")?),
                    kind::DOCTYPE => NodeData::Doctype(s.next("name")?),
                    kind::DOCUMENT => NodeData::Document(s.next("base")?),
                    kind::SHADOW => NodeData::Shadow(s.next("mode")?),
                    _ => return Err(de::Error::custom("unknown node kind")),
                };
                s.end()?;
                Ok(RawRecord { delta, depth, data })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Gives wire records their gids and parents: a record's gid is the previous record's plus
/// its delta (the first one's: 0 plus its delta), and its parent is the element at `depth - 1`
/// on the current preorder path below `base` (depth 1: a child of `base`).
fn resolve(raw: Vec<RawRecord>, base: Gid) -> Result<Vec<NodeRecord>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut stack: Vec<Gid> = vec![base];
    let mut prev: i64 = 0;
    for r in raw {
        let gid = prev + r.delta;
        if gid <= 0 || gid > Gid::MAX as i64 {
            return Err(format!("gid {gid} out of range"));
        }
        let depth = r.depth as usize;
        if depth == 0 || depth > stack.len() {
            return Err(format!("depth {depth} does not follow the preorder path"));
        }
        stack.truncate(depth);
        let parent = stack[depth - 1];
        if r.data.is_container() {
            stack.push(gid as Gid);
        }
        prev = gid;
        out.push(NodeRecord {
            gid: gid as Gid,
            parent,
            data: r.data,
        });
    }
    Ok(out)
}

fn document_records<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NodeRecord>, D::Error> {
    let raw: Vec<RawRecord> = Vec::deserialize(d)?;
    resolve(raw, DOCUMENT).map_err(de::Error::custom)
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Op;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a diff op array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Op, A::Error> {
                let mut s = Elements(seq, core::marker::PhantomData);
                let code: String = s.next("op code")?;
                let op = match code.as_str() {
                    "c" => {
                        let parent: Gid = s.next("parent")?;
                        let list = s.next("child list")?;
                        let raw: Vec<RawRecord> = s.next("records")?;
                        Op::Children {
                            parent,
                            list,
                            records: resolve(raw, parent).map_err(de::Error::custom)?,
                        }
                    }
                    "a" => Op::Attr {
                        gid: s.next("gid")?,
                        name: s.next("name")?,
                        value: s.next("value")?,
                    },
                    "x" => Op::Text {
                        gid: s.next("gid")?,
                        data: s.next("data")?,
                    },
                    "v" => Op::Value {
                        gid: s.next("gid")?,
                        value: s.next("value")?,
                    },
                    "k" => Op::Checked {
                        gid: s.next("gid")?,
                        checked: s.next("checked")?,
                    },
                    "s" => Op::Scroll {
                        gid: s.next("gid")?,
                        x: s.next("x")?,
                        y: s.next("y")?,
                    },
                    "w" => Op::Viewport {
                        w: s.next("w")?,
                        h: s.next("h")?,
                    },
                    "m" => Op::Mask {
                        gid: s.next("gid")?,
                        w: s.next("w")?,
                        h: s.next("h")?,
                    },
                    "css" => Op::Css {
                        gid: s.next("gid")?,
                        text: s.next("text")?,
                    },
                    "sheet" => Op::Sheet {
                        id: s.next("id")?,
                        text: s.next("text")?,
                    },
                    "adopt" => Op::Adopt {
                        gid: s.next("gid")?,
                        ids: s.next("ids")?,
                    },
                    "o" => Op::Select {
                        gid: s.next("gid")?,
                        selected: s.next("selected")?,
                    },
                    "f" => Op::Focus {
                        gid: s.next("gid")?,
                    },
                    "h" => Op::Hover {
                        gid: s.next("gid")?,
                    },
                    "media" => Op::Media {
                        gid: s.next("gid")?,
                        paused: s.next("paused")?,
                        time: s.next("time")?,
                        rate: s.next("rate")?,
                        muted: s.next("muted")?,
                    },
                    "img" => Op::Image {
                        gid: s.next("gid")?,
                        url: s.next("url")?,
                    },
                    "top" => Op::Top {
                        gid: s.next("gid")?,
                        open: s.next("open")?,
                        modal: s.next("modal")?,
                    },
                    _ => return Err(de::Error::custom("unknown op")),
                };
                s.end()?;
                Ok(op)
            }
        }
        d.deserialize_seq(V)
    }
}

/// Writers for the array forms, shared by the engine (hot path) and the server's snapshots.
pub mod write {
    use super::*;

    /// Turns (gid, parent) pairs met in preorder into the wire's (gid delta, depth).
    #[derive(Debug, Clone)]
    pub struct Cursor {
        prev: i64,
        stack: Vec<Gid>,
    }

    impl Cursor {
        /// A cursor for records below `base` (the document for snapshots, the op's parent for
        /// child lists).
        pub fn new(base: Gid) -> Cursor {
            Cursor {
                prev: 0,
                stack: vec![base],
            }
        }

        /// The (delta, depth) of the next record, or `None` when `parent` is not on the current
        /// preorder path (records out of order).
        pub fn place(&mut self, gid: Gid, parent: Gid, element: bool) -> Option<(i64, usize)> {
            let i = self.stack.iter().rposition(|&g| g == parent)?;
            self.stack.truncate(i + 1);
            if element {
                self.stack.push(gid);
            }
            let delta = gid as i64 - self.prev;
            self.prev = gid as i64;
            Some((delta, i + 1))
        }
    }

    fn head(out: &mut String, delta: i64, depth: usize, kind: u8) {
        out.push('[');
        if delta < 0 {
            out.push('-');
        }
        json::uint(out, delta.unsigned_abs());
        out.push(',');
        json::uint(out, depth as u64);
        out.push(',');
        json::uint(out, kind as u64);
        out.push(',');
    }

    /// Writes `[delta,depth,1,"tag",[` ; follow with [`attr`] calls and [`element_end`].
    pub fn element_start(out: &mut String, delta: i64, depth: usize, tag: &str) {
        head(out, delta, depth, kind::ELEMENT);
        json::string(out, tag);
        out.push_str(",[");
    }

    /// Writes one attribute pair; `first` is true for the first pair of the element.
    pub fn attr(out: &mut String, first: bool, name: &str, value: &str) {
        if !first {
            out.push(',');
        }
        json::string(out, name);
        out.push(',');
        json::string(out, value);
    }

    /// Closes the attribute list and writes `opts` when non-empty, then closes the record.
    pub fn element_end(out: &mut String, opts: &ElementOpts) {
        out.push(']');
        if !opts.is_empty() {
            out.push_str(",{");
            let mut first = true;
            let mut key = |out: &mut String, k: &str| {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push('"');
                out.push_str(k);
                out.push_str("\":");
            };
            if let Some((w, h)) = opts.masked {
                key(out, "m");
                out.push('[');
                json::number(out, w);
                out.push(',');
                json::number(out, h);
                out.push(']');
            }
            if let Some(v) = &opts.value {
                key(out, "v");
                json::string(out, v);
            }
            if let Some(k) = opts.checked {
                key(out, "k");
                json::boolean(out, k);
            }
            if let Some(ns) = &opts.ns {
                key(out, "ns");
                json::string(out, ns);
            }
            out.push('}');
        }
        out.push(']');
    }

    /// Writes a text, comment or doctype record.
    pub fn leaf(out: &mut String, delta: i64, depth: usize, kind: u8, data: &str) {
        head(out, delta, depth, kind);
        json::string(out, data);
        out.push(']');
    }

    /// Writes a whole record placed by `cursor`; false (nothing written) when the record is not
    /// in preorder below the cursor's base.
    pub fn record(out: &mut String, cursor: &mut Cursor, r: &NodeRecord) -> bool {
        let Some((delta, depth)) = cursor.place(r.gid, r.parent, r.data.is_container()) else {
            return false;
        };
        match &r.data {
            NodeData::Element(e) => {
                element_start(out, delta, depth, &e.tag);
                for (i, (n, v)) in e.attrs.iter().enumerate() {
                    attr(out, i == 0, n, v);
                }
                element_end(out, &e.opts);
            }
            NodeData::Text(t) => leaf(out, delta, depth, kind::TEXT, t),
            NodeData::Comment(t) => leaf(out, delta, depth, kind::COMMENT, t),
            NodeData::Doctype(t) => leaf(out, delta, depth, kind::DOCTYPE, t),
            NodeData::Document(t) => leaf(out, delta, depth, kind::DOCUMENT, t),
            NodeData::Shadow(t) => leaf(out, delta, depth, kind::SHADOW, t),
        }
        true
    }

    /// Writes one op.
    pub fn op(out: &mut String, op: &Op) {
        match op {
            Op::Children {
                parent,
                list,
                records,
            } => {
                out.push_str("[\"c\",");
                json::uint(out, *parent as u64);
                out.push_str(",[");
                for (i, g) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json::uint(out, *g as u64);
                }
                out.push_str("],[");
                let mut cursor = Cursor::new(*parent);
                let mut first = true;
                for r in records {
                    let mark = out.len();
                    if !first {
                        out.push(',');
                    }
                    if record(out, &mut cursor, r) {
                        first = false;
                    } else {
                        out.truncate(mark);
                    }
                }
                out.push_str("]]");
            }
            Op::Attr { gid, name, value } => {
                out.push_str("[\"a\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::string(out, name);
                out.push(',');
                json::opt_string(out, value.as_deref());
                out.push(']');
            }
            Op::Text { gid, data } => {
                out.push_str("[\"x\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::string(out, data);
                out.push(']');
            }
            Op::Value { gid, value } => {
                out.push_str("[\"v\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::string(out, value);
                out.push(']');
            }
            Op::Checked { gid, checked } => {
                out.push_str("[\"k\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::boolean(out, *checked);
                out.push(']');
            }
            Op::Scroll { gid, x, y } => {
                out.push_str("[\"s\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::number(out, *x);
                out.push(',');
                json::number(out, *y);
                out.push(']');
            }
            Op::Viewport { w, h } => {
                out.push_str("[\"w\",");
                json::number(out, *w);
                out.push(',');
                json::number(out, *h);
                out.push(']');
            }
            Op::Mask { gid, w, h } => {
                out.push_str("[\"m\",");
                json::uint(out, *gid as u64);
                out.push(',');
                json::number(out, *w);
                out.push(',');
                json::number(out, *h);
                out.push(']');
            }
            Op::Css { gid, text } => gid_str(out, "css", *gid, text),
            Op::Sheet { id, text } => gid_str(out, "sheet", *id, text),
            Op::Image { gid, url } => gid_str(out, "img", *gid, url),
            Op::Adopt { gid, ids } => gid_list(out, "adopt", *gid, ids),
            Op::Select { gid, selected } => gid_list(out, "o", *gid, selected),
            Op::Focus { gid } => gid_only(out, "f", *gid),
            Op::Hover { gid } => gid_only(out, "h", *gid),
            Op::Media {
                gid,
                paused,
                time,
                rate,
                muted,
            } => {
                gid_start(out, "media", *gid);
                json::boolean(out, *paused);
                out.push(',');
                json::number(out, *time);
                out.push(',');
                json::number(out, *rate);
                out.push(',');
                json::boolean(out, *muted);
                out.push(']');
            }
            Op::Top { gid, open, modal } => {
                gid_start(out, "top", *gid);
                json::boolean(out, *open);
                out.push(',');
                json::boolean(out, *modal);
                out.push(']');
            }
        }
    }

    /// `["code",gid,` (followed by the op's other fields and `]`).
    fn gid_start(out: &mut String, code: &str, gid: u32) {
        out.push_str("[\"");
        out.push_str(code);
        out.push_str("\",");
        json::uint(out, gid as u64);
        out.push(',');
    }

    fn gid_only(out: &mut String, code: &str, gid: u32) {
        gid_start(out, code, gid);
        out.pop();
        out.push(']');
    }

    fn gid_str(out: &mut String, code: &str, gid: u32, s: &str) {
        gid_start(out, code, gid);
        json::string(out, s);
        out.push(']');
    }

    fn gid_list(out: &mut String, code: &str, gid: u32, list: &[u32]) {
        gid_start(out, code, gid);
        out.push('[');
        for (i, x) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::uint(out, *x as u64);
        }
        out.push_str("]]");
    }

    /// Writes the header of a snapshot message up to and including `"nodes":[`.
    #[allow(clippy::too_many_arguments)]
    pub fn snapshot_start(
        out: &mut String,
        page: &str,
        seq: u64,
        url: &str,
        base: &str,
        title: &str,
        viewport: (f64, f64),
        scroll: (f64, f64),
    ) {
        out.push_str("{\"t\":\"snap\",\"page\":");
        json::string(out, page);
        out.push_str(",\"seq\":");
        json::uint(out, seq);
        out.push_str(",\"url\":");
        json::string(out, url);
        out.push_str(",\"base\":");
        json::string(out, base);
        out.push_str(",\"title\":");
        json::string(out, title);
        out.push_str(",\"vw\":");
        json::number(out, viewport.0);
        out.push_str(",\"vh\":");
        json::number(out, viewport.1);
        out.push_str(",\"sx\":");
        json::number(out, scroll.0);
        out.push_str(",\"sy\":");
        json::number(out, scroll.1);
        out.push_str(",\"nodes\":[");
    }

    /// Writes a whole diff message.
    pub fn diff(out: &mut String, page: &str, seq: u64, ops: &[Op]) {
        out.push_str("{\"t\":\"diff\",\"page\":");
        json::string(out, page);
        out.push_str(",\"seq\":");
        json::uint(out, seq);
        out.push_str(",\"ops\":[");
        for (i, o) in ops.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            op(out, o);
        }
        out.push_str("]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let recs = vec![
            NodeRecord {
                gid: 1,
                parent: 0,
                data: NodeData::Doctype("html".into()),
            },
            NodeRecord {
                gid: 2,
                parent: 0,
                data: NodeData::Element(Element {
                    tag: "input".into(),
                    attrs: vec![
                        ("type".into(), "text".into()),
                        ("data-gid".into(), "2".into()),
                    ],
                    opts: ElementOpts {
                        masked: Some((10.0, 20.5)),
                        value: None,
                        checked: Some(true),
                        ns: None,
                    },
                }),
            },
            NodeRecord {
                gid: 3,
                parent: 2,
                data: NodeData::Text("hé \"x\"".into()),
            },
        ];
        let ops = vec![
            Op::Children {
                parent: 0,
                list: vec![1, 2],
                records: recs.clone(),
            },
            Op::Attr {
                gid: 2,
                name: "class".into(),
                value: None,
            },
            Op::Scroll {
                gid: 0,
                x: 1.0,
                y: 2.5,
            },
            Op::Mask {
                gid: 2,
                w: 3.0,
                h: 4.0,
            },
        ];
        let mut out = String::new();
        write::diff(&mut out, "p1", 7, &ops);
        match parse_visitor(&out).unwrap() {
            VisitorMsg::Diff(d) => {
                assert_eq!(d.seq, 7);
                assert_eq!(d.ops, ops);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_records() {
        for bad in [
            r#"{"t":"diff","page":"p","seq":1,"ops":[["c",1,[2],[[2,1,99,"x"]]]]}"#,
            r#"{"t":"diff","page":"p","seq":1,"ops":[["c",1,[2],[[2,1,1,"div",["a"]]]]]}"#,
            r#"{"t":"diff","page":"p","seq":1,"ops":[["zz",1]]}"#,
            r#"{"t":"diff","page":"p","seq":1,"ops":[["x",1,"a","extra"]]}"#,
            r#"{"t":"nope"}"#,
            "not json",
        ] {
            assert!(parse_visitor(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn remote_control_messages() {
        assert_eq!(
            parse_agent(r#"{"t":"act","id":3,"type":"click","gid":7,"x":0.5,"y":0.5}"#).unwrap(),
            AgentMsg::Act(Act {
                id: 3,
                kind: "click".into(),
                gid: 7,
                value: None,
                key: None,
                x: Some(0.5),
                y: Some(0.5),
            })
        );
        assert_eq!(
            parse_agent(r#"{"t":"nav","url":"back"}"#).unwrap(),
            AgentMsg::Nav {
                url: "back".into(),
                confirm: false,
                open: false,
                link: false
            }
        );
        assert_eq!(
            parse_agent(r#"{"t":"ptr","x":null}"#).unwrap(),
            AgentMsg::Ptr { x: None, y: None }
        );
        assert_eq!(
            parse_agent(r#"{"t":"gesture","kind":"clear"}"#).unwrap(),
            AgentMsg::Gesture {
                kind: "clear".into(),
                gid: None
            }
        );
        assert_eq!(
            parse_agent(r#"{"t":"rc","on":true}"#).unwrap(),
            AgentMsg::Rc { on: true }
        );
        assert_eq!(
            parse_agent(r#"{"t":"a11y","on":false}"#).unwrap(),
            AgentMsg::A11y { on: false }
        );
        for bad in [
            r#"{"t":"a11y"}"#,
            r#"{"t":"a11y","on":"yes"}"#,
            r#"{"t":"act","id":-1,"type":"click","gid":7}"#,
            r#"{"t":"act","id":1,"type":"click"}"#,
            r#"{"t":"act","id":1,"type":"click","gid":4294967296}"#,
            r#"{"t":"rc"}"#,
            r#"{"t":"nav"}"#,
            r#"{"t":"ptr","x":"1"}"#,
        ] {
            assert!(parse_agent(bad).is_err(), "accepted {bad}");
        }
        assert_eq!(
            parse_visitor(r#"{"t":"actres","id":1,"num":2,"ok":false,"reason":"masked"}"#).unwrap(),
            VisitorMsg::Actres {
                id: 1,
                num: 2,
                ok: false,
                reason: Some("masked".into())
            }
        );
        assert_eq!(
            parse_visitor(r#"{"t":"vptr","x":1.5,"y":2}"#).unwrap(),
            VisitorMsg::Vptr {
                x: Some(1.5),
                y: Some(2.0)
            }
        );
        assert!(matches!(
            parse_visitor(r#"{"t":"rc","state":"accepted"}"#).unwrap(),
            VisitorMsg::Rc { .. }
        ));
        assert!(matches!(
            parse_visitor(r#"{"t":"navres","num":1,"ok":true}"#).unwrap(),
            VisitorMsg::Navres { url: None, .. }
        ));
    }

    #[test]
    fn session_keys() {
        assert!(valid_session_key("AB-12_cd"));
        assert!(!valid_session_key(""));
        assert!(!valid_session_key("a b"));
        assert!(!valid_session_key("a*"));
        assert!(!valid_session_key(&"a".repeat(65)));
    }
}
