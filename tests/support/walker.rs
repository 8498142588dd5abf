//! The native twin of the browser walker (`src/web/dom.js`, `DomCapture`): produces the flat
//! JS -> wasm batches of `src/capture.rs` from the arena [`Dom`].
//!
//! As `dom.js` does:
//! - gids are handed out in preorder (1, 2, 3, ...; the document is 0) when a node is first
//!   seen and kept in the arena; every element gets `data-gid` in the page (written without a
//!   mutation record), but NODE entries do not carry it (the Recorder writes it from the gid,
//!   first in each element record);
//! - a snapshot is one NODE entry per node in preorder; mask roots (the mask predicate, or
//!   `input[type=password i]`) carry the MASK flag with [`MASK_SIZE`] and no value; nothing
//!   below a mask root or a `<script>` is emitted (it only gets gids);
//! - a child-list change of P lists P's current children: those that already had gids and were
//!   not added in this batch by gid, added ones (new or moved) as NODE entries of their whole
//!   subtree in preorder with their existing gids. A parent inside an added subtree, inside a
//!   mask (`closest(selector)`), disconnected or without gid gets no entry; CHILDREN entries
//!   come in the order of their first record ([`Order::Records`], a JS `Set`), or in document
//!   order ([`Order::Document`]);
//! - ATTRS lists the changed names (not for nodes written whole in the batch, nor below a mask
//!   root); a mask root that no longer matches is sent again, whole, through its parent;
//! - TEXT for changed text (no mask check: the Recorder drops what it does not track);
//!   VALUE/CHECKED for controls not inside a mask; SCROLL; VIEWPORT;
//! - like a `MutationObserver`, only mutations of nodes in the document (or removed from it in
//!   this batch) are seen: building a detached tree produces no records (see [`Dom::observed`]).
//!
//! Where this walker knowingly differs from `dom.js` (which would need the same to keep the
//! agent's view exact):
//! - VALUE/CHECKED are sent whenever a control's current property differs from what was sent,
//!   also when no `input`/`change` event fired (a `value`/`checked` attribute change of a
//!   pristine control, textarea text or select options changing); and only then;
//! - an attribute removed and re-added in one batch is sent as a removal then a set, so the
//!   mirror keeps the DOM's attribute order;
//!
//! [`Walker::leaky`] makes a careless walker that emits everything below mask roots (values of
//! masked controls, script bodies, entries for nodes inside masks, a wrong `data-gid`): the
//! Recorder decides privacy and must not leak either way.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use glance_cobrowse::capture::{entry, flag, Flat, FlatBuilder};
use glance_cobrowse::protocol::kind;

use super::dom::{Change, Data, Dom, Elem, NodeId, Ns, DOC};

/// Placeholder size the walker reports for every mask root (CSS px).
pub const MASK_SIZE: (u32, u32) = (100, 20);

/// The group's mask selectors, natively: a predicate over one element.
pub type MaskFn = Rc<dyn Fn(&Elem) -> bool>;

/// Matches `#id`.
pub fn by_id(id: &str) -> MaskFn {
    let id = id.to_string();
    Rc::new(move |e| e.attr("id") == Some(id.as_str()))
}

/// Matches `.class`.
pub fn by_class(class: &str) -> MaskFn {
    let class = class.to_string();
    Rc::new(move |e| e.has_class(&class))
}

/// Matches a tag name.
pub fn by_tag(tag: &str) -> MaskFn {
    let tag = tag.to_string();
    Rc::new(move |e| e.name == tag)
}

/// Matches when any of `masks` matches.
pub fn any(masks: Vec<MaskFn>) -> MaskFn {
    Rc::new(move |e| masks.iter().any(|m| m(e)))
}

/// Matches nothing (passwords are still masked).
pub fn no_mask() -> MaskFn {
    Rc::new(|_| false)
}

/// The demo site's mask selectors.
pub fn demo_masks() -> MaskFn {
    any(vec![
        by_id("orderPayment.cardNumber"),
        by_id("orderPayment.cvv"),
        by_class("glance_masked"),
    ])
}

/// One changed attribute name of a batch: (name, `oldValue` of its first record, index of its
/// last re-add record).
type AttrChange = (String, Option<String>, Option<usize>);

/// Order of CHILDREN entries in a mutation batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Parents in document order (ancestors first).
    Document,
    /// Parents in the order of their first mutation record (as `dom.js`).
    Records,
}

