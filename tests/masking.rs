//! Privacy: nothing masked, no script and no handler ever leaves the page, in snapshots or diffs.
//!
//! Most scenarios run twice: with the careful walker (which, like `dom.js` must, emits nothing
//! below a mask root) and with a careless one that sends everything below mask roots. The
//! Recorder decides privacy, so neither may leak. Where a test checks that a secret *did* reach
//! the Recorder (`assert_crossed`), the Recorder, not the walker, is what dropped it.
//! Numbered cases refer to /work/shared/notes/security-checklist.md.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use glance_cobrowse::capture::{entry, flag, CaptureError, Flat, Recorder};
use glance_cobrowse::protocol::{kind, parse_visitor, NodeData, Op, VisitorMsg};
use support::compare::{parse_diff, parse_snap};
use support::dom::Dom;
use support::walker::{any, by_class, by_id, demo_masks, no_mask, Walker};
use support::Session;

/// Every secret of `checkout.html`.
const CHECKOUT_SECRETS: &[&str] = &[
    "4111111111111111",
    "CARD-PLACEHOLDER-4111",
    "CARD-TITLE-4112",
    "CARD-ARIA-4113",
    "\"737\"",
    "steal(this)",
    "NOTES-PLACEHOLDER-7731",
    "NOTES-TITLE-7732",
    "SECRET-NOTES-TEXT-7733",
    "SAVED-",
    "hunter2-PASSWORD-9901",
];

fn context(hay: &str, needle: &str) -> String {
    let i = hay.find(needle).unwrap_or(0);
    let from = hay[..i].char_indices().rev().nth(120).map_or(0, |(j, _)| j);
    let to = hay[i..]
        .char_indices()
        .nth(160)
        .map_or(hay.len(), |(j, _)| i + j);
    hay[from..to].to_string()
}

fn assert_absent(s: &Session, secrets: &[&str]) {
    let t = s.transcript();
    for sec in secrets {
        assert!(
            !t.contains(sec),
            "{sec:?} leaked (leaky walker: {}):\n…{}…",
            s.walker.leaky,
            context(&t, sec)
        );
    }
}

/// With the careless walker: the secret reached the Recorder (so the Recorder kept it out).
fn assert_crossed_if_leaky(s: &Session, secrets: &[&str]) {
    if s.walker.leaky {
        assert_crossed(s, secrets);
    }
}

/// The secret reached the Recorder (so the Recorder is what kept it out).
fn assert_crossed(s: &Session, secrets: &[&str]) {
    let t = s.inputs();
    for sec in secrets {
        assert!(t.contains(sec), "{sec:?} never reached the recorder");
    }
}

/// The scenario with a careful and with a careless walker.
fn both(fixture: &str, mask: support::walker::MaskFn, scenario: impl Fn(&mut Session)) {
    for leaky in [false, true] {
        let mut w = Walker::new(mask.clone());
        w.leaky = leaky;
        let mut s = Session::with_walker(Dom::fixture(fixture), w);
        scenario(&mut s);
        s.check();
    }
}

fn mask_of(s: &Session, id: &str) -> Option<(f64, f64)> {
    match s.mirror.node(s.dom.gid(s.dom.id(id))) {
        Some(NodeData::Element(e)) => e.opts.masked,
        other => panic!("{id}: {other:?}"),
    }
}

#[test]
fn checkout_snapshot_leaks_nothing() {
    both("checkout.html", demo_masks(), |s| {
        assert_absent(s, CHECKOUT_SECRETS);
        // The mask roots' own attributes and values did reach the recorder.
        assert_crossed(
            s,
            &[
                "4111111111111111",
                "CARD-ARIA-4113",
                "hunter2-PASSWORD-9901",
                "SAVED-TITLE-5511",
            ],
        );
        if s.walker.leaky {
            assert_crossed(
                s,
                &[
                    "SAVED-CARD-TEXT-5512",
                    "SECRET-NOTES-TEXT-7733",
                    "SAVED-HREF-5515",
                ],
            );
        }
        for id in [
            "orderPayment.cardNumber",
            "orderPayment.cvv",
            "notes",
            "saved-card",
            "account-password",
        ] {
            assert_eq!(mask_of(s, id), Some((100.0, 20.0)), "{id}");
        }
    });
}

#[test]
fn typing_into_masked_inputs_sends_nothing() {
    // Case 1 and 3: values typed into masked controls never appear, and the batch that holds
    // only such values produces no message at all.
    both("checkout.html", demo_masks(), |s| {
        let n = s.messages.len();
        for (id, v) in [
            ("orderPayment.cardNumber", "5500000000000004"),
            ("orderPayment.cvv", "TYPED-CVV-8812"),
            ("account-password", "TYPED-PASSWORD-8813"),
            ("notes", "TYPED-NOTES-8814"),
        ] {
            let el = s.dom.id(id);
            s.dom.set_value(el, v);
        }
        assert_eq!(
            s.flush(),
            None,
            "a masked-only batch must not produce a message"
        );
        assert_eq!(s.messages.len(), n);
        assert_crossed_if_leaky(s, &["5500000000000004", "TYPED-PASSWORD-8813"]);
        // An unmasked field does go out.
        let name = s.dom.id("name");
        s.dom.set_value(name, "Typed Name");
        let json = s.flush().expect("diff");
        assert!(json.contains("Typed Name"));
        assert_absent(
            s,
            &[
                "5500000000000004",
                "TYPED-CVV-8812",
                "TYPED-PASSWORD-8813",
                "TYPED-NOTES-8814",
            ],
        );
    });
}

