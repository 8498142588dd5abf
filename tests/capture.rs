//! Snapshots of HTML fixtures through the native walker twin: the agent's mirror must equal the
//! expected view of the page (structure, gids, tags, filtered attributes, values, namespaces).
#![cfg(not(target_arch = "wasm32"))]

mod support;

use std::collections::HashSet;

use glance_cobrowse::capture::Recorder;
use glance_cobrowse::protocol::{NodeData, NodeRecord};
use support::compare::{assert_records_eq, expected_records, parse_snap};
use support::dom::{Dom, Ns, DOC};
use support::walker::{demo_masks, no_mask, Walker};
use support::{parse, Session, PAGE_URL};

const FIXTURES: &[&str] = &[
    "basic.html",
    "checkout.html",
    "hostile.html",
    "text.html",
    "svg.html",
    "nul.html",
];

fn element(records: &[NodeRecord], gid: u32) -> &glance_cobrowse::protocol::Element {
    match records.iter().find(|r| r.gid == gid).map(|r| &r.data) {
        Some(NodeData::Element(e)) => e,
        other => panic!("gid {gid} is not an element record: {other:?}"),
    }
}

fn attr<'a>(e: &'a glance_cobrowse::protocol::Element, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Checks that hold for every snapshot message.
fn check_snapshot_message(json: &str) {
    let snap = parse_snap(json);
    let mut seen = HashSet::new();
    for r in &snap.nodes {
        assert!(r.gid != 0, "record with the document's gid");
        assert!(seen.insert(r.gid), "gid {} appears twice", r.gid);
        assert!(
            r.parent == 0 || seen.contains(&r.parent),
            "record {} names parent {} before it was sent",
            r.gid,
            r.parent
        );
        if let NodeData::Element(e) = &r.data {
            // The gid travels as the record's own, not as an attribute.
            assert_eq!(attr(e, "data-gid"), None, "data-gid of {}", r.gid);
        }
    }
    // The generic JSON parser agrees with the typed one.
    let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(v["t"], "snap");
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(snap.nodes.len()));
}

#[test]
fn every_fixture_snapshot_matches_the_expected_view() {
    for name in FIXTURES {
        for mask in [no_mask(), demo_masks()] {
            let s = Session::fixture(name, mask);
            s.check();
            check_snapshot_message(&s.messages[0]);
            assert!(s.mirror.len() > 5, "{name}: mirror too small");
        }
    }
}

#[test]
fn gids_are_preorder_and_data_gid_is_set_on_every_element() {
    let mut s = Session::fixture("basic.html", no_mask());
    // No masks and no scripts: every node is sent, gids are 1..=n in document order.
    let recs = s.mirror.records();
    let gids: Vec<u32> = recs.iter().map(|r| r.gid).collect();
    assert_eq!(gids, (1..=recs.len() as u32).collect::<Vec<_>>());
    for n in s.dom.preorder() {
        let g = s.dom.gid(n);
        if let Some(e) = s.dom.elem(n) {
            assert_eq!(
                e.attrs.last().map(|(k, v)| (k.as_str(), v.clone())),
                Some(("data-gid", g.to_string()))
            );
        }
    }
    // A second snapshot reuses the gids.
    let before = s.mirror.records();
    s.snapshot();
    assert_eq!(s.mirror.records(), before);
    assert_eq!(parse_snap(&s.messages[1]).seq, 2);
}

#[test]
fn basic_page_details() {
    let s = Session::fixture("basic.html", no_mask());
    let recs = s.mirror.records();
    assert_eq!(recs[0].data, NodeData::Doctype("html".into()));
    let a = element(&recs, s.dom.gid(s.dom.by_tag("a")[0]));
    assert_eq!(
        attr(a, "href"),
        Some("https://shop.example.test/demo/index.html")
    );
    let contact = element(&recs, s.dom.gid(s.dom.by_tag("a")[2]));
    assert_eq!(
        attr(contact, "href"),
        Some("https://shop.example.test/contact.html?x=1#form")
    );
    let img = element(&recs, s.dom.gid(s.dom.by_tag("img")[0]));
    assert_eq!(
        attr(img, "src"),
        Some("https://shop.example.test/demo/img/logo.png")
    );
    let style = s.dom.by_tag("style")[0];
    let css = &recs
        .iter()
        .find(|r| r.parent == s.dom.gid(style))
        .expect("style text")
        .data;
    assert_eq!(
        css,
        &NodeData::Text(
            "body { margin: 0; background: url(\"https://shop.example.test/demo/img/bg.png\"); } h1 { color: #333; }"
                .into()
        )
    );
    // Template contents are not children.
    let tpl = s.dom.id("tpl");
    assert!(s.mirror.children(s.dom.gid(tpl)).is_empty());
    assert!(!s.transcript().contains("template content"));
    // Entities arrive decoded; comments are kept.
    assert!(recs
        .iter()
        .any(|r| r.data == NodeData::Comment(" a comment ".into())));
    let footer = s.dom.by_tag("footer")[0];
    assert_eq!(s.mirror.children(s.dom.gid(footer)).len(), 1);
    assert!(recs
        .iter()
        .any(|r| r.data == NodeData::Text("© 2024 Example & Co. <not a tag>".into())));
    let meta = parse_snap(&s.messages[0]);
    assert_eq!(meta.title, "Basic page");
    assert_eq!(meta.url, PAGE_URL);
    assert_eq!(meta.base, PAGE_URL);
    assert_eq!((meta.vw, meta.vh), (1280.0, 720.0));
}