/// One flat batch plus the names interned since the previous batch.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// NUL-joined new names (for `Recorder::add_names`).
    pub names: String,
    /// Numbers.
    pub ints: Vec<u32>,
    /// Strings.
    pub strs: String,
    /// Where each top-level entry starts: (index in `ints`, byte offset in `strs`).
    pub entries: Vec<(usize, usize)>,
}

impl Batch {
    /// The batch as the Recorder takes it.
    pub fn flat(&self) -> Flat<'_> {
        Flat {
            ints: &self.ints,
            strs: &self.strs,
        }
    }

    /// The entries `from..to` as a batch of their own (names not included).
    pub fn slice(&self, from: usize, to: usize) -> Batch {
        let at = |k: usize| {
            self.entries
                .get(k)
                .copied()
                .unwrap_or((self.ints.len(), self.strs.len()))
        };
        let (i0, s0) = at(from);
        let (i1, s1) = at(to);
        Batch {
            names: String::new(),
            ints: self.ints[i0..i1].to_vec(),
            strs: self.strs[s0..s1].to_string(),
            entries: Vec::new(),
        }
    }

    /// True when the walker found nothing to send.
    pub fn is_empty(&self) -> bool {
        self.ints.is_empty()
    }
}

/// The walker's state for one page load.
pub struct Walker {
    fb: FlatBuilder,
    entries: Vec<(usize, usize)>,
    /// The mask selectors.
    pub mask: MaskFn,
    /// CHILDREN entry order.
    pub order: Order,
    /// A careless walker: emits everything below mask roots and script bodies too.
    pub leaky: bool,
    /// Keep inputs that ever were `type=password` as mask roots (as `dom.js`'s `everPassword`);
    /// off: a walker that forgets them.
    pub remember_passwords: bool,
    /// Inputs seen with `type=password`.
    pub ever_password: HashSet<NodeId>,
    /// Elements sent as mask roots (`dom.js`: `this.masked`).
    masked: HashSet<NodeId>,
    sent_value: HashMap<NodeId, String>,
    sent_checked: HashMap<NodeId, bool>,
    /// Nodes written as NODE entries in the current batch (`dom.js`: `seen`).
    written: HashSet<NodeId>,
}

impl Walker {
    /// A walker with these mask selectors.
    pub fn new(mask: MaskFn) -> Self {
        Walker {
            fb: FlatBuilder::default(),
            entries: Vec::new(),
            mask,
            order: Order::Records,
            leaky: false,
            remember_passwords: true,
            ever_password: HashSet::new(),
            masked: HashSet::new(),
            sent_value: HashMap::new(),
            sent_checked: HashMap::new(),
            written: HashSet::new(),
        }
    }

    /// True when `id` is a mask root now.
    pub fn is_mask_root(&self, dom: &Dom, id: NodeId) -> bool {
        let Some(e) = dom.elem(id) else {
            return false;
        };
        (self.mask)(e)
            || is_password(e)
            || is_hidden_input(e)
            || (self.remember_passwords && self.ever_password.contains(&id))
    }

    /// True when a strict ancestor of `id` is a mask root.
    pub fn in_masked_subtree(&self, dom: &Dom, id: NodeId) -> bool {
        dom.ancestors(id).any(|a| self.is_mask_root(dom, a))
    }

    /// `el.closest(selector) !== null`.
    fn inside_mask(&self, dom: &Dom, id: NodeId) -> bool {
        self.is_mask_root(dom, id) || self.in_masked_subtree(dom, id)
    }

    /// The walker's builder, for hand-made entries that share its name table.
    pub fn builder(&mut self) -> &mut FlatBuilder {
        &mut self.fb
    }

    /// Takes what was built so far as a batch.
    pub fn take(&mut self) -> Batch {
        let names = self.fb.take_new_names();
        let (ints, strs) = self.fb.take();
        Batch {
            names,
            ints,
            strs,
            entries: std::mem::take(&mut self.entries),
        }
    }

    fn entry(&mut self) {
        self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
    }

    fn ensure_gid(&mut self, dom: &mut Dom, id: NodeId) -> u32 {
        if let Some(g) = dom.nodes[id].gid {
            return g;
        }
        let g = dom.next_gid;
        dom.next_gid += 1;
        dom.nodes[id].gid = Some(g);
        if dom.elem(id).is_some() {
            dom.set_attr_silent(id, "data-gid", &g.to_string());
        }
        g
    }