#[test]
fn react_controlled_value_attribute_of_masked_input() {
    // Case 1: a framework rewrites the `value` attribute (and text-bearing attributes).
    both("checkout.html", demo_masks(), |s| {
        let card = s.dom.id("orderPayment.cardNumber");
        s.dom.set_attr(card, "value", "4000056655665556");
        s.dom.set_attr(card, "placeholder", "REACT-PH-8821");
        s.dom.set_attr(card, "aria-label", "REACT-ARIA-8822");
        s.dom.set_attr(card, "data-value", "REACT-DATA-8823");
        s.dom.set_attr(card, "class", "cc-input");
        s.flush();
        assert_crossed(s, &["4000056655665556", "REACT-ARIA-8822"]);
        assert_absent(
            s,
            &[
                "4000056655665556",
                "REACT-PH-8821",
                "REACT-ARIA-8822",
                "REACT-DATA-8823",
            ],
        );
        // Safe attributes still follow.
        assert!(s.transcript().contains("cc-input"));
        assert_absent(s, CHECKOUT_SECRETS);
    });
}

#[test]
fn password_toggled_to_text_stays_masked() {
    // Case 2.
    both("checkout.html", demo_masks(), |s| {
        let pw = s.dom.id("account-password");
        s.dom.set_attr(pw, "type", "text");
        s.flush();
        s.dom.set_value(pw, "SHOWN-PASSWORD-8831");
        s.dom.set_attr(pw, "value", "SHOWN-PASSWORD-ATTR-8832");
        s.flush();
        assert_eq!(mask_of(s, "account-password"), Some((100.0, 20.0)));
        // A fresh snapshot of the same page load keeps it masked.
        s.snapshot();
        assert_eq!(mask_of(s, "account-password"), Some((100.0, 20.0)));
        assert_crossed_if_leaky(s, &["SHOWN-PASSWORD-8831"]);
        assert_absent(
            s,
            &["SHOWN-PASSWORD-8831", "SHOWN-PASSWORD-ATTR-8832", "hunter2"],
        );
    });
}

#[test]
fn password_stays_masked_even_when_the_walker_forgets() {
    // The JS side loses its memory of the toggle (no MASK flag any more): the Recorder's own
    // memory still masks the input, in a snapshot and when the input is moved.
    let mut s = Session::fixture("checkout.html", demo_masks());
    let pw = s.dom.id("account-password");
    s.dom.set_attr(pw, "type", "text");
    s.flush();
    s.walker.ever_password.clear();
    s.dom.set_value(pw, "FORGOTTEN-8841");
    s.flush();
    let form = s.dom.id("checkout-form");
    s.dom.append(form, pw);
    s.flush();
    s.snapshot();
    assert_crossed(&s, &["FORGOTTEN-8841"]);
    assert_absent(&s, &["FORGOTTEN-8841", "hunter2"]);
    let m = mask_of(&s, "account-password");
    assert!(m.is_some(), "unmasked after the walker forgot");
}

#[test]
fn input_that_becomes_a_password_is_masked_from_then_on() {
    both("checkout.html", demo_masks(), |s| {
        let expiry = s.dom.id("expiry");
        s.dom.set_attr(expiry, "type", "PASSWORD");
        s.dom.set_value(expiry, "AFTER-TOGGLE-8851");
        let json = s.flush().expect("diff");
        let d = parse_diff(&json);
        assert!(
            d.ops
                .iter()
                .any(|o| matches!(o, Op::Mask { gid, .. } if *gid == s.dom.gid(expiry))),
            "{json}"
        );
        assert_absent(s, &["AFTER-TOGGLE-8851"]);
        s.dom.set_attr(expiry, "type", "text");
        s.dom.set_value(expiry, "AFTER-TOGGLE-BACK-8852");
        s.flush();
        assert_absent(s, &["AFTER-TOGGLE-BACK-8852"]);
        assert_eq!(mask_of(s, "expiry"), Some((100.0, 20.0)));
    });
}

#[test]
fn masked_textarea_value_and_text() {
    // Case 3: neither the text child nor the value, not even when the text changes.
    both("checkout.html", demo_masks(), |s| {
        let notes = s.dom.id("notes");
        let text = s.dom.children(notes)[0];
        s.dom.set_data(text, "EDITED-NOTES-8861");
        s.flush();
        s.dom.set_text_content(notes, "REPLACED-NOTES-8862");
        s.flush();
        assert_crossed(s, &["EDITED-NOTES-8861"]);
        assert_absent(
            s,
            &[
                "EDITED-NOTES-8861",
                "REPLACED-NOTES-8862",
                "SECRET-NOTES-TEXT-7733",
            ],
        );
        assert!(s.mirror.children(s.dom.gid(notes)).is_empty());
    });
}