#[test]
fn checkout_form_state_is_captured() {
    let s = Session::fixture("checkout.html", demo_masks());
    let recs = s.mirror.records();
    let d = &s.dom;
    let opts = |id: &str| element(&recs, d.gid(d.id(id))).opts.clone();
    assert_eq!(opts("name").value.as_deref(), Some("Jane Visitor"));
    assert_eq!(opts("email").value.as_deref(), Some(""));
    assert_eq!(
        opts("address").value.as_deref(),
        Some("1 Main Street\nSpringfield")
    );
    assert_eq!(opts("country").value.as_deref(), Some("ca"));
    assert_eq!(opts("shipping-standard").checked, Some(true));
    assert_eq!(opts("shipping-express").checked, Some(false));
    assert_eq!(opts("gift").checked, Some(false));
    for masked in [
        "orderPayment.cardNumber",
        "orderPayment.cvv",
        "notes",
        "saved-card",
        "account-password",
    ] {
        let o = opts(masked);
        assert_eq!(o.masked, Some((100.0, 20.0)), "{masked}");
        assert_eq!(o.value, None, "{masked}");
        assert_eq!(o.checked, None, "{masked}");
        assert!(
            s.mirror.children(d.gid(d.id(masked))).is_empty(),
            "{masked}"
        );
    }
    let card = element(&recs, d.gid(d.id("orderPayment.cardNumber")));
    let names: Vec<&str> = card.attrs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "type"]);
    let saved = element(&recs, d.gid(d.id("saved-card")));
    assert_eq!(
        attr(saved, "style"),
        Some("background:url(\"https://shop.example.test/demo/img/card.png\")")
    );
    assert_eq!(attr(saved, "role"), Some("group"));
    assert_eq!(attr(saved, "title"), None);
    // The password's type keeps its case; it is masked all the same.
    let pw = element(&recs, d.gid(d.id("account-password")));
    assert_eq!(attr(pw, "type"), Some("PassWord"));
    // Unmasked buttons lose their handlers.
    let order = element(&recs, d.gid(d.id("place-order")));
    assert_eq!(attr(order, "onclick"), None);
    assert_eq!(attr(order, "type"), Some("submit"));
}