    /// Walks `root`'s subtree in preorder: gids for all, NODE entries for what may be sent.
    /// `top` marks each NODE as a top-level entry (snapshots).
    fn serialize(&mut self, dom: &mut Dom, root: NodeId, parent_gid: u32, top: bool) {
        let mut stack = vec![(root, parent_gid, true)];
        while let Some((n, pg, emit)) = stack.pop() {
            if !self.written.insert(n) {
                continue;
            }
            let g = self.ensure_gid(dom, n);
            let mut emit_children = false;
            if emit {
                if top {
                    self.entry();
                }
                emit_children = self.write_node(dom, n, g, pg) || self.leaky;
            }
            for &c in dom.nodes[n].children.iter().rev() {
                stack.push((c, g, emit_children));
            }
        }
    }

    /// Writes one NODE entry; returns whether the node's children are emitted.
    fn write_node(&mut self, dom: &Dom, n: NodeId, g: u32, pg: u32) -> bool {
        match &dom.nodes[n].data {
            Data::Element(e) => {
                if is_password(e) {
                    self.ever_password.insert(n);
                }
                let masked = self.is_mask_root(dom, n);
                let mut flags = 0;
                match e.ns {
                    Ns::Svg => flags |= flag::NS_SVG,
                    Ns::Math => flags |= flag::NS_MATH,
                    _ => {}
                }
                if masked {
                    flags |= flag::MASK;
                    self.masked.insert(n);
                }
                let send_state = !masked || self.leaky;
                let value = dom.value_of(n).filter(|_| send_state);
                let checked = dom.checked_of(n).filter(|_| send_state);
                if value.is_some() {
                    flags |= flag::HAS_VALUE;
                }
                if let Some(c) = checked {
                    flags |= flag::HAS_CHECKED;
                    if c {
                        flags |= flag::CHECKED;
                    }
                }
                let fb = &mut self.fb;
                fb.ints
                    .extend([entry::NODE, flags, g, pg, kind::ELEMENT as u32]);
                let tag = fb.name(&e.name);
                fb.ints.push(tag);
                let others: Vec<&(String, String)> =
                    e.attrs.iter().filter(|(k, _)| k != "data-gid").collect();
                // `data-gid` is not sent: the Recorder writes it from the gid. A careless
                // walker sends a wrong one, which must be ignored.
                let leaky = self.leaky;
                fb.ints.push(others.len() as u32 + leaky as u32);
                if leaky {
                    let gid_name = fb.name("data-gid");
                    fb.ints.push(gid_name);
                    fb.string("LEAKY-GID");
                }
                for (name, value) in others {
                    let id = fb.name(name);
                    fb.ints.push(id);
                    fb.string(value);
                }
                if masked {
                    fb.ints.extend([MASK_SIZE.0, MASK_SIZE.1]);
                }
                if let Some(v) = value {
                    fb.string(&v);
                    self.sent_value.insert(n, v);
                }
                if let Some(c) = checked {
                    self.sent_checked.insert(n, c);
                }
                !masked && e.name != "script"
            }
            Data::Text(t) | Data::Comment(t) | Data::Doctype(t) => {
                let k = match &dom.nodes[n].data {
                    Data::Text(_) => kind::TEXT,
                    Data::Comment(_) => kind::COMMENT,
                    _ => kind::DOCTYPE,
                };
                let fb = &mut self.fb;
                fb.ints.extend([entry::NODE, 0, g, pg, k as u32]);
                fb.string(t);
                false
            }
            Data::Document | Data::Fragment => panic!("node {n} cannot be serialized"),
        }
    }

    /// A snapshot batch of the whole document. Pending changes are discarded (the snapshot
    /// reflects them).
    pub fn snapshot(&mut self, dom: &mut Dom) -> Batch {
        dom.take_changes();
        self.sent_value.clear();
        self.sent_checked.clear();
        self.written.clear();
        let kids = dom.nodes[DOC].children.clone();
        for k in kids {
            self.serialize(dom, k, 0, true);
        }
        self.written.clear();
        self.take()
    }

