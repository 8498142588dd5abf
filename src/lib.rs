//! Visitor-side cobrowse engine.
//!
//! The crate has a pure core (plain data, tested natively) and a thin browser edge
//! (`web`, compiled only for `wasm32`):
//!
//! - [`protocol`]: the wire format shared with the server and the agent viewer;
//! - [`tree`] and [`mirror`]: the model of what the agent has, used to validate and replay;
//! - [`mask`]: the privacy policy, applied before anything is serialized.
#![deny(missing_docs, missing_debug_implementations)]

pub mod capture;
pub mod config;
pub mod domain;
pub mod json;
pub mod mask;
pub mod messages;
pub mod mirror;
pub mod protocol;
pub mod session;
pub mod tabs;
pub mod tree;
pub mod url;
pub mod warm;

#[cfg(target_arch = "wasm32")]
pub mod web;
