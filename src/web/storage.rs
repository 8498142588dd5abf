//! Session storage in a cookie and/or localStorage, as `data-cookietype` says.
//!
//! The cookie's domain comes from [`crate::domain::cookie_plan`]; every write is read back, so
//! a `Domain=` the browser refuses (a public suffix the embedded list does not know, a wrong
//! `data-cookiedomain`) falls back to a host-only cookie, then to localStorage. Storage that
//! throws (blocked cookies, private mode, `QuotaExceededError`) never breaks the page: the
//! failure comes back as a [`StorageIssue`] and the session keeps running on the current page.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlDocument;

use crate::config::{Config, CookieType};
use crate::domain::{cookie_plan, CookiePlan};
use crate::session::{
    cookie_assignment, find_cookies, CookieOptions, Fallback, SessionInfo, StorageIssue,
    FALLBACK_KEY, MAX_COOKIE_VALUE, STORAGE_KEY,
};

/// Where the session is kept.
#[derive(Debug, Clone)]
pub struct Store {
    kind: CookieType,
    secure: bool,
    plan: CookiePlan,
    /// The candidate of `plan` whose cookie read back last time.
    chosen: Option<usize>,
    /// Issues already reported on this page (each is reported once).
    reported: Vec<StorageIssue>,
    /// `location.hostname`.
    host: String,
}

fn html_document() -> Option<HtmlDocument> {
    super::window()?.document()?.dyn_into::<HtmlDocument>().ok()
}

fn local_storage() -> Result<web_sys::Storage, String> {
    let w = super::window().ok_or("no window")?;
    match w.local_storage() {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err("not available".into()),
        Err(e) => Err(js_error(&e)),
    }
}