#[test]
fn masked_subtree_attributes_and_children() {
    // Cases 4, 5, 6 and 10: text-bearing attributes, hidden inputs, select/option, checkbox
    // state, mixed text and href/src anywhere below a mask root.
    both("checkout.html", demo_masks(), |s| {
        let saved = s.dom.id("saved-card");
        let kids = s.dom.subtree(saved);
        for &n in &kids[1..] {
            if s.dom.elem(n).is_some() {
                s.dom.set_attr(n, "title", "SUB-TITLE-8871");
                s.dom.set_attr(n, "alt", "SUB-ALT-8872");
                s.dom.set_attr(n, "href", "/SUB-HREF-8873");
                s.dom.set_attr(n, "src", "/SUB-SRC-8874");
            } else if matches!(s.dom.node(n).data, support::dom::Data::Text(_)) {
                s.dom.set_data(n, "SUB-TEXT-8875");
            }
            if s.dom.checked_of(n).is_some() {
                s.dom.set_checked(n, false);
            }
            if s.dom.value_of(n).is_some() {
                s.dom.set_value(n, "SUB-VALUE-8876");
            }
        }
        let p = s.dom.create_element("p", &[("title", "NEW-TITLE-8877")]);
        let t = s.dom.create_text("NEW-TEXT-8878");
        s.dom.append(p, t);
        s.dom.append(saved, p);
        let opt = s
            .dom
            .by_tag("option")
            .into_iter()
            .find(|&o| s.dom.is_inclusive_ancestor(saved, o));
        s.dom.set_attr(opt.unwrap(), "value", "NEW-OPTION-8879");
        s.flush();
        assert_absent(s, &["SUB-", "NEW-", "SAVED-"]);
        if s.walker.leaky {
            assert_crossed(s, &["SUB-TITLE-8871", "NEW-TEXT-8878", "SUB-VALUE-8876"]);
        }
        // Masked roots with href/src (case 10).
        let body = s.dom.by_tag("body")[0];
        let a = s.dom.create_element(
            "a",
            &[("class", "glance_masked"), ("href", "/MASKED-HREF-8880")],
        );
        let img = s.dom.create_element(
            "img",
            &[
                ("class", "glance_masked"),
                ("src", "MASKED-SRC-8881.png"),
                ("alt", "MASKED-ALT-8882"),
            ],
        );
        let frame = s.dom.create_element(
            "iframe",
            &[
                ("class", "glance_masked"),
                ("src", "https://other.example/MASKED-FRAME-8883"),
                ("srcdoc", "MASKED-SRCDOC-8884"),
            ],
        );
        for e in [a, img, frame] {
            s.dom.append(body, e);
        }
        s.flush();
        assert_crossed(s, &["MASKED-HREF-8880", "MASKED-FRAME-8883"]);
        assert_absent(s, &["MASKED-"]);
    });
}

