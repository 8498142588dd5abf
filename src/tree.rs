//! The structural model of a mirrored document: who is whose parent, in which order.
//!
//! [`Tree`] holds no node data, only structure, so the engine can track what the agent has
//! with little memory, and the server's [`crate::mirror::Mirror`] adds the data on top.
//! Every operation is iterative (no recursion), so hostile 10k-deep documents are fine.

use alloc::{string::String, vec, vec::Vec};

use core::fmt;
use core::hash::{BuildHasherDefault, Hasher};
use hashbrown::{HashMap, HashSet};

use crate::json::uint_string;
use crate::protocol::{Gid, DOCUMENT};

/// A fast hasher for dense integer ids (Fibonacci hashing); not DoS-resistant by design,
/// which is acceptable because the number of nodes per session is capped.
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `HashMap` keyed by gid.
pub type IdMap<V> = HashMap<Gid, V, BuildHasherDefault<IdHasher>>;
/// `HashSet` of gids.
pub type IdSet = HashSet<Gid, BuildHasherDefault<IdHasher>>;

/// Most nodes one tree may hold (a hostile stream cannot exhaust memory).
pub const MAX_NODES: usize = 2_000_000;

/// Why a structural change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// The gid is already in the tree.
    Duplicate(Gid),
    /// The gid is not in the tree.
    Unknown(Gid),
    /// A child list names a node that is neither a current child nor new.
    NotAChild {
        /// The parent being set.
        parent: Gid,
        /// The offending child.
        child: Gid,
    },
    /// A child list names the same node twice.
    Repeated(Gid),
    /// Too many nodes.
    TooLarge,
}

impl TreeError {
    /// What `Display` writes, built without `core::fmt` (kept out of the wasm module).
    pub fn message(&self) -> String {
        let n = |g: &Gid| uint_string(u64::from(*g));
        match self {
            TreeError::Duplicate(g) => ["node ", &n(g), " already exists"].concat(),
            TreeError::Unknown(g) => ["unknown node ", &n(g)].concat(),
            TreeError::NotAChild { parent, child } => [
                "node ",
                &n(child),
                " is neither a child of ",
                &n(parent),
                " nor new",
            ]
            .concat(),
            TreeError::Repeated(g) => ["node ", &n(g), " listed twice"].concat(),
            TreeError::TooLarge => "too many nodes".into(),
        }
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for TreeError {}

#[derive(Debug, Clone, Default)]
struct Slot {
    parent: Option<Gid>,
    children: Vec<Gid>,
}

/// Parent/children structure keyed by gid; the document ([`DOCUMENT`]) is always present.
#[derive(Debug, Clone)]
pub struct Tree {
    slots: IdMap<Slot>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// A tree holding only the document.
    pub fn new() -> Self {
        let mut slots = IdMap::default();
        slots.insert(DOCUMENT, Slot::default());
        Tree { slots }
    }

    /// Number of nodes, the document included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when only the document is present.
    pub fn is_empty(&self) -> bool {
        self.slots.len() <= 1
    }

    /// Reserves room for `additional` more nodes.
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional.min(MAX_NODES));
    }

    /// True when `gid` is in the tree (attached or detached).
    pub fn contains(&self, gid: Gid) -> bool {
        self.slots.contains_key(&gid)
    }

    /// The parent of `gid`, if attached.
    pub fn parent(&self, gid: Gid) -> Option<Gid> {
        self.slots.get(&gid).and_then(|s| s.parent)
    }

    /// The children of `gid` (empty when unknown).
    pub fn children(&self, gid: Gid) -> &[Gid] {
        self.slots.get(&gid).map(|s| &s.children[..]).unwrap_or(&[])
    }

    /// Creates `gid` as the last child of `parent`.
    pub fn append(&mut self, gid: Gid, parent: Gid) -> Result<(), TreeError> {
        if self.slots.contains_key(&gid) {
            return Err(TreeError::Duplicate(gid));
        }
        if self.slots.len() >= MAX_NODES {
            return Err(TreeError::TooLarge);
        }
        let p = self
            .slots
            .get_mut(&parent)
            .ok_or(TreeError::Unknown(parent))?;
        p.children.push(gid);
        self.slots.insert(
            gid,
            Slot {
                parent: Some(parent),
                children: Vec::new(),
            },
        );
        Ok(())
    }

    /// Creates `gid` with no parent (to be placed by [`Tree::set_children`]).
    pub fn create_detached(&mut self, gid: Gid) -> Result<(), TreeError> {
        if self.slots.contains_key(&gid) {
            return Err(TreeError::Duplicate(gid));
        }
        if self.slots.len() >= MAX_NODES {
            return Err(TreeError::TooLarge);
        }
        self.slots.insert(gid, Slot::default());
        Ok(())
    }

    /// Removes every node in `gids` with its subtree, in one pass per affected parent (removing
    /// 10k children of one parent one by one would rescan its child list 10k times).
    pub fn remove_many(&mut self, gids: &[Gid]) -> Vec<Gid> {
        let set: IdSet = gids
            .iter()
            .copied()
            .filter(|g| *g != DOCUMENT && self.slots.contains_key(g))
            .collect();
        let mut parents = IdSet::default();
        for g in &set {
            if let Some(p) = self.parent(*g) {
                if !set.contains(&p) {
                    parents.insert(p);
                }
            }
        }
        for p in parents {
            if let Some(s) = self.slots.get_mut(&p) {
                s.children.retain(|c| !set.contains(c));
            }
        }
        let mut removed = Vec::new();
        for g in set {
            removed.extend(self.remove_detached_subtree(g));
        }
        removed
    }

