//! Group configuration, read from a TOML file (`--config`, default `server/demo-config.toml`).
//!
//! ```toml
//! [groups."1234"]
//! masks = ["#orderPayment\\.cardNumber", ".glance_masked"]
//! trusted_domains = ["localhost"]
//! crossdomain_helpers = []
//! allow_duplicate_keys = false
//! ```
//!
//! Unknown fields are rejected so that a typo does not silently disable masking.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings of one customer group.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// CSS selectors of elements the engine masks before anything leaves the page.
    #[serde(default)]
    pub masks: Vec<String>,
    /// Domains allowed to host the visitor script / cross-domain helpers, and origins whose windows
    /// may invoke the visitor API (a host name, or an exact `http(s)://` origin). Public: served at
    /// `/api/group/ID/trusted`.
    #[serde(default)]
    pub trusted_domains: Vec<String>,
    /// Cross-domain helper page URLs (absolute `http(s)` URLs, each on a trusted domain; checked at
    /// load). `crossDomain()` opens each one to store the session on its domain. Public: served at
    /// `/api/group/ID/trusted`.
    #[serde(default)]
    pub crossdomain_helpers: Vec<String>,
    /// When false (the default), a visitor-chosen key that is already live in the group is refused.
    #[serde(default)]
    pub allow_duplicate_keys: bool,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Groups by id.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io(PathBuf, std::io::Error),
    /// The file is not valid TOML or has unexpected fields.
    Parse(PathBuf, toml::de::Error),
    /// The file parsed but a value is not acceptable.
    Invalid(PathBuf, String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(p, e) => write!(f, "cannot read config {}: {e}", p.display()),
            ConfigError::Parse(p, e) => write!(f, "invalid config {}: {e}", p.display()),
            ConfigError::Invalid(p, m) => write!(f, "invalid config {}: {m}", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.to_path_buf(), e))?;
        Config::parse(&text).map_err(|e| match e {
            ParseError::Toml(e) => ConfigError::Parse(path.to_path_buf(), e),
            ParseError::Invalid(m) => ConfigError::Invalid(path.to_path_buf(), m),
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        let cfg: Config = toml::from_str(text).map_err(ParseError::Toml)?;
        cfg.validate().map_err(ParseError::Invalid)?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("no [groups.ID] table: at least one group is required".into());
        }
        for (id, g) in &self.groups {
            if id.is_empty()
                || id.len() > 32
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "group id {id:?} must be 1..=32 letters, digits, '-' or '_'"
                ));
            }
            if let Some(m) = g.masks.iter().find(|m| m.trim().is_empty()) {
                return Err(format!("group {id}: empty mask selector {m:?}"));
            }
            for h in &g.crossdomain_helpers {
                let origin = h.find("://").map(|i| {
                    &h[..h[i + 3..]
                        .find(['/', '?', '#'])
                        .map_or(h.len(), |j| i + 3 + j)]
                });
                if origin
                    .and_then(|o| crate::handoff::trusted_origin(o, &g.trusted_domains).ok())
                    .is_none()
                {
                    return Err(format!(
                        "group {id}: crossdomain helper {h:?} is not an http(s) URL on a trusted domain"
                    ));
                }
                // A helper never forwards anywhere: refuse URLs that look like open redirects.
                let lower = h.to_ascii_lowercase();
                let query = lower.split_once('?').map_or("", |(_, q)| q);
                if [
                    "redirect", "return", "next=", "url=", "goto", "continue", "dest",
                ]
                .iter()
                .any(|w| query.contains(w))
                {
                    return Err(format!(
                        "group {id}: crossdomain helper {h:?} carries a redirect parameter"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The settings of group `id`.
    pub fn group(&self, id: &str) -> Option<&GroupConfig> {
        self.groups.get(id)
    }
}

/// Why configuration text was refused (see [`Config::parse`]).
#[derive(Debug)]
pub enum ParseError {
    /// Not valid TOML, or unexpected fields.
    Toml(toml::de::Error),
    /// A value is not acceptable.
    Invalid(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Toml(e) => write!(f, "{e}"),
            ParseError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_with_numeric_ids() {
        let c = Config::parse(
            r##"
            [groups.1234]
            masks = ["#a\\.b", ".glance_masked"]
            trusted_domains = ["localhost"]
            [groups."5678"]
            allow_duplicate_keys = true
            "##,
        )
        .unwrap();
        let g = c.group("1234").unwrap();
        assert_eq!(
            g.masks,
            vec!["#a\\.b".to_string(), ".glance_masked".to_string()]
        );
        assert!(!g.allow_duplicate_keys);
        assert!(c.group("5678").unwrap().allow_duplicate_keys);
        assert!(c.group("9").is_none());
    }

    #[test]
    fn rejects_typos_and_empty_configs() {
        assert!(Config::parse("[groups.1]\nmask = []\n").is_err());
        assert!(Config::parse("").is_err());
        assert!(Config::parse("[groups.1]\nmasks = [\"\"]\n").is_err());
        assert!(Config::parse("[groups.\"a b\"]\n").is_err());
        assert!(Config::parse("[groups.1\n").is_err());
        let helper = |h: &str| {
            Config::parse(&format!(
                "[groups.1]\ntrusted_domains = [\"a.example\"]\ncrossdomain_helpers = [{h:?}]\n"
            ))
        };
        assert!(helper("https://a.example/h.html?x=1").is_ok());
        assert!(helper("http://a.example:8080").is_ok());
        assert!(helper("https://b.example/h.html").is_err());
        assert!(helper("/h.html").is_err());
        assert!(helper("https://a.example@b.example/").is_err());
        assert!(helper("https://a.example/h.html?redirect=https://b.example").is_err());
        assert!(helper("https://a.example/h.html?returnUrl=x").is_err());
    }
}
