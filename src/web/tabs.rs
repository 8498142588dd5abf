//! The browser side of tab coordination (see [`crate::tabs`]): the group's `BroadcastChannel`
//! and the signals that make a tab the active one (window focus, the page becoming visible, user
//! input). Where `BroadcastChannel` is missing, `storage` events stand in for the end of a session
//! (they fire in the other tabs when the stored session is removed). Listeners live exactly as long
//! as the [`Tabs`] value.

use alloc::string::String;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, Event, MessageEvent, StorageEvent};

use crate::session::{FALLBACK_KEY, STORAGE_KEY};
use crate::tabs::{channel_name, TabMsg};

/// Signals that make a tab active.
const ACTIVE_EVENTS: [&str; 3] = ["focus", "pointerdown", "keydown"];

/// The tab's channel and listeners.
pub struct Tabs {
    channel: Option<BroadcastChannel>,
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_active: Closure<dyn FnMut(Event)>,
    on_storage: Option<Closure<dyn FnMut(StorageEvent)>>,
}

impl core::fmt::Debug for Tabs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tabs")
            .field("channel", &self.channel.is_some())
            .finish()
    }
}

fn capture_passive() -> web_sys::AddEventListenerOptions {
    let o = web_sys::AddEventListenerOptions::new();
    o.set_capture(true);
    o.set_passive(true);
    o
}

/// True while the page is visible (not a background tab).
pub fn visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| !d.hidden())
}

impl Tabs {
    /// Listens on the group's channel (`on_msg` gets each message's text), for activity
    /// (`on_active`), and, without a channel, for the stored session being removed (`on_cleared`).
    pub fn new(
        group: &str,
        mut on_msg: impl FnMut(String) + 'static,
        mut on_active: impl FnMut() + 'static,
        mut on_cleared: impl FnMut() + 'static,
    ) -> Tabs {
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(s) = e.data().as_string() {
                on_msg(s);
            }
        });
        let channel = BroadcastChannel::new(&channel_name(group)).ok();
        if let Some(c) = &channel {
            c.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        }
        let on_active = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
            if e.type_() != "visibilitychange" || visible() {
                on_active();
            }
        });
        let mut on_storage = None;
        if let Some(w) = web_sys::window() {
            let f = on_active.as_ref().unchecked_ref();
            let opts = capture_passive();
            for t in ACTIVE_EVENTS {
                let _ =
                    w.add_event_listener_with_callback_and_add_event_listener_options(t, f, &opts);
            }
            if let Some(d) = w.document() {
                let _ = d.add_event_listener_with_callback("visibilitychange", f);
            }
            if channel.is_none() {
                let c = Closure::<dyn FnMut(StorageEvent)>::new(move |e: StorageEvent| {
                    let ours = matches!(e.key().as_deref(), Some(STORAGE_KEY | FALLBACK_KEY));
                    if ours && e.new_value().is_none() {
                        on_cleared();
                    }
                });
                let _ = w.add_event_listener_with_callback("storage", c.as_ref().unchecked_ref());
                on_storage = Some(c);
            }
        }
        Tabs {
            channel,
            on_message,
            on_active,
            on_storage,
        }
    }

    /// True when other tabs can be reached (`BroadcastChannel` exists).
    pub fn available(&self) -> bool {
        self.channel.is_some()
    }

    /// Tells the other tabs.
    pub fn post(&self, msg: &TabMsg) {
        if let Some(c) = &self.channel {
            let _ = c.post_message(&JsValue::from_str(&msg.encode()));
        }
    }
}

impl Drop for Tabs {
    fn drop(&mut self) {
        if let Some(c) = &self.channel {
            c.set_onmessage(None);
            c.close();
        }
        let _ = &self.on_message;
        if let Some(w) = web_sys::window() {
            let f = self.on_active.as_ref().unchecked_ref();
            for t in ACTIVE_EVENTS {
                let _ = w.remove_event_listener_with_callback_and_bool(t, f, true);
            }
            if let Some(d) = w.document() {
                let _ = d.remove_event_listener_with_callback("visibilitychange", f);
            }
            if let Some(c) = &self.on_storage {
                let _ =
                    w.remove_event_listener_with_callback("storage", c.as_ref().unchecked_ref());
            }
        }
    }
}