#[test]
fn hostile_page_is_defused() {
    let s = Session::fixture("hostile.html", no_mask());
    let recs = s.mirror.records();
    let d = &s.dom;
    let base = "https://shop.example.test/shop/v2/";
    assert_eq!(parse_snap(&s.messages[0]).base, base);
    let get = |id: &str| element(&recs, d.gid(d.id(id)));
    for js in ["js1", "js2", "js3", "vb", "datahtml"] {
        assert_eq!(attr(get(js), "href"), None, "{js}");
    }
    assert_eq!(
        attr(get("rel"), "href"),
        Some("https://shop.example.test/shop/v2/page.html")
    );
    assert_eq!(attr(get("rel"), "onclick"), None);
    assert_eq!(
        attr(get("root"), "href"),
        Some("https://shop.example.test/root.html")
    );
    assert_eq!(
        attr(get("query"), "href"),
        Some("https://shop.example.test/shop/v2/?q=1")
    );
    assert_eq!(
        attr(get("frag"), "href"),
        Some("https://shop.example.test/shop/v2/#frag")
    );
    // <base href> itself is resolved.
    let b = element(&recs, d.gid(d.by_tag("base")[0]));
    assert_eq!(attr(b, "href"), Some(base));
    // Scripts: no body, only type (and data-gid).
    for sc in d.by_tag("script") {
        let e = element(&recs, d.gid(sc));
        assert!(
            e.attrs.iter().all(|(n, _)| n == "type" || n == "data-gid"),
            "{:?}",
            e.attrs
        );
        assert!(s.mirror.children(d.gid(sc)).is_empty());
        assert!(!d.children(sc).is_empty() || d.attr(sc, "src").is_some());
    }
    // meta http-equiv is gone, the rest of the meta stays.
    for m in d.by_tag("meta") {
        let e = element(&recs, d.gid(m));
        assert_eq!(attr(e, "http-equiv"), None);
    }
    // srcdoc is dropped, src resolved; javascript: src dropped.
    let frames = d.by_tag("iframe");
    let f0 = element(&recs, d.gid(frames[0]));
    assert_eq!(attr(f0, "srcdoc"), None);
    assert_eq!(
        attr(f0, "src"),
        Some("https://shop.example.test/shop/v2/frame.html")
    );
    assert_eq!(attr(f0, "sandbox"), Some(""));
    assert_eq!(attr(element(&recs, d.gid(frames[1])), "src"), None);
    // srcset.
    let img = element(&recs, d.gid(d.by_tag("img")[0]));
    assert_eq!(
        attr(img, "srcset"),
        Some("https://shop.example.test/shop/v2/img/a-1x.png 1x, https://shop.example.test/shop/v2/img/a-2x.png 2x")
    );
    assert_eq!(attr(img, "onerror"), None);
    let inline = element(&recs, d.gid(d.by_tag("img")[1]));
    assert_eq!(
        attr(inline, "src"),
        Some("data:image/png;base64,iVBORw0KGgo=")
    );
    // CSS text.
    let style_text = d.children(d.by_tag("style")[0])[0];
    let NodeData::Text(css) = s.mirror.node(d.gid(style_text)).unwrap() else {
        panic!("style text");
    };
    assert!(
        css.contains("@import \"https://shop.example.test/shop/v2/theme.css\""),
        "{css}"
    );
    assert!(
        css.contains("url(\"https://shop.example.test/shop/v2/print.css\")"),
        "{css}"
    );
    assert!(
        css.contains("url(\"https://shop.example.test/shop/img/logo.svg\")"),
        "{css}"
    );
    assert!(css.contains("url(data:image/png;base64,AAAA)"), "{css}");
    // body handlers, any case.
    let body = element(&recs, d.gid(d.by_tag("body")[0]));
    assert!(body
        .attrs
        .iter()
        .all(|(n, _)| !n.to_ascii_lowercase().starts_with("on")));
    // SVG: xlink:href javascript dropped, a relative one resolved.
    let use_el = element(&recs, d.gid(d.by_tag("use")[0]));
    assert_eq!(
        attr(use_el, "xlink:href"),
        Some("https://shop.example.test/shop/v2/sprites.svg#icon")
    );
    let svg_a = d
        .by_tag("a")
        .into_iter()
        .find(|&a| d.elem(a).unwrap().ns == Ns::Svg)
        .unwrap();
    assert_eq!(attr(element(&recs, d.gid(svg_a)), "xlink:href"), None);
    // Forms.
    let form = element(&recs, d.gid(d.by_tag("form")[0]));
    assert_eq!(attr(form, "action"), None);
    let button = element(&recs, d.gid(d.by_tag("button")[0]));
    assert_eq!(attr(button, "formaction"), None);
    let object = element(&recs, d.gid(d.by_tag("object")[0]));
    assert_eq!(attr(object, "data"), None);
    let table = element(&recs, d.gid(d.by_tag("table")[0]));
    assert_eq!(
        attr(table, "background"),
        Some("https://shop.example.test/shop/v2/img/table.png")
    );
}

#[test]
fn unicode_text_survives_and_lengths_are_utf16() {
    let mut s = Session::fixture("text.html", no_mask());
    let recs = s.mirror.records();
    let d = &s.dom;
    let text_of = |id: &str| -> String {
        let kids = s.mirror.children(d.gid(d.id(id)));
        kids.iter()
            .map(|k| match s.mirror.node(*k) {
                Some(NodeData::Text(t)) => t.clone(),
                _ => String::new(),
            })
            .collect()
    };
    assert_eq!(text_of("h"), "Grüße, 世界! Привет, мир! مرحبا بالعالم");
    assert!(text_of("emoji").contains("👩‍👩‍👧‍👦 🇯🇵"));
    assert!(text_of("emoji").contains("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈"));
    assert!(text_of("combining").contains("\u{202e}reversed\u{202c}"));
    assert!(text_of("escapes").contains("\u{2028}"));
    assert!(
        text_of("nul").contains("[\u{fffd}]"),
        "{:?}",
        text_of("nul")
    );
    assert!(text_of("ctrl").contains('\u{1}'));
    let attrs = element(&recs, d.gid(d.id("attrs")));
    assert_eq!(attr(attrs, "title"), Some("attr ✓ 😀 \"q\" <>"));
    assert_eq!(attr(attrs, "data-emoji"), Some("🎉🎉"));
    assert_eq!(parse_snap(&s.messages[0]).title, "Text: ünïcödé ✓");

    // A NUL, lone astral characters and JSON-special characters in a diff.
    let p = s.dom.id("long");
    let t = s.dom.children(p)[0];
    let nasty = "a\u{0}b 😀\u{1F3F3}\u{FE0F}\u{200D}\u{1F308} \"q\" \\ </script> \u{7f} \u{1}";
    s.dom.set_data(t, nasty);
    s.dom.set_attr(p, "title", "😀\u{0}😀");
    let json = s.flush().expect("a diff");
    assert!(json.contains("\\u0000"));
    s.check();
    assert_eq!(
        s.mirror.node(s.dom.gid(t)),
        Some(&NodeData::Text(nasty.into()))
    );
    assert_eq!(s.fresh_records(), s.mirror.records());
}

