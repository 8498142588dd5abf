//! Browser tests of the edge (wasm-bindgen-test in headless Chromium): the JS walker and
//! collector feed the same Rust core as the native tests, on a real DOM.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::dom::{self, Batch, DomCapture};
use super::storage::Store;
use crate::capture::{Flat, PageMeta, Recorder};
use crate::config::Config;
use crate::mirror::Mirror;
use crate::protocol::{parse_visitor, VisitorMsg};
use crate::session::SessionInfo;

wasm_bindgen_test_configure!(run_in_browser);

/// Runs `code` as a function body in the page and returns its value.
pub(super) fn js(code: &str) -> JsValue {
    js_sys::Function::new_no_args(code)
        .call0(&JsValue::NULL)
        .expect("test script")
}

/// Waits `ms` milliseconds (a `setTimeout`).
pub(super) async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("timeout");
    });
    JsFuture::from(p).await.expect("sleep");
}

fn meta() -> PageMeta {
    PageMeta {
        url: "http://t.test/a/page.html".into(),
        base: "http://t.test/a/page.html".into(),
        ..Default::default()
    }
}

fn run_batch(rec: &mut Recorder, b: &Batch) -> Option<String> {
    rec.add_names(&b.names());
    let ints = b.ints();
    let strs = b.strs();
    rec.diff(Flat {
        ints: &ints,
        strs: &strs,
    })
    .expect("diff")
}

fn collect(cap: &DomCapture) -> Option<Batch> {
    let v = cap.collect().expect("collect");
    (!v.is_null()).then(|| v.unchecked_into())
}

/// Runs a full (sliced) snapshot through `cap` into a fresh recorder; returns it and the message.
async fn snapshot(cap: &DomCapture, page: &str) -> (Recorder, String) {
    let chunks = js_sys::Array::new();
    let sink = chunks.clone();
    let on_chunk = Closure::<dyn FnMut(JsValue)>::new(move |b: JsValue| {
        sink.push(&b);
    });
    JsFuture::from(
        cap.snapshot(1.0, on_chunk.as_ref().unchecked_ref())
            .expect("start"),
    )
    .await
    .expect("snapshot");
    let mut rec = Recorder::new(page);
    rec.snapshot_begin(&meta());
    for b in chunks.iter() {
        let b: Batch = b.unchecked_into();
        rec.add_names(&b.names());
        let (ints, strs) = (b.ints(), b.strs());
        rec.snapshot_chunk(Flat {
            ints: &ints,
            strs: &strs,
        })
        .expect("chunk");
    }
    let msg = rec.snapshot_end();
    (rec, msg)
}

/// The mirror built from a `snap` message.
fn mirror_of(msg: &str) -> Mirror {
    let VisitorMsg::Snap(s) = parse_visitor(msg).expect("parse") else {
        panic!("not a snapshot")
    };
    let mut m = Mirror::new();
    m.apply_snapshot(&s).expect("apply");
    m
}

const FIXTURE: &str = r#"
  let f = document.getElementById('fixture');
  if (!f) { f = document.createElement('div'); f.id = 'fixture'; document.body.appendChild(f); }
  f.innerHTML = `
    <div id="app"><h1 title="Shop">Hello <b>world</b> 😀</h1>
      <a href="next.html" onclick="steal()">next</a>
      <form><input id="name" value="Alice">
        <input id="card" value="4111111111111111" placeholder="card secret">
        <input type="password" id="pw" value="hunter2secret">
        <textarea id="notes">typed notes</textarea>
        <input type="checkbox" id="gift" checked></form>
      <div class="secret"><span>hidden text</span><img alt="alt secret" src="x.png"></div>
      <script>var inline = "script body secret";</script>
      <svg width="10" height="10"><circle r="4"></circle></svg>
    </div>`;
"#;

