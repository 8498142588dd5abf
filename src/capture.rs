//! Turns the browser walker's flat batches into masked wire messages.
//!
//! The JS side (`src/web/dom.js`) walks the DOM and pushes plain numbers into one `Uint32Array`
//! and every string into one joined string, so a whole snapshot or mutation batch crosses the
//! JS/wasm boundary in a constant number of calls. Tag and attribute names are interned: each
//! distinct name crosses once per page ([`Recorder::add_names`]).
//!
//! Everything privacy-relevant is decided here, before serialization: mask roots are written as
//! placeholders (only [`mask::SAFE_ATTRS`]), nothing below them is written, passwords are always
//! masked (also after a `type` toggle), `on*` attributes and script URLs are dropped, and script
//! bodies are never sent. The [`Recorder`] also tracks what the agent has (a [`Tree`]), so each
//! diff is checked against the same rules the server and the viewer apply.
//!
//! # Flat format (JS -> wasm)
//! Strings are not in the `ints` stream; instead their UTF-16 length is, at the point the
//! string is consumed, and the characters come from `strs` in the same order.
//! - `NODE flags gid parent kind ...`
//!   - element: `tagName nAttrs (nameId len)*n [w h if MASK] [len if HAS_VALUE]`
//!   - text / comment / doctype: `len`
//!   - content root (iframe document 9, open shadow root 11): `nameId len`: the name is
//!     `#document` / `#shadow-root`, the string the document's base URL / the root's mode. A
//!     root is listed first among its host's children (CHILDREN entries of the host too).
//! - `CHILDREN parent count gid*count NODE... END`: the parent's children are now the listed
//!   gids; the NODE entries are the new nodes (preorder).
//! - `ATTRS gid flags w h n (nameId present [len])*n`
//! - `TEXT gid len`, `VALUE gid len`, `CHECKED gid 0|1`, `SCROLL gid x y`, `VIEWPORT w h`
//! - state entries, after the node entries (in a snapshot they may come anywhere and are
//!   written after its nodes, as the snapshot's `ops`): `SHEET gid len` (a `<style>`'s CSSOM
//!   rules), `CSHEET id len` (a constructed sheet), `ADOPT gid n id*n`, `SELECT gid n index*n`,
//!   `FOCUS gid`, `HOVER gid`, `MEDIA gid paused timeMs rate1000 muted`, `IMAGE gid len`,
//!   `TOP gid open modal`. Each becomes an op only when its node may carry it (see
//!   `Model::state_op`): never for masked or untracked nodes.

use alloc::{string::String, string::ToString, vec::Vec};

use alloc::borrow::Cow;
use core::fmt;

use crate::json::uint_string;
use crate::mask;
use crate::protocol::write::{self, Cursor};
use crate::protocol::{kind, Element, ElementOpts, Gid, NodeData, NodeRecord, Op, DOCUMENT};
use crate::tree::{IdMap, IdSet, Tree, TreeError};
use crate::url;

/// Entry codes of the flat format.
pub mod entry {
    /// A node record.
    pub const NODE: u32 = 1;
    /// A child-list change.
    pub const CHILDREN: u32 = 2;
    /// End of a child-list change.
    pub const END: u32 = 3;
    /// Attribute changes.
    pub const ATTRS: u32 = 4;
    /// Text data change.
    pub const TEXT: u32 = 5;
    /// Form value change.
    pub const VALUE: u32 = 6;
    /// Checked change.
    pub const CHECKED: u32 = 7;
    /// Scroll position.
    pub const SCROLL: u32 = 8;
    /// Viewport size.
    pub const VIEWPORT: u32 = 9;
    /// A `<style>` element's CSSOM rules: `gid len`.
    pub const SHEET: u32 = 10;
    /// A constructed stylesheet's rules: `id len`.
    pub const CSHEET: u32 = 11;
    /// `adoptedStyleSheets` of the document (0) or a content root: `gid n id*n`.
    pub const ADOPT: u32 = 12;
    /// Selected options of a `<select>`: `gid n index*n`.
    pub const SELECT: u32 = 13;
    /// Focused element (0: none): `gid`.
    pub const FOCUS: u32 = 14;
    /// Element under the pointer (0: none): `gid`.
    pub const HOVER: u32 = 15;
    /// Media playback: `gid paused timeMs rateThousandths muted`.
    pub const MEDIA: u32 = 16;
    /// A canvas picture: `gid len` (a `data:image/` URL).
    pub const IMAGE: u32 = 17;
    /// Dialog / popover shown: `gid open modal`.
    pub const TOP: u32 = 18;
}

/// Longest canvas picture sent (a data URL); larger pictures are skipped.
pub const MAX_IMAGE_BYTES: usize = 2 << 20;

/// A state entry as read from a batch, before the privacy checks.
#[derive(Debug)]
enum StateEntry {
    Sheet(Gid, String),
    Constructed(u32, String),
    Adopt(Gid, Vec<u32>),
    Select(Gid, Vec<u32>),
    Focus(Gid),
    Hover(Gid),
    Media(Gid, bool, f64, f64, bool),
    Image(Gid, String),
    Top(Gid, bool, bool),
}

/// Reads the state entry of code `code` (`None`: not a state entry).
fn read_state(code: u32, r: &mut Reader<'_>) -> Result<Option<StateEntry>, CaptureError> {
    let list = |r: &mut Reader<'_>| -> Result<Vec<u32>, CaptureError> {
        let n = r.int()? as usize;
        if n > r.ints.len() {
            return Err(CaptureError::Malformed("list length"));
        }
        (0..n).map(|_| r.int()).collect()
    };
    Ok(Some(match code {
        entry::SHEET => StateEntry::Sheet(r.int()?, capped(r.str()?).to_string()),
        entry::CSHEET => StateEntry::Constructed(r.int()?, capped(r.str()?).to_string()),
        entry::ADOPT => {
            let gid = r.int()?;
            StateEntry::Adopt(gid, list(r)?)
        }
        entry::SELECT => {
            let gid = r.int()?;
            StateEntry::Select(gid, list(r)?)
        }
        entry::FOCUS => StateEntry::Focus(r.int()?),
        entry::HOVER => StateEntry::Hover(r.int()?),
        entry::MEDIA => StateEntry::Media(
            r.int()?,
            r.int()? != 0,
            r.int()? as f64 / 1000.0,
            r.int()? as f64 / 1000.0,
            r.int()? != 0,
        ),
        entry::IMAGE => {
            let gid = r.int()?;
            let url = r.str()?;
            // Too large or not a picture: dropped here, before anything is copied.
            let ok = url.len() <= MAX_IMAGE_BYTES && url.starts_with("data:image/");
            StateEntry::Image(gid, if ok { url.to_string() } else { String::new() })
        }
        entry::TOP => StateEntry::Top(r.int()?, r.int()? != 0, r.int()? != 0),
        _ => return Ok(None),
    }))
}