#[test]
fn svg_and_mathml_keep_names_and_namespaces() {
    let s = Session::fixture("svg.html", support::walker::by_class("glance_masked"));
    let recs = s.mirror.records();
    let d = &s.dom;
    let e = |n| element(&recs, d.gid(n));
    let svg = d.id("chart");
    assert_eq!(e(svg).opts.ns.as_deref(), Some("svg"));
    assert_eq!(attr(e(svg), "viewBox"), Some("0 0 100 50"));
    for tag in ["linearGradient", "clipPath", "foreignObject"] {
        let n = d.by_tag(tag);
        assert_eq!(n.len(), 1, "{tag}");
        assert_eq!(e(n[0]).tag, tag);
        assert_eq!(e(n[0]).opts.ns.as_deref(), Some("svg"));
    }
    assert_eq!(
        attr(e(d.by_tag("linearGradient")[0]), "gradientUnits"),
        Some("userSpaceOnUse")
    );
    assert_eq!(attr(e(d.by_tag("text")[0]), "textLength"), Some("40"));
    let image = e(d.by_tag("image")[0]);
    assert_eq!(
        attr(image, "xlink:href"),
        Some("https://shop.example.test/demo/img/photo.png")
    );
    assert_eq!(
        attr(image, "href"),
        Some("https://shop.example.test/demo/img/photo2.png")
    );
    // Local references stay local (the fragment is resolved against the page URL).
    let use_el = e(d.by_tag("use")[0]);
    assert_eq!(
        attr(use_el, "xlink:href"),
        Some("https://shop.example.test/demo/checkout.html?step=2#grad")
    );
    // HTML inside foreignObject is HTML again.
    let div = d.by_tag("div")[0];
    assert_eq!(e(div).opts.ns, None);
    let math = d.id("formula");
    assert_eq!(e(math).opts.ns.as_deref(), Some("math"));
    assert_eq!(e(d.by_tag("mfrac")[0]).opts.ns.as_deref(), Some("math"));
    // A masked SVG keeps its namespace and nothing of its content.
    let masked = e(d.id("masked-svg"));
    assert_eq!(masked.opts.ns.as_deref(), Some("svg"));
    assert_eq!(masked.opts.masked, Some((100.0, 20.0)));
    assert!(!s.transcript().contains("MASKED-SVG"));
}

/// Trees the HTML parser would repair, built with DOM calls (as scripts can).
fn invalid_nesting(dom: &mut Dom) {
    let body = dom.by_tag("body")[0];
    let b1 = dom.create_element("button", &[("id", "outer")]);
    let b2 = dom.create_element("button", &[("id", "inner")]);
    let t = dom.create_text("nested button");
    dom.append(b2, t);
    dom.append(b1, b2);
    dom.append(body, b1);
    let p = dom.create_element("p", &[]);
    let div = dom.create_element("div", &[("class", "in-p")]);
    let table = dom.create_element("table", &[]);
    let tx = dom.create_text("text directly in a table");
    dom.append(table, tx);
    dom.append(div, table);
    dom.append(p, div);
    let a1 = dom.create_element("a", &[("href", "one.html")]);
    let a2 = dom.create_element("a", &[("href", "javascript:void(0)")]);
    dom.append(a1, a2);
    dom.append(p, a1);
    let li = dom.create_element("li", &[]);
    let opt = dom.create_element("option", &[("value", "stray")]);
    dom.append(li, opt);
    dom.append(p, li);
    let tr = dom.create_element("tr", &[]);
    let title = dom.create_element("title", &[]);
    dom.append(tr, title);
    dom.append(p, tr);
    let html = dom.create_element("html", &[]);
    dom.append(p, html);
    dom.append(body, p);
    let c = dom.create_comment("--> <script>not a script</script> <!--");
    dom.append(body, c);
}

