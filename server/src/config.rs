//! Server configuration, read from a TOML file (`--config`, default `server/demo-config.toml`):
//! groups, agent identities, integration partners, the consoles allowed to embed the viewer (and
//! to call the presence API) and the presence token key.
//!
//! ```toml
//! agent_origins = ["https://console.example"]
//! presence_secret = "at least 16 bytes; random per start when absent"
//! [groups."1234"]
//! masks = ["#orderPayment\\.cardNumber", ".glance_masked"]
//! trusted_domains = ["localhost"]
//! crossdomain_helpers = []
//! allow_duplicate_keys = false
//! [agents.demo]
//! password = "demo"
//! name = "Dana Demo"
//! [partners.1234]
//! apikey = "secret shared with the integration's back end"
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

/// One agent identity (`[agents.USERNAME]`). See `docs/PROTOCOL.md` and [`crate::auth`].
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Password for `POST /api/agent/auth` `{username, password}`; none: login keys only.
    #[serde(default)]
    pub password: Option<String>,
    /// Display name (default: the username).
    #[serde(default)]
    pub name: Option<String>,
    /// Title, e.g. "Support".
    #[serde(default)]
    pub title: Option<String>,
    /// The integration partner this agent belongs to (login keys).
    #[serde(default)]
    pub partnerid: Option<u64>,
    /// The agent's id at that partner.
    #[serde(default)]
    pub partneruserid: Option<String>,
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("AgentConfig")
            .field("name", &self.name)
            .field("title", &self.title)
            .field("partnerid", &self.partnerid)
            .field("partneruserid", &self.partneruserid)
            .finish_non_exhaustive()
    }
}

/// An integration partner (`[partners.ID]`): its back end signs login keys with `apikey`.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// The HMAC-SHA256 key of its login keys.
    pub apikey: String,
}

impl fmt::Debug for PartnerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartnerConfig { .. }")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Origins (`http(s)://host[:port]`) of agent consoles allowed to embed the viewer in a frame
    /// (`Content-Security-Policy: frame-ancestors 'self' ...` of the viewer pages).
    #[serde(default)]
    pub agent_origins: Vec<String>,
    /// Groups by id.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
    /// Agent identities by username.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentConfig>,
    /// Integration partners by partner id.
    #[serde(default)]
    pub partners: BTreeMap<String, PartnerConfig>,
    /// The HS256 key of presence authorization tokens (random per start when absent; at least
    /// 16 bytes).
    #[serde(default)]
    pub presence_secret: Option<Secret>,
}

/// A secret string that `Debug` never prints.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
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
        if self
            .presence_secret
            .as_ref()
            .is_some_and(|s| s.0.len() < 16)
        {
            return Err("presence_secret must be at least 16 bytes".into());
        }
        for o in &self.agent_origins {
            if crate::handoff::canonical_origin(o).is_none() {
                return Err(format!(
                    "agent_origins: {o:?} is not an http(s) origin (scheme://host[:port])"
                ));
            }
        }
        for (user, a) in &self.agents {
            if !crate::auth::valid_username(user) {
                return Err(format!(
                    "agent {user:?}: a username is 1..=64 printable characters without spaces"
                ));
            }
            if a.password.as_deref().is_some_and(str::is_empty) {
                return Err(format!("agent {user}: empty password"));
            }
            if a.partnerid.is_some() != a.partneruserid.is_some() {
                return Err(format!(
                    "agent {user}: partnerid and partneruserid go together"
                ));
            }
            if let Some(p) = a.partnerid {
                if !self.partners.contains_key(&p.to_string()) {
                    return Err(format!("agent {user}: no [partners.{p}] table"));
                }
            }
        }
        for (id, p) in &self.partners {
            if id.parse::<u64>().is_err() {
                return Err(format!("partner id {id:?} must be a number"));
            }
            if p.apikey.len() < 8 {
                return Err(format!(
                    "partner {id}: apikey must be at least 8 characters"
                ));
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

    #[test]
    fn shipped_configs_load() {
        let demo = Config::parse(include_str!("../demo-config.toml")).expect("demo config");
        assert_eq!(demo.agents["demo"].password.as_deref(), Some("demo"));
        let key = crate::auth::login_key(
            "demo-partner-apikey",
            1234,
            "dana@example.com",
            2_000_000_000,
        );
        // The same signature as the openssl recipe documented in demo-config.toml.
        assert!(key.ends_with("dfdbe7d668fb79b025a1ceaca3ec7440adc5d125be2f2d210a804c7522f7cc18"));
        let e2e = Config::parse(include_str!("../../tests/e2e/test-config.toml")).expect("e2e");
        assert_eq!(e2e.agents["agnes"].name.as_deref(), Some("Agnes Agent"));
        assert_eq!(e2e.partners["1234"].apikey, "e2e-partner-secret");
    }

    #[test]
    fn presence_secret_is_long_and_never_printed() {
        let base = "[groups.1]\nmasks = []\n";
        let c = Config::parse(&format!("presence_secret = \"0123456789abcdef\"\n{base}")).unwrap();
        assert_eq!(
            c.presence_secret.as_ref().map(|s| s.0.as_str()),
            Some("0123456789abcdef")
        );
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        assert!(Config::parse(&format!("presence_secret = \"short\"\n{base}")).is_err());
    }

    #[test]
    fn agents_partners_and_agent_origins() {
        let c = Config::parse(
            r#"
            agent_origins = ["https://console.example", "http://localhost:9000"]
            [groups.1]
            [agents.dana]
            password = "pw"
            name = "Dana"
            partnerid = 7
            partneruserid = "dana@x"
            [partners.7]
            apikey = "0123456789"
            "#,
        )
        .unwrap();
        assert_eq!(c.agents["dana"].name.as_deref(), Some("Dana"));
        assert_eq!(c.partners["7"].apikey, "0123456789");
        assert!(
            !format!("{:?}", c).contains("0123456789"),
            "secrets stay out of logs"
        );
        assert!(!format!("{:?}", c.agents["dana"]).contains("pw"));
        let bad = |extra: &str| Config::parse(&format!("[groups.1]\n{extra}")).is_err();
        assert!(bad("[agents.x]\npassword = \"\"\n"));
        assert!(bad("[agents.\"a b\"]\npassword = \"p\"\n"));
        assert!(
            bad("[agents.x]\npartnerid = 7\npartneruserid = \"u\"\n"),
            "unknown partner"
        );
        assert!(bad("[agents.x]\npartnerid = 7\n"));
        assert!(bad("[partners.abc]\napikey = \"0123456789\"\n"));
        assert!(bad("[partners.7]\napikey = \"short\"\n"));
        assert!(bad("[agents.x]\npasword = \"p\"\n"), "typo");
        assert!(
            Config::parse("agent_origins = [\"https://a.example/path\"]\n[groups.1]\n").is_err()
        );
        assert!(Config::parse("agent_origins = [\"*\"]\n[groups.1]\n").is_err());
    }
}