/// Node flags of the flat format.
pub mod flag {
    /// The element matches a mask selector (size follows).
    pub const MASK: u32 = 1;
    /// A form value string follows.
    pub const HAS_VALUE: u32 = 2;
    /// The control is checked.
    pub const CHECKED: u32 = 4;
    /// The control has a checked state.
    pub const HAS_CHECKED: u32 = 8;
    /// SVG namespace.
    pub const NS_SVG: u32 = 16;
    /// MathML namespace.
    pub const NS_MATH: u32 = 32;
}

/// Why a batch could not be turned into a message.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureError {
    /// The flat data is truncated or inconsistent (an engine bug, never page data).
    Malformed(&'static str),
    /// The batch does not fit what the agent has; a fresh snapshot is needed.
    Resync(String),
}

impl CaptureError {
    /// What `Display` writes, built without `core::fmt` (kept out of the wasm module).
    pub fn message(&self) -> String {
        match self {
            CaptureError::Malformed(w) => ["malformed capture batch: ", w].concat(),
            CaptureError::Resync(w) => ["mirror out of sync: ", w].concat(),
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for CaptureError {}

impl From<TreeError> for CaptureError {
    fn from(e: TreeError) -> Self {
        CaptureError::Resync(e.message())
    }
}

/// One flat batch as received from JS.
#[derive(Debug, Clone, Copy)]
pub struct Flat<'a> {
    /// Numbers.
    pub ints: &'a [u32],
    /// All strings, concatenated.
    pub strs: &'a str,
}

/// Page-level facts that go into a snapshot header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageMeta {
    /// `location.href`.
    pub url: String,
    /// `document.baseURI`.
    pub base: String,
    /// `document.title`.
    pub title: String,
    /// Viewport size.
    pub viewport: (f64, f64),
    /// Window scroll.
    pub scroll: (f64, f64),
}

struct Reader<'a> {
    ints: &'a [u32],
    i: usize,
    strs: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(flat: Flat<'a>) -> Self {
        Reader {
            ints: flat.ints,
            i: 0,
            strs: flat.strs,
            pos: 0,
        }
    }
    fn done(&self) -> bool {
        self.i >= self.ints.len()
    }
    fn int(&mut self) -> Result<u32, CaptureError> {
        let v = self
            .ints
            .get(self.i)
            .copied()
            .ok_or(CaptureError::Malformed("truncated"))?;
        self.i += 1;
        Ok(v)
    }
    /// Reads a string whose UTF-16 length is the next int.
    fn str(&mut self) -> Result<&'a str, CaptureError> {
        let units = self.int()? as usize;
        // `get`, not indexing: the same checks, but no panic path (and its message code).
        let rest = self.strs.get(self.pos..).unwrap_or_default();
        if let Some(head) = rest.get(..units).filter(|h| h.is_ascii()) {
            // Fast path: ASCII, one byte per unit.
            self.pos += units;
            return Ok(head);
        }
        let mut seen = 0usize;
        let mut end = 0usize;
        for c in rest.chars() {
            if seen >= units {
                break;
            }
            seen += c.len_utf16();
            end += c.len_utf8();
        }
        if seen != units {
            return Err(CaptureError::Malformed("string table"));
        }
        self.pos += end;
        Ok(rest.get(..end).unwrap_or_default())
    }
}

/// A decoded element or leaf, borrowing from the batch.
struct Decoded<'a> {
    gid: Gid,
    parent: Gid,
    kind: u8,
    tag_id: u32,
    /// Attributes already filtered for this node's masking state.
    attrs: Vec<(&'a str, Cow<'a, str>)>,
    opts: ElementOpts,
    text: Cow<'a, str>,
    sealed: bool,
    masked: bool,
    skipped: bool,
}

/// What the engine knows about the mirrored page; produces snapshot and diff messages.
#[derive(Debug, Default)]
pub struct Recorder {
    names: Vec<String>,
    model: Model,
    page: String,
    seq: u64,
    /// The snapshot being written, its record cursor, and whether no record was written yet.
    snap: Option<(String, Cursor, bool)>,
    /// State entries met during the snapshot walk (written after its nodes).
    snap_state: Vec<StateEntry>,
}

#[derive(Debug, Default)]
struct Model {
    tree: Tree,
    /// Tag name id of each tracked element.
    tags: IdMap<u32>,
    /// Elements whose children are never sent (mask roots, scripts).
    sealed: IdSet,
    /// Mask roots.
    masked: IdSet,
    /// Inputs that were ever `type=password` (stay masked for good).
    ever_password: IdSet,
    /// Last placeholder size of those inputs.
    mask_sizes: IdMap<(f64, f64)>,
    base: String,
    /// Base URLs of iframe documents (index 0 unused: the page's own base is `base`).
    frame_bases: Vec<String>,
    /// Containers inside an iframe document, with the index of its base in `frame_bases`.
    /// Empty on a page without same-origin iframes, so it costs nothing there.
    base_of: IdMap<u32>,
}

/// Longest single string (text, value, attribute) sent; longer text is truncated and longer
/// URLs are dropped, so one huge string cannot make a message the server must refuse.
pub const MAX_STRING_BYTES: usize = 4 << 20;

