//! Content roots (open shadow roots, same-origin iframe documents) through the recorder and the
//! server's mirror: placement, URL bases per frame, masking inside roots, and diffs on roots.
//! Batches are written by hand in the flat format (src/capture.rs docs), as dom.js writes them.

use glance_cobrowse::capture::{entry, flag, Flat, FlatBuilder, PageMeta, Recorder};
use glance_cobrowse::mirror::Mirror;
use glance_cobrowse::protocol::{kind, parse_visitor, NodeData, VisitorMsg};

const PAGE: &str = "https://shop.example/a/page.html";
const FRAME_BASE: &str = "https://shop.example/frames/inner/child.html";

fn run(rec: &mut Recorder, fb: &mut FlatBuilder, snapshot: bool) -> Option<String> {
    rec.add_names(&fb.take_new_names());
    let (ints, strs) = fb.take();
    let flat = Flat {
        ints: &ints,
        strs: &strs,
    };
    if snapshot {
        let meta = PageMeta {
            url: PAGE.into(),
            base: PAGE.into(),
            title: "roots".into(),
            viewport: (800.0, 600.0),
            scroll: (0.0, 0.0),
        };
        Some(rec.snapshot(flat, &meta).expect("snapshot"))
    } else {
        rec.diff(flat).expect("diff")
    }
}

fn apply(m: &mut Mirror, msg: &str) {
    match parse_visitor(msg).expect("parses") {
        VisitorMsg::Snap(s) => m.apply_snapshot(&s).expect("snapshot applies"),
        VisitorMsg::Diff(d) => m.apply_diff(&d).expect("diff applies"),
        other => panic!("unexpected {other:?}"),
    }
}

/// html > body > [custom host with a shadow root, iframe with a document].
fn page(fb: &mut FlatBuilder) {
    fb.element(0, 1, 0, "html", &[]);
    fb.element(0, 2, 1, "body", &[]);
    fb.element(0, 3, 2, "x-card", &[]);
    fb.root(4, 3, kind::SHADOW, "open");
    fb.element(0, 5, 4, "p", &[("id", "in-shadow")]);
    fb.leaf(6, 5, kind::TEXT, "shadow text");
    fb.element(flag::MASK, 7, 4, "div", &[("class", "secret")]);
    fb.ints.extend([120, 20]);
    fb.leaf(8, 3, kind::TEXT, "light child");
    fb.element(0, 9, 2, "iframe", &[("src", "inner/child.html")]);
    fb.root(10, 9, kind::DOCUMENT, FRAME_BASE);
    fb.element(0, 11, 10, "html", &[]);
    fb.element(0, 12, 11, "body", &[("style", "background:url(bg.png)")]);
    fb.element(0, 13, 12, "a", &[("href", "../next.html")]);
    fb.leaf(14, 13, kind::TEXT, "next");
}

#[test]
fn roots_travel_as_first_children_with_their_own_base() {
    let mut rec = Recorder::new("p");
    let mut fb = FlatBuilder::default();
    page(&mut fb);
    let snap = run(&mut rec, &mut fb, true).unwrap();
    assert!(snap.contains(r#"11,"open"]"#), "{snap}");
    assert!(snap.contains(&format!(r#"9,"{FRAME_BASE}"]"#)), "{snap}");
    // The iframe's own src resolves against the page; what is inside against the frame.
    assert!(
        snap.contains("https://shop.example/a/inner/child.html"),
        "{snap}"
    );
    assert!(
        snap.contains("https://shop.example/frames/next.html"),
        "{snap}"
    );
    assert!(
        snap.contains("https://shop.example/frames/inner/bg.png"),
        "{snap}"
    );
    assert!(
        !snap.contains("secret\"]") || snap.contains("\"m\""),
        "{snap}"
    );

    let mut m = Mirror::new();
    apply(&mut m, &snap);
    assert_eq!(m.children(3), &[4, 8], "the shadow root comes first");
    assert_eq!(m.children(9), &[10]);
    assert!(matches!(m.node(10), Some(NodeData::Document(b)) if b == FRAME_BASE));
    assert!(matches!(m.node(4), Some(NodeData::Shadow(mode)) if mode == "open"));
    let back = m.snapshot_json().replace(r#","scrolls":[]"#, "");
    assert_eq!(
        back, snap,
        "the server's mirror writes the same snapshot back"
    );

    // Diffs: a child added inside the shadow root, one added to the frame's body (relative URL
    // against the frame), and the host's light children changed with the root listed first.
    fb.ints.extend([entry::CHILDREN, 4, 3, 5, 7, 15]);
    fb.element(0, 15, 4, "img", &[("src", "pic.png")]);
    fb.ints.push(entry::END);
    fb.ints.extend([entry::CHILDREN, 12, 2, 13, 16]);
    fb.element(0, 16, 12, "img", &[("src", "pic.png")]);
    fb.ints.push(entry::END);
    fb.ints.extend([entry::CHILDREN, 3, 1, 4, entry::END]);
    let diff = run(&mut rec, &mut fb, false).expect("a diff");
    assert!(diff.contains("https://shop.example/a/pic.png"), "{diff}");
    assert!(
        diff.contains("https://shop.example/frames/inner/pic.png"),
        "{diff}"
    );
    apply(&mut m, &diff);
    assert_eq!(m.children(4), &[5, 7, 15]);
    assert_eq!(m.children(3), &[4], "light child removed, root kept");

    // A new document in the frame (navigation) replaces the old one and its subtree.
    fb.ints.extend([entry::CHILDREN, 9, 1, 20]);
    fb.root(20, 9, kind::DOCUMENT, "https://other.example/x/");
    fb.element(0, 21, 20, "a", &[("href", "m.html")]);
    fb.ints.push(entry::END);
    let diff = run(&mut rec, &mut fb, false).expect("a diff");
    apply(&mut m, &diff);
    assert_eq!(m.children(9), &[20]);
    assert!(m.node(13).is_none(), "the old frame document is gone");
    assert!(diff.contains("https://other.example/x/m.html"), "{diff}");
}

#[test]
fn a_masked_host_hides_its_shadow_root() {
    let mut rec = Recorder::new("p");
    let mut fb = FlatBuilder::default();
    page(&mut fb);
    let snap = run(&mut rec, &mut fb, true).unwrap();
    let mut m = Mirror::new();
    apply(&mut m, &snap);
    // The host becomes masked: everything below it, the shadow root included, is dropped.
    fb.ints.extend([entry::ATTRS, 3, flag::MASK, 100, 40, 0]);
    let diff = run(&mut rec, &mut fb, false).expect("a diff");
    apply(&mut m, &diff);
    assert!(m.children(3).is_empty(), "{diff}");
    assert!(m.node(5).is_none());
    // Nothing may be added below it any more, in the root or the light DOM.
    fb.ints.extend([entry::CHILDREN, 4, 1, 30]);
    fb.leaf(30, 4, kind::TEXT, "LEAK");
    fb.ints.push(entry::END);
    let diff = run(&mut rec, &mut fb, false);
    assert!(
        diff.as_deref().is_none_or(|d| !d.contains("LEAK")),
        "{diff:?}"
    );
}
