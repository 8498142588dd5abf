//! A small arena DOM for the native capture tests.
//!
//! Documents are parsed with html5ever through the [`Sink`] below (no rcdom), then mutated with
//! DOM-like helpers. Every mutation is recorded as a [`Change`] (the equivalent of a
//! `MutationObserver` record, plus the `input`/`change`/`scroll`/`resize` events the browser
//! engine listens to), which the [`super::walker::Walker`] turns into flat mutation batches.
//!
//! As in the DOM, the `value` and `checked` *properties* of form controls are separate from the
//! `value` and `checked` attributes: until a property is set, it follows the default (attribute,
//! textarea text, selected option).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use html5ever::interface::{ElemName, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{namespace_url, ns, parse_document, Attribute, LocalName, Namespace, QualName};

/// Index of a node in the arena.
pub type NodeId = usize;

/// The document node (always index 0, gid 0).
pub const DOC: NodeId = 0;

/// Element namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// HTML.
    Html,
    /// SVG.
    Svg,
    /// MathML.
    Math,
    /// Anything else.
    Other,
}

/// An element.
#[derive(Clone, Debug, PartialEq)]
pub struct Elem {
    /// `localName`.
    pub name: String,
    /// Namespace.
    pub ns: Ns,
    /// Attributes in order (qualified names, e.g. `xlink:href`).
    pub attrs: Vec<(String, String)>,
    /// The `value` property once set (dirty); `None` follows the default.
    pub value: Option<String>,
    /// The `checked` property once set (dirty); `None` follows the `checked` attribute.
    pub checked: Option<bool>,
    /// Template contents (a fragment outside the tree).
    pub template_contents: Option<NodeId>,
}

impl Elem {
    /// An attribute value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True for an HTML element with this local name.
    pub fn is(&self, name: &str) -> bool {
        self.ns == Ns::Html && self.name == name
    }

    /// The `type` of an `<input>`, lowercased (`text` when absent).
    pub fn input_type(&self) -> String {
        self.attr("type")
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "text".into())
    }

    /// True when the element's class list contains `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_ascii_whitespace().any(|c| c == class))
    }
}

/// Node payload.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// The document.
    Document,
    /// A document fragment (template contents).
    Fragment,
    /// A doctype (its name).
    Doctype(String),
    /// An element.
    Element(Elem),
    /// A text node.
    Text(String),
    /// A comment.
    Comment(String),
}

/// One arena node.
#[derive(Clone, Debug)]
pub struct Node {
    /// Parent, if attached.
    pub parent: Option<NodeId>,
    /// Children in order.
    pub children: Vec<NodeId>,
    /// Payload.
    pub data: Data,
    /// The engine's id, once the walker has seen the node (kept across batches).
    pub gid: Option<u32>,
}

/// What happened (a `MutationRecord` or an event the engine listens to).
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Children of `target` changed.
    ChildList {
        /// The parent.
        target: NodeId,
        /// Inserted nodes.
        added: Vec<NodeId>,
        /// Removed nodes.
        removed: Vec<NodeId>,
    },
    /// An attribute was set or removed; `old` is its previous value (`None`: it was absent).
    Attr {
        /// The element.
        target: NodeId,
        /// Attribute name.
        name: String,
        /// `oldValue`.
        old: Option<String>,
    },
    /// Text or comment data changed.
    Data {
        /// The text or comment node.
        target: NodeId,
    },
    /// The value property changed (`input` event).
    Value {
        /// The control.
        target: NodeId,
    },
    /// The checked property changed (`change` event).
    Checked {
        /// The control.
        target: NodeId,
    },
    /// Scroll (`DOC` for the window).
    Scroll {
        /// Scrolled element or `DOC`.
        target: NodeId,
        /// scrollLeft.
        x: u32,
        /// scrollTop.
        y: u32,
    },
    /// Window resize.
    Viewport {
        /// innerWidth.
        w: u32,
        /// innerHeight.
        h: u32,
    },
}

/// How a form control exposes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Not a control (or nothing to report).
    None,
    /// Has a string value (input, textarea, select).
    Value,
    /// Has a checked state (checkbox, radio).
    Checked,
}