/// `s` cut to at most [`MAX_STRING_BYTES`], on a character boundary.
fn capped(s: &str) -> &str {
    if s.len() <= MAX_STRING_BYTES {
        return s;
    }
    let mut end = MAX_STRING_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The attribute that carries each element's gid in the page and in the mirror.
pub const GID_ATTR: &str = "data-gid";

/// Attributes whose value is a URL (resolved against the base, dropped when dangerous).
pub const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "poster",
    "background",
    "cite",
    "data",
    "xlink:href",
    "longdesc",
];

impl Recorder {
    /// A recorder for one page load.
    pub fn new(page: impl Into<String>) -> Self {
        Recorder {
            page: page.into(),
            ..Default::default()
        }
    }

    /// This page load's id.
    pub fn page(&self) -> &str {
        &self.page
    }

    /// The last sequence number used.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Number of nodes the agent has (the document included).
    pub fn tracked(&self) -> usize {
        self.model.tree.len()
    }

    /// Interns new names (NUL-separated), in the order JS assigned their ids.
    pub fn add_names(&mut self, joined: &str) {
        if !joined.is_empty() {
            self.names.extend(joined.split('\0').map(str::to_string));
        }
    }

    /// Builds a `snap` message from a walk of the whole document. Resets the model.
    pub fn snapshot(&mut self, flat: Flat<'_>, meta: &PageMeta) -> Result<String, CaptureError> {
        self.snapshot_begin(meta);
        self.snapshot_chunk(flat)?;
        Ok(self.snapshot_end())
    }

    /// Starts a snapshot written in chunks (one per walker time slice). Resets the model.
    pub fn snapshot_begin(&mut self, meta: &PageMeta) {
        self.model = Model {
            ever_password: core::mem::take(&mut self.model.ever_password),
            mask_sizes: core::mem::take(&mut self.model.mask_sizes),
            base: meta.base.clone(),
            ..Default::default()
        };
        self.seq += 1;
        self.snap_state.clear();
        let mut out = String::with_capacity(64 * 1024);
        write::snapshot_start(
            &mut out,
            &self.page,
            self.seq,
            &meta.url,
            &meta.base,
            &meta.title,
            meta.viewport,
            meta.scroll,
        );
        self.snap = Some((out, Cursor::new(DOCUMENT), true));
    }

    /// Adds the nodes of one walker slice to the snapshot being built.
    pub fn snapshot_chunk(&mut self, flat: Flat<'_>) -> Result<(), CaptureError> {
        let Some((mut out, mut cursor, mut first)) = self.snap.take() else {
            return Err(CaptureError::Malformed("snapshot chunk outside a snapshot"));
        };
        out.reserve(flat.strs.len() + flat.ints.len() * 4);
        // About one node per 6 numbers: reserve instead of rehashing as the page grows.
        let nodes = flat.ints.len() / 6;
        self.model.tree.reserve(nodes);
        self.model.tags.reserve(nodes / 2);
        let mut r = Reader::new(flat);
        while !r.done() {
            let code = r.int()?;
            if code != entry::NODE {
                // State met during the walk (stylesheets, selections...): written after the
                // nodes, once every node it names is known.
                match read_state(code, &mut r)? {
                    Some(e) => self.snap_state.push(e),
                    None => return Err(CaptureError::Malformed("unknown snapshot entry")),
                }
                continue;
            }
            let d = self.model.decode_node(&self.names, &mut r, None)?;
            // A node moved during a time-slice yield can be met twice: keep the first record
            // (the diff that follows the snapshot puts it where it now is).
            if d.skipped || self.model.tree.contains(d.gid) {
                continue;
            }
            self.model.tree.append(d.gid, d.parent)?;
            self.model.remember(&d);
            let mark = out.len();
            if !first {
                out.push(',');
            }
            if !self.write_decoded(&mut out, &mut cursor, &d) {
                out.truncate(mark);
                return Err(CaptureError::Malformed("snapshot not in preorder"));
            }
            first = false;
        }
        self.snap = Some((out, cursor, first));
        Ok(())
    }

    /// Hands the snapshot text written so far (since the last call) to `f` and forgets it, so a
    /// snapshot can be compressed and sent while it is being walked. [`Recorder::snapshot_end`]
    /// then returns only the rest.
    pub fn snapshot_drain(&mut self, f: impl FnOnce(&str)) {
        if let Some((out, _, _)) = &mut self.snap {
            if !out.is_empty() {
                f(out);
                out.clear();
            }
        }
    }

    /// Finishes the snapshot and returns the `snap` message (or, after
    /// [`Recorder::snapshot_drain`], the rest of it).
    pub fn snapshot_end(&mut self) -> String {
        let (mut out, _, _) = self
            .snap
            .take()
            .unwrap_or_else(|| (String::new(), Cursor::new(DOCUMENT), true));
        out.push(']');
        let state = core::mem::take(&mut self.snap_state);
        let mut first = true;
        for e in state {
            if let Some(op) = self.model.state_op(&self.names, e) {
                out.push_str(if first { ",\"ops\":[" } else { "," });
                write::op(&mut out, &op);
                first = false;
            }
        }
        if !first {
            out.push(']');
        }
        out.push('}');
        out
    }

    /// Writes one record; false when it is not in preorder (nothing written).
    fn write_decoded(&self, out: &mut String, cursor: &mut Cursor, d: &Decoded<'_>) -> bool {
        let element = d.kind == kind::ELEMENT;
        let Some((delta, depth)) = cursor.place(d.gid, d.parent, kind::is_container(d.kind)) else {
            return false;
        };
        if element {
            write::element_start(out, delta, depth, &self.names[d.tag_id as usize]);
            for (i, (n, v)) in d.attrs.iter().enumerate() {
                write::attr(out, i == 0, n, v);
            }
            write::element_end(out, &d.opts);
        } else {
            write::leaf(out, delta, depth, d.kind, &d.text);
        }
        true
    }

    fn owned_record(&self, d: &Decoded<'_>) -> NodeRecord {
        let data = match d.kind {
            kind::ELEMENT => NodeData::Element(Element {
                tag: self.names[d.tag_id as usize].clone(),
                attrs: d
                    .attrs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                opts: d.opts.clone(),
            }),
            kind::TEXT => NodeData::Text(d.text.to_string()),
            kind::COMMENT => NodeData::Comment(d.text.to_string()),
            kind::DOCUMENT => NodeData::Document(d.text.to_string()),
            kind::SHADOW => NodeData::Shadow(d.text.to_string()),
            _ => NodeData::Doctype(d.text.to_string()),
        };
        NodeRecord {
            gid: d.gid,
            parent: d.parent,
            data,
        }
    }

