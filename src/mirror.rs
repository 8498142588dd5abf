//! The agent-side model of the visitor's page: applies snapshots and diffs, and re-emits the
//! current state as a snapshot.
//!
//! The server keeps one [`Mirror`] per session, so every visitor message is validated by
//! applying it (a message that does not apply is refused) and a late or reloading agent gets
//! the current page from [`Mirror::snapshot_json`]. Tests use it to check that
//! `apply(snapshot, diffs) == fresh snapshot`.

use alloc::{string::String, vec::Vec};

use core::fmt;

use crate::mask;
use crate::protocol::{
    write, Diff, Element, ElementOpts, Gid, NodeData, NodeRecord, Op, Snapshot, DOCUMENT,
};
use crate::tree::{IdMap, IdSet, Tree, TreeError};

/// Why a message could not be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorError {
    /// A diff arrived before any snapshot of its page.
    NoSnapshot,
    /// A diff's page is not the mirrored page.
    WrongPage,
    /// A diff's sequence number is not the next one.
    Gap {
        /// Expected sequence number.
        expected: u64,
        /// Received.
        got: u64,
    },
    /// A structural error.
    Tree(TreeError),
    /// A node of the wrong kind for the operation (e.g. children under a text node).
    WrongKind(Gid),
}

impl fmt::Display for MirrorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MirrorError::NoSnapshot => write!(f, "diff before snapshot"),
            MirrorError::WrongPage => write!(f, "diff for another page"),
            MirrorError::Gap { expected, got } => {
                write!(f, "sequence gap: expected {expected}, got {got}")
            }
            MirrorError::Tree(e) => write!(f, "{e}"),
            MirrorError::WrongKind(g) => {
                write!(f, "node {g} has the wrong kind for this operation")
            }
        }
    }
}

impl core::error::Error for MirrorError {}

impl From<TreeError> for MirrorError {
    fn from(e: TreeError) -> Self {
        MirrorError::Tree(e)
    }
}

/// The mirrored page: structure, node data and view state.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    tree: Tree,
    data: IdMap<NodeData>,
    /// Page load id of the mirrored page (empty before the first snapshot).
    pub page: String,
    /// Last applied sequence number.
    pub seq: u64,
    /// Page URL.
    pub url: String,
    /// Base URL.
    pub base: String,
    /// Title.
    pub title: String,
    /// Viewport size.
    pub viewport: (f64, f64),
    /// Window scroll.
    pub scroll: (f64, f64),
    /// Element scroll positions.
    pub scrolls: IdMap<(f64, f64)>,
    /// The last state op per key (stylesheets, selections, focus, media...): see
    /// [`Op::state_key`]. Written after the nodes of a snapshot, in key order (sheets first).
    pub state: alloc::collections::BTreeMap<(u8, u32), Op>,
}

impl Mirror {
    /// An empty mirror.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once a snapshot has been applied.
    pub fn has_snapshot(&self) -> bool {
        !self.page.is_empty()
    }

    /// Number of nodes (document excluded).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no node is mirrored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The data of `gid`.
    pub fn node(&self, gid: Gid) -> Option<&NodeData> {
        self.data.get(&gid)
    }

    /// The children of `gid`.
    pub fn children(&self, gid: Gid) -> &[Gid] {
        self.tree.children(gid)
    }

    /// Replaces everything with `snap`. On error the mirror is left empty.
    pub fn apply_snapshot(&mut self, snap: &Snapshot) -> Result<(), MirrorError> {
        *self = Mirror::new();
        let res = self.load(snap);
        if res.is_err() {
            *self = Mirror::new();
        }
        res
    }

    fn load(&mut self, snap: &Snapshot) -> Result<(), MirrorError> {
        for r in &snap.nodes {
            self.check_parent(r.parent)?;
            self.tree.append(r.gid, r.parent)?;
            self.data.insert(r.gid, r.data.clone());
        }
        for op in &snap.ops {
            if op.state_key().is_none() {
                return Err(MirrorError::WrongKind(DOCUMENT));
            }
            self.apply_op(op)?;
        }
        self.page = snap.page.clone();
        self.seq = snap.seq;
        self.url = snap.url.clone();
        self.base = snap.base.clone();
        self.title = snap.title.clone();
        self.viewport = (snap.vw, snap.vh);
        self.scroll = (snap.sx, snap.sy);
        Ok(())
    }

    /// A node may hold children only when it is the document or an unmasked element.
    fn check_parent(&self, parent: Gid) -> Result<(), MirrorError> {
        if parent == DOCUMENT {
            return Ok(());
        }
        match self.data.get(&parent) {
            Some(NodeData::Element(e)) if e.opts.masked.is_none() => Ok(()),
            Some(NodeData::Document(_) | NodeData::Shadow(_)) => Ok(()),
            Some(_) => Err(MirrorError::WrongKind(parent)),
            None => Err(MirrorError::Tree(TreeError::Unknown(parent))),
        }
    }