    /// A mutation batch from the changes recorded since the last batch.
    pub fn mutations(&mut self, dom: &mut Dom) -> Batch {
        let changes = dom.take_changes();
        self.written.clear();
        let mut child_targets: Vec<NodeId> = Vec::new();
        let mut added: HashSet<NodeId> = HashSet::new();
        let mut attr_targets: Vec<NodeId> = Vec::new();
        let mut attr_names: HashMap<NodeId, Vec<AttrChange>> = HashMap::new();
        let mut data_targets: Vec<NodeId> = Vec::new();
        let mut controls: Vec<NodeId> = Vec::new();
        let mut scrolls: Vec<NodeId> = Vec::new();
        let mut viewport = false;
        let mut left: HashMap<NodeId, NodeId> = HashMap::new();
        let push_unique = |v: &mut Vec<NodeId>, n: NodeId| {
            if !v.contains(&n) {
                v.push(n);
            }
        };
        for (i, ch) in changes.into_iter().enumerate() {
            match ch {
                Change::ChildList {
                    target,
                    added: a,
                    removed: r,
                } => {
                    push_unique(&mut child_targets, target);
                    // As dom.js: a node put back into the parent it left within this batch (one
                    // observer delivery) is a reorder, not sent again.
                    for n in r {
                        left.insert(n, target);
                    }
                    added.extend(
                        a.into_iter().filter(|n| {
                            left.get(n) != Some(&target) || dom.nodes[*n].gid.is_none()
                        }),
                    );
                    for c in form_owner_controls(dom, target) {
                        push_unique(&mut controls, c);
                    }
                }
                Change::Attr { target, name, old } => {
                    push_unique(&mut attr_targets, target);
                    let list = attr_names.entry(target).or_default();
                    let readd = old.is_none().then_some(i);
                    match list.iter_mut().find(|(n, _, _)| *n == name) {
                        Some(slot) => {
                            if readd.is_some() {
                                slot.2 = readd;
                            }
                        }
                        None => list.push((name, old, readd)),
                    }
                    for c in form_owner_controls(dom, target) {
                        push_unique(&mut controls, c);
                    }
                    push_unique(&mut controls, target);
                }
                Change::Data { target } => {
                    push_unique(&mut data_targets, target);
                    for c in form_owner_controls(dom, target) {
                        push_unique(&mut controls, c);
                    }
                }
                Change::Value { target } | Change::Checked { target } => {
                    push_unique(&mut controls, target);
                }
                Change::Scroll { target, .. } => push_unique(&mut scrolls, target),
                Change::Viewport { .. } => viewport = true,
            }
        }

        // Mask roots that no longer match are sent again, whole, by their parent.
        for &el in &attr_targets {
            if self.masked.contains(&el) && dom.is_connected(el) && !self.is_mask_root(dom, el) {
                if let Some(p) = dom.parent(el) {
                    self.masked.remove(&el);
                    added.insert(el);
                    push_unique(&mut child_targets, p);
                }
            }
        }

        // Child lists.
        let connected: HashMap<NodeId, usize> = dom
            .subtree(DOC)
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        child_targets.retain(|t| connected.contains_key(t));
        if self.order == Order::Document {
            child_targets.sort_by_key(|t| connected[t]);
        }
        for p in child_targets {
            if self.written.contains(&p) {
                continue;
            }
            let Some(pg) = dom.nodes[p].gid else {
                continue;
            };
            // Inside an added subtree: sent whole with it.
            if std::iter::once(p)
                .chain(dom.ancestors(p))
                .any(|a| added.contains(&a))
            {
                continue;
            }
            if !self.leaky && p != DOC && self.inside_mask(dom, p) {
                continue;
            }
            let kids = dom.nodes[p].children.clone();
            let fresh: Vec<bool> = kids
                .iter()
                .map(|k| added.contains(k) || dom.nodes[*k].gid.is_none())
                .collect();
            self.entry();
            let mut list = Vec::with_capacity(kids.len());
            for &k in &kids {
                list.push(self.ensure_gid(dom, k));
            }
            self.fb
                .ints
                .extend([entry::CHILDREN, pg, list.len() as u32]);
            self.fb.ints.extend(&list);
            for (k, f) in kids.into_iter().zip(fresh) {
                if f {
                    self.serialize(dom, k, pg, false);
                }
            }
            self.fb.ints.push(entry::END);
        }

        // Attributes.
        for t in attr_targets {
            if self.written.contains(&t) || !connected.contains_key(&t) {
                continue;
            }
            let Some(g) = dom.nodes[t].gid else { continue };
            if !self.leaky && self.in_masked_subtree(dom, t) {
                continue;
            }
            let e = dom.elem(t).expect("attribute target is an element");
            if is_password(e) {
                self.ever_password.insert(t);
            }
            let masked = self.is_mask_root(dom, t);
            if masked {
                self.masked.insert(t);
            }
            let mut names = attr_names.remove(&t).unwrap_or_default();
            names.retain(|(n, _, _)| n != "data-gid");
            // Re-added attributes go last, in the order they were re-added.
            names.sort_by_key(|(_, _, readd)| readd.map_or(0, |i| i + 1));
            let mut changes: Vec<(u32, Option<&str>)> = Vec::new();
            for (name, first_old, readd) in &names {
                let id = self.fb.name(name);
                let now = e.attr(name);
                if readd.is_some() && first_old.is_some() && now.is_some() {
                    changes.push((id, None));
                }
                changes.push((id, now));
            }
            let (w, h) = if masked { MASK_SIZE } else { (0, 0) };
            self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
            let fb = &mut self.fb;
            fb.ints.extend([
                entry::ATTRS,
                g,
                if masked { flag::MASK } else { 0 },
                w,
                h,
                changes.len() as u32,
            ]);
            for (id, v) in changes {
                fb.ints.push(id);
                match v {
                    Some(v) => {
                        fb.ints.push(1);
                        fb.string(v);
                    }
                    None => fb.ints.push(0),
                }
            }
        }

        // Text and comment data (no mask check, as dom.js: the Recorder drops what it does
        // not track).
        for t in data_targets {
            if self.written.contains(&t) || !connected.contains_key(&t) {
                continue;
            }
            let Some(g) = dom.nodes[t].gid else { continue };
            let (Data::Text(s) | Data::Comment(s)) = &dom.nodes[t].data else {
                continue;
            };
            self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
            self.fb.ints.extend([entry::TEXT, g]);
            self.fb.string(s);
        }

        // Form state.
        for c in controls {
            if self.written.contains(&c) || !connected.contains_key(&c) {
                continue;
            }
            let Some(g) = dom.nodes[c].gid else { continue };
            if !self.leaky && self.inside_mask(dom, c) {
                continue;
            }
            if let Some(v) = dom.value_of(c) {
                if self.sent_value.get(&c) != Some(&v) {
                    self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
                    self.fb.ints.extend([entry::VALUE, g]);
                    self.fb.string(&v);
                    self.sent_value.insert(c, v);
                }
            }
            if let Some(k) = dom.checked_of(c) {
                if self.sent_checked.get(&c) != Some(&k) {
                    self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
                    self.fb.ints.extend([entry::CHECKED, g, k as u32]);
                    self.sent_checked.insert(c, k);
                }
            }
        }

        // View state (the current position, as dom.js reads it).
        for t in scrolls {
            let Some(g) = dom.nodes[t].gid else { continue };
            if !connected.contains_key(&t) {
                continue;
            }
            let (x, y) = if t == DOC {
                dom.scroll
            } else {
                dom.scrolls.get(&t).copied().unwrap_or((0, 0))
            };
            self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
            self.fb.ints.extend([entry::SCROLL, g, x, y]);
        }
        if viewport {
            self.entries.push((self.fb.ints.len(), self.fb.strs.len()));
            self.fb
                .ints
                .extend([entry::VIEWPORT, dom.viewport.0, dom.viewport.1]);
        }
        self.written.clear();
        self.take()
    }
}

/// True for `input[type=password]` (ASCII case-insensitive, as the CSS selector matches).
pub fn is_password(e: &Elem) -> bool {
    e.is("input")
        && e.attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("password"))
}

/// True for `input[type=hidden]`: always masked, like passwords (invisible, carries tokens).
pub fn is_hidden_input(e: &Elem) -> bool {
    e.is("input")
        && e.attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
}

/// The `select`/`textarea` elements at or above `n`, whose value may depend on a change at `n`.
fn form_owner_controls(dom: &Dom, n: NodeId) -> impl Iterator<Item = NodeId> + '_ {
    std::iter::once(n).chain(dom.ancestors(n)).filter(|&a| {
        dom.elem(a)
            .is_some_and(|e| e.is("select") || e.is("textarea"))
    })
}