    /// Builds a `diff` message from a mutation batch, or `None` when nothing visible changed.
    pub fn diff(&mut self, flat: Flat<'_>) -> Result<Option<String>, CaptureError> {
        let ops = self.diff_ops(flat)?;
        if ops.is_empty() {
            return Ok(None);
        }
        self.seq += 1;
        let mut out = String::new();
        write::diff(&mut out, &self.page, self.seq, &ops);
        Ok(Some(out))
    }

    /// The operations of a mutation batch (exposed for tests).
    ///
    /// Masks first: every element the batch newly masks (a mask selector now matches, or it became
    /// a password input) is turned into a placeholder before any other entry of the batch is
    /// applied, so nothing added under it or set on it in the same batch is ever written.
    pub fn diff_ops(&mut self, flat: Flat<'_>) -> Result<Vec<Op>, CaptureError> {
        let mut ops = Vec::new();
        for (gid, w, h) in self.prescan_masks(flat)? {
            self.model.mask(gid, w, h, &mut ops)?;
        }
        let mut r = Reader::new(flat);
        while !r.done() {
            match r.int()? {
                entry::CHILDREN => self.children_entry(&mut r, &mut ops)?,
                entry::ATTRS => self.attrs_entry(&mut r, &mut ops)?,
                entry::TEXT => {
                    let gid = r.int()?;
                    let data = r.str()?;
                    if self.model.tree.contains(gid) && !self.model.tags.contains_key(&gid) {
                        let parent = self.model.tree.parent(gid).unwrap_or(DOCUMENT);
                        let data = self.model.text_for(&self.names, parent, data);
                        ops.push(Op::Text {
                            gid,
                            data: data.into_owned(),
                        });
                    }
                }
                entry::VALUE => {
                    let gid = r.int()?;
                    let value = r.str()?;
                    if self.model.is_plain_element(gid) {
                        ops.push(Op::Value {
                            gid,
                            value: capped(value).to_string(),
                        });
                    }
                }
                entry::CHECKED => {
                    let gid = r.int()?;
                    let checked = r.int()? != 0;
                    if self.model.is_plain_element(gid) {
                        ops.push(Op::Checked { gid, checked });
                    }
                }
                entry::SCROLL => {
                    let gid = r.int()?;
                    let (x, y) = (r.int()? as f64, r.int()? as f64);
                    if gid == DOCUMENT || self.model.tags.contains_key(&gid) {
                        ops.push(Op::Scroll { gid, x, y });
                    }
                }
                entry::VIEWPORT => {
                    let (w, h) = (r.int()? as f64, r.int()? as f64);
                    ops.push(Op::Viewport { w, h });
                }
                code => match read_state(code, &mut r)? {
                    Some(e) => ops.extend(self.model.state_op(&self.names, e)),
                    None => return Err(CaptureError::Malformed("unknown entry")),
                },
            }
        }
        Ok(ops)
    }

    /// Elements the batch newly masks, found without applying anything.
    fn prescan_masks(&self, flat: Flat<'_>) -> Result<Vec<(Gid, f64, f64)>, CaptureError> {
        let mut r = Reader::new(flat);
        let mut found = Vec::new();
        while !r.done() {
            match r.int()? {
                entry::CHILDREN => {
                    r.int()?;
                    let count = r.int()? as usize;
                    if count > r.ints.len() {
                        return Err(CaptureError::Malformed("child count"));
                    }
                    for _ in 0..count {
                        r.int()?;
                    }
                    loop {
                        match r.int()? {
                            entry::END => break,
                            entry::NODE => skip_node(&mut r)?,
                            _ => return Err(CaptureError::Malformed("children entry")),
                        }
                    }
                }
                entry::ATTRS => {
                    let gid = r.int()?;
                    let flags = r.int()?;
                    let (w, h) = (r.int()? as f64, r.int()? as f64);
                    let n = r.int()? as usize;
                    let mut password = false;
                    for _ in 0..n {
                        let name = r.int()? as usize;
                        if r.int()? != 0 {
                            let v = r.str()?;
                            password |= self.names.get(name).is_some_and(|n| n == "type")
                                && (v.eq_ignore_ascii_case("password")
                                    || v.eq_ignore_ascii_case("hidden"));
                        }
                    }
                    let input =
                        self.model.tags.get(&gid).is_some_and(|&t| {
                            self.names.get(t as usize).is_some_and(|n| n == "input")
                        });
                    if flags & flag::MASK != 0 || (password && input) {
                        found.push((gid, w, h));
                    }
                }
                entry::TEXT | entry::VALUE => {
                    r.int()?;
                    r.str()?;
                }
                entry::CHECKED => {
                    r.int()?;
                    r.int()?;
                }
                entry::SCROLL => {
                    r.int()?;
                    r.int()?;
                    r.int()?;
                }
                entry::VIEWPORT => {
                    r.int()?;
                    r.int()?;
                }
                code => {
                    if read_state(code, &mut r)?.is_none() {
                        return Err(CaptureError::Malformed("unknown entry"));
                    }
                }
            }
        }
        Ok(found)
    }

