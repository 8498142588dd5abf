//! The browser edge: everything that touches `window`, `document`, sockets and storage.
//! Compiled only for `wasm32`; the rest of the crate is plain Rust tested natively.

mod api;
mod control;
mod dom;
mod engine;
mod socket;
mod storage;
mod tabs;
mod timer;
mod wire;

pub use api::Engine;

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The page's `window` (`None` outside a window).
    #[wasm_bindgen(thread_local_v2, js_name = window)]
    static WINDOW: Option<web_sys::Window>;
}

/// `window`, read directly: `web_sys::window()` finds the global object through four
/// fallbacks (`self`, `window`, `globalThis`, `global`) and an `instanceof Window` check, all of
/// which ship as imports and glue.
fn window() -> Option<web_sys::Window> {
    WINDOW.with(Option::clone)
}

/// The `no_std` module's allocator: dlmalloc, the one `std` uses on `wasm32` (same speed).
#[cfg(all(feature = "ship", not(test)))]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic traps (`unreachable`), as `panic = "abort"` did with `std`, but without formatting
/// the message first.
#[cfg(all(feature = "ship", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rc_tests;