/// The arena document.
#[derive(Clone, Debug)]
pub struct Dom {
    /// All nodes ever created (detached ones included).
    pub nodes: Vec<Node>,
    /// Next gid the walker hands out.
    pub next_gid: u32,
    /// Changes not yet taken by a walker.
    pub changes: Vec<Change>,
    /// Window size.
    pub viewport: (u32, u32),
    /// Window scroll.
    pub scroll: (u32, u32),
    /// Element scroll positions.
    pub scrolls: HashMap<NodeId, (u32, u32)>,
    /// Nodes removed from the document since the changes were last taken: like a
    /// `MutationObserver`'s transient observers, their mutations are still recorded.
    transient: HashSet<NodeId>,
}

impl Default for Dom {
    fn default() -> Self {
        Dom {
            nodes: vec![Node {
                parent: None,
                children: Vec::new(),
                data: Data::Document,
                gid: Some(0),
            }],
            next_gid: 1,
            changes: Vec::new(),
            viewport: (1280, 720),
            scroll: (0, 0),
            scrolls: HashMap::new(),
            transient: HashSet::new(),
        }
    }
}

impl Dom {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an HTML document.
    pub fn parse(html: &str) -> Dom {
        let sink = Sink::default();
        let sink = parse_document(sink, Default::default())
            .from_utf8()
            .one(html.as_bytes());
        let mut dom = sink.dom.into_inner();
        dom.changes.clear();
        dom
    }

    /// Parses a fixture from `tests/fixtures/`.
    pub fn fixture(name: &str) -> Dom {
        Dom::parse(&load_fixture(name))
    }

    // -----------------------------------------------------------------------------------------
    // Reading.

    /// The node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The element, if `id` is one.
    pub fn elem(&self, id: NodeId) -> Option<&Elem> {
        match &self.nodes[id].data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }

    fn elem_mut(&mut self, id: NodeId) -> &mut Elem {
        match &mut self.nodes[id].data {
            Data::Element(e) => e,
            other => panic!("node {id} is not an element: {other:?}"),
        }
    }