    fn children_entry(
        &mut self,
        r: &mut Reader<'_>,
        ops: &mut Vec<Op>,
    ) -> Result<(), CaptureError> {
        let parent = r.int()?;
        let count = r.int()? as usize;
        if count > r.ints.len() {
            return Err(CaptureError::Malformed("child count"));
        }
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            list.push(r.int()?);
        }
        let live = self.model.tree.contains(parent)
            && !self.model.sealed.contains(&parent)
            && (parent == DOCUMENT || self.model.tags.contains_key(&parent));
        let ancestors = if live {
            self.model.tree.ancestors_or_self(parent)
        } else {
            IdSet::default()
        };
        // Phase 1: decode the new records. `fresh` holds their gids, `fresh_sealed` those whose
        // children are never sent (judged from the new records, not from old nodes they replace).
        let mut fresh = IdSet::default();
        let mut fresh_sealed = IdSet::default();
        let mut decoded = Vec::new();
        loop {
            match r.int()? {
                entry::END => break,
                entry::NODE => {
                    let d =
                        self.model
                            .decode_node(&self.names, r, Some((&fresh, &fresh_sealed)))?;
                    if !live || d.skipped {
                        continue;
                    }
                    if d.parent == parent {
                        if ancestors.contains(&d.gid) {
                            return Err(CaptureError::Resync("node would contain itself".into()));
                        }
                    } else if !fresh.contains(&d.parent) || fresh_sealed.contains(&d.parent) {
                        continue;
                    }
                    fresh.insert(d.gid);
                    if d.sealed {
                        fresh_sealed.insert(d.gid);
                    }
                    if kind::is_container(d.kind) {
                        // Its children's decoding needs its tag (e.g. CSS text under <style>)
                        // and base URL; phase 2 records them again after removing what it
                        // replaces.
                        self.model.tags.insert(d.gid, d.tag_id);
                        self.model.note_base(&d);
                    }
                    decoded.push(d);
                }
                _ => return Err(CaptureError::Malformed("children entry")),
            }
        }
        // Phase 2: nodes sent again replace their old selves (removed in one pass), then the new
        // nodes are created.
        let replaced: Vec<Gid> = decoded
            .iter()
            .map(|d| d.gid)
            .filter(|g| self.model.tree.contains(*g))
            .collect();
        let removed = self.model.tree.remove_many(&replaced);
        self.model.forget(&removed);
        let mut records = Vec::with_capacity(decoded.len());
        for d in &decoded {
            if d.parent == parent {
                self.model.tree.create_detached(d.gid)?;
            } else {
                self.model.tree.append(d.gid, d.parent)?;
            }
            self.model.remember(d);
            records.push(self.owned_record(d));
        }
        if !live {
            return Ok(());
        }
        // Every listed child must be a current child or new: anything else means the walker and
        // the agent disagree, and a fresh snapshot is better than a silently wrong mirror.
        let current: IdSet = self.model.tree.children(parent).iter().copied().collect();
        if let Some(g) = list
            .iter()
            .find(|g| !current.contains(*g) && !fresh.contains(*g))
        {
            return Err(CaptureError::Resync(
                [
                    "child ",
                    &uint_string(u64::from(*g)),
                    " of ",
                    &uint_string(u64::from(parent)),
                    " is unknown",
                ]
                .concat(),
            ));
        }
        let mut removed = Vec::new();
        self.model
            .tree
            .set_children(parent, &list, &fresh, &mut removed)?;
        removed.extend(self.model.tree.collect_detached(fresh.iter().copied()));
        self.model.forget(&removed);
        ops.push(Op::Children {
            parent,
            list,
            records,
        });
        Ok(())
    }

    fn attrs_entry(&mut self, r: &mut Reader<'_>, ops: &mut Vec<Op>) -> Result<(), CaptureError> {
        let gid = r.int()?;
        let flags = r.int()?;
        let (w, h) = (r.int()? as f64, r.int()? as f64);
        let n = r.int()? as usize;
        let mut changes: Vec<(&str, Option<&str>)> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name_id = r.int()? as usize;
            let present = r.int()? != 0;
            let value = if present { Some(r.str()?) } else { None };
            let name = self
                .names
                .get(name_id)
                .ok_or(CaptureError::Malformed("name id"))?;
            if name != GID_ATTR {
                changes.push((name.as_str(), value));
            }
        }
        let m = &mut self.model;
        let Some(&tag_id) = m.tags.get(&gid) else {
            return Ok(());
        };
        let tag = self.names[tag_id as usize].as_str();
        let becomes_password = tag == "input"
            && changes.iter().any(|(n, v)| {
                *n == "type" && v.is_some_and(|v| v.eq_ignore_ascii_case("password"))
            });
        if becomes_password {
            m.ever_password.insert(gid);
        }
        if flags & flag::MASK != 0 || m.ever_password.contains(&gid) {
            m.mask(gid, w, h, ops)?;
        }
        let masked = m.masked.contains(&gid);
        let script = tag == "script";
        for (name, value) in changes {
            let keep = if masked {
                mask::is_safe_attr(name)
            } else if script {
                name == "type"
            } else {
                true
            };
            if !keep {
                continue;
            }
            match value {
                None if never_kept(tag, name) => {}
                None => ops.push(Op::Attr {
                    gid,
                    name: name.to_string(),
                    value: None,
                }),
                Some(v) => match filter_attr(m.base_for(gid), tag, name, v) {
                    Some(v) => ops.push(Op::Attr {
                        gid,
                        name: name.to_string(),
                        value: Some(v.into_owned()),
                    }),
                    None => ops.push(Op::Attr {
                        gid,
                        name: name.to_string(),
                        value: None,
                    }),
                },
            }
        }
        Ok(())
    }
}

/// Attributes the mirror can never hold, so their removal need not be sent either.
fn never_kept(tag: &str, name: &str) -> bool {
    let b = name.as_bytes();
    (b.len() >= 2 && b[..2].eq_ignore_ascii_case(b"on"))
        || name == "srcdoc"
        || (tag == "meta" && name == "http-equiv")
}

/// Filters one attribute of an unmasked element: `None` drops it.
fn filter_attr<'a>(base: &str, tag: &str, name: &'a str, value: &'a str) -> Option<Cow<'a, str>> {
    if value.len() > MAX_STRING_BYTES && (URL_ATTRS.contains(&name) || name == "srcset") {
        return None;
    }
    let value = capped(value);
    if never_kept(tag, name) {
        return None;
    }
    // SVG <animate>/<set> can assign a URL at run time through these value lists.
    if matches!(name, "values" | "to" | "from" | "by") && value.split(';').any(url::is_dangerous) {
        return None;
    }
    if URL_ATTRS.contains(&name) {
        if url::is_dangerous(value) {
            return None;
        }
        if base.is_empty() {
            return Some(Cow::Borrowed(value));
        }
        return Some(Cow::Owned(url::resolve(base, value)));
    }
    if name == "srcset" && !base.is_empty() {
        return Some(Cow::Owned(url::resolve_srcset(base, value)));
    }
    if name == "style" && !base.is_empty() {
        if let Some(css) = url::rewrite_css(base, value) {
            return Some(Cow::Owned(css));
        }
    }
    Some(Cow::Borrowed(value))
}

