//! The only `#[wasm_bindgen]` exports: the `Engine` class the loader drives.
//! Nothing here throws into the page except the constructor on a bad configuration (the
//! loader catches it and reports `SCRIPT_NOT_LOADED`/`service`).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::engine::Handle;

#[wasm_bindgen(module = "/src/web/dom.js")]
extern "C" {
    #[wasm_bindgen(js_name = hideNode, catch)]
    fn dom_hide_node(n: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(js_name = maskedNode)]
    fn dom_masked_node(n: &JsValue) -> bool;
}

/// The visitor engine, one per page.
#[wasm_bindgen]
pub struct Engine {
    handle: Handle,
    _pagehide: Option<Closure<dyn FnMut()>>,
}

impl core::fmt::Debug for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Engine")
    }
}

#[wasm_bindgen]
impl Engine {
    /// Creates the engine from the loader's config JSON and its `emit(name, payload)`.
    #[wasm_bindgen(constructor)]
    pub fn new(config_json: &str, emit: js_sys::Function) -> Result<Engine, JsValue> {
        let cfg = super::wire::config(config_json).map_err(|e| JsValue::from_str(&e))?;
        let handle = Handle::new(cfg, emit);
        // A cross-origin frame with its own tag also offers itself to the page around it.
        let _ = super::dom::frame_link();
        let weak = alloc::rc::Rc::downgrade(&handle.rc);
        let pagehide = Closure::<dyn FnMut()>::new(move || {
            super::engine::with_engine(&weak, |i| i.page_hide())
        });
        if let Some(w) = super::window() {
            let _ =
                w.add_event_listener_with_callback("pagehide", pagehide.as_ref().unchecked_ref());
        }
        Ok(Engine {
            handle,
            _pagehide: Some(pagehide),
        })
    }

    /// `GLANCE.Cobrowse.Visitor.startSession(params)`; `params_json` is `{"sessionKey": ...}`.
    #[wasm_bindgen(js_name = startSession)]
    pub fn start_session(&self, params_json: &str) {
        let key = super::wire::session_key(params_json);
        self.handle.run(|i| i.start(key));
    }

    /// Marks a node as the visitor UI's own (static; callable before an engine exists): the
    /// capture never sends it, nor the mutations inside it. Anything that is not a node is ignored.
    #[wasm_bindgen(js_name = hideNode)]
    pub fn hide_node(node: &JsValue) {
        if node.is_object() {
            let _ = dom_hide_node(node);
        }
    }

    /// True when `el` is masked (or inside a masked element) for the running capture, or when no
    /// capture runs: the visitor UI never describes such an element (static).
    #[wasm_bindgen(js_name = maskedNode)]
    pub fn masked_node(el: &JsValue) -> bool {
        dom_masked_node(el)
    }

    /// `stopSession()`.
    #[wasm_bindgen(js_name = stopSession)]
    pub fn stop_session(&self) {
        self.handle.run(|i| i.stop());
    }

    /// `inSession()`.
    #[wasm_bindgen(js_name = inSession)]
    pub fn in_session(&self) -> bool {
        self.handle.run(|i| i.in_session()).unwrap_or(false)
    }

    /// `getSessionState()`: an object, or `null` outside a session.
    #[wasm_bindgen(js_name = getSessionState)]
    pub fn get_session_state(&self) -> JsValue {
        let v = self.handle.run(|i| i.session_state());
        js_sys::JSON::parse(v.as_deref().unwrap_or("null")).unwrap_or(JsValue::NULL)
    }

    /// Pauses (`true`) or resumes (`false`) sending the page.
    pub fn pause(&self, paused: bool) {
        self.handle.run(|i| i.set_paused(paused));
    }

    /// `sendSessionMessage(name, msg)`; `json` is the loader's `JSON.stringify(msg)` (empty when
    /// it has none). A non-object is refused with an `error` event.
    #[wasm_bindgen(js_name = sendSessionMessage)]
    pub fn send_session_message(&self, name: &str, json: &str) {
        self.handle.run(|i| i.send_message(name, json));
    }

    /// `setUserState(name, value)`; `json` is `JSON.stringify(value)`.
    #[wasm_bindgen(js_name = setUserState)]
    pub fn set_user_state(&self, name: &str, json: &str) {
        self.handle.run(|i| i.set_user_state(name, json));
    }

    /// `getUserState(name)`: the value, or `undefined`.
    #[wasm_bindgen(js_name = getUserState)]
    pub fn get_user_state(&self, name: &str) -> JsValue {
        match self.handle.run(|i| i.user_state(name)).flatten() {
            Some(v) => js_sys::JSON::parse(&v).unwrap_or(JsValue::UNDEFINED),
            None => JsValue::UNDEFINED,
        }
    }

    /// The visitor's answer to `rcrequested` (the loader's `accept`/`decline` callbacks).
    #[wasm_bindgen(js_name = rcAnswer)]
    pub fn rc_answer(&self, accept: bool) {
        self.handle.run(|i| i.rc_answer(accept));
    }

    /// `disableRC()`: the visitor stops remote control.
    #[wasm_bindgen(js_name = disableRC)]
    pub fn disable_rc(&self) {
        self.handle.run(|i| i.disable_rc());
    }

    /// The visitor's answer to a navigation `confirm` event.
    #[wasm_bindgen(js_name = navAnswer)]
    pub fn nav_answer(&self, accept: bool) {
        self.handle.run(|i| i.nav_answer(accept));
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let (Some(w), Some(c)) = (super::window(), &self._pagehide) {
            let _ = w.remove_event_listener_with_callback("pagehide", c.as_ref().unchecked_ref());
        }
    }
}
