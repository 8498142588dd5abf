//! The browser edge: everything that touches `window`, `document`, sockets and storage.
//! Compiled only for `wasm32`; the rest of the crate is plain Rust tested natively.

mod api;
mod dom;
mod engine;
mod socket;
mod storage;
mod tabs;
mod timer;
mod wire;

pub use api::Engine;

#[cfg(test)]
mod tests;