/// Skips one NODE entry (after its code) without applying it.
fn skip_node(r: &mut Reader<'_>) -> Result<(), CaptureError> {
    let flags = r.int()?;
    r.int()?;
    r.int()?;
    match r.int()? as u8 {
        kind::ELEMENT => {
            r.int()?;
            let n = r.int()? as usize;
            for _ in 0..n {
                r.int()?;
                r.str()?;
            }
            if flags & flag::MASK != 0 {
                r.int()?;
                r.int()?;
            }
            if flags & flag::HAS_VALUE != 0 {
                r.str()?;
            }
        }
        kind::TEXT | kind::COMMENT | kind::DOCTYPE => {
            r.str()?;
        }
        kind::DOCUMENT | kind::SHADOW => {
            r.int()?;
            r.str()?;
        }
        _ => return Err(CaptureError::Malformed("node kind")),
    }
    Ok(())
}

impl Model {
    /// Turns a tracked element into a masked placeholder (once); nothing below it stays tracked.
    fn mask(&mut self, gid: Gid, w: f64, h: f64, ops: &mut Vec<Op>) -> Result<(), CaptureError> {
        if self.masked.contains(&gid) || !self.tags.contains_key(&gid) {
            return Ok(());
        }
        ops.push(Op::Mask { gid, w, h });
        if self.ever_password.contains(&gid) {
            self.mask_sizes.insert(gid, (w, h));
        }
        let mut removed = Vec::new();
        self.tree
            .set_children(gid, &[], &IdSet::default(), &mut removed)?;
        self.forget(&removed);
        self.masked.insert(gid);
        self.sealed.insert(gid);
        Ok(())
    }

    fn is_plain_element(&self, gid: Gid) -> bool {
        self.tags.contains_key(&gid) && !self.masked.contains(&gid)
    }

    fn forget(&mut self, removed: &[Gid]) {
        for g in removed {
            self.tags.remove(g);
            self.sealed.remove(g);
            self.masked.remove(g);
        }
        if !self.base_of.is_empty() {
            for g in removed {
                self.base_of.remove(g);
            }
        }
    }

    /// The op for a state entry, when its node may carry that state (else nothing: a masked
    /// or untracked node, the wrong element, a picture that is not one).
    fn state_op(&self, names: &[String], e: StateEntry) -> Option<Op> {
        let tag_is = |gid: Gid, want: &[&str]| {
            self.tags.get(&gid).is_some_and(|&t| {
                names
                    .get(t as usize)
                    .is_some_and(|n| want.contains(&n.as_str()))
            })
        };
        let plain = |gid: Gid, want: &[&str]| self.is_plain_element(gid) && tag_is(gid, want);
        let known = |gid: Gid| gid == DOCUMENT || self.tags.contains_key(&gid);
        Some(match e {
            StateEntry::Sheet(gid, text) if plain(gid, &["style"]) => Op::Css {
                gid,
                text: self.css(gid, text),
            },
            StateEntry::Constructed(id, text) => Op::Sheet {
                id,
                text: self.css(DOCUMENT, text),
            },
            StateEntry::Adopt(gid, ids)
                if gid == DOCUMENT || tag_is(gid, &["#document", "#shadow-root"]) =>
            {
                Op::Adopt { gid, ids }
            }
            StateEntry::Select(gid, selected) if plain(gid, &["select"]) => {
                Op::Select { gid, selected }
            }
            StateEntry::Focus(gid) if known(gid) => Op::Focus { gid },
            StateEntry::Hover(gid) if known(gid) => Op::Hover { gid },
            StateEntry::Media(gid, paused, time, rate, muted)
                if plain(gid, &["video", "audio"]) =>
            {
                Op::Media {
                    gid,
                    paused,
                    time,
                    rate,
                    muted,
                }
            }
            StateEntry::Image(gid, url) if !url.is_empty() && plain(gid, &["canvas"]) => {
                Op::Image { gid, url }
            }
            StateEntry::Top(gid, open, modal) if self.is_plain_element(gid) => {
                Op::Top { gid, open, modal }
            }
            _ => return None,
        })
    }

    /// CSS text with its URLs resolved against the base of `gid`'s document.
    fn css(&self, gid: Gid, text: String) -> String {
        let base = self.base_for(gid);
        if base.is_empty() {
            return text;
        }
        url::rewrite_css(base, &text).unwrap_or(text)
    }

    /// The base URL that relative URLs of node `gid` (a container) resolve against.
    fn base_for(&self, gid: Gid) -> &str {
        match self.base_of.get(&gid) {
            Some(&i) => &self.frame_bases[i as usize],
            None => &self.base,
        }
    }

    /// The base index of a node whose parent is `parent` (0: the page's own base).
    fn base_index(&self, parent: Gid) -> u32 {
        if self.base_of.is_empty() {
            0
        } else {
            self.base_of.get(&parent).copied().unwrap_or(0)
        }
    }

    /// Records which base URL the nodes below container `d` resolve against.
    fn note_base(&mut self, d: &Decoded<'_>) {
        if d.kind == kind::DOCUMENT {
            // An iframe's document: what is inside resolves URLs against its own base.
            let i = match self.frame_bases.iter().position(|b| *b == d.text) {
                Some(i) if i > 0 => i,
                _ => {
                    if self.frame_bases.is_empty() {
                        self.frame_bases.push(String::new());
                    }
                    self.frame_bases.push(d.text.to_string());
                    self.frame_bases.len() - 1
                }
            };
            self.base_of.insert(d.gid, i as u32);
        } else if kind::is_container(d.kind) {
            let b = self.base_index(d.parent);
            if b != 0 {
                self.base_of.insert(d.gid, b);
            }
        }
    }

