//! Masking policy: which elements are masked and what of a masked element may leave the page.
//!
//! The browser edge evaluates the group's CSS selectors (the browser is the only exact CSS
//! matcher) and flags matching elements; this module decides everything else, before any
//! byte is serialized: passwords are always masked (also after a `type` toggle), a masked
//! element is sent as a placeholder with only [`SAFE_ATTRS`], and nothing below it is sent.

/// Attributes a masked element keeps (layout hooks only; never text-bearing).
pub const SAFE_ATTRS: &[&str] = &["id", "class", "style", "type", "role", "data-gid"];

/// True when `name` may be sent for a masked element.
pub fn is_safe_attr(name: &str) -> bool {
    SAFE_ATTRS.contains(&name)
}
