//! A WebSocket whose handlers live exactly as long as it does: dropping it detaches them and
//! closes the connection, so no callback ever reaches a dropped engine.

use alloc::string::String;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

#[wasm_bindgen(module = "/src/web/send.js")]
extern "C" {
    /// Sends in order; large frames gzip-compressed (see `send.js`).
    #[wasm_bindgen(js_name = sendOrdered, catch)]
    fn send_ordered(ws: &WebSocket, text: &str) -> Result<bool, JsValue>;

    /// Bytes not yet on the wire (browser buffer plus frames being compressed).
    #[wasm_bindgen(js_name = backlog)]
    fn backlog(ws: &WebSocket) -> f64;

    /// Closes once every queued frame has been sent.
    #[wasm_bindgen(js_name = closeOrdered)]
    fn close_ordered(ws: &WebSocket);

    /// A message written in parts and compressed as it is written (see `send.js`).
    pub type SnapStream;

    #[wasm_bindgen(constructor)]
    fn new() -> SnapStream;

    #[wasm_bindgen(method, catch)]
    fn push(this: &SnapStream, bytes: &js_sys::Uint8Array) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn abort(this: &SnapStream) -> Result<(), JsValue>;

    #[wasm_bindgen(js_name = sendStream, catch)]
    fn send_stream(ws: &WebSocket, stream: &SnapStream) -> Result<bool, JsValue>;
}

impl SnapStream {
    /// An empty message.
    pub fn start() -> SnapStream {
        SnapStream::new()
    }

    /// Appends `text` (copied out of wasm memory at once).
    pub fn append(&self, text: &str) {
        let _ = self.push(&js_sys::Uint8Array::from(text.as_bytes()));
    }

    /// Drops the message unsent.
    pub fn discard(&self) {
        let _ = self.abort();
    }
}

/// An open (or opening) socket.
pub struct Socket {
    ws: WebSocket,
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

impl core::fmt::Debug for Socket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Socket")
            .field("url", &self.ws.url())
            .finish()
    }
}

impl Socket {
    /// Connects to `url`; callbacks get the open, every text message, and the close.
    pub fn connect(
        url: &str,
        on_open: impl FnMut() + 'static,
        on_message: impl FnMut(String) + 'static,
        on_close: impl FnMut(u16, String) + 'static,
    ) -> Result<Socket, JsValue> {
        let ws = WebSocket::new(url)?;
        let mut on_open = on_open;
        let open = Closure::<dyn FnMut(Event)>::new(move |_e: Event| on_open());
        let mut on_message = on_message;
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(s) = e.data().as_string() {
                on_message(s);
            }
        });
        let mut on_close = on_close;
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            on_close(e.code(), e.reason());
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _open: open,
            _message: message,
            _close: close,
        })
    }

    /// True once open.
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }

    /// Sends a message (in order; large ones gzip-compressed as binary frames); false when the
    /// socket cannot take it.
    pub fn send(&self, text: &str) -> bool {
        self.is_open() && send_ordered(&self.ws, text).unwrap_or(false)
    }
}

impl Socket {
    /// Sends the message of `stream` after everything queued before it; false when the socket
    /// cannot take it.
    pub fn send_stream(&self, stream: &SnapStream) -> bool {
        self.is_open() && send_stream(&self.ws, stream).unwrap_or(false)
    }

    /// Bytes waiting to go out.
    pub fn backlog(&self) -> f64 {
        backlog(&self.ws)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        close_ordered(&self.ws);
    }
}
