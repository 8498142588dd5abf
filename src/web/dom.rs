//! Bindings to `dom.js`, the JS walker and mutation collector (one crossing per batch).

use alloc::{string::String, vec::Vec};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/dom.js")]
extern "C" {
    /// The page walker and mutation collector.
    pub type DomCapture;

    #[wasm_bindgen(constructor, catch)]
    pub fn new(selectors_json: &str, notify: &js_sys::Function) -> Result<DomCapture, JsValue>;

    /// A full snapshot walked in time slices; each slice's [`Batch`] goes to `on_chunk`;
    /// the promise resolves when the walk is complete.
    #[wasm_bindgen(method, catch)]
    pub fn snapshot(
        this: &DomCapture,
        budget_ms: f64,
        on_chunk: &js_sys::Function,
    ) -> Result<js_sys::Promise, JsValue>;

    /// Pending changes as a [`Batch`], or `null`.
    #[wasm_bindgen(method, catch)]
    pub fn collect(this: &DomCapture) -> Result<JsValue, JsValue>;

    /// Stops observing and removes every listener.
    #[wasm_bindgen(method)]
    pub fn stop(this: &DomCapture);

    /// Index of the first selector the browser rejects, or -1.
    #[wasm_bindgen(js_name = invalidSelector, catch)]
    pub fn invalid_selector(json: &str) -> Result<i32, JsValue>;

    /// Removes the engine's `data-gid` attributes and node ids (session end).
    #[wasm_bindgen(js_name = clearGids)]
    pub fn clear_gids();

    /// Snapshot header facts (an object; see `wire::page_meta`).
    #[wasm_bindgen(js_name = pageMeta, catch)]
    pub fn page_meta() -> Result<JsValue, JsValue>;

    /// True in a same-origin frame whose page runs the engine too.
    #[wasm_bindgen(js_name = insideEnginePage, catch)]
    pub fn inside_engine_page() -> Result<bool, JsValue>;

    /// One flat batch.
    pub type Batch;

    #[wasm_bindgen(method, getter)]
    pub fn ints(this: &Batch) -> Vec<u32>;

    #[wasm_bindgen(method, getter)]
    pub fn strs(this: &Batch) -> String;

    #[wasm_bindgen(method, getter)]
    pub fn names(this: &Batch) -> String;

    /// Set when the page needs a fresh snapshot instead of a diff (e.g. its base URL changed).
    #[wasm_bindgen(method, getter)]
    pub fn resync(this: &Batch) -> Option<bool>;
}

#[wasm_bindgen(module = "/src/web/frames.js")]
extern "C" {
    /// In a cross-origin iframe: offers the frame to the page's engine (see `frames.js`).
    #[wasm_bindgen(js_name = frameLink, catch)]
    pub fn frame_link() -> Result<bool, JsValue>;
}
