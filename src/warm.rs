//! A dry run of the recorder over a small synthetic page: a snapshot in two slices (drained as
//! it streams) and two diffs touching every kind of change.
//!
//! Browsers compile WebAssembly lazily, function by function, on first call: without this the
//! first snapshot of a session pays for compiling the whole recorder inside its first tasks
//! (measured in a trace: 67 ms of lazy compilation on a 4x slower CPU, for a 200-node page). The
//! engine runs this in a task of its own while the socket connects, so that cost moves off the
//! session's path.
//! Nothing here touches the page or the network; the messages are thrown away.

use alloc::{string::String, vec::Vec};

use crate::capture::{entry, flag, CaptureError, Flat, FlatBuilder, PageMeta, Recorder};
use crate::protocol::kind;

/// Node ids of the synthetic page.
const HTML: u32 = 2;
const BODY: u32 = 6;
const LINK: u32 = 7;
const LINK_TEXT: u32 = 8;
const INPUT: u32 = 10;
const ADDED: u32 = 15;

/// Hands what `fb` holds to `rec` and runs `f` on it.
fn feed<T>(
    rec: &mut Recorder,
    fb: &mut FlatBuilder,
    f: impl FnOnce(&mut Recorder, Flat<'_>) -> T,
) -> T {
    rec.add_names(&fb.take_new_names());
    let (ints, strs) = fb.take();
    f(
        rec,
        Flat {
            ints: &ints,
            strs: &strs,
        },
    )
}

/// Runs the recorder over the synthetic page; returns the messages (for tests).
pub fn run() -> Result<Vec<String>, CaptureError> {
    let mut rec = Recorder::new("warm-up");
    let mut fb = FlatBuilder::default();
    let meta = PageMeta {
        url: "https://warm.invalid/a/".into(),
        base: "https://warm.invalid/a/".into(),
        title: "warm-up".into(),
        viewport: (800.0, 600.0),
        scroll: (0.0, 0.0),
    };
    let mut out = Vec::new();
    let mut snap = String::new();
    rec.snapshot_begin(&meta);

    fb.leaf(1, 0, kind::DOCTYPE, "html");
    fb.element(0, HTML, 0, "html", &[("lang", "en")]);
    fb.element(0, 3, HTML, "head", &[]);
    fb.element(0, 4, 3, "style", &[]);
    fb.leaf(5, 4, kind::TEXT, "a{background:url(i.png)}@import 'x.css';");
    feed(&mut rec, &mut fb, |r, f| r.snapshot_chunk(f))?;
    rec.snapshot_drain(|t| snap.push_str(t));

    let body_attrs = [
        ("class", "c"),
        ("style", "background:url('b.png')"),
        ("onclick", "x()"),
    ];
    fb.element(0, BODY, HTML, "body", &body_attrs);
    fb.element(0, LINK, BODY, "a", &[("href", "../x?y=1"), ("title", "t")]);
    fb.leaf(LINK_TEXT, LINK, kind::TEXT, "link \"text\"\n\u{e9}");
    let srcset = [
        ("src", "i.png"),
        ("srcset", "i.png 1x, j.png 2x"),
        ("alt", "a"),
    ];
    fb.element(0, 9, BODY, "img", &srcset);
    fb.element(flag::HAS_VALUE, INPUT, BODY, "input", &[("type", "text")]);
    fb.string("value");
    fb.element(flag::MASK, 11, BODY, "div", &[("id", "secret")]);
    fb.ints.extend([100, 20]);
    fb.leaf(12, BODY, kind::COMMENT, "c");
    fb.element(flag::NS_SVG, 13, BODY, "svg", &[("viewBox", "0 0 1 1")]);
    let box_attrs = [("type", "checkbox")];
    fb.element(
        flag::HAS_CHECKED | flag::CHECKED,
        14,
        BODY,
        "input",
        &box_attrs,
    );
    feed(&mut rec, &mut fb, |r, f| r.snapshot_chunk(f))?;
    rec.snapshot_drain(|t| snap.push_str(t));
    snap.push_str(&rec.snapshot_end());
    out.push(snap);

    // Add a subtree, change an attribute, a text, a value, a checkbox, scroll and viewport.
    fb.ints
        .extend([entry::CHILDREN, BODY, 10, LINK, 9, INPUT, 11, 12, 13, 14]);
    fb.ints.extend([ADDED, ADDED + 2, ADDED + 3]);
    fb.element(0, ADDED, BODY, "p", &[("class", "new")]);
    fb.leaf(ADDED + 1, ADDED, kind::TEXT, "added");
    fb.leaf(ADDED + 2, BODY, kind::TEXT, "tail");
    fb.element(0, ADDED + 3, BODY, "a", &[("href", "javascript:x()")]);
    fb.ints.push(entry::END);
    let href = fb.name("href");
    fb.ints.extend([entry::ATTRS, LINK, 0, 0, 0, 2, href, 1]);
    fb.string("/y");
    let title = fb.name("title");
    fb.ints.extend([title, 0]);
    fb.ints.extend([entry::TEXT, LINK_TEXT]);
    fb.string("changed");
    fb.ints.extend([entry::VALUE, INPUT]);
    fb.string("typed");
    fb.ints.extend([entry::CHECKED, 14, 0]);
    fb.ints
        .extend([entry::SCROLL, 0, 0, 40, entry::VIEWPORT, 640, 480]);
    out.extend(feed(&mut rec, &mut fb, |r, f| r.diff(f))?);

    // Remove it again and move a node.
    fb.ints.extend([
        entry::CHILDREN,
        BODY,
        7,
        9,
        LINK,
        INPUT,
        11,
        12,
        13,
        14,
        entry::END,
    ]);
    out.extend(feed(&mut rec, &mut fb, |r, f| r.diff(f))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::mirror::Mirror;
    use crate::protocol::{parse_visitor, VisitorMsg};

    fn apply(m: &mut Mirror, msg: &str) {
        match parse_visitor(msg).expect("valid message") {
            VisitorMsg::Snap(s) => m.apply_snapshot(&s).expect("snapshot applies"),
            VisitorMsg::Diff(d) => m.apply_diff(&d).expect("diff applies"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_dry_run_is_a_valid_session() {
        let msgs = super::run().expect("warm-up batches are well formed");
        assert_eq!(msgs.len(), 3, "a snapshot and two diffs: {msgs:?}");
        let mut m = Mirror::new();
        apply(&mut m, &msgs[0]);
        assert!(msgs[0].contains("\"value\""), "{}", msgs[0]);
        assert!(!msgs[0].contains("onclick"), "{}", msgs[0]);
        apply(&mut m, &msgs[1]);
        let after = m.snapshot_json();
        assert!(
            after.contains("added") && after.contains("changed"),
            "{after}"
        );
        assert!(!after.contains("javascript:"), "{after}");
        apply(&mut m, &msgs[2]);
        assert!(!m.snapshot_json().contains("added"));
    }
}