    /// Applies one diff (which must be the next in sequence for the mirrored page).
    /// On error the mirror may be partly updated: the caller must resynchronize.
    pub fn apply_diff(&mut self, diff: &Diff) -> Result<(), MirrorError> {
        if !self.has_snapshot() {
            return Err(MirrorError::NoSnapshot);
        }
        if diff.page != self.page {
            return Err(MirrorError::WrongPage);
        }
        if diff.seq != self.seq + 1 {
            return Err(MirrorError::Gap {
                expected: self.seq + 1,
                got: diff.seq,
            });
        }
        for op in &diff.ops {
            self.apply_op(op)?;
        }
        self.seq = diff.seq;
        Ok(())
    }

    fn element_mut(&mut self, gid: Gid) -> Result<&mut Element, MirrorError> {
        match self.data.get_mut(&gid) {
            Some(NodeData::Element(e)) => Ok(e),
            Some(_) => Err(MirrorError::WrongKind(gid)),
            None => Err(MirrorError::Tree(TreeError::Unknown(gid))),
        }
    }

    fn forget(&mut self, removed: &[Gid]) {
        for g in removed {
            self.data.remove(g);
            self.scrolls.remove(g);
        }
        if !self.state.is_empty() && !removed.is_empty() {
            let gone: IdSet = removed.iter().copied().collect();
            // Keys of kind 0 are sheet ids, not nodes; focus and hover (7, 8) name their node
            // in the op.
            self.state.retain(|(k, g), op| match k {
                0 => true,
                7 | 8 => {
                    !matches!(op, Op::Focus { gid } | Op::Hover { gid } if gone.contains(&*gid))
                }
                _ => !gone.contains(g),
            });
        }
    }

    /// Checks a state op against the tree: its node exists and is of the right sort.
    fn check_state(&self, op: &Op) -> Result<(), MirrorError> {
        let plain = |gid: Gid| -> Result<(), MirrorError> {
            match self.data.get(&gid) {
                Some(NodeData::Element(e)) if e.opts.masked.is_none() => Ok(()),
                Some(_) => Err(MirrorError::WrongKind(gid)),
                None => Err(TreeError::Unknown(gid).into()),
            }
        };
        match op {
            Op::Css { gid, .. }
            | Op::Select { gid, .. }
            | Op::Media { gid, .. }
            | Op::Image { gid, .. }
            | Op::Top { gid, .. } => plain(*gid),
            Op::Adopt { gid, .. } => match self.data.get(gid) {
                _ if *gid == DOCUMENT => Ok(()),
                Some(NodeData::Document(_) | NodeData::Shadow(_)) => Ok(()),
                Some(_) => Err(MirrorError::WrongKind(*gid)),
                None => Err(TreeError::Unknown(*gid).into()),
            },
            Op::Focus { gid } | Op::Hover { gid } if *gid != DOCUMENT => {
                if self.data.contains_key(gid) {
                    Ok(())
                } else {
                    Err(TreeError::Unknown(*gid).into())
                }
            }
            _ => Ok(()),
        }
    }

