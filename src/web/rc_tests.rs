//! Browser tests of remote control (wasm-bindgen-test in headless Chromium): the whole engine
//! against a fake `WebSocket` (what it sends, the events it emits), a React-style controlled
//! input, the refusals, navigation, gestures, accessibility (events, state, outline labels
//! without masked text) and the overlay staying out of the capture.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::control::Overlay;
use super::dom::DomCapture;
use super::tests::{js, sleep};

wasm_bindgen_test_configure!(run_in_browser);

/// The page: a React-style controlled input (state kept by the component, a value tracker on
/// the node, the value re-rendered from state after every input event), a masked field, a
/// password, a `javascript:` link, a plain link, a select, a checkbox, a disabled button, and a
/// form whose submit the page handles.
const PAGE: &str = r#"
  let f = document.getElementById('rc-fixture');
  if (!f) { f = document.createElement('div'); f.id = 'rc-fixture'; document.body.appendChild(f); }
  f.innerHTML = `
    <form id="rc-form"><input id="rc-name" value="Al"><span id="rc-state">Al</span>
      <input id="rc-plain" value="">
      <input class="glance_masked" id="rc-masked" value="secret">
      <input type="password" id="rc-pw" value="pw">
      <select id="rc-sel"><option value="a">A</option><option value="b">B</option></select>
      <input type="checkbox" id="rc-check">
      <button type="button" id="rc-off" disabled>off</button>
      <a id="rc-js" href=" JavaScript:window.__pwned = 1"><span id="rc-js-in">js</span></a>
      <button id="rc-submit">go</button></form>`;
  window.__log = [];
  const input = document.getElementById('rc-name'), out = document.getElementById('rc-state');
  const proto = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
  let state = input.value, tracked = state;
  Object.defineProperty(input, 'value', { configurable: true,
    get() { return proto.get.call(this); },
    set(v) { tracked = String(v); proto.set.call(this, v); } });
  const render = () => { if (input.value !== state) input.value = state; out.textContent = state; };
  input.addEventListener('input', () => {
    const now = proto.get.call(input);
    if (now !== tracked) { tracked = now; state = now; }
    render();
  });
  document.getElementById('rc-form').addEventListener('submit', (e) => { e.preventDefault(); __log.push('submit'); });
  document.getElementById('rc-check').addEventListener('click', (e) => __log.push('click:' + e.clientX.toFixed(0)));
  document.getElementById('rc-plain').addEventListener('change', () => __log.push('change'));
"#;

const FAKE_WS: &str = r#"
  window.__realWS = window.__realWS || window.WebSocket;
  window.__sent = []; window.__ws = null; window.__ev = [];
  window.WebSocket = class {
    constructor(url) {
      this.url = url; this.readyState = 0; window.__ws = this;
      setTimeout(() => { this.readyState = 1; if (this.onopen) this.onopen({}); }, 0);
    }
    send(t) { window.__sent.push(typeof t === 'string' ? t : '<binary>'); }
    close() { this.readyState = 3; }
  };
  window.WebSocket.OPEN = 1;
"#;

fn recv(frame: &str) {
    js(&["window.__ws.onmessage({ data: ", &js_string(frame), " });"].concat());
}