#[wasm_bindgen_test]
async fn snapshot_tags_every_element_and_masks_before_serializing() {
    js(FIXTURE);
    let notify = Closure::<dyn FnMut()>::new(|| {});
    let cap = DomCapture::new(r##"["#card", ".secret"]"##, notify.as_ref().unchecked_ref())
        .expect("capture");
    let (mut rec, msg) = snapshot(&cap, "p1").await;
    for secret in [
        "4111111111111111",
        "card secret",
        "hunter2secret",
        "hidden text",
        "alt secret",
        "script body secret",
        "steal()",
    ] {
        assert!(!msg.contains(secret), "{secret} leaked: {msg}");
    }
    assert!(msg.contains("Alice") && msg.contains("😀"));
    assert!(
        msg.contains("http://t.test/a/next.html"),
        "href made absolute"
    );
    // Every element carries a unique data-gid (written in idle slices after the snapshot).
    sleep(200).await;
    let unique = js("const all = document.querySelectorAll('*');
        const s = new Set(); for (const e of all) { if (!e.hasAttribute('data-gid')) return -1; s.add(e.getAttribute('data-gid')); }
        return s.size === all.length ? all.length : -2;");
    assert!(unique.as_f64().unwrap_or(-3.0) > 10.0, "gids: {unique:?}");
    // Our own data-gid writes never come back as changes.
    assert!(collect(&cap).is_none(), "own writes reported");
    let mut mirror = mirror_of(&msg);

    // A mutation batch crosses once and applies to the mirror.
    js(
        "const d = document.createElement('p'); d.id = 'added'; d.textContent = 'fresh text';
        document.getElementById('app').appendChild(d);
        document.querySelector('h1').setAttribute('class', 'big');
        document.getElementById('name').value = 'Bob';
        document.getElementById('name').dispatchEvent(new Event('input', {bubbles: true}));
        document.getElementById('card').value = '5555444433332222';
        document.getElementById('card').dispatchEvent(new Event('input', {bubbles: true}));",
    );
    let b = collect(&cap).expect("changes");
    let diff = run_batch(&mut rec, &b).expect("diff message");
    assert!(diff.contains("fresh text") && diff.contains("Bob") && diff.contains("big"));
    assert!(!diff.contains("5555444433332222"), "masked value leaked");
    let VisitorMsg::Diff(d) = parse_visitor(&diff).expect("parse diff") else {
        panic!("not a diff")
    };
    mirror.apply_diff(&d).expect("diff applies");

    // A value set by script, without any event (React-style), still reaches the agent.
    js("document.getElementById('name').value = 'Carol';");
    let b = collect(&cap).expect("value change found by polling the controls");
    let m = run_batch(&mut rec, &b).expect("diff");
    assert!(m.contains("Carol"), "{m}");

    // A password toggled to text stays masked.
    js(
        "const pw = document.getElementById('pw'); pw.type = 'text'; pw.value = 'shown now';
        pw.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    if let Some(b) = collect(&cap) {
        if let Some(m) = run_batch(&mut rec, &b) {
            assert!(
                !m.contains("shown now") && !m.contains("hunter2secret"),
                "{m}"
            );
        }
    }
    // Mask class added later: the element becomes a placeholder, its text is not re-sent.
    js("document.querySelector('h1').classList.add('secret');
        document.querySelector('h1 b').textContent = 'late secret';");
    let b = collect(&cap).expect("changes");
    let m = run_batch(&mut rec, &b).expect("diff");
    assert!(m.contains("[\"m\","), "mask op: {m}");
    assert!(!m.contains("late secret"), "{m}");
    cap.stop();
}

/// The records of the subtree rooted at the element with `id`.
fn subtree(m: &Mirror, id: &str) -> Vec<crate::protocol::NodeRecord> {
    use crate::protocol::NodeData;
    let recs = m.records();
    let Some(root) = recs.iter().position(|r| match &r.data {
        NodeData::Element(e) => e.attrs.iter().any(|(n, v)| n == "id" && v == id),
        _ => false,
    }) else {
        return Vec::new();
    };
    let mut inside = std::collections::HashSet::from([recs[root].gid]);
    let mut out = vec![recs[root].clone()];
    for r in &recs[root + 1..] {
        if !inside.contains(&r.parent) {
            break;
        }
        inside.insert(r.gid);
        out.push(r.clone());
    }
    out
}

/// Snapshot of the current page through a fresh capture (gids are stable across captures).
async fn fresh_mirror(masks: &str) -> Mirror {
    let notify = Closure::<dyn FnMut()>::new(|| {});
    let cap = DomCapture::new(masks, notify.as_ref().unchecked_ref()).expect("capture");
    let (_, msg) = snapshot(&cap, "p").await;
    cap.stop();
    mirror_of(&msg)
}

#[wasm_bindgen_test]
async fn reorder_inside_a_subtree_then_move_it_in_one_batch() {
    js("const f = document.createElement('div'); f.id = 'fx-reorder'; document.body.appendChild(f);
        f.innerHTML = '<main id=m></main><section id=s><ul><li>a</li><li>b</li><li>c</li></ul></section>';");
    let notify = Closure::<dyn FnMut()>::new(|| {});
    let cap = DomCapture::new("[]", notify.as_ref().unchecked_ref()).expect("capture");
    let (mut rec, msg) = snapshot(&cap, "p").await;
    let mut mirror = mirror_of(&msg);
    js("const ul = document.querySelector('#s ul');
        ul.insertBefore(ul.lastElementChild, ul.firstElementChild);
        document.getElementById('m').appendChild(document.getElementById('s'));
        const li = document.createElement('li'); li.textContent = 'd'; ul.appendChild(li);");
    let b = collect(&cap).expect("changes");
    let m = run_batch(&mut rec, &b).expect("diff");
    let VisitorMsg::Diff(d) = parse_visitor(&m).expect("parse diff") else {
        panic!("not a diff")
    };
    mirror.apply_diff(&d).expect("applies");
    cap.stop();
    let fresh = fresh_mirror("[]").await;
    let ours = subtree(&mirror, "fx-reorder");
    assert!(ours.len() > 10, "{ours:?}");
    assert_eq!(
        ours,
        subtree(&fresh, "fx-reorder"),
        "mirror differs from the page"
    );
}

#[wasm_bindgen_test]
fn invalid_selectors_are_found_by_the_browser() {
    assert_eq!(
        dom::invalid_selector(r##"["#ok", "#orderPayment\\.cardNumber", "[["]"##).ok(),
        Some(2)
    );
    assert_eq!(dom::invalid_selector(r##"["#a", ".b c"]"##).ok(), Some(-1));
}

#[wasm_bindgen_test]
fn storage_round_trips_in_cookie_and_local_storage() {
    for kind in ["normal", "ls", "dual"] {
        let cfg =
            Config::from_json(&format!(r#"{{"groupid":"9","cookietype":"{kind}"}}"#)).unwrap();
        let mut store = Store::new(&cfg, &hostname(), false);
        let info = SessionInfo {
            key: "K-1".into(),
            sid: "abc123".into(),
            group: "9".into(),
            paused: false,
        };
        assert_eq!(store.save(&info), vec![], "{kind}");
        assert_eq!(store.load("9"), Some(info), "{kind}");
        assert_eq!(store.load("other"), None, "{kind}");
        store.clear();
        assert_eq!(store.load("9"), None, "{kind}");
    }
    // dual: the session survives site code deleting the cookie.
    let cfg = Config::from_json(r#"{"groupid":"9","cookietype":"dual"}"#).unwrap();
    let mut store = Store::new(&cfg, &hostname(), false);
    let info = SessionInfo {
        key: "K-2".into(),
        sid: "def456".into(),
        group: "9".into(),
        paused: true,
    };
    assert!(store.save(&info).is_empty());
    js("document.cookie = 'glance_ssn_info=; Path=/; Max-Age=0';");
    assert_eq!(store.load("9"), Some(info));
    store.clear();
}

fn hostname() -> String {
    web_sys::window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
fn a_refused_cookie_domain_falls_back_to_host_only_and_says_so() {
    // A `Domain=` that cannot match this host is refused by the browser; the write is read back.
    let mut cfg = Config::from_json(r#"{"groupid":"9","cookietype":"normal"}"#).unwrap();
    let info = SessionInfo {
        key: "K-3".into(),
        sid: "abc789".into(),
        group: "9".into(),
        paused: false,
    };
    // The plan for a host this page is not on: the browser refuses Domain=other.example.
    cfg.cookiedomain = Some("other.example".into());
    let mut store = Store::new(&cfg, "a.other.example", false);
    let issues = store.save(&info);
    assert_eq!(issues.len(), 1, "{issues:?}");
    let msg = issues[0].to_string();
    assert!(
        msg.contains("Domain=other.example") && msg.contains("host-only"),
        "{msg}"
    );
    assert_eq!(
        store.load("9"),
        Some(info.clone()),
        "the host-only cookie holds it"
    );
    assert!(store.save(&info).is_empty(), "reported once per page");
    store.clear();
    assert_eq!(store.load("9"), None);
}

#[wasm_bindgen_test]
fn blocked_storage_is_reported_and_never_throws() {
    js("window.__cookieDesc = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
        Object.defineProperty(document, 'cookie', { configurable: true, get() { return ''; }, set(v) {} });
        window.__setItem = Storage.prototype.setItem;
        Storage.prototype.setItem = function () {
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        };");
    let cfg = Config::from_json(r#"{"groupid":"9","cookietype":"dual"}"#).unwrap();
    let mut store = Store::new(&cfg, &hostname(), false);
    let info = SessionInfo {
        key: "K-4".into(),
        sid: "abc000".into(),
        group: "9".into(),
        paused: false,
    };
    let issues = store.save(&info);
    js("delete document.cookie; Storage.prototype.setItem = window.__setItem;");
    assert_eq!(issues.len(), 1, "{issues:?}");
    let msg = issues[0].to_string();
    assert!(
        msg.contains("QuotaExceededError") && msg.contains("cannot continue on other pages"),
        "{msg}"
    );
    assert_eq!(store.load("9"), None);
}

#[wasm_bindgen_test]
fn engine_refuses_a_missing_group_id() {
    let emit = js_sys::Function::new_no_args("");
    let err = super::Engine::new(r#"{"groupid":""}"#, emit).expect_err("error");
    assert!(err
        .as_string()
        .unwrap_or_default()
        .contains("data-groupid missing"));
}

#[wasm_bindgen_test]
async fn session_end_removes_every_data_gid() {
    js(FIXTURE);
    js("const h = document.getElementById('fixture');
        const host = h.appendChild(document.createElement('div'));
        host.attachShadow({ mode: 'open' }).innerHTML = '<p>in shadow</p>';");
    let notify = Closure::<dyn FnMut()>::new(|| {});
    let cap = DomCapture::new("[]", notify.as_ref().unchecked_ref()).expect("capture");
    let _ = snapshot(&cap, "p-gid").await;
    sleep(50).await;
    let count = "return document.querySelectorAll('[data-gid]').length \
                 + document.querySelector('#fixture > div:last-child').shadowRoot \
                   .querySelectorAll('[data-gid]').length;";
    assert!(
        js(count).as_f64().unwrap_or(0.0) > 5.0,
        "the snapshot tagged the page"
    );
    cap.stop();
    dom::clear_gids();
    assert_eq!(js(count).as_f64(), Some(0.0));
}
