//! A one-shot timeout released on `Drop` (cancelled if it has not fired).

use alloc::boxed::Box;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A pending `setTimeout`; dropping it cancels the callback.
#[must_use]
pub struct Timeout {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl core::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).finish()
    }
}

impl Timeout {
    /// Calls `f` after `ms` milliseconds.
    pub fn new(ms: u32, f: impl FnOnce() + 'static) -> Option<Timeout> {
        Self::boxed(ms, Box::new(f))
    }

    /// Not generic: one closure type (and one set of wasm-bindgen shims) for every timer.
    fn boxed(ms: u32, f: Box<dyn FnOnce()>) -> Option<Timeout> {
        let mut f = Some(f);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f();
            }
        });
        let id = super::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                closure.as_ref().unchecked_ref(),
                ms.min(i32::MAX as u32) as i32,
            )
            .ok()?;
        Some(Timeout {
            id,
            _closure: closure,
        })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(w) = super::window() {
            w.clear_timeout_with_handle(self.id);
        }
    }
}