fn js_string(s: &str) -> String {
    js_sys::JSON::stringify(&JsValue::from_str(s))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// Text frames sent since the last call, parsed as JSON objects of type `t`.
fn take_sent(t: &str) -> Vec<JsValue> {
    let all = js("const s = window.__sent; window.__sent = []; return s;");
    js_sys::Array::from(&all)
        .iter()
        .filter_map(|s| s.as_string())
        .filter_map(|s| js_sys::JSON::parse(&s).ok())
        .filter(|o| get(o, "t").as_string().as_deref() == Some(t))
        .collect()
}

/// Events emitted since the last call (name, payload).
fn take_events() -> Vec<(String, JsValue)> {
    let all = js("const e = window.__ev; window.__ev = []; return e;");
    js_sys::Array::from(&all)
        .iter()
        .map(|e| {
            let e = js_sys::Array::from(&e);
            (e.get(0).as_string().unwrap_or_default(), e.get(1))
        })
        .collect()
}

fn get(o: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

fn gid(id: &str) -> String {
    js(&[
        "return document.getElementById('",
        id,
        "').getAttribute('data-gid');",
    ]
    .concat())
    .as_string()
    .unwrap_or_else(|| panic!("no data-gid on #{id}"))
}

const AGENT: &str =
    r#""agent":{"username":"agnes","puid":"agnes@example.com","num":1,"name":"Agnes Agent"}"#;

fn act(id: u32, rest: &str) {
    recv(
        &[
            "{\"t\":\"act\",\"id\":",
            &id.to_string(),
            ",",
            rest,
            ",",
            AGENT,
            "}",
        ]
        .concat(),
    );
}

/// The single `actres` sent since the last call: (ok, reason).
async fn actres() -> (bool, String) {
    sleep(20).await;
    let r = take_sent("actres");
    assert_eq!(
        r.len(),
        1,
        "one actres: {:?}",
        r.iter().map(json).collect::<Vec<_>>()
    );
    assert_eq!(get(&r[0], "num").as_f64(), Some(1.0));
    (
        get(&r[0], "ok").as_bool().unwrap_or(false),
        get(&r[0], "reason").as_string().unwrap_or_default(),
    )
}

#[wasm_bindgen_test]
async fn remote_control_end_to_end_against_a_fake_server() {
    js(PAGE);
    js(FAKE_WS);
    let emit = js_sys::Function::new_with_args("n, p", "window.__ev.push([n, p]);");
    let engine = super::Engine::new(
        r#"{"groupid":"rc-test","ws":"ws://fake.test","cookietype":"ls"}"#,
        emit,
    )
    .expect("engine");
    engine.start_session("{}");
    sleep(400).await;
    assert!(!js("return window.__ws").is_null(), "socket opened");
    recv(
        r#"{"t":"welcome","key":"RC1","sid":"S-rc","masks":[".glance_masked"],"agents":{"count":1,"agentlist":[{"username":"agnes","name":"Agnes Agent","num":1}]},"rc":false}"#,
    );
    sleep(500).await;
    take_events();
    take_sent("x");
    assert_eq!(
        get(&engine.get_session_state(), "rc").as_bool(),
        Some(false)
    );

    // Not enabled: refused, nothing applied.
    let check = gid("rc-check");
    act(1, &["\"type\":\"click\",\"gid\":", &check].concat());
    assert_eq!(actres().await, (false, "notenabled".into()));
    assert_eq!(
        js("return document.getElementById('rc-check').checked"),
        false
    );

    // The agent asks; the visitor accepts.
    recv(&["{\"t\":\"rc\",\"on\":true,", AGENT, "}"].concat());
    let rc = take_sent("rc");
    assert_eq!(
        get(&rc[0], "state").as_string().as_deref(),
        Some("requested")
    );
    let ev = take_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, "rcrequested");
    assert_eq!(
        get(&get(&ev[0].1, "agent"), "name").as_string().as_deref(),
        Some("Agnes Agent")
    );
    engine.rc_answer(true);
    engine.rc_answer(false); // a second answer changes nothing
    let rc = take_sent("rc");
    assert_eq!(rc.len(), 1);
    assert_eq!(
        get(&rc[0], "state").as_string().as_deref(),
        Some("accepted")
    );
    let names: Vec<String> = take_events()
        .into_iter()
        .map(|e| e.0 + &json(&e.1))
        .collect();
    assert_eq!(names, ["rcaccepted{}", "rcenabled{\"enabled\":true}"]);
    assert_eq!(get(&engine.get_session_state(), "rc").as_bool(), Some(true));

    // Click: the checkbox toggles through its activation behaviour, at the given point.
    act(
        2,
        &["\"type\":\"click\",\"gid\":", &check, ",\"x\":0,\"y\":0"].concat(),
    );
    assert_eq!(actres().await, (true, String::new()));
    assert_eq!(
        js("return document.getElementById('rc-check').checked"),
        true
    );
    let left = js("return Math.round(document.getElementById('rc-check').getBoundingClientRect().left).toFixed(0)");
    assert_eq!(
        js("return __log.join()").as_string(),
        Some(["click:", &left.as_string().unwrap_or_default()].concat())
    );
    let ev = take_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, "rcevent");
    assert_eq!(
        json(&ev[0].1),
        [
            r#"{"type":"click","agent":{"username":"agnes","puid":"agnes@example.com","num":1},"path":"[data-gid=\""#,
            &check,
            r#"\"]"}"#
        ]
        .concat()
    );

    // Typing into the React-style controlled input: the component's state follows.
    let name = gid("rc-name");
    act(
        3,
        &["\"type\":\"type\",\"gid\":", &name, ",\"value\":\"Alice\""].concat(),
    );
    assert_eq!(actres().await, (true, String::new()));
    assert_eq!(
        js("return document.getElementById('rc-state').textContent"),
        "Alice"
    );
    assert_eq!(
        js("return document.getElementById('rc-name').value"),
        "Alice"
    );
    let ev = take_events();
    assert_eq!(ev[0].0, "rcevent");
    assert_eq!(
        get(&ev[0].1, "type").as_string().as_deref(),
        Some("agenttyping")
    );
    assert_eq!(get(&ev[0].1, "value").as_string().as_deref(), Some("Alice"));
    let path = get(&ev[0].1, "path").as_string().unwrap_or_default();
    let found = js(&["return document.querySelector('", &path, "').id"].concat());
    assert_eq!(found, "rc-name", "the path finds the element");
    // ...whereas a plain `.value =` would have been reverted by the component (the control).
    js(
        "const i = document.getElementById('rc-name'); i.value = 'Zed';
        i.dispatchEvent(new Event('input', { bubbles: true }));",
    );
    assert_eq!(
        js("return document.getElementById('rc-state').textContent"),
        "Alice"
    );
    // The new value reaches the agent in a diff.
    sleep(150).await;
    let diffs = js("return window.__sent.filter((s) => s.includes('\"t\":\"diff\"')).join()");
    assert!(
        diffs.as_string().unwrap_or_default().contains("Alice"),
        "{diffs:?}"
    );

    // change after editing: `change` then blur, and `inputchange`; not again without editing.
    let plain = gid("rc-plain");
    act(
        4,
        &["\"type\":\"type\",\"gid\":", &plain, ",\"value\":\"x\""].concat(),
    );
    assert!(actres().await.0);
    act(5, &["\"type\":\"change\",\"gid\":", &plain].concat());
    assert!(actres().await.0);
    let ev = take_events();
    assert_eq!(ev.last().map(|e| json(&e.1)), Some(
        [r#"{"type":"inputchange","agent":{"username":"agnes","puid":"agnes@example.com","num":1},"path":"[data-gid=\""#, &plain, r#"\"]"}"#].concat()
    ));
    assert_eq!(js("return __log.filter((x) => x === 'change').length"), 1);
    act(6, &["\"type\":\"change\",\"gid\":", &plain].concat());
    assert!(actres().await.0);
    assert!(take_events().is_empty(), "no inputchange without editing");

    // Enter in a form field submits through the form (the page handles `submit`).
    act(
        7,
        &["\"type\":\"key\",\"gid\":", &plain, ",\"key\":\"Enter\""].concat(),
    );
    assert!(actres().await.0);
    assert_eq!(js("return __log.includes('submit')"), true);

    // A select takes a value among its options only.
    let sel = gid("rc-sel");
    act(
        8,
        &["\"type\":\"type\",\"gid\":", &sel, ",\"value\":\"b\""].concat(),
    );
    assert!(actres().await.0);
    assert_eq!(js("return document.getElementById('rc-sel').value"), "b");
    act(
        9,
        &["\"type\":\"type\",\"gid\":", &sel, ",\"value\":\"zz\""].concat(),
    );
    assert_eq!(actres().await, (false, "invalid".into()));
    assert_eq!(js("return document.getElementById('rc-sel').value"), "b");
    take_events();

    // Refusals: nothing applied, no rcevent.
    let masked = gid("rc-masked");
    act(
        10,
        &["\"type\":\"type\",\"gid\":", &masked, ",\"value\":\"leak\""].concat(),
    );
    assert_eq!(actres().await, (false, "masked".into()));
    assert_eq!(
        js("return document.getElementById('rc-masked').value"),
        "secret"
    );
    let pw = gid("rc-pw");
    js("document.getElementById('rc-pw').type = 'text';");
    act(
        11,
        &["\"type\":\"type\",\"gid\":", &pw, ",\"value\":\"x\""].concat(),
    );
    assert_eq!(
        actres().await,
        (false, "password".into()),
        "still a password field after a type toggle"
    );
    let jsin = gid("rc-js-in");
    act(12, &["\"type\":\"click\",\"gid\":", &jsin].concat());
    assert_eq!(actres().await, (false, "javascript".into()));
    assert!(js("return window.__pwned").is_undefined());
    let off = gid("rc-off");
    act(13, &["\"type\":\"click\",\"gid\":", &off].concat());
    assert_eq!(actres().await, (false, "disabled".into()));
    act(14, r#""type":"click","gid":987654"#);
    assert_eq!(actres().await, (false, "missing".into()));
    act(15, &["\"type\":\"drag\",\"gid\":", &check].concat());
    assert_eq!(actres().await, (false, "invalid".into()));
    act(
        16,
        &["\"type\":\"type\",\"gid\":", &check, ",\"value\":\"x\""].concat(),
    );
    assert_eq!(actres().await, (false, "invalid".into()));
    assert!(take_events().is_empty(), "no rcevent for a refusal");

    // An element whose data-gid is not written (yet) is still found, and tagged for the path.
    js("document.getElementById('rc-check').removeAttribute('data-gid');");
    act(17, &["\"type\":\"click\",\"gid\":", &check].concat());
    assert!(actres().await.0);
    assert_eq!(gid("rc-check"), check);
    take_events();

    // Gestures: an outline drawn in the overlay, the `outline` event, no diff for the overlay.
    sleep(100).await;
    take_sent("x");
    recv(
        &[
            "{\"t\":\"gesture\",\"kind\":\"outline\",\"gid\":",
            &name,
            ",",
            AGENT,
            "}",
        ]
        .concat(),
    );
    recv(r#"{"t":"ptr","num":1,"x":30,"y":40}"#);
    let ev = take_events();
    assert_eq!(ev[0].0, "outline");
    assert_eq!(
        get(&ev[0].1, "path").as_string(),
        Some(["[data-gid=\"", &name, "\"]"].concat())
    );
    assert_eq!(get(&ev[0].1, "gid").as_f64(), name.parse().ok());
    assert_eq!(
        js("return document.querySelectorAll('glance-overlay').length"),
        1
    );
    sleep(200).await;
    let all = js("const s = window.__sent; window.__sent = []; return s.join('\\n');");
    assert!(
        !all.as_string().unwrap_or_default().contains("diff"),
        "overlay made a diff: {all:?}"
    );
    recv(r#"{"t":"gesture","kind":"clear","agent":{"num":1}}"#);

    // Navigation: javascript: refused; a confirmed one declined; a fragment followed.
    recv(
        &[
            "{\"t\":\"nav\",\"url\":\"javascript:alert(1)\",",
            AGENT,
            "}",
        ]
        .concat(),
    );
    let r = take_sent("navres");
    assert_eq!(
        json(&r[0]),
        r#"{"t":"navres","num":1,"ok":false,"url":"javascript:alert(1)","reason":"invalid"}"#
    );
    recv(
        &[
            "{\"t\":\"nav\",\"url\":\"page2.html\",\"confirm\":true,\"link\":true,",
            AGENT,
            "}",
        ]
        .concat(),
    );
    let ev = take_events();
    assert_eq!(ev[0].0, "confirm");
    assert_eq!(
        get(&ev[0].1, "url").as_string().as_deref(),
        Some("page2.html")
    );
    assert_eq!(get(&ev[0].1, "link").as_bool(), Some(true));
    engine.nav_answer(false);
    let r = take_sent("navres");
    assert_eq!(
        get(&r[0], "reason").as_string().as_deref(),
        Some("declined")
    );
    recv(&["{\"t\":\"nav\",\"url\":\"#rc-nav\",", AGENT, "}"].concat());
    let href = js("return new URL('#rc-nav', location.href).href")
        .as_string()
        .unwrap_or_default();
    let r = take_sent("navres");
    assert_eq!(get(&r[0], "ok").as_bool(), Some(true));
    assert_eq!(get(&r[0], "url").as_string(), Some(href.clone()));
    let ev = take_events();
    assert_eq!(ev[0].0, "navigation");
    assert_eq!(get(&ev[0].1, "url").as_string(), Some(href));
    assert_eq!(js("return location.hash"), "#rc-nav");
    js("history.replaceState(null, '', location.pathname + location.search);");

    // The visitor's pointer, throttled, in page coordinates; null when it leaves.
    take_sent("x");
    js("for (let i = 0; i < 20; i++) document.body.dispatchEvent(new PointerEvent('pointermove', { bubbles: true, clientX: 10 + i, clientY: 20 }));");
    let first = take_sent("vptr");
    assert_eq!(first.len(), 1, "throttled");
    assert_eq!(json(&first[0]), r#"{"t":"vptr","x":10,"y":20}"#);
    sleep(80).await;
    let trailing = take_sent("vptr");
    assert_eq!(
        trailing.iter().map(json).collect::<Vec<_>>(),
        [r#"{"t":"vptr","x":29,"y":20}"#]
    );
    js("document.body.dispatchEvent(new PointerEvent('pointerout', { bubbles: true, relatedTarget: null }));");
    assert_eq!(
        take_sent("vptr").iter().map(json).collect::<Vec<_>>(),
        [r#"{"t":"vptr","x":null,"y":null}"#]
    );

    // The visitor takes control back; actions are refused again.
    engine.disable_rc();
    assert_eq!(
        get(&take_sent("rc")[0], "state").as_string().as_deref(),
        Some("off")
    );
    let names: Vec<String> = take_events()
        .into_iter()
        .map(|e| e.0 + &json(&e.1))
        .collect();
    assert_eq!(names, ["rcenabled{\"enabled\":false}"]);
    act(18, &["\"type\":\"click\",\"gid\":", &check].concat());
    assert_eq!(actres().await, (false, "notenabled".into()));

    // The agent enables it again (welcome of a new page says so), then the session ends.
    recv(r#"{"t":"welcome","key":"RC1","sid":"S-rc","masks":[".glance_masked"],"rc":true}"#);
    let names: Vec<String> = take_events()
        .into_iter()
        .map(|e| e.0 + &json(&e.1))
        .collect();
    assert!(
        names.contains(&"rcenabled{\"enabled\":true}".into()),
        "{names:?}"
    );
    engine.stop_session();
    let names: Vec<String> = take_events().into_iter().map(|e| e.0).collect();
    assert_eq!(names.first().map(String::as_str), Some("leavesession"));
    assert!(
        names.contains(&"rcenabled".into()),
        "RC off at session end: {names:?}"
    );
    assert_eq!(
        js("return document.querySelectorAll('glance-overlay').length"),
        0
    );
    js("window.WebSocket = window.__realWS; document.getElementById('rc-fixture').remove();");
}

#[wasm_bindgen_test]
async fn overlay_is_never_captured() {
    js(PAGE);
    let notify = Closure::<dyn FnMut()>::new(|| {});
    let cap = DomCapture::new("[]", notify.as_ref().unchecked_ref()).expect("capture");
    let overlay = Overlay::new();
    let target = js("return document.getElementById('rc-name')");
    let _ = overlay.outline(&target);
    let _ = overlay.pointer(1.0, "Agnes", Some(5.0), Some(5.0));
    let chunks = js_sys::Array::new();
    let sink = chunks.clone();
    let on_chunk = Closure::<dyn FnMut(JsValue)>::new(move |b: JsValue| {
        sink.push(&b);
    });
    JsFuture::from(
        cap.snapshot(5.0, on_chunk.as_ref().unchecked_ref())
            .expect("start"),
    )
    .await
    .expect("snapshot");
    let names: String = chunks
        .iter()
        .map(|b| get(&b, "names").as_string().unwrap_or_default())
        .collect();
    assert!(names.contains("input"), "the page was walked: {names}");
    assert!(!names.contains("glance-overlay"), "overlay walked");
    sleep(50).await;
    let _ = cap.collect();
    // Moving, re-adding and removing the overlay makes no change for the agent.
    let _ = overlay.outline(&js("return document.getElementById('rc-check')"));
    overlay.remove();
    let _ = overlay.pointer(1.0, "Agnes", Some(9.0), Some(9.0));
    assert!(
        cap.collect().expect("collect").is_null(),
        "overlay produced a diff"
    );
    // Its styles stay in its shadow root: nothing is added to the page's stylesheets.
    assert_eq!(
        js("return [...document.querySelectorAll('style')].filter((s) => s.textContent.includes('#f5a623')).length"),
        0
    );
    overlay.remove();
    cap.stop();
    js("document.getElementById('rc-fixture').remove();");
}

/// A capture stopped in the task that started its snapshot (the session ended or paused right
/// after a welcome or a resume) stays stopped: it used to restart itself after the snapshot's
/// first yield, running with nobody reading it.
#[wasm_bindgen_test]
async fn a_capture_stopped_as_its_snapshot_starts_stays_stopped() {
    js("window.__notified = 0;");
    let notify = js_sys::Function::new_no_args("window.__notified++;");
    let cap = DomCapture::new("[]", &notify).expect("capture");
    let on_chunk = js_sys::Function::new_no_args("");
    let walk = cap.snapshot(5.0, &on_chunk).expect("start");
    cap.stop();
    assert!(JsFuture::from(walk).await.is_err(), "the walk gives up");
    js("document.body.appendChild(document.createElement('p')).id = 'rc-after-stop';");
    sleep(100).await;
    assert_eq!(
        js("return window.__notified"),
        0,
        "a stopped capture observed the page"
    );
    assert!(cap.collect().expect("collect").is_null());
    js("document.getElementById('rc-after-stop').remove();");
}

/// Accessibility features: the `accessibility` event (on a change, once per page while on, off
/// at the end), `getSessionState().accessibility`, and the `outline` event's `accessibility` and
/// `label` (the element's accessible text, nothing of a masked element or a password).
#[wasm_bindgen_test]
async fn accessibility_events_state_and_outline_labels() {
    js(PAGE);
    js(
        r#"document.getElementById('rc-fixture').insertAdjacentHTML('beforeend', `
      <button id="a-btn" aria-label="Pay now">$</button>
      <div id="a-text">  Total:
        <b>42</b> <span class="glance_masked">4111-secret</span> EUR <textarea>draft</textarea></div>
      <div class="glance_masked" id="a-mask" aria-label="Card number"><span>4111</span></div>
      <img id="a-img" alt="Shop logo" src="data:,">
      <p id="a-long">${'word '.repeat(100)}</p>`);"#,
    );
    js(FAKE_WS);
    let emit = js_sys::Function::new_with_args("n, p", "window.__ev.push([n, p]);");
    let engine = super::Engine::new(
        r#"{"groupid":"a11y-test","ws":"ws://fake.test","cookietype":"ls"}"#,
        emit,
    )
    .expect("engine");
    engine.start_session("{}");
    sleep(400).await;
    let welcome = |a11y: bool| {
        recv(
            &[
                r#"{"t":"welcome","key":"A1","sid":"S-a11y","masks":[".glance_masked"],"rc":false,"a11y":"#,
                if a11y { "true" } else { "false" },
                "}",
            ]
            .concat(),
        )
    };
    welcome(false);
    sleep(500).await;
    let named = |ev: Vec<(String, JsValue)>, name: &str| -> Vec<String> {
        ev.into_iter()
            .filter(|e| e.0 == name)
            .map(|e| json(&e.1))
            .collect()
    };
    assert!(named(take_events(), "accessibility").is_empty());
    let state = |e: &super::Engine| get(&e.get_session_state(), "accessibility").as_bool();
    assert_eq!(state(&engine), Some(false));
    let outline = |id: &str| {
        recv(
            &[
                "{\"t\":\"gesture\",\"kind\":\"outline\",\"gid\":",
                &gid(id),
                ",",
                AGENT,
                "}",
            ]
            .concat(),
        );
        let ev = take_events();
        let o = ev.iter().find(|e| e.0 == "outline").expect("outline event");
        (
            get(&o.1, "accessibility").as_bool(),
            get(&o.1, "label").as_string(),
        )
    };
    // Off: no label.
    assert_eq!(outline("a-btn"), (None, None));

    // An agent turns it on: one event, the state says it; repeating it changes nothing.
    recv(&["{\"t\":\"a11y\",\"on\":true,", AGENT, "}"].concat());
    assert_eq!(
        named(take_events(), "accessibility"),
        [r#"{"enabled":true}"#]
    );
    assert_eq!(state(&engine), Some(true));
    recv(&["{\"t\":\"a11y\",\"on\":true,", AGENT, "}"].concat());
    assert!(take_events().is_empty());

    // Labels: aria-label, alt, the text without masked descendants or fields, at most 200.
    assert_eq!(outline("a-btn"), (Some(true), Some("Pay now".into())));
    assert_eq!(outline("a-img"), (Some(true), Some("Shop logo".into())));
    assert_eq!(
        outline("a-text"),
        (Some(true), Some("Total: 42 EUR".into()))
    );
    let long = outline("a-long").1.unwrap_or_default();
    assert_eq!(long.len(), 200);
    assert!(long.starts_with("word word"));
    // Masked elements and passwords give nothing, not even their aria-label.
    assert_eq!(outline("a-mask"), (Some(true), None));
    js("document.getElementById('rc-pw').setAttribute('aria-label', 'Password');");
    assert_eq!(outline("rc-pw"), (Some(true), None));

    // A reconnect's welcome that still says on: no new event; one that says off: off.
    welcome(true);
    sleep(50).await;
    assert!(named(take_events(), "accessibility").is_empty());
    welcome(false);
    sleep(50).await;
    assert_eq!(
        named(take_events(), "accessibility"),
        [r#"{"enabled":false}"#]
    );
    assert_eq!(state(&engine), Some(false));
    recv(&["{\"t\":\"a11y\",\"on\":true,", AGENT, "}"].concat());
    take_events();

    // The session ends: off.
    engine.stop_session();
    assert_eq!(
        named(take_events(), "accessibility"),
        [r#"{"enabled":false}"#]
    );
    // A new session whose welcome says on: told again.
    engine.start_session("{}");
    sleep(400).await;
    welcome(true);
    sleep(50).await;
    assert_eq!(
        named(take_events(), "accessibility"),
        [r#"{"enabled":true}"#]
    );
    assert_eq!(state(&engine), Some(true));
    engine.stop_session();
    js("window.WebSocket = window.__realWS; document.getElementById('rc-fixture').remove();");
}
