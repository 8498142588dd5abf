//! What the agent should see: the expected view of an arena [`Dom`], built independently of the
//! engine from the documented rules (`docs/PROTOCOL.md`), and compared with a [`Mirror`].
//!
//! Rules encoded here:
//! - every node in the document is a record with the walker's gid, in preorder; element
//!   records carry the page's attributes in order, without `data-gid` (the record's gid);
//! - a mask root (see [`Walker::is_mask_root`]) is a placeholder: `opts.m = MASK_SIZE`, only
//!   `id class style type role data-gid`, no value, no checked state, no children;
//! - `<script>` (any namespace) keeps only `type` and `data-gid`, and has no children;
//! - other elements drop `on*` attributes, `srcdoc`, `<meta http-equiv>` and script URLs in URL
//!   attributes; URL attributes, `srcset`, `style=""` and `<style>` text are made absolute
//!   against the page's base URL (with the engine's [`url`] helpers);
//! - form controls carry their current value (`opts.v`) or checked state (`opts.k`);
//! - no string is longer than `MAX_STRING_BYTES`: text and values are cut, URLs dropped;
//! - SVG and MathML elements carry `opts.ns`.

use glance_cobrowse::capture::MAX_STRING_BYTES;
use glance_cobrowse::mirror::Mirror;
use glance_cobrowse::protocol::{
    parse_visitor, Diff, Element, ElementOpts, NodeData, NodeRecord, Snapshot, VisitorMsg,
};
use glance_cobrowse::url;

use super::dom::{Data, Dom, Ns, DOC};
use super::walker::{Walker, MASK_SIZE};

/// Attributes whose value is a URL (the engine's own list).
pub use glance_cobrowse::capture::URL_ATTRS;

/// Attributes a mask root keeps.
pub const SAFE_ATTRS: &[&str] = &["id", "class", "style", "type", "role", "data-gid"];