    fn remember(&mut self, d: &Decoded<'_>) {
        self.note_base(d);
        if d.kind == kind::DOCUMENT || d.kind == kind::SHADOW {
            self.tags.insert(d.gid, d.tag_id);
            return;
        }
        if d.kind == kind::ELEMENT {
            self.tags.insert(d.gid, d.tag_id);
            if d.sealed {
                self.sealed.insert(d.gid);
            }
            if d.masked {
                self.masked.insert(d.gid);
            }
        }
    }

    fn text_for<'a>(&self, names: &[String], parent: Gid, data: &'a str) -> Cow<'a, str> {
        let data = capped(data);
        let is_style = self
            .tags
            .get(&parent)
            .is_some_and(|&t| names.get(t as usize).is_some_and(|n| n == "style"));
        let base = self.base_for(parent);
        if is_style && !base.is_empty() {
            if let Some(css) = url::rewrite_css(base, data) {
                return Cow::Owned(css);
            }
        }
        Cow::Borrowed(data)
    }

    /// Decodes one NODE entry (after its code) and applies the privacy rules. `fresh` is the set
    /// of nodes created earlier in the same child-list entry (for diffs).
    fn decode_node<'a, 'n: 'a, 'r: 'a>(
        &mut self,
        names: &'n [String],
        r: &mut Reader<'r>,
        fresh: Option<(&IdSet, &IdSet)>,
    ) -> Result<Decoded<'a>, CaptureError> {
        let flags = r.int()?;
        let gid = r.int()?;
        let parent = r.int()?;
        let k = r.int()? as u8;
        let (parent_known, parent_sealed) = match fresh {
            Some((f, sealed)) if f.contains(&parent) => (true, sealed.contains(&parent)),
            _ => (
                parent == DOCUMENT
                    || (self.tree.contains(parent) && self.tags.contains_key(&parent)),
                self.sealed.contains(&parent),
            ),
        };
        let skipped = gid == DOCUMENT || !parent_known || parent_sealed;
        let mut d = Decoded {
            gid,
            parent,
            kind: k,
            tag_id: 0,
            attrs: Vec::new(),
            opts: ElementOpts::default(),
            text: Cow::Borrowed(""),
            sealed: false,
            masked: false,
            skipped,
        };
        match k {
            kind::ELEMENT => {
                d.tag_id = r.int()?;
                let tag = names
                    .get(d.tag_id as usize)
                    .ok_or(CaptureError::Malformed("tag id"))?
                    .as_str();
                let n = r.int()? as usize;
                let mut raw: Vec<(&'a str, &'a str)> = Vec::with_capacity(n.min(64));
                let names: &'a [String] = names;
                for _ in 0..n {
                    let name = names
                        .get(r.int()? as usize)
                        .ok_or(CaptureError::Malformed("name id"))?
                        .as_str();
                    let value = r.str()?;
                    // `data-gid` is always written from the gid itself.
                    if name != GID_ATTR {
                        raw.push((name, value));
                    }
                }
                let size = if flags & flag::MASK != 0 {
                    Some((r.int()? as f64, r.int()? as f64))
                } else {
                    None
                };
                let value = if flags & flag::HAS_VALUE != 0 {
                    Some(r.str()?)
                } else {
                    None
                };
                if d.skipped {
                    return Ok(d);
                }
                let input_type = (tag == "input")
                    .then(|| raw.iter().find(|(n, _)| *n == "type").map(|(_, v)| *v))
                    .flatten()
                    .unwrap_or("");
                let is_password = input_type.eq_ignore_ascii_case("password");
                // Hidden inputs are invisible and typically carry tokens: always masked.
                let is_hidden = input_type.eq_ignore_ascii_case("hidden");
                if is_password {
                    self.ever_password.insert(gid);
                }
                d.masked =
                    size.is_some() || is_password || is_hidden || self.ever_password.contains(&gid);
                let script = tag == "script";
                d.sealed = d.masked || script;
                d.opts.ns = if flags & flag::NS_SVG != 0 {
                    Some("svg".into())
                } else if flags & flag::NS_MATH != 0 {
                    Some("math".into())
                } else {
                    None
                };
                if d.masked {
                    // A re-sent password without a size keeps the placeholder size it had.
                    let size = size
                        .or_else(|| self.mask_sizes.get(&gid).copied())
                        .unwrap_or((0.0, 0.0));
                    if is_password || self.ever_password.contains(&gid) {
                        self.mask_sizes.insert(gid, size);
                    }
                    d.opts.masked = Some(size);
                    for (n, v) in raw {
                        if mask::is_safe_attr(n) {
                            let v = filter_attr(self.base_for(parent), tag, n, v)
                                .unwrap_or(Cow::Borrowed(""));
                            d.attrs.push((n, v));
                        }
                    }
                } else if script {
                    for (n, v) in raw {
                        if n == "type" {
                            d.attrs.push((n, Cow::Borrowed(v)));
                        }
                    }
                } else {
                    for (n, v) in raw {
                        if let Some(v) = filter_attr(self.base_for(parent), tag, n, v) {
                            d.attrs.push((n, v));
                        }
                    }
                    d.opts.value = value.map(|v| capped(v).to_string());
                    if flags & flag::HAS_CHECKED != 0 {
                        d.opts.checked = Some(flags & flag::CHECKED != 0);
                    }
                }
            }
            kind::TEXT | kind::COMMENT | kind::DOCTYPE => {
                let data = r.str()?;
                if !d.skipped {
                    d.text = if k == kind::TEXT {
                        self.text_for(names, parent, data)
                    } else {
                        Cow::Borrowed(capped(data))
                    };
                }
            }
            kind::DOCUMENT | kind::SHADOW => {
                // A content root: a name id ("#document" / "#shadow-root") so that it is tracked
                // like an element, then its base URL (documents) or mode (shadow roots).
                d.tag_id = r.int()?;
                names
                    .get(d.tag_id as usize)
                    .ok_or(CaptureError::Malformed("tag id"))?;
                let info = r.str()?;
                if !d.skipped {
                    d.text = Cow::Borrowed(capped(info));
                }
            }
            _ => return Err(CaptureError::Malformed("node kind")),
        }
        Ok(d)
    }
}

