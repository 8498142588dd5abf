//! Bindings to `control.js`: reading and applying remote-control actions, navigation, the
//! agent's overlay (outline, pointer) and the visitor's pointer feed. The decisions are made in
//! [`crate::rc`]; one crossing per step.

use alloc::string::String;

use wasm_bindgen::prelude::*;

use super::dom::DomCapture;

#[wasm_bindgen(module = "/src/web/control.js")]
extern "C" {
    /// Facts about an action's target (see `crate::rc::Target`).
    #[wasm_bindgen(catch)]
    pub fn inspect(cap: &DomCapture, gid: f64, kind: &str) -> Result<JsValue, JsValue>;

    /// Applies an allowed action: `{ev, value}` or `{err}`.
    #[wasm_bindgen(catch)]
    pub fn apply(
        cap: &DomCapture,
        gid: f64,
        kind: &str,
        value: Option<String>,
        key: Option<String>,
        x: Option<f64>,
        y: Option<f64>,
    ) -> Result<JsValue, JsValue>;

    /// The accessible text of an outlined element as JSON text (undefined when masked, a
    /// password, or none; never throws).
    pub fn label(cap: &DomCapture, el: &JsValue) -> JsValue;

    /// An agent's URL resolved against the page ('' when it does not parse).
    #[wasm_bindgen(js_name = resolveUrl, catch)]
    pub fn resolve_url(url: &str) -> Result<String, JsValue>;

    /// Navigates (`action` back/forward/refresh, else to `href`); false when a window was refused.
    #[wasm_bindgen(catch)]
    pub fn navigate(action: &str, href: &str, open: bool, link: bool) -> Result<bool, JsValue>;

    /// The agent's marks on the page.
    pub type Overlay;

    #[wasm_bindgen(constructor)]
    pub fn new() -> Overlay;

    /// Outlines an element.
    #[wasm_bindgen(method, catch)]
    pub fn outline(this: &Overlay, el: &JsValue) -> Result<JsValue, JsValue>;

    /// Removes the outline.
    #[wasm_bindgen(method)]
    pub fn clear(this: &Overlay);

    /// Shows (or hides, `x` `None`) an agent's pointer.
    #[wasm_bindgen(method, catch)]
    pub fn pointer(
        this: &Overlay,
        num: f64,
        label: &str,
        x: Option<f64>,
        y: Option<f64>,
    ) -> Result<(), JsValue>;

    /// Removes every mark.
    #[wasm_bindgen(method)]
    pub fn remove(this: &Overlay);

    /// The visitor's pointer, throttled.
    pub type PointerFeed;

    #[wasm_bindgen(constructor)]
    pub fn new(send: &js_sys::Function) -> PointerFeed;

    /// Stops listening.
    #[wasm_bindgen(method)]
    pub fn stop(this: &PointerFeed);
}

#[wasm_bindgen(module = "/src/web/dom.js")]
extern "C" {
    /// The element with that gid, or null.
    #[wasm_bindgen(method, catch)]
    pub fn find(this: &DomCapture, gid: f64) -> Result<JsValue, JsValue>;

    /// Writes the element's `data-gid` now.
    #[wasm_bindgen(method, js_name = tagNow, catch)]
    pub fn tag_now(this: &DomCapture, el: &JsValue) -> Result<(), JsValue>;
}