    fn remove_detached_subtree(&mut self, gid: Gid) -> Vec<Gid> {
        let mut removed = Vec::new();
        let mut stack = vec![gid];
        while let Some(g) = stack.pop() {
            if let Some(slot) = self.slots.remove(&g) {
                removed.push(g);
                stack.extend(slot.children.into_iter().rev());
            }
        }
        removed
    }

    /// Sets the children of `parent` to exactly `list`. Each listed gid must be a current child
    /// of `parent` or a detached node in `fresh`. Old children not listed are removed with their
    /// subtrees; their gids are appended to `removed`.
    pub fn set_children(
        &mut self,
        parent: Gid,
        list: &[Gid],
        fresh: &IdSet,
        removed: &mut Vec<Gid>,
    ) -> Result<(), TreeError> {
        let old = match self.slots.get(&parent) {
            Some(s) => s.children.clone(),
            None => return Err(TreeError::Unknown(parent)),
        };
        let old_set: IdSet = old.iter().copied().collect();
        let mut seen = IdSet::default();
        for &c in list {
            if !seen.insert(c) {
                return Err(TreeError::Repeated(c));
            }
            let ok = old_set.contains(&c)
                || (fresh.contains(&c) && self.slots.get(&c).is_some_and(|s| s.parent.is_none()));
            if !ok {
                return Err(TreeError::NotAChild { parent, child: c });
            }
        }
        for &o in &old {
            if !seen.contains(&o) {
                if let Some(s) = self.slots.get_mut(&o) {
                    s.parent = None;
                }
                removed.extend(self.remove_detached_subtree(o));
            }
        }
        for &c in list {
            if let Some(s) = self.slots.get_mut(&c) {
                s.parent = Some(parent);
            }
        }
        self.slots.get_mut(&parent).expect("checked").children = list.to_vec();
        Ok(())
    }

    /// Removes every detached node in `candidates` (with subtrees) that is still detached.
    pub fn collect_detached(&mut self, candidates: impl IntoIterator<Item = Gid>) -> Vec<Gid> {
        let mut removed = Vec::new();
        for g in candidates {
            if g != DOCUMENT && self.slots.get(&g).is_some_and(|s| s.parent.is_none()) {
                removed.extend(self.remove_detached_subtree(g));
            }
        }
        removed
    }

    /// `gid` and all its ancestors (the document included).
    pub fn ancestors_or_self(&self, gid: Gid) -> IdSet {
        let mut out = IdSet::default();
        let mut cur = Some(gid);
        while let Some(g) = cur {
            if !out.insert(g) {
                break;
            }
            cur = self.parent(g);
        }
        out
    }

    /// Attached nodes in document order (preorder), the document excluded, with their parents.
    pub fn preorder(&self) -> Vec<(Gid, Gid)> {
        let mut out = Vec::with_capacity(self.slots.len());
        let mut stack: Vec<(Gid, Gid)> = self
            .children(DOCUMENT)
            .iter()
            .rev()
            .map(|&c| (c, DOCUMENT))
            .collect();
        while let Some((g, p)) = stack.pop() {
            out.push((g, p));
            stack.extend(self.children(g).iter().rev().map(|&c| (c, g)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(g: &[Gid]) -> IdSet {
        g.iter().copied().collect()
    }

    #[test]
    fn append_and_set_children() {
        let mut t = Tree::new();
        t.append(1, 0).unwrap();
        t.append(2, 1).unwrap();
        t.append(3, 1).unwrap();
        t.append(4, 3).unwrap();
        assert_eq!(t.append(2, 1), Err(TreeError::Duplicate(2)));
        t.create_detached(5).unwrap();
        let mut removed = vec![];
        t.set_children(1, &[5, 2], &set(&[5]), &mut removed)
            .unwrap();
        assert_eq!(removed, vec![3, 4]);
        assert_eq!(t.children(1), &[5, 2]);
        assert!(!t.contains(4));
        assert_eq!(t.preorder(), vec![(1, 0), (5, 1), (2, 1)]);
    }

    #[test]
    fn refuses_foreign_and_repeated_children() {
        let mut t = Tree::new();
        t.append(1, 0).unwrap();
        t.append(2, 1).unwrap();
        t.append(3, 2).unwrap();
        let mut r = vec![];
        // 1 is an ancestor of 2: listing it under 2 would make a cycle.
        assert!(t.set_children(2, &[1], &set(&[]), &mut r).is_err());
        assert!(t.set_children(2, &[3, 3], &set(&[]), &mut r).is_err());
        assert!(t.set_children(9, &[], &set(&[]), &mut r).is_err());
        assert_eq!(t.children(2), &[3]);
    }

    #[test]
    fn remove_many_cleans_parents_once() {
        let mut t = Tree::new();
        t.append(1, 0).unwrap();
        for g in 2..10_002 {
            t.append(g, 1).unwrap();
        }
        t.append(20_000, 2).unwrap();
        let gone: Vec<Gid> = (2..10_002).filter(|g| g % 2 == 0).collect();
        let removed = t.remove_many(&gone);
        assert_eq!(removed.len(), gone.len() + 1, "with the grandchild");
        assert_eq!(t.children(1).len(), 5_000);
        assert!(t.children(1).iter().all(|g| g % 2 == 1));
        assert!(!t.contains(20_000));
        assert!(t.remove_many(&[0]).is_empty(), "the document stays");
    }

    #[test]
    fn deep_trees_need_no_recursion() {
        let mut t = Tree::new();
        for g in 1..=100_000u32 {
            t.append(g, g - 1).unwrap();
        }
        assert_eq!(t.preorder().len(), 100_000);
        assert_eq!(t.remove_many(&[1]).len(), 100_000);
        assert!(t.is_empty());
    }
}
