//! Session storage in a cookie and/or localStorage, as `data-cookietype` says.
//! Storage that throws (blocked cookies, private mode, quota) never breaks the page: the
//! failure is reported to the caller, which keeps the session for the current page.

use alloc::string::String;

use wasm_bindgen::JsCast;
use web_sys::HtmlDocument;

use crate::config::{Config, CookieType};
use crate::session::{cookie_assignment, find_cookie, CookieOptions, SessionInfo, STORAGE_KEY};

/// Where the session is kept.
#[derive(Debug, Clone)]
pub struct Store {
    kind: CookieType,
    opts: CookieOptions,
}

fn html_document() -> Option<HtmlDocument> {
    super::window()?.document()?.dyn_into::<HtmlDocument>().ok()
}

fn local_storage() -> Option<web_sys::Storage> {
    super::window()?.local_storage().ok().flatten()
}

impl Store {
    /// Storage per the configuration.
    pub fn new(cfg: &Config) -> Store {
        Store {
            kind: cfg.cookietype,
            opts: CookieOptions {
                secure: cfg.cookietype == CookieType::Secure,
                domain: cfg.cookiedomain.clone().filter(|d| !d.trim().is_empty()),
            },
        }
    }

    /// The stored session, if any (cookie first, then localStorage).
    pub fn load(&self) -> Option<SessionInfo> {
        if self.kind.uses_cookie() {
            let cookies = html_document()
                .and_then(|d| d.cookie().ok())
                .unwrap_or_default();
            if let Some(info) = find_cookie(&cookies, STORAGE_KEY).and_then(SessionInfo::decode) {
                return Some(info);
            }
        }
        if self.kind.uses_local_storage() {
            let raw = local_storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
            return raw.as_deref().and_then(SessionInfo::decode);
        }
        None
    }

    /// Stores the session; `Err` says why it cannot survive a page load.
    pub fn save(&self, info: &SessionInfo) -> Result<(), String> {
        let value = info.encode();
        let mut ok = false;
        let mut why = String::new();
        if self.kind.uses_cookie() {
            match html_document() {
                Some(d) => {
                    let _ = d.set_cookie(&cookie_assignment(Some(&value), &self.opts));
                    let back = d.cookie().ok().unwrap_or_default();
                    if find_cookie(&back, STORAGE_KEY) == Some(value.as_str()) {
                        ok = true;
                    } else {
                        why = "the session cookie could not be stored".into();
                    }
                }
                None => why = "no document".into(),
            }
        }
        if self.kind.uses_local_storage() {
            match local_storage().map(|s| s.set_item(STORAGE_KEY, &value)) {
                Some(Ok(())) => ok = true,
                _ => why = "localStorage is unavailable".into(),
            }
        }
        if ok {
            Ok(())
        } else {
            Err(why)
        }
    }

    /// Removes the stored session everywhere we may have put it.
    pub fn clear(&self) {
        if let Some(d) = html_document() {
            let _ = d.set_cookie(&cookie_assignment(None, &self.opts));
        }
        if let Some(s) = local_storage() {
            let _ = s.remove_item(STORAGE_KEY);
        }
    }
}