#[test]
fn masked_select_checkbox_and_hidden_input_roots() {
    // Case 5 with the controls themselves as mask roots.
    let mask = any(vec![
        by_id("country"),
        by_id("gift"),
        by_class("secret-hidden"),
    ]);
    both("checkout.html", mask, |s| {
        let country = s.dom.id("country");
        let gift = s.dom.id("gift");
        let hidden = s.dom.find_all(|d, n| d.attr(n, "name") == Some("csrf"))[0];
        s.dom.set_attr(hidden, "class", "secret-hidden");
        s.dom.set_attr(hidden, "value", "HIDDEN-TOKEN-8891");
        s.flush();
        s.dom.set_value(country, "de");
        s.dom.set_checked(gift, true);
        let n = s.messages.len();
        assert_eq!(s.flush(), None);
        assert_eq!(s.messages.len(), n);
        assert_absent(
            s,
            &["United States", "\"ca\"", "Germany", "HIDDEN-TOKEN-8891"],
        );
        let snap = parse_snap(&s.messages[0]);
        let rec = snap
            .nodes
            .iter()
            .find(|r| r.gid == s.dom.gid(gift))
            .unwrap();
        match &rec.data {
            NodeData::Element(e) => assert_eq!(e.opts.checked, None),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn mask_class_added_later() {
    // Cases 9 and 11: content sent before the mask applied is never re-sent, nothing new leaks.
    both("checkout.html", demo_masks(), |s| {
        let form = s.dom.id("checkout-form");
        let late = s
            .dom
            .create_element("div", &[("id", "late"), ("title", "LATE-TITLE-8901")]);
        let t = s.dom.create_text("LATE-TEXT-8902");
        let inp = s.dom.create_element(
            "input",
            &[("id", "late-input"), ("value", "LATE-VALUE-8903")],
        );
        s.dom.append(late, t);
        s.dom.append(late, inp);
        s.dom.append(form, late);
        s.flush();
        assert!(
            s.transcript().contains("LATE-TEXT-8902"),
            "sent while unmasked"
        );
        let count = |s: &Session, what: &str| s.transcript().matches(what).count();
        let before = (
            count(s, "LATE-TEXT-8902"),
            count(s, "LATE-VALUE-8903"),
            count(s, "LATE-TITLE-8901"),
        );

        s.dom.set_attr(late, "class", "glance_masked");
        let json = s.flush().expect("diff");
        let d = parse_diff(&json);
        let g = s.dom.gid(late);
        assert!(
            d.ops.iter().any(
                |o| matches!(o, Op::Mask { gid, w, h } if *gid == g && (*w, *h) == (100.0, 20.0))
            ),
            "{json}"
        );
        assert_eq!(mask_of(s, "late"), Some((100.0, 20.0)));
        assert!(s.mirror.children(g).is_empty());

        // Everything after the mask stays home.
        s.dom.set_data(t, "LATE-EDIT-8904");
        s.dom.set_value(inp, "LATE-TYPED-8905");
        s.dom.set_attr(inp, "placeholder", "LATE-PH-8906");
        s.dom.set_attr(late, "title", "LATE-TITLE-2-8907");
        let more = s.dom.create_text("LATE-MORE-8908");
        s.dom.append(late, more);
        s.flush();
        assert_absent(
            s,
            &[
                "LATE-EDIT-8904",
                "LATE-TYPED-8905",
                "LATE-PH-8906",
                "LATE-TITLE-2-8907",
                "LATE-MORE-8908",
            ],
        );
        assert_eq!(
            (
                count(s, "LATE-TEXT-8902"),
                count(s, "LATE-VALUE-8903"),
                count(s, "LATE-TITLE-8901")
            ),
            before,
            "earlier content was re-sent"
        );
        // A later snapshot does not bring it back either.
        s.snapshot();
        assert_eq!(
            (
                count(s, "LATE-TEXT-8902"),
                count(s, "LATE-VALUE-8903"),
                count(s, "LATE-TITLE-8901")
            ),
            before
        );
    });
}

/// A mask class arrives in the same batch as changes below the element: a new child of a
/// descendant, a descendant's text, attribute and value.
fn mask_and_changes_below_in_one_batch(s: &mut Session) {
    let fieldset = s.dom.by_tag("fieldset")[0];
    let label = s
        .dom
        .children(fieldset)
        .iter()
        .copied()
        .find(|&c| s.dom.tag(c) == Some("label"))
        .unwrap();
    let text = s
        .dom
        .children(label)
        .iter()
        .copied()
        .find(|&c| s.dom.elem(c).is_none())
        .unwrap();
    let radio = s.dom.id("shipping-express");
    s.dom.set_data(text, "SAME-BATCH-TEXT-8911");
    s.dom.set_attr(radio, "title", "SAME-BATCH-ATTR-8912");
    s.dom.set_attr(radio, "value", "SAME-BATCH-VALUE-8913");
    let p = s.dom.create_element("p", &[]);
    let pt = s.dom.create_text("SAME-BATCH-CHILD-8914");
    s.dom.append(p, pt);
    s.dom.append(label, p);
    s.dom.set_attr(fieldset, "class", "glance_masked");
    s.flush();
}

#[test]
fn mask_class_added_in_the_same_batch_as_changes_below_it() {
    let mut s = Session::fixture("checkout.html", demo_masks());
    mask_and_changes_below_in_one_batch(&mut s);
    assert_absent(&s, &["SAME-BATCH-"]);
    s.check();
}

/// Defense in depth: with a walker that does not filter by `closest(mask)`, entries for nodes
/// below an element whose MASK flag arrives in a *later* ATTRS entry of the same batch must not
/// be written (the Recorder applies a batch's new masks first).
#[test]
fn recorder_applies_a_new_mask_before_the_rest_of_the_batch() {
    let mut w = Walker::new(demo_masks());
    w.leaky = true;
    let mut s = Session::with_walker(Dom::fixture("checkout.html"), w);
    mask_and_changes_below_in_one_batch(&mut s);
    assert_crossed(&s, &["SAME-BATCH-CHILD-8914", "SAME-BATCH-ATTR-8912"]);
    assert_absent(&s, &["SAME-BATCH-"]);
    s.check();
}

#[test]
fn mask_rule_changed_mid_session() {
    // Case 11: the next snapshot applies the new rule; nothing is re-sent unmasked.
    let mut s = Session::fixture("checkout.html", demo_masks());
    assert!(s.transcript().contains("Jane Visitor"));
    s.walker.mask = any(vec![demo_masks(), by_id("name"), by_class("site-header")]);
    let json = s.snapshot();
    assert!(!json.contains("Jane Visitor"));
    assert!(!json.contains("\" Acme Outfitters\""));
    assert!(s.messages[0].contains("\" Acme Outfitters\""));
    assert_absent(&s, CHECKOUT_SECRETS);
    s.check();
    let name = s.dom.id("name");
    s.dom.set_value(name, "NEW-NAME-8921");
    assert_eq!(s.flush(), None);
    assert_absent(&s, &["NEW-NAME-8921"]);
}

#[test]
fn script_text_never_appears() {
    both("hostile.html", no_mask(), |s| {
        let secrets = [
            "SCRIPT-TEXT-1001",
            "SCRIPT-SRC-1002",
            "SCRIPT-ID-1003",
            "SCRIPT-NONCE-1004",
            "SCRIPT-TEMPLATE-1005",
            "SCRIPT-TEXT-1006",
            "SVG-SCRIPT-2016",
        ];
        // Script attributes reach the Recorder; script bodies only from a careless walker.
        assert_crossed(s, &secrets[1..4]);
        assert_crossed_if_leaky(s, &secrets);
        assert_absent(s, &secrets);
        let scripts = s.dom.by_tag("script");
        // Edit a script body, add text to a script, change its src, move it, add new scripts.
        let body_text = s.dom.children(scripts[0])[0];
        s.dom.set_data(body_text, "SCRIPT-EDIT-8931");
        let extra = s.dom.create_text("SCRIPT-EXTRA-8932");
        s.dom.append(scripts[0], extra);
        s.dom
            .set_attr(scripts[1], "src", "https://cdn.example/SCRIPT-SRC-8933.js");
        s.dom.set_attr(scripts[1], "nonce", "SCRIPT-NONCE-8934");
        let body = s.dom.by_tag("body")[0];
        s.dom.append(body, scripts[0]);
        let new = s.dom.create_element(
            "script",
            &[
                ("src", "/SCRIPT-NEW-SRC-8935.js"),
                ("type", "text/javascript"),
            ],
        );
        let nt = s.dom.create_text("SCRIPT-NEW-TEXT-8936");
        s.dom.append(new, nt);
        s.dom.append(body, new);
        let svg = s.dom.by_tag("svg")[0];
        let svg_script = s.dom.create_element_ns(
            "script",
            support::dom::Ns::Svg,
            &[("href", "/SCRIPT-SVG-HREF-8937")],
        );
        let st = s.dom.create_text("SCRIPT-SVG-TEXT-8938");
        s.dom.append(svg_script, st);
        s.dom.append(svg, svg_script);
        s.flush();
        assert_crossed(s, &["SCRIPT-SRC-8933", "SCRIPT-NONCE-8934"]);
        assert_crossed_if_leaky(s, &["SCRIPT-EDIT-8931", "SCRIPT-NEW-TEXT-8936"]);
        assert_absent(s, &secrets);
        assert_absent(
            s,
            &[
                "SCRIPT-EDIT-8931",
                "SCRIPT-EXTRA-8932",
                "SCRIPT-SRC-8933",
                "SCRIPT-NONCE-8934",
                "SCRIPT-NEW-",
                "SCRIPT-SVG-",
            ],
        );
        for sc in s.dom.by_tag("script") {
            assert!(s.mirror.children(s.dom.gid(sc)).is_empty());
        }
    });
}

/// No record or op sets an `on*` attribute or `srcdoc`, and no handler code or script URL is
/// in any message.
fn assert_inert(s: &Session) {
    let t = s.transcript();
    for bad in [
        "alert(",
        "console.debug(",
        "ON-ATTR",
        "JS-",
        "SRCDOC-",
        "javascript:",
        "vbscript:",
        "data:text/html",
        "steal(",
        "boot()",
        "bye()",
    ] {
        assert!(
            !t.to_ascii_lowercase().contains(&bad.to_ascii_lowercase()),
            "{bad} in:\n…{}…",
            context(&t, bad)
        );
    }
    let bad_name =
        |n: &str| n.to_ascii_lowercase().starts_with("on") || n == "srcdoc" || n == "http-equiv";
    for m in &s.messages {
        match parse_visitor(m).unwrap() {
            VisitorMsg::Snap(snap) => {
                for r in &snap.nodes {
                    if let NodeData::Element(e) = &r.data {
                        assert!(e.attrs.iter().all(|(n, _)| !bad_name(n)), "{:?}", e.attrs);
                    }
                }
            }
            VisitorMsg::Diff(d) => {
                for op in &d.ops {
                    match op {
                        Op::Attr {
                            name,
                            value: Some(_),
                            ..
                        } => assert!(!bad_name(name), "{op:?}"),
                        Op::Children { records, .. } => {
                            for r in records {
                                if let NodeData::Element(e) = &r.data {
                                    assert!(
                                        e.attrs.iter().all(|(n, _)| !bad_name(n)),
                                        "{:?}",
                                        e.attrs
                                    );
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn handlers_and_script_urls_never_appear() {
    both("hostile.html", no_mask(), |s| {
        assert_crossed(s, &["ON-ATTR-2006", "JS-HREF-2001", "SRCDOC-2008"]);
        assert_inert(s);
        // The same through diffs: set on existing elements, and on new ones.
        let a = s.dom.id("rel");
        s.dom.set_attr(a, "href", "javascript:alert('JS-DIFF-1')");
        s.dom.set_attr(a, "onclick", "alert('ON-ATTR-DIFF-2')");
        s.dom.set_attr(a, "OnMouseOver", "alert('ON-ATTR-DIFF-3')");
        let frame = s.dom.by_tag("iframe")[0];
        s.dom
            .set_attr(frame, "srcdoc", "<script>alert('SRCDOC-DIFF-4')</script>");
        s.dom
            .set_attr(frame, "src", " \tjavascript:alert('JS-DIFF-5')");
        let meta = s.dom.by_tag("meta")[0];
        s.dom.set_attr(meta, "http-equiv", "refresh");
        let body = s.dom.by_tag("body")[0];
        let img = s.dom.create_element(
            "img",
            &[("src", "x.png"), ("onerror", "alert('ON-ATTR-DIFF-6')")],
        );
        let link = s
            .dom
            .create_element("a", &[("href", "JAVASCRIPT:alert('JS-DIFF-7')")]);
        let svg_a = s.dom.create_element_ns(
            "a",
            support::dom::Ns::Svg,
            &[
                ("xlink:href", "javascript:alert('JS-DIFF-8')"),
                ("href", "javascript:alert('JS-DIFF-9')"),
            ],
        );
        let svg = s.dom.by_tag("svg")[0];
        s.dom.append(svg, svg_a);
        s.dom.append(body, img);
        s.dom.append(body, link);
        let form = s.dom.by_tag("form")[0];
        s.dom
            .set_attr(form, "action", "javascript:alert('JS-DIFF-10')");
        s.flush();
        assert_crossed(s, &["JS-DIFF-1", "ON-ATTR-DIFF-6", "SRCDOC-DIFF-4"]);
        assert_inert(s);
        // The mirror lost the old (safe) href when it became a script URL.
        match s.mirror.node(s.dom.gid(a)) {
            Some(NodeData::Element(e)) => assert!(e.attrs.iter().all(|(n, _)| n != "href")),
            other => panic!("{other:?}"),
        }
        // Back to safe. (The mirror dropped href, so it comes back as its last attribute;
        // attribute order does not affect rendering.)
        s.attr_order_matters = false;
        s.dom.set_attr(a, "href", "safe.html");
        s.flush();
        assert!(s
            .transcript()
            .contains("https://shop.example.test/shop/v2/safe.html"));
    });
}

#[test]
fn every_element_may_be_masked() {
    // Masking every element of every fixture leaves only placeholders for the top elements.
    for fixture in [
        "basic.html",
        "checkout.html",
        "hostile.html",
        "text.html",
        "svg.html",
    ] {
        let mask: support::walker::MaskFn =
            std::rc::Rc::new(|e| e.name == "body" || e.name == "head");
        let s = Session::fixture(fixture, mask);
        s.check();
        let snap = parse_snap(&s.messages[0]);
        let body = s.dom.by_tag("body")[0];
        assert!(snap.nodes.iter().all(|r| r.parent != s.dom.gid(body)));
        assert!(snap.nodes.len() <= 6, "{fixture}: {}", snap.nodes.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-made batches: what a buggy or hostile JS side could send.

fn recorder_with_checkout() -> (Recorder, Dom, Walker) {
    let mut dom = Dom::fixture("checkout.html");
    let mut w = Walker::new(demo_masks());
    let b = w.snapshot(&mut dom);
    let mut rec = Recorder::new("p");
    rec.add_names(&b.names);
    rec.snapshot(b.flat(), &support::meta_of(&dom, support::PAGE_URL))
        .unwrap();
    (rec, dom, w)
}

#[test]
fn forged_entries_below_mask_roots_are_dropped() {
    let (mut rec, dom, mut w) = recorder_with_checkout();
    let saved = dom.id("saved-card");
    let inner = dom.subtree(saved)[3];
    let card = dom.id("orderPayment.cardNumber");
    let notes_text = dom.children(dom.id("notes"))[0];
    let form = dom.id("checkout-form");
    let fb = w.builder();
    let div = fb.name("div");
    let title = fb.name("title");
    let value = fb.name("value");
    // CHILDREN of a mask root, with a new text node.
    fb.ints.extend([
        entry::CHILDREN,
        dom.gid(saved),
        1,
        90001,
        entry::NODE,
        0,
        90001,
        dom.gid(saved),
        kind::TEXT as u32,
    ]);
    fb.string("FORGED-1");
    fb.ints.push(entry::END);
    // TEXT of the masked textarea's text, ATTRS and VALUE below and on mask roots.
    fb.ints.extend([entry::TEXT, dom.gid(notes_text)]);
    fb.string("FORGED-2");
    fb.ints
        .extend([entry::ATTRS, dom.gid(inner), 0, 0, 0, 1, title, 1]);
    fb.string("FORGED-3");
    fb.ints.extend([
        entry::ATTRS,
        dom.gid(card),
        flag::MASK,
        100,
        20,
        1,
        value,
        1,
    ]);
    fb.string("FORGED-4");
    fb.ints.extend([entry::VALUE, dom.gid(card)]);
    fb.string("FORGED-5");
    fb.ints.extend([entry::CHECKED, dom.gid(card), 1]);
    // A new mask root with a value, and a NODE claiming a mask root as its parent.
    let mut list: Vec<u32> = dom.children(form).iter().map(|&c| dom.gid(c)).collect();
    list.push(90002);
    fb.ints
        .extend([entry::CHILDREN, dom.gid(form), list.len() as u32]);
    fb.ints.extend(&list);
    fb.ints.extend([
        entry::NODE,
        0,
        90003,
        dom.gid(saved),
        kind::ELEMENT as u32,
        div,
        1,
        title,
    ]);
    fb.string("FORGED-6");
    fb.ints.extend([
        entry::NODE,
        flag::MASK | flag::HAS_VALUE,
        90002,
        dom.gid(form),
        kind::ELEMENT as u32,
        div,
        1,
        title,
    ]);
    fb.string("FORGED-7");
    fb.ints.extend([7, 7]);
    fb.string("FORGED-8");
    fb.ints
        .extend([entry::NODE, 0, 90004, 90002, kind::TEXT as u32]);
    fb.string("FORGED-9");
    fb.ints.push(entry::END);
    let b = w.take();
    rec.add_names(&b.names);
    let out = rec
        .diff(b.flat())
        .unwrap()
        .expect("the new placeholder is sent");
    assert!(!out.contains("FORGED"), "{out}");
    assert!(out.contains("[90002,"), "{out}");
}

#[test]
fn malformed_batches_are_errors_not_panics() {
    // Case 13: truncated, inconsistent, unknown and cyclic input.
    let (mut rec, dom, _) = recorder_with_checkout();
    let html = dom.by_tag("html")[0];
    let body = dom.by_tag("body")[0];
    let form = dom.id("checkout-form");
    let main = dom.by_tag("main")[0];
    let cases: Vec<(Vec<u32>, &str)> = vec![
        (vec![entry::TEXT], ""),
        (vec![entry::TEXT, 5, 10], "abc"),
        (vec![entry::VALUE, 5, 2], "é"),
        (vec![99], ""),
        (vec![entry::NODE, 0, 5, 0, 3, 1], "x"),
        (vec![entry::CHILDREN, dom.gid(body), u32::MAX], ""),
        (vec![entry::CHILDREN, dom.gid(body), 0], ""),
        (
            vec![
                entry::CHILDREN,
                dom.gid(body),
                0,
                entry::NODE,
                0,
                1,
                dom.gid(body),
                77,
            ],
            "",
        ),
        (
            vec![
                entry::CHILDREN,
                dom.gid(body),
                0,
                entry::NODE,
                0,
                1,
                dom.gid(body),
                1,
                9999,
                0,
                entry::END,
            ],
            "",
        ),
        (vec![entry::ATTRS, dom.gid(body), 0, 0, 0, 1, 9999, 0], ""),
        // A node that would contain itself.
        (
            vec![
                entry::CHILDREN,
                dom.gid(form),
                1,
                dom.gid(html),
                entry::NODE,
                0,
                dom.gid(html),
                dom.gid(form),
                1,
                0,
                0,
                entry::END,
            ],
            "",
        ),
        // A child list naming the same node twice.
        (
            vec![
                entry::CHILDREN,
                dom.gid(body),
                2,
                dom.gid(main),
                dom.gid(main),
                entry::END,
            ],
            "",
        ),
    ];
    for (ints, strs) in &cases {
        let r = rec.diff(Flat { ints, strs });
        assert!(r.is_err(), "{ints:?} {strs:?} was accepted: {r:?}");
    }
    // A cycle through the child list alone is not accepted as a cycle.
    let r = rec.diff(Flat {
        ints: &[entry::CHILDREN, dom.gid(form), 1, dom.gid(body), entry::END],
        strs: "",
    });
    if let Ok(Some(json)) = &r {
        let d = parse_diff(json);
        assert!(
            d.ops
                .iter()
                .all(|o| !matches!(o, Op::Children { list, .. } if list.contains(&dom.gid(body)))),
            "{json}"
        );
    }
    // Unknown gids are ignored.
    let r = rec.diff(Flat {
        ints: &[
            entry::TEXT,
            123456,
            1,
            entry::VALUE,
            123457,
            1,
            entry::CHECKED,
            123458,
            1,
        ],
        strs: "ab",
    });
    assert_eq!(r, Ok(None));
    // Malformed snapshots.
    assert!(matches!(
        rec.snapshot(
            Flat {
                ints: &[entry::ATTRS],
                strs: ""
            },
            &Default::default()
        ),
        Err(CaptureError::Malformed(_))
    ));
    assert!(rec
        .snapshot(
            Flat {
                ints: &[entry::NODE, 0, 1, 0, 3, 5],
                strs: "ab"
            },
            &Default::default()
        )
        .is_err());
    assert!(rec
        .snapshot(
            Flat {
                ints: &[entry::NODE, 0, 1, 0, 1, 9999, 0],
                strs: ""
            },
            &Default::default()
        )
        .is_err());
    // A repeated gid (a node met twice across time slices) is kept once, the first time.
    let snap = rec
        .snapshot(
            Flat {
                ints: &[entry::NODE, 0, 1, 0, 3, 1, entry::NODE, 0, 1, 0, 3, 1],
                strs: "ab",
            },
            &Default::default(),
        )
        .unwrap();
    assert_eq!(parse_snap(&snap).nodes.len(), 1);
    assert!(snap.contains("\"a\"") && !snap.contains("\"b\""), "{snap}");
    // Malformed JSON never reaches a mirror.
    for bad in [
        "",
        "{",
        "[]",
        "{\"t\":\"snap\"}",
        "{\"t\":\"diff\",\"page\":\"p\",\"seq\":1,\"ops\":[[\"c\",1]]}",
    ] {
        assert!(parse_visitor(bad).is_err(), "{bad}");
    }
}

#[test]
fn mask_class_removed_later_sends_the_element_again() {
    // dom.js sends an element that stops matching the mask selectors again, whole; the
    // recorder then unmasks it. A password input stays masked whatever its classes.
    let mut s = Session::fixture("checkout.html", demo_masks());
    let saved = s.dom.id("saved-card");
    let pw = s.dom.id("account-password");
    s.dom.set_attr(pw, "class", "glance_masked");
    s.flush();
    s.dom.set_attr(saved, "class", "card");
    s.dom.remove_attr(pw, "class");
    let json = s.flush().expect("diff");
    s.check();
    assert_eq!(mask_of(&s, "saved-card"), None);
    assert!(json.contains("SAVED-CARD-TEXT-5512"), "{json}");
    assert_eq!(mask_of(&s, "account-password"), Some((100.0, 20.0)));
    assert_absent(&s, &["hunter2"]);
    assert_eq!(s.fresh_records(), s.mirror.records());
}

#[test]
fn script_text_edits_reach_the_recorder_and_stop_there() {
    // dom.js sends TEXT for any tracked text node, also a script's.
    let mut s = Session::fixture("hostile.html", no_mask());
    let tpl = s.dom.id("tpl");
    let t = s.dom.children(tpl)[0];
    s.dom.set_data(t, "SCRIPT-EDITED-8941");
    assert_eq!(s.flush(), None);
    assert_crossed(&s, &["SCRIPT-EDITED-8941"]);
    assert_absent(&s, &["SCRIPT-EDITED-8941"]);
}

/// A walker that forgets an input was a password re-sends it after `type=password` -> `text`
/// whole, without the MASK flag or a size. The recorder masks it anyway (`ever_password`) and
/// must keep its placeholder size (not `[0, 0]`, which collapses the agent's placeholder).
#[test]
fn toggled_password_keeps_its_placeholder_size() {
    let mut w = Walker::new(demo_masks());
    w.remember_passwords = false;
    let mut s = Session::with_walker(Dom::fixture("checkout.html"), w);
    let pw = s.dom.id("account-password");
    s.dom.set_attr(pw, "type", "text");
    s.dom.set_value(pw, "SHOWN-8951");
    s.flush();
    assert_absent(&s, &["SHOWN-8951", "hunter2"]);
    let m = mask_of(&s, "account-password").expect("still masked");
    assert!(m.0 > 0.0 && m.1 > 0.0, "placeholder size {m:?}");
}

#[test]
fn svg_animation_cannot_smuggle_script_urls() {
    // `<animate attributeName="href" values="javascript:...">` and `<set to="javascript:...">`
    // set a link's href at run time: the script URL must not be sent either.
    let html = r#"<!DOCTYPE html><html><body><svg xmlns="http://www.w3.org/2000/svg">
        <a id="l1"><animate attributeName="href" values="javascript:alert('JS-ANIMATE-1')"></animate><text>a</text></a>
        <a id="l2"><set attributeName="xlink:href" to=" javascript:alert('JS-SET-2')"></set><text>b</text></a>
        <a id="l3"><animate attributeName="href" from="javascript:alert('JS-FROM-3')" to="/ok"></animate><text>c</text></a>
        </svg></body></html>"#;
    let mut s = Session::start(Dom::parse(html), no_mask());
    let a = s.dom.id("l1");
    let anim = s.dom.children(a)[0];
    s.dom
        .set_attr(anim, "values", "/x;javascript:alert('JS-ANIMATE-4')");
    s.flush();
    assert_crossed(&s, &["JS-ANIMATE-1", "JS-SET-2", "JS-ANIMATE-4"]);
    assert_inert(&s);
}