/// `Name: message` of a thrown value (a `DOMException` such as `QuotaExceededError`).
fn js_error(e: &JsValue) -> String {
    let get = |k: &str| {
        js_sys::Reflect::get(e, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    match (get("name"), get("message")) {
        (n, m) if !n.is_empty() && !m.is_empty() => [n.as_str(), ": ", m.as_str()].concat(),
        (n, _) if !n.is_empty() => n,
        _ => e.as_string().unwrap_or_else(|| "refused".into()),
    }
}

fn read_cookies() -> String {
    html_document()
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default()
}

impl Store {
    /// Storage per the configuration, for a page on `host` (`location.hostname`) over `https`.
    pub fn new(cfg: &Config, host: &str, https: bool) -> Store {
        Store {
            kind: cfg.cookietype,
            secure: cfg.cookietype == CookieType::Secure || https,
            plan: cookie_plan(host, cfg.cookiedomain.as_deref()),
            chosen: None,
            reported: Vec::new(),
            host: host.to_string(),
        }
    }

    fn opts(&self, i: usize) -> CookieOptions {
        CookieOptions {
            secure: self.secure,
            domain: self.plan.candidates.get(i).cloned().flatten(),
        }
    }

    /// The stored session of `group`, if any (cookies first, then localStorage).
    pub fn load(&self, group: &str) -> Option<SessionInfo> {
        let ours = |raw: &str| SessionInfo::decode(raw).filter(|i| i.group == group);
        if self.kind.uses_cookie() {
            let cookies = read_cookies();
            let found = find_cookies(&cookies, STORAGE_KEY).find_map(ours);
            if found.is_some() {
                return found;
            }
        }
        let s = local_storage().ok()?;
        let key = if self.kind.uses_local_storage() {
            STORAGE_KEY
        } else {
            FALLBACK_KEY
        };
        s.get_item(key).ok().flatten().as_deref().and_then(ours)
    }

    /// Writes the cookie of candidate `i` and reads it back.
    fn write_cookie(&self, doc: &HtmlDocument, i: usize, value: &str) -> Result<(), String> {
        doc.set_cookie(&cookie_assignment(Some(value), &self.opts(i)))
            .map_err(|e| js_error(&e))?;
        let back = doc.cookie().map_err(|e| js_error(&e))?;
        if find_cookies(&back, STORAGE_KEY).any(|v| v == value) {
            Ok(())
        } else {
            Err("the cookie did not read back (cookies blocked?)".into())
        }
    }

    fn delete_cookie(&self, doc: &HtmlDocument, i: usize) {
        let _ = doc.set_cookie(&cookie_assignment(None, &self.opts(i)));
    }

    /// Stores the cookie on the first candidate that sticks; `Err` says why none did.
    /// `Ok(Some(domain))`: it only stuck after `Domain=domain` was refused.
    fn save_cookie(&mut self, value: &str) -> Result<Option<Option<String>>, String> {
        if value.len() > MAX_COOKIE_VALUE {
            return Err("the session does not fit in a cookie".into());
        }
        let doc = html_document().ok_or("no document")?;
        if let Some(i) = self.chosen {
            if self.write_cookie(&doc, i, value).is_ok() {
                return Ok(None);
            }
        } else {
            // First write on this page: remove every variant, so reading back proves this write.
            for i in 0..self.plan.candidates.len() {
                self.delete_cookie(&doc, i);
            }
        }
        let mut why = String::new();
        for i in 0..self.plan.candidates.len() {
            match self.write_cookie(&doc, i, value) {
                Ok(()) => {
                    self.chosen = Some(i);
                    return Ok((i > 0).then(|| self.plan.candidates[0].clone()));
                }
                Err(e) => {
                    self.delete_cookie(&doc, i);
                    why = e;
                }
            }
        }
        self.chosen = None;
        Err(why)
    }

    fn save_local(key: &str, value: &str) -> Result<(), String> {
        local_storage()?
            .set_item(key, value)
            .map_err(|e| js_error(&e))
    }

    /// Stores the session. Returns the issues not reported before on this page (usually none);
    /// the session runs on regardless.
    pub fn save(&mut self, info: &SessionInfo) -> Vec<StorageIssue> {
        let value = info.encode();
        let mut issues = Vec::new();
        if let Some(e) = &self.plan.error {
            issues.push(StorageIssue::Domain(e.clone()));
        }
        if let Some(suffix) = &self.plan.public_suffix {
            issues.push(StorageIssue::PublicSuffix {
                host: self.host.clone(),
                suffix: suffix.clone(),
            });
        }
        let cookie = if self.kind.uses_cookie() {
            Some(self.save_cookie(&value))
        } else {
            None
        };
        let cookie_ok = matches!(cookie, Some(Ok(_)));
        let local = if self.kind.uses_local_storage() {
            Some(Self::save_local(STORAGE_KEY, &value))
        } else if !cookie_ok {
            Some(Self::save_local(FALLBACK_KEY, &value))
        } else {
            None
        };
        let local_ok = matches!(local, Some(Ok(())));
        match (&cookie, &local) {
            (Some(Ok(Some(refused))), _) => issues.push(StorageIssue::CookieRefused {
                domain: refused.clone(),
                fallback: Fallback::HostOnly,
            }),
            (Some(Err(_)), Some(Ok(()))) => issues.push(StorageIssue::CookieRefused {
                domain: self.plan.candidates.first().cloned().flatten(),
                fallback: Fallback::LocalStorage,
            }),
            _ => {}
        }
        if !cookie_ok && !local_ok {
            issues.push(StorageIssue::Unavailable {
                cookie: cookie.and_then(|c| c.err()),
                local: local.and_then(|l| l.err()),
            });
        }
        if cookie_ok && !self.kind.uses_local_storage() {
            // A fallback copy from an earlier page is stale now.
            if let Ok(s) = local_storage() {
                let _ = s.remove_item(FALLBACK_KEY);
            }
        }
        issues.retain(|i| !self.reported.contains(i));
        self.reported.extend(issues.iter().cloned());
        issues
    }

    /// Removes the stored session everywhere we may have put it.
    pub fn clear(&self) {
        if let Some(d) = html_document() {
            for i in 0..self.plan.candidates.len() {
                self.delete_cookie(&d, i);
            }
            // The plan may differ from the one that wrote it (another subdomain): host-only too.
            let _ = d.set_cookie(&cookie_assignment(
                None,
                &CookieOptions {
                    secure: self.secure,
                    domain: None,
                },
            ));
        }
        if let Ok(s) = local_storage() {
            let _ = s.remove_item(STORAGE_KEY);
            let _ = s.remove_item(FALLBACK_KEY);
        }
    }
}