    /// Local name of an element.
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        self.elem(id).map(|e| e.name.as_str())
    }

    /// An attribute of an element.
    pub fn attr(&self, id: NodeId, name: &str) -> Option<&str> {
        self.elem(id).and_then(|e| e.attr(name))
    }

    /// The parent.
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.nodes[id].parent
    }

    /// The children.
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id].children
    }

    /// The gid (panics when the walker has not seen the node).
    pub fn gid(&self, id: NodeId) -> u32 {
        self.nodes[id]
            .gid
            .unwrap_or_else(|| panic!("node {id} has no gid"))
    }

    /// Strict ancestors, nearest first.
    pub fn ancestors(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.nodes[id].parent, move |&p| self.nodes[p].parent)
    }

    /// True when `id` is in the document.
    pub fn is_connected(&self, id: NodeId) -> bool {
        id == DOC || self.ancestors(id).any(|a| a == DOC)
    }

    /// True when `anc` is `id` or one of its ancestors.
    pub fn is_inclusive_ancestor(&self, anc: NodeId, id: NodeId) -> bool {
        anc == id || self.ancestors(id).any(|a| a == anc)
    }

    /// `root` and its descendants in preorder (iterative).
    pub fn subtree(&self, root: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }

    /// All nodes of the document in preorder, the document excluded.
    pub fn preorder(&self) -> Vec<NodeId> {
        let mut v = self.subtree(DOC);
        v.remove(0);
        v
    }

    /// The first connected element with this `id` attribute.
    pub fn by_id(&self, id: &str) -> Option<NodeId> {
        self.preorder()
            .into_iter()
            .find(|&n| self.attr(n, "id") == Some(id))
    }

    /// The element with this `id` attribute (panics when absent).
    pub fn id(&self, id: &str) -> NodeId {
        self.by_id(id)
            .unwrap_or_else(|| panic!("no element with id {id:?}"))
    }

    /// Connected elements with this local name, in document order.
    pub fn by_tag(&self, tag: &str) -> Vec<NodeId> {
        self.preorder()
            .into_iter()
            .filter(|&n| self.tag(n) == Some(tag))
            .collect()
    }

    /// Connected nodes matching `pred`, in document order.
    pub fn find_all(&self, pred: impl Fn(&Dom, NodeId) -> bool) -> Vec<NodeId> {
        self.preorder()
            .into_iter()
            .filter(|&n| pred(self, n))
            .collect()
    }

    /// Concatenated data of the descendant text nodes.
    pub fn text_content(&self, id: NodeId) -> String {
        let mut s = String::new();
        for n in self.subtree(id) {
            if let Data::Text(t) = &self.nodes[n].data {
                s.push_str(t);
            }
        }
        s
    }

    /// `document.title`.
    pub fn title(&self) -> String {
        self.by_tag("title")
            .first()
            .map(|&t| collapse_ws(&self.text_content(t)))
            .unwrap_or_default()
    }

    /// `document.baseURI` for a document loaded from `url`.
    pub fn base_uri(&self, url: &str) -> String {
        match self
            .by_tag("base")
            .into_iter()
            .find_map(|b| self.attr(b, "href"))
        {
            Some(href) => glance_cobrowse::url::resolve(url, href),
            None => url.to_string(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Form controls.

    /// What state `id` exposes.
    pub fn control(&self, id: NodeId) -> Control {
        let Some(e) = self.elem(id) else {
            return Control::None;
        };
        if e.is("input") {
            match e.input_type().as_str() {
                "checkbox" | "radio" => Control::Checked,
                "file" => Control::None,
                _ => Control::Value,
            }
        } else if e.is("textarea") || e.is("select") {
            Control::Value
        } else {
            Control::None
        }
    }

    /// The current `value` property of a value control.
    pub fn value_of(&self, id: NodeId) -> Option<String> {
        if self.control(id) != Control::Value {
            return None;
        }
        let e = self.elem(id)?;
        if let Some(v) = &e.value {
            return Some(v.clone());
        }
        if e.is("input") {
            Some(e.attr("value").unwrap_or("").to_string())
        } else if e.is("textarea") {
            Some(self.text_content(id))
        } else {
            // select: the last option with `selected`, else the first option.
            let options: Vec<NodeId> = self
                .subtree(id)
                .into_iter()
                .filter(|&n| self.elem(n).is_some_and(|o| o.is("option")))
                .collect();
            let chosen = options
                .iter()
                .rev()
                .find(|&&o| self.attr(o, "selected").is_some())
                .or(options.first());
            Some(chosen.map(|&o| self.option_value(o)).unwrap_or_default())
        }
    }

    /// An `<option>`'s value.
    pub fn option_value(&self, id: NodeId) -> String {
        match self.attr(id, "value") {
            Some(v) => v.to_string(),
            None => collapse_ws(&self.text_content(id)),
        }
    }

    /// The current `checked` property of a checkbox or radio.
    pub fn checked_of(&self, id: NodeId) -> Option<bool> {
        if self.control(id) != Control::Checked {
            return None;
        }
        let e = self.elem(id)?;
        Some(e.checked.unwrap_or(e.attr("checked").is_some()))
    }

    // -----------------------------------------------------------------------------------------
    // Creating nodes (detached).

    fn push(&mut self, data: Data) -> NodeId {
        self.nodes.push(Node {
            parent: None,
            children: Vec::new(),
            data,
            gid: None,
        });
        self.nodes.len() - 1
    }

    /// A detached HTML element.
    pub fn create_element(&mut self, name: &str, attrs: &[(&str, &str)]) -> NodeId {
        self.create_element_ns(name, Ns::Html, attrs)
    }

    /// A detached element in a namespace.
    pub fn create_element_ns(&mut self, name: &str, ns: Ns, attrs: &[(&str, &str)]) -> NodeId {
        self.push(Data::Element(Elem {
            name: name.to_string(),
            ns,
            attrs: attrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            value: None,
            checked: None,
            template_contents: None,
        }))
    }

    /// A detached text node.
    pub fn create_text(&mut self, data: &str) -> NodeId {
        self.push(Data::Text(data.to_string()))
    }

    /// A detached comment.
    pub fn create_comment(&mut self, data: &str) -> NodeId {
        self.push(Data::Comment(data.to_string()))
    }

    /// A detached deep copy of `id` (no gids, like `cloneNode(true)`).
    pub fn clone_subtree(&mut self, id: NodeId) -> NodeId {
        let mut map = HashMap::new();
        for n in self.subtree(id) {
            let mut data = self.nodes[n].data.clone();
            if let Data::Element(e) = &mut data {
                e.attrs.retain(|(n, _)| n != "data-gid");
                e.template_contents = None;
            }
            let c = self.push(data);
            map.insert(n, c);
            if n != id {
                let p = map[&self.nodes[n].parent.expect("in subtree")];
                self.nodes[c].parent = Some(p);
                self.nodes[p].children.push(c);
            }
        }
        map[&id]
    }

    // -----------------------------------------------------------------------------------------
    // Mutations (recorded).

    /// True when a `MutationObserver` on the document sees mutations of `target`: it is in the
    /// document, or was removed from it since the changes were last taken. (Building a
    /// detached tree is not observed.)
    pub fn observed(&self, target: NodeId) -> bool {
        std::iter::once(target)
            .chain(self.ancestors(target))
            .any(|a| a == DOC || self.transient.contains(&a))
    }

    fn record(&mut self, change: Change) {
        let target = match &change {
            Change::ChildList { target, .. }
            | Change::Attr { target, .. }
            | Change::Data { target }
            | Change::Value { target }
            | Change::Checked { target }
            | Change::Scroll { target, .. } => *target,
            Change::Viewport { .. } => DOC,
        };
        if self.observed(target) {
            self.changes.push(change);
        }
    }

    fn detach_raw(&mut self, child: NodeId) -> Option<NodeId> {
        let p = self.nodes[child].parent.take()?;
        self.nodes[p].children.retain(|&c| c != child);
        Some(p)
    }

    /// `parent.insertBefore(child, before)`; `before = None` appends. Moving a node records a
    /// removal from its old parent first, as the DOM does.
    pub fn insert_before(&mut self, parent: NodeId, child: NodeId, before: Option<NodeId>) {
        assert!(
            !self.is_inclusive_ancestor(child, parent),
            "hierarchy error: {child} would contain itself"
        );
        assert!(matches!(
            self.nodes[parent].data,
            Data::Element(_) | Data::Document | Data::Fragment
        ));
        if let Some(b) = before {
            assert_eq!(
                self.nodes[b].parent,
                Some(parent),
                "reference is not a child"
            );
        }
        if before == Some(child) {
            return;
        }
        let was_observed = self.observed(child);
        if let Some(old) = self.detach_raw(child) {
            if was_observed {
                self.transient.insert(child);
            }
            self.record(Change::ChildList {
                target: old,
                added: vec![],
                removed: vec![child],
            });
        }
        let idx = match before {
            Some(b) => self.nodes[parent]
                .children
                .iter()
                .position(|&c| c == b)
                .expect("checked"),
            None => self.nodes[parent].children.len(),
        };
        self.nodes[parent].children.insert(idx, child);
        self.nodes[child].parent = Some(parent);
        self.record(Change::ChildList {
            target: parent,
            added: vec![child],
            removed: vec![],
        });
    }

    /// `parent.appendChild(child)`.
    pub fn append(&mut self, parent: NodeId, child: NodeId) {
        self.insert_before(parent, child, None);
    }

    /// `child.remove()`.
    pub fn remove(&mut self, child: NodeId) {
        let was_observed = self.observed(child);
        if let Some(p) = self.detach_raw(child) {
            if was_observed {
                self.transient.insert(child);
            }
            self.record(Change::ChildList {
                target: p,
                added: vec![],
                removed: vec![child],
            });
        }
    }

    /// Replaces all children of `el` with one text node (`textContent = s`).
    pub fn set_text_content(&mut self, el: NodeId, s: &str) -> NodeId {
        let removed = std::mem::take(&mut self.nodes[el].children);
        let was_observed = self.observed(el);
        for &c in &removed {
            self.nodes[c].parent = None;
            if was_observed {
                self.transient.insert(c);
            }
        }
        let t = self.create_text(s);
        self.nodes[el].children.push(t);
        self.nodes[t].parent = Some(el);
        self.record(Change::ChildList {
            target: el,
            added: vec![t],
            removed,
        });
        t
    }

    /// `el.setAttribute(name, value)`.
    pub fn set_attr(&mut self, el: NodeId, name: &str, value: &str) {
        let e = self.elem_mut(el);
        let old = match e.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value.to_string())),
            None => {
                e.attrs.push((name.to_string(), value.to_string()));
                None
            }
        };
        self.record(Change::Attr {
            target: el,
            name: name.to_string(),
            old,
        });
    }

    /// Sets an attribute without recording it (the engine's own `data-gid` writes happen while
    /// its observer is disconnected).
    pub fn set_attr_silent(&mut self, el: NodeId, name: &str, value: &str) {
        let e = self.elem_mut(el);
        match e.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => e.attrs.push((name.to_string(), value.to_string())),
        }
    }

    /// `el.removeAttribute(name)` (records only when it was present, as the DOM does).
    pub fn remove_attr(&mut self, el: NodeId, name: &str) {
        let e = self.elem_mut(el);
        if let Some(i) = e.attrs.iter().position(|(n, _)| n == name) {
            let (_, old) = e.attrs.remove(i);
            self.record(Change::Attr {
                target: el,
                name: name.to_string(),
                old: Some(old),
            });
        }
    }

    /// Sets text or comment data.
    pub fn set_data(&mut self, node: NodeId, data: &str) {
        match &mut self.nodes[node].data {
            Data::Text(t) | Data::Comment(t) => *t = data.to_string(),
            other => panic!("node {node} has no data: {other:?}"),
        }
        self.record(Change::Data { target: node });
    }

    /// Sets the `value` property (what typing does), recording an `input` event.
    pub fn set_value(&mut self, el: NodeId, value: &str) {
        self.elem_mut(el).value = Some(value.to_string());
        self.record(Change::Value { target: el });
    }

    /// Sets the `checked` property; checking a radio unchecks the rest of its group.
    pub fn set_checked(&mut self, el: NodeId, checked: bool) {
        self.elem_mut(el).checked = Some(checked);
        self.record(Change::Checked { target: el });
        let e = self.elem(el).expect("element");
        if checked && e.is("input") && e.input_type() == "radio" {
            let Some(name) = e.attr("name").map(str::to_string) else {
                return;
            };
            let form = self
                .ancestors(el)
                .find(|&a| self.elem(a).is_some_and(|f| f.is("form")))
                .unwrap_or(DOC);
            let group: Vec<NodeId> = self
                .subtree(form)
                .into_iter()
                .filter(|&n| {
                    n != el
                        && self.elem(n).is_some_and(|o| {
                            o.is("input")
                                && o.input_type() == "radio"
                                && o.attr("name") == Some(&name)
                        })
                        && self.checked_of(n) == Some(true)
                })
                .collect();
            for r in group {
                self.elem_mut(r).checked = Some(false);
                self.record(Change::Checked { target: r });
            }
        }
    }

    /// Scrolls an element, or the window (`DOC`).
    pub fn scroll_to(&mut self, target: NodeId, x: u32, y: u32) {
        if target == DOC {
            self.scroll = (x, y);
        } else {
            self.scrolls.insert(target, (x, y));
        }
        self.record(Change::Scroll { target, x, y });
    }

    /// Resizes the window.
    pub fn set_viewport(&mut self, w: u32, h: u32) {
        self.viewport = (w, h);
        self.record(Change::Viewport { w, h });
    }

    /// Takes the recorded changes.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.transient.clear();
        std::mem::take(&mut self.changes)
    }

    /// Builds `<tag>` children of `parent` nested `depth` levels deep (iteratively); returns
    /// the innermost element.
    pub fn nest(&mut self, parent: NodeId, tag: &str, depth: usize) -> NodeId {
        let mut cur = parent;
        for _ in 0..depth {
            let e = self.create_element(tag, &[]);
            self.append(cur, e);
            cur = e;
        }
        cur
    }
}