/// Builds flat batches; used by the native fixture tests (the browser builds them in JS).
#[derive(Debug, Default)]
pub struct FlatBuilder {
    /// Numbers.
    pub ints: Vec<u32>,
    /// Strings.
    pub strs: String,
    names: Vec<String>,
    new_names: Vec<String>,
}

impl FlatBuilder {
    /// Interned id of `name` (new names are queued for [`FlatBuilder::take_new_names`]).
    pub fn name(&mut self, name: &str) -> u32 {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i as u32;
        }
        self.names.push(name.to_string());
        self.new_names.push(name.to_string());
        (self.names.len() - 1) as u32
    }
    /// Writes an element's NODE entry (a mask size or value, when flagged, follows it).
    pub fn element(
        &mut self,
        flags: u32,
        gid: Gid,
        parent: Gid,
        tag: &str,
        attrs: &[(&str, &str)],
    ) {
        self.ints
            .extend([entry::NODE, flags, gid, parent, kind::ELEMENT as u32]);
        let t = self.name(tag);
        self.ints.extend([t, attrs.len() as u32]);
        for (n, v) in attrs {
            let id = self.name(n);
            self.ints.push(id);
            self.string(v);
        }
    }

    /// Writes a text, comment or doctype NODE entry.
    pub fn leaf(&mut self, gid: Gid, parent: Gid, k: u8, data: &str) {
        self.ints.extend([entry::NODE, 0, gid, parent, k as u32]);
        self.string(data);
    }

    /// Writes a content root's NODE entry (`kind::DOCUMENT` with its base URL, or
    /// `kind::SHADOW` with its mode).
    pub fn root(&mut self, gid: Gid, host: Gid, k: u8, info: &str) {
        self.ints.extend([entry::NODE, 0, gid, host, k as u32]);
        let name = self.name(if k == kind::DOCUMENT {
            "#document"
        } else {
            "#shadow-root"
        });
        self.ints.push(name);
        self.string(info);
    }

    /// Pushes a string (its UTF-16 length into `ints`).
    pub fn string(&mut self, s: &str) {
        self.ints.push(s.encode_utf16().count() as u32);
        self.strs.push_str(s);
    }
    /// NUL-joined names added since the last call.
    pub fn take_new_names(&mut self) -> String {
        core::mem::take(&mut self.new_names).join("\0")
    }
    /// The batch so far, and a reset builder state for the next one (names persist).
    pub fn take(&mut self) -> (Vec<u32>, String) {
        (
            core::mem::take(&mut self.ints),
            core::mem::take(&mut self.strs),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::Mirror;
    use crate::protocol::{parse_visitor, VisitorMsg};

    /// A chain of `depth` nested divs, each with a text child, as the JS walker would flatten it.
    fn deep_chain(b: &mut FlatBuilder, depth: u32) {
        let div = b.name("div");
        let gid_name = b.name("data-gid");
        for g in 1..=depth {
            let parent = if g == 1 { 0 } else { (g - 1) * 2 - 1 };
            let gid = g * 2 - 1;
            b.ints
                .extend([entry::NODE, 0, gid, parent, 1, div, 1, gid_name]);
            b.string(&gid.to_string());
            b.ints.extend([entry::NODE, 0, gid + 1, gid, 3]);
            b.string("t");
        }
    }

    #[test]
    fn ten_thousand_deep_snapshot_and_diff() {
        let mut b = FlatBuilder::default();
        deep_chain(&mut b, 10_000);
        let names = b.take_new_names();
        let (ints, strs) = b.take();
        let mut rec = Recorder::new("p");
        rec.add_names(&names);
        let msg = rec
            .snapshot(
                Flat {
                    ints: &ints,
                    strs: &strs,
                },
                &PageMeta::default(),
            )
            .unwrap();
        let VisitorMsg::Snap(snap) = parse_visitor(&msg).unwrap() else {
            panic!("not a snapshot")
        };
        assert_eq!(snap.nodes.len(), 20_000);
        let mut m = Mirror::new();
        m.apply_snapshot(&snap).unwrap();
        // Append a child at the bottom of the chain.
        let deepest = 10_000 * 2 - 1;
        let p = b.name("p");
        b.ints
            .extend([entry::CHILDREN, deepest, 2, deepest + 1, 30_001]);
        b.ints
            .extend([entry::NODE, 0, 30_001, deepest, 1, p, 0, entry::END]);
        let (ints, strs) = b.take();
        rec.add_names(&b.take_new_names());
        let diff = rec
            .diff(Flat {
                ints: &ints,
                strs: &strs,
            })
            .unwrap()
            .unwrap();
        let VisitorMsg::Diff(d) = parse_visitor(&diff).unwrap() else {
            panic!("not a diff")
        };
        m.apply_diff(&d).unwrap();
        assert_eq!(m.children(deepest), &[deepest + 1, 30_001]);
        assert_eq!(m.records().len(), 20_001);
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// `cargo test --release --lib capture::timing -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run by hand"]
    fn snapshot_of_a_110k_node_table() {
        let mut b = FlatBuilder::default();
        let (table, tr, td, class) = (b.name("table"), b.name("tr"), b.name("td"), b.name("class"));
        b.ints.extend([entry::NODE, 0, 1, 0, 1, table, 0]);
        let mut gid = 2;
        for i in 0..12_222u32 {
            let row = gid;
            b.ints.extend([entry::NODE, 0, row, 1, 1, tr, 1, class]);
            b.string(&format!("r{}", i % 7));
            gid += 1;
            for c in 0..4 {
                let cell = gid;
                b.ints.extend([entry::NODE, 0, cell, row, 1, td, 0]);
                b.ints.extend([entry::NODE, 0, cell + 1, cell, 3]);
                b.string(&format!("cell {c} of row {i}"));
                gid += 2;
            }
        }
        let names = b.take_new_names();
        let (ints, strs) = b.take();
        for _ in 0..3 {
            let mut rec = Recorder::new("p");
            rec.add_names(&names);
            let t = std::time::Instant::now();
            let msg = rec
                .snapshot(
                    Flat {
                        ints: &ints,
                        strs: &strs,
                    },
                    &PageMeta::default(),
                )
                .unwrap();
            eprintln!("{} nodes: {:?}, {} bytes", gid - 1, t.elapsed(), msg.len());
        }
    }
}
