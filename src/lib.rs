//! Visitor-side cobrowse engine.
//!
//! The crate has a pure core (plain data, tested natively) and a thin browser edge
//! (`web`, compiled only for `wasm32`):
//!
//! - [`protocol`]: the wire format shared with the server and the agent viewer;
//! - [`tree`] and [`mirror`]: the model of what the agent has, used to validate and replay;
//! - [`mask`]: the privacy policy, applied before anything is serialized.
//!
//! The shipped wasm module (feature `ship`) is `no_std`: the code only needs `core` and `alloc`,
//! and the standard library would bring its panic hook and the `core::fmt` code it reaches, a
//! large part of the download. Every other build (native, wasm tests) links `std` as usual.
#![cfg_attr(all(target_arch = "wasm32", feature = "ship", not(test)), no_std)]
#![deny(missing_docs, missing_debug_implementations)]

extern crate alloc;

pub mod capture;
pub mod config;
pub mod domain;
pub mod json;
pub mod mask;
pub mod messages;
pub mod mirror;
pub mod protocol;
pub mod rc;
pub mod session;
pub mod tabs;
pub mod tree;
pub mod url;
pub mod warm;

#[cfg(target_arch = "wasm32")]
pub mod web;