/// `s` cut to at most `MAX_STRING_BYTES` on a character boundary (the engine's limit for one
/// string: longer text and values are truncated, longer URLs dropped).
pub fn capped(s: &str) -> &str {
    if s.len() <= MAX_STRING_BYTES {
        return s;
    }
    let mut end = MAX_STRING_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn css(base: &str, text: &str) -> String {
    let text = capped(text);
    if base.is_empty() {
        return text.to_string();
    }
    url::rewrite_css(base, text).unwrap_or_else(|| text.to_string())
}

/// The value the agent sees for one attribute of an unmasked, non-script element.
pub fn expected_attr(base: &str, tag: &str, name: &str, value: &str) -> Option<String> {
    if value.len() > MAX_STRING_BYTES && (URL_ATTRS.contains(&name) || name == "srcset") {
        return None;
    }
    let value = capped(value);
    if name.len() >= 2 && name[..2].eq_ignore_ascii_case("on") {
        return None;
    }
    if name == "srcdoc" || (tag == "meta" && name == "http-equiv") {
        return None;
    }
    if URL_ATTRS.contains(&name) {
        if url::is_dangerous(value) {
            return None;
        }
        if base.is_empty() {
            return Some(value.to_string());
        }
        return Some(url::resolve(base, value));
    }
    if name == "srcset" && !base.is_empty() {
        return Some(url::resolve_srcset(base, value));
    }
    if name == "style" {
        return Some(css(base, value));
    }
    Some(value.to_string())
}

/// The expected records of the whole document, in preorder.
pub fn expected_records(dom: &Dom, walker: &Walker, base: &str) -> Vec<NodeRecord> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, u32)> = dom.children(DOC).iter().rev().map(|&c| (c, 0)).collect();
    while let Some((n, pg)) = stack.pop() {
        let gid = dom
            .node(n)
            .gid
            .unwrap_or_else(|| panic!("node {n} in the document has no gid"));
        let mut descend = true;
        let data = match &dom.node(n).data {
            Data::Element(e) => {
                // Records carry the page's attributes in order, without `data-gid` (the gid is
                // the record's own; the viewer writes the attribute from it).
                let mut e = e.clone();
                e.attrs.retain(|(k, _)| k != "data-gid");
                let e = &e;
                let masked = walker.is_mask_root(dom, n);
                let script = e.name == "script";
                descend = !masked && !script;
                let mut opts = ElementOpts {
                    ns: match e.ns {
                        Ns::Svg => Some("svg".into()),
                        Ns::Math => Some("math".into()),
                        _ => None,
                    },
                    ..Default::default()
                };
                let attrs: Vec<(String, String)> = if masked {
                    opts.masked = Some((MASK_SIZE.0 as f64, MASK_SIZE.1 as f64));
                    e.attrs
                        .iter()
                        .filter(|(k, _)| SAFE_ATTRS.contains(&k.as_str()))
                        .map(|(k, v)| {
                            let v = expected_attr(base, &e.name, k, v).unwrap_or_default();
                            (k.clone(), v)
                        })
                        .collect()
                } else if script {
                    e.attrs
                        .iter()
                        .filter(|(k, _)| k == "type" || k == "data-gid")
                        .cloned()
                        .collect()
                } else {
                    opts.value = dom.value_of(n).map(|v| capped(&v).to_string());
                    opts.checked = dom.checked_of(n);
                    e.attrs
                        .iter()
                        .filter_map(|(k, v)| {
                            expected_attr(base, &e.name, k, v).map(|v| (k.clone(), v))
                        })
                        .collect()
                };
                NodeData::Element(Element {
                    tag: e.name.clone(),
                    attrs,
                    opts,
                })
            }
            Data::Text(t) => {
                let in_style = dom
                    .parent(n)
                    .and_then(|p| dom.tag(p))
                    .is_some_and(|t| t == "style");
                NodeData::Text(if in_style {
                    css(base, t)
                } else {
                    capped(t).to_string()
                })
            }
            Data::Comment(t) => NodeData::Comment(capped(t).to_string()),
            Data::Doctype(t) => NodeData::Doctype(capped(t).to_string()),
            other => panic!("unexpected node in the document: {other:?}"),
        };
        out.push(NodeRecord {
            gid,
            parent: pg,
            data,
        });
        if descend {
            stack.extend(dom.children(n).iter().rev().map(|&c| (c, gid)));
        }
    }
    out
}

/// Asserts two record lists are equal, showing the first difference.
pub fn assert_records_eq(actual: &[NodeRecord], expected: &[NodeRecord], what: &str) {
    if actual == expected {
        return;
    }
    let i = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()));
    let from = i.saturating_sub(2);
    panic!(
        "{what}: records differ at index {i} (actual {} records, expected {})\n\
         actual:   {:#?}\nexpected: {:#?}",
        actual.len(),
        expected.len(),
        &actual[from.min(actual.len())..(i + 2).min(actual.len())],
        &expected[from.min(expected.len())..(i + 2).min(expected.len())],
    );
}

/// The records with each element's attributes sorted by name (for views where attribute
/// order legitimately differs).
pub fn sorted_attrs(records: &[NodeRecord]) -> Vec<NodeRecord> {
    let mut v = records.to_vec();
    for r in &mut v {
        if let NodeData::Element(e) = &mut r.data {
            e.attrs.sort();
        }
    }
    v
}

/// Asserts the mirror shows exactly the expected view of `dom`.
pub fn assert_mirror_matches(mirror: &Mirror, dom: &Dom, walker: &Walker, base: &str) {
    assert_records_eq(
        &mirror.records(),
        &expected_records(dom, walker, base),
        "mirror vs expected view",
    );
}

/// Parses a `snap` message.
pub fn parse_snap(json: &str) -> Snapshot {
    match parse_visitor(json) {
        Ok(VisitorMsg::Snap(s)) => s,
        other => panic!("not a snapshot: {other:?}\n{json}"),
    }
}

/// Parses a `diff` message.
pub fn parse_diff(json: &str) -> Diff {
    match parse_visitor(json) {
        Ok(VisitorMsg::Diff(d)) => d,
        other => panic!("not a diff: {other:?}\n{json}"),
    }
}