    /// Applies one operation.
    pub fn apply_op(&mut self, op: &Op) -> Result<(), MirrorError> {
        match op {
            Op::Children {
                parent,
                list,
                records,
            } => {
                self.check_parent(*parent)?;
                let mut fresh = IdSet::default();
                let ancestors = self.tree.ancestors_or_self(*parent);
                if let Some(r) = records
                    .iter()
                    .find(|r| r.gid == DOCUMENT || ancestors.contains(&r.gid))
                {
                    return Err(MirrorError::WrongKind(r.gid));
                }
                // Records sent again replace their old selves, removed in one pass.
                let replaced: Vec<Gid> = records
                    .iter()
                    .map(|r| r.gid)
                    .filter(|g| self.tree.contains(*g))
                    .collect();
                let removed = self.tree.remove_many(&replaced);
                self.forget(&removed);
                for r in records {
                    if r.parent == *parent {
                        self.tree.create_detached(r.gid)?;
                    } else {
                        if !fresh.contains(&r.parent) {
                            return Err(MirrorError::Tree(TreeError::NotAChild {
                                parent: r.parent,
                                child: r.gid,
                            }));
                        }
                        self.check_parent(r.parent)?;
                        self.tree.append(r.gid, r.parent)?;
                    }
                    fresh.insert(r.gid);
                    self.data.insert(r.gid, r.data.clone());
                }
                let mut removed = Vec::new();
                self.tree
                    .set_children(*parent, list, &fresh, &mut removed)?;
                removed.extend(self.tree.collect_detached(fresh.iter().copied()));
                self.forget(&removed);
            }
            Op::Attr { gid, name, value } => {
                let e = self.element_mut(*gid)?;
                if e.opts.masked.is_some() && !mask::is_safe_attr(name) {
                    return Ok(());
                }
                match value {
                    Some(v) => match e.attrs.iter_mut().find(|(n, _)| n == name) {
                        Some(slot) => slot.1 = v.clone(),
                        None => e.attrs.push((name.clone(), v.clone())),
                    },
                    None => e.attrs.retain(|(n, _)| n != name),
                }
            }
            Op::Text { gid, data } => match self.data.get_mut(gid) {
                Some(NodeData::Text(t)) | Some(NodeData::Comment(t)) => *t = data.clone(),
                Some(_) => return Err(MirrorError::WrongKind(*gid)),
                None => return Err(TreeError::Unknown(*gid).into()),
            },
            Op::Value { gid, value } => {
                let e = self.element_mut(*gid)?;
                if e.opts.masked.is_none() {
                    e.opts.value = Some(value.clone());
                }
            }
            Op::Checked { gid, checked } => {
                let e = self.element_mut(*gid)?;
                if e.opts.masked.is_none() {
                    e.opts.checked = Some(*checked);
                }
            }
            Op::Scroll { gid, x, y } => {
                if *gid == DOCUMENT {
                    self.scroll = (*x, *y);
                } else {
                    self.element_mut(*gid)?;
                    self.scrolls.insert(*gid, (*x, *y));
                }
            }
            Op::Viewport { w, h } => self.viewport = (*w, *h),
            Op::Mask { gid, w, h } => {
                let e = self.element_mut(*gid)?;
                e.attrs.retain(|(n, _)| mask::is_safe_attr(n));
                e.opts = ElementOpts {
                    masked: Some((*w, *h)),
                    ns: e.opts.ns.take(),
                    ..ElementOpts::default()
                };
                let kids = self.tree.children(*gid).to_vec();
                let mut removed = Vec::new();
                self.tree
                    .set_children(*gid, &[], &IdSet::default(), &mut removed)?;
                debug_assert!(kids.iter().all(|k| removed.contains(k)));
                self.forget(&removed);
                self.state.retain(|(k, g), _| *k == 0 || *g != *gid);
            }
            op => {
                self.check_state(op)?;
                if let Some(key) = op.state_key() {
                    self.state.insert(key, op.clone());
                }
            }
        }
        Ok(())
    }

    /// The current state as node records in document order.
    pub fn records(&self) -> Vec<NodeRecord> {
        self.tree
            .preorder()
            .into_iter()
            .filter_map(|(gid, parent)| {
                self.data.get(&gid).map(|d| NodeRecord {
                    gid,
                    parent,
                    data: d.clone(),
                })
            })
            .collect()
    }

    /// The current state as a `snap` message (JSON text), with the last applied `seq`, followed
    /// by the element scroll positions as a `scrolls` field.
    pub fn snapshot_json(&self) -> String {
        let mut out = String::with_capacity(self.data.len() * 48 + 256);
        write::snapshot_start(
            &mut out,
            &self.page,
            self.seq,
            &self.url,
            &self.base,
            &self.title,
            self.viewport,
            self.scroll,
        );
        let mut first = true;
        let mut cursor = write::Cursor::new(DOCUMENT);
        for (gid, parent) in self.tree.preorder() {
            let Some(data) = self.data.get(&gid) else {
                continue;
            };
            let mark = out.len();
            if !first {
                out.push(',');
            }
            let r = NodeRecord {
                gid,
                parent,
                data: data.clone(),
            };
            if write::record(&mut out, &mut cursor, &r) {
                first = false;
            } else {
                out.truncate(mark);
            }
        }
        out.push_str("],\"scrolls\":[");
        for (i, (g, (x, y))) in self.scrolls.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            crate::json::uint(&mut out, *g as u64);
            out.push(',');
            crate::json::number(&mut out, *x);
            out.push(',');
            crate::json::number(&mut out, *y);
            out.push(']');
        }
        out.push(']');
        if !self.state.is_empty() {
            out.push_str(",\"ops\":[");
            for (i, op) in self.state.values().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write::op(&mut out, op);
            }
            out.push(']');
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{parse_visitor, VisitorMsg};

