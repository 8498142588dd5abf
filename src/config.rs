//! The loader's typed configuration (from the script tag's `data-*` attributes).
//!
//! The loader parses the attributes and hands this to the engine as JSON; see
//! `docs/PROTOCOL.md` ("configJson") and the README's attribute reference.

use alloc::collections::BTreeMap;
use alloc::{format, string::String, vec::Vec};

use serde::Deserialize;

/// Where the session state is kept (`data-cookietype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CookieType {
    /// A plain cookie on the site's domain.
    #[default]
    Normal,
    /// A `Secure` cookie.
    Secure,
    /// localStorage only.
    Ls,
    /// Both a cookie and localStorage (survives site code deleting the cookie).
    Dual,
}

impl CookieType {
    /// Parses a `data-cookietype` value.
    pub fn parse(s: &str) -> Option<CookieType> {
        match s {
            "normal" => Some(CookieType::Normal),
            "secure" => Some(CookieType::Secure),
            "ls" => Some(CookieType::Ls),
            "dual" => Some(CookieType::Dual),
            _ => None,
        }
    }

    /// True when a cookie is written.
    pub fn uses_cookie(self) -> bool {
        !matches!(self, CookieType::Ls)
    }
    /// True when localStorage is written.
    pub fn uses_local_storage(self) -> bool {
        matches!(self, CookieType::Ls | CookieType::Dual)
    }
}

/// The script tag's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    /// `data-groupid`.
    pub groupid: String,
    /// `data-site` (`staging` or `production`).
    #[serde(default = "default_site")]
    pub site: String,
    /// `data-ws`: host (or full `ws(s)://` URL) of the session service.
    #[serde(default)]
    pub ws: String,
    /// `data-scriptserver`.
    #[serde(default)]
    pub scriptserver: Option<String>,
    /// `data-cookietype`.
    #[serde(default)]
    pub cookietype: CookieType,
    /// `data-cookiedomain`.
    #[serde(default)]
    pub cookiedomain: Option<String>,
    /// `data-startpaused="1"`.
    #[serde(default)]
    pub startpaused: bool,
    /// `data-ui` (`default` or `custom`).
    #[serde(default)]
    pub ui: Option<String>,
    /// `data-video`.
    #[serde(default)]
    pub video: Option<String>,
    /// `data-visitorid`.
    #[serde(default)]
    pub visitorid: Option<String>,
    /// `data-presence`.
    #[serde(default)]
    pub presence: Option<String>,
    /// `data-additionalgroupids`.
    #[serde(default)]
    pub additionalgroupids: Vec<String>,
    /// `data-inputevents`: key combination (`ctrl-13`) to action (`startSession`). Parsed by
    /// [`Config::from_json`] only: the wasm engine does not use it and leaves it empty.
    #[serde(default)]
    pub inputevents: BTreeMap<String, String>,
    /// `data-slicems`: time budget of one snapshot slice in ms (a tuning knob for benchmarks).
    #[serde(default)]
    pub slicems: Option<f64>,
    /// A session handed over from another domain (the loader redeemed a hand-off token): the
    /// stored form `v1.KEY.SID.GROUP.P`; stored and continued instead of any older session.
    #[serde(default)]
    pub handoff: Option<String>,
    /// Cross-domain helper page (`?GlanceSession=1`): store the handed-over session, never connect.
    #[serde(default)]
    pub helper: bool,
}

fn default_site() -> String {
    "production".into()
}

impl Config {
    /// Parses the loader's JSON.
    pub fn from_json(json: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(json).map_err(|e| format!("bad config: {e}"))?;
        if c.groupid.trim().is_empty() {
            return Err("data-groupid missing".into());
        }
        Ok(c)
    }

    /// The visitor WebSocket URL for a page served over `page_protocol` (`"https:"` etc.).
    pub fn visitor_socket_url(&self, page_protocol: &str, page_host: &str) -> String {
        let ws = self.ws.trim().trim_end_matches('/');
        if ws.starts_with("ws://") || ws.starts_with("wss://") {
            return [ws, "/ws/visitor"].concat();
        }
        if let Some(rest) = ws.strip_prefix("https://") {
            return ["wss://", rest, "/ws/visitor"].concat();
        }
        if let Some(rest) = ws.strip_prefix("http://") {
            return ["ws://", rest, "/ws/visitor"].concat();
        }
        let host = if ws.is_empty() { page_host } else { ws };
        let scheme = if page_protocol == "https:" {
            "wss"
        } else {
            "ws"
        };
        [scheme, "://", host, "/ws/visitor"].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loader_json() {
        let c = Config::from_json(
            r#"{"groupid":"1234","ws":"127.0.0.1:8080","cookietype":"dual","startpaused":true,
                "additionalgroupids":["5","6"],"inputevents":{"ctrl-13":"startSession"}}"#,
        )
        .unwrap();
        assert_eq!(c.site, "production");
        assert_eq!(c.cookietype, CookieType::Dual);
        assert!(c.cookietype.uses_cookie() && c.cookietype.uses_local_storage());
        assert_eq!(
            c.visitor_socket_url("http:", "x"),
            "ws://127.0.0.1:8080/ws/visitor"
        );
        assert_eq!(
            c.visitor_socket_url("https:", "x"),
            "wss://127.0.0.1:8080/ws/visitor"
        );
        assert!(Config::from_json(r#"{"groupid":" "}"#)
            .unwrap_err()
            .contains("data-groupid missing"));
        assert!(Config::from_json(r#"{"groupid":"1","cookietype":"weird"}"#).is_err());
    }
}