#[test]
fn invalid_nesting_snapshot_and_diff() {
    // As a snapshot.
    let mut dom = Dom::fixture("basic.html");
    invalid_nesting(&mut dom);
    let s = Session::start(dom, no_mask());
    s.check();
    assert!(s.mirror.len() > 40);
    // As a diff on a live session.
    let mut s = Session::fixture("basic.html", no_mask());
    invalid_nesting(&mut s.dom);
    s.flush().expect("diff");
    s.check();
    assert_eq!(s.fresh_records(), s.mirror.records());
    let inner = s.dom.id("inner");
    assert_eq!(s.dom.parent(inner), Some(s.dom.id("outer")));
}

#[test]
fn snapshot_messages_parse_and_gids_are_unique_after_mutations() {
    let mut s = Session::fixture("checkout.html", demo_masks());
    let form = s.dom.id("checkout-form");
    let copy = s.dom.clone_subtree(form);
    let body = s.dom.by_tag("body")[0];
    s.dom.append(body, copy);
    s.flush().expect("diff");
    s.check();
    let json = s.snapshot();
    check_snapshot_message(&json);
    s.check();
    let all: HashSet<u32> = s.dom.preorder().into_iter().map(|n| s.dom.gid(n)).collect();
    assert_eq!(all.len(), s.dom.preorder().len(), "gids unique in the page");
    for m in &s.messages {
        parse(m);
    }
}

#[test]
fn expected_view_is_not_vacuous() {
    // The comparison must notice a wrong attribute, a missing node and a leaked child.
    let s = Session::fixture("checkout.html", demo_masks());
    let good = expected_records(&s.dom, &s.walker, &s.meta().base);
    let mut bad = s.mirror.records();
    let i = bad
        .iter()
        .position(|r| matches!(r.data, NodeData::Element(_)))
        .unwrap();
    if let NodeData::Element(e) = &mut bad[i].data {
        e.attrs.push(("x".into(), "y".into()));
    }
    assert!(std::panic::catch_unwind(|| assert_records_eq(&bad, &good, "t")).is_err());
    let mut bad = s.mirror.records();
    bad.pop();
    assert!(std::panic::catch_unwind(|| assert_records_eq(&bad, &good, "t")).is_err());
    // Without masks the expected view differs from the masked mirror.
    let unmasked = Walker::new(no_mask());
    let other = expected_records(&s.dom, &unmasked, &s.meta().base);
    assert_ne!(other, good);
    assert_eq!(s.dom.node(DOC).gid, Some(0));
}

#[test]
fn snapshot_in_slices_equals_one_snapshot() {
    // dom.js walks big pages in time slices and hands each slice to `snapshot_chunk`.
    for name in FIXTURES {
        let mut dom = Dom::fixture(name);
        let mut w = Walker::new(demo_masks());
        let batch = w.snapshot(&mut dom);
        let meta = support::meta_of(&dom, PAGE_URL);
        let mut whole = Recorder::new("p");
        whole.add_names(&batch.names);
        let expected = whole.snapshot(batch.flat(), &meta).unwrap();
        for slices in [1, 2, 7, batch.entries.len()] {
            let mut rec = Recorder::new("p");
            rec.add_names(&batch.names);
            rec.snapshot_begin(&meta);
            let n = batch.entries.len();
            let step = n.div_ceil(slices).max(1);
            let mut from = 0;
            // Odd slice counts are streamed: each slice's text drained as it is written.
            let stream = slices % 2 == 1;
            let mut streamed = String::new();
            while from < n {
                let part = batch.slice(from, (from + step).min(n));
                rec.snapshot_chunk(part.flat()).unwrap();
                if stream {
                    rec.snapshot_drain(|t| streamed.push_str(t));
                    rec.snapshot_drain(|_| panic!("drained twice"));
                }
                from += step;
            }
            streamed.push_str(&rec.snapshot_end());
            assert_eq!(
                streamed, expected,
                "{name} in {slices} slices (streamed: {stream})"
            );
        }
        // A node met twice (moved during a yield) is kept once.
        let mut rec = Recorder::new("p");
        rec.add_names(&batch.names);
        rec.snapshot_begin(&meta);
        rec.snapshot_chunk(batch.flat()).unwrap();
        rec.snapshot_chunk(batch.slice(3, 9).flat()).unwrap();
        assert_eq!(rec.snapshot_end(), expected, "{name}: repeated slice");
    }
}