    fn snap(json: &str) -> Snapshot {
        match parse_visitor(json).unwrap() {
            VisitorMsg::Snap(s) => s,
            m => panic!("{m:?}"),
        }
    }
    fn diff(json: &str) -> Diff {
        match parse_visitor(json).unwrap() {
            VisitorMsg::Diff(d) => d,
            m => panic!("{m:?}"),
        }
    }

    const BASE: &str = r#"{"t":"snap","page":"p","seq":1,"nodes":[
        [1,1,10,"html"],[1,1,1,"html",[]],[1,2,1,"body",[]],
        [1,3,1,"p",["class","a"]],[1,4,3,"hello"],[1,3,1,"input",["type","password"],{"m":[100,20]}]]}"#;

    #[test]
    fn snapshot_round_trips() {
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        assert_eq!(m.len(), 6);
        let again = snap(&m.snapshot_json());
        let mut m2 = Mirror::new();
        m2.apply_snapshot(&again).unwrap();
        assert_eq!(m.records(), m2.records());
    }

    #[test]
    fn applies_children_attrs_text_and_moves() {
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        m.apply_diff(&diff(
            r#"{"t":"diff","page":"p","seq":2,"ops":[
            ["c",3,[7,4,6],[[7,1,1,"div",[]],[1,2,3,"new"]]],
            ["a",4,"class","b"],["x",5,"bye"],["a",6,"value","secret"]]}"#,
        ))
        .unwrap();
        assert_eq!(m.children(3), &[7, 4, 6]);
        assert_eq!(m.node(5), Some(&NodeData::Text("bye".into())));
        // A masked element never gains a text-bearing attribute.
        match m.node(6) {
            Some(NodeData::Element(e)) => assert!(e.attrs.iter().all(|(n, _)| n != "value")),
            other => panic!("{other:?}"),
        }
        // Re-serializing node 4 with new content replaces it (a move re-sends the subtree).
        m.apply_diff(&diff(
            r#"{"t":"diff","page":"p","seq":3,"ops":[
            ["c",7,[8,4],[[4,1,1,"p",[]]]],["c",3,[7,6],[]]]}"#,
        ))
        .unwrap();
        assert_eq!(m.children(7), &[8, 4]);
        assert!(m.node(5).is_none(), "old subtree of 4 dropped");
    }

    #[test]
    fn rejects_gaps_cycles_and_children_of_text() {
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        let gap = diff(r#"{"t":"diff","page":"p","seq":5,"ops":[]}"#);
        assert!(matches!(m.apply_diff(&gap), Err(MirrorError::Gap { .. })));
        let cyc = diff(r#"{"t":"diff","page":"p","seq":2,"ops":[["c",4,[5,3],[]]]}"#);
        assert!(m.apply_diff(&cyc).is_err());
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        let under_text =
            diff(r#"{"t":"diff","page":"p","seq":2,"ops":[["c",5,[9],[[9,1,3,"x"]]]]}"#);
        assert!(m.apply_diff(&under_text).is_err());
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        let under_mask =
            diff(r#"{"t":"diff","page":"p","seq":2,"ops":[["c",6,[9],[[9,1,3,"x"]]]]}"#);
        assert!(m.apply_diff(&under_mask).is_err());
        let replace_ancestor =
            diff(r#"{"t":"diff","page":"p","seq":2,"ops":[["c",4,[3],[[3,1,1,"b",[]]]]]}"#);
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        assert!(m.apply_diff(&replace_ancestor).is_err());
    }

    #[test]
    fn records_out_of_preorder_are_refused() {
        for bad in [
            r#"{"t":"snap","page":"p","seq":1,"nodes":[[1,2,1,"html",[]]]}"#,
            r#"{"t":"snap","page":"p","seq":1,"nodes":[[1,1,3,"t"],[1,2,3,"under text"]]}"#,
            r#"{"t":"snap","page":"p","seq":1,"nodes":[[-1,1,1,"html",[]]]}"#,
            r#"{"t":"snap","page":"p","seq":1,"nodes":[[1,0,1,"html",[]]]}"#,
        ] {
            assert!(parse_visitor(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn mask_op_strips_content() {
        let mut m = Mirror::new();
        m.apply_snapshot(&snap(BASE)).unwrap();
        m.apply_diff(&diff(
            r#"{"t":"diff","page":"p","seq":2,"ops":[["m",4,50,10]]}"#,
        ))
        .unwrap();
        assert!(m.children(4).is_empty());
        assert!(m.node(5).is_none());
        match m.node(4) {
            Some(NodeData::Element(e)) => {
                assert_eq!(e.opts.masked, Some((50.0, 10.0)));
                assert_eq!(e.attrs, vec![("class".to_string(), "a".to_string())]);
            }
            other => panic!("{other:?}"),
        }
    }
}