/// Strips and collapses ASCII whitespace.
pub fn collapse_ws(s: &str) -> String {
    s.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of `tests/fixtures/NAME`.
pub fn load_fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// html5ever tree sink.

/// An element name owned by value (the arena sits behind a `RefCell`, so no borrow can be
/// handed out).
#[derive(Debug)]
pub struct OwnedName(QualName);

impl ElemName for OwnedName {
    fn ns(&self) -> &Namespace {
        &self.0.ns
    }
    fn local_name(&self) -> &LocalName {
        &self.0.local
    }
}

#[derive(Default)]
struct Sink {
    dom: RefCell<Dom>,
    names: RefCell<HashMap<NodeId, QualName>>,
}

fn attr_name(q: &QualName) -> String {
    match &q.prefix {
        Some(p) if !p.is_empty() => format!("{p}:{}", q.local),
        _ => q.local.to_string(),
    }
}

impl Sink {
    fn push(&self, data: Data) -> NodeId {
        self.dom.borrow_mut().push(data)
    }

    /// Inserts `child` into `parent` at `idx`, merging adjacent text as the parser requires.
    fn insert(&self, parent: NodeId, idx: usize, child: NodeOrText<NodeId>) {
        let mut dom = self.dom.borrow_mut();
        match child {
            NodeOrText::AppendText(text) => {
                if idx > 0 {
                    let prev = dom.nodes[parent].children[idx - 1];
                    if let Data::Text(t) = &mut dom.nodes[prev].data {
                        t.push_str(&text);
                        return;
                    }
                }
                let t = dom.push(Data::Text(text.to_string()));
                dom.nodes[t].parent = Some(parent);
                dom.nodes[parent].children.insert(idx, t);
            }
            NodeOrText::AppendNode(n) => {
                dom.detach_raw(n);
                dom.nodes[n].parent = Some(parent);
                dom.nodes[parent].children.insert(idx, n);
            }
        }
    }
}

impl TreeSink for Sink {
    type Handle = NodeId;
    type Output = Self;
    type ElemName<'a> = OwnedName;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> NodeId {
        DOC
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> OwnedName {
        OwnedName(
            self.names
                .borrow()
                .get(target)
                .cloned()
                .expect("not an element"),
        )
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        let ns = if name.ns == ns!(html) {
            Ns::Html
        } else if name.ns == ns!(svg) {
            Ns::Svg
        } else if name.ns == ns!(mathml) {
            Ns::Math
        } else {
            Ns::Other
        };
        let template_contents = flags.template.then(|| self.push(Data::Fragment));
        let id = self.push(Data::Element(Elem {
            name: name.local.to_string(),
            ns,
            attrs: attrs
                .iter()
                .map(|a| (attr_name(&a.name), a.value.to_string()))
                .collect(),
            value: None,
            checked: None,
            template_contents,
        }));
        self.names.borrow_mut().insert(id, name);
        id
    }

    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.push(Data::Comment(text.to_string()))
    }

    fn create_pi(&self, _target: StrTendril, data: StrTendril) -> NodeId {
        // Not produced by the HTML parser; keep it as a comment.
        self.push(Data::Comment(data.to_string()))
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        let idx = self.dom.borrow().nodes[*parent].children.len();
        self.insert(*parent, idx, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        if self.dom.borrow().nodes[*element].parent.is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        _public: StrTendril,
        _system: StrTendril,
    ) {
        let d = self.push(Data::Doctype(name.to_string()));
        self.append(&DOC, NodeOrText::AppendNode(d));
    }

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        self.dom
            .borrow()
            .elem(*target)
            .and_then(|e| e.template_contents)
            .expect("not a template")
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        let (parent, idx) = {
            let dom = self.dom.borrow();
            let parent = dom.nodes[*sibling].parent.expect("sibling has a parent");
            let idx = dom.nodes[parent]
                .children
                .iter()
                .position(|c| c == sibling)
                .expect("child of its parent");
            (parent, idx)
        };
        // A moved node must leave its old place first (it may sit before the sibling).
        if let NodeOrText::AppendNode(n) = &new_node {
            self.dom.borrow_mut().detach_raw(*n);
        }
        let idx = self.dom.borrow().nodes[parent]
            .children
            .iter()
            .position(|c| c == sibling)
            .unwrap_or(idx);
        self.insert(parent, idx, new_node);
    }

    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        let mut dom = self.dom.borrow_mut();
        let e = dom.elem_mut(*target);
        for a in attrs {
            let n = attr_name(&a.name);
            if e.attr(&n).is_none() {
                e.attrs.push((n, a.value.to_string()));
            }
        }
    }

    fn remove_from_parent(&self, target: &NodeId) {
        self.dom.borrow_mut().detach_raw(*target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        let mut dom = self.dom.borrow_mut();
        let kids = std::mem::take(&mut dom.nodes[*node].children);
        for &k in &kids {
            dom.nodes[k].parent = Some(*new_parent);
        }
        dom.nodes[*new_parent].children.extend(kids);
    }
}
