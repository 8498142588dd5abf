//! Which cookie the session lives in: the domain rules of `data-cookiedomain` and the site's
//! host, decided as plain data (the browser edge then writes, reads back, and falls back).
//!
//! - By default the cookie is written on the host's registrable domain, so `a.example.com` and
//!   `b.example.com` share one session. The registrable domain is found with a small embedded
//!   public-suffix list: common country second levels ([`COUNTRY_SUFFIXES`]) and the hosting
//!   platforms customers stage on ([`PLATFORM_SUFFIXES`], such as `azurewebsites.net` and
//!   `herokuapp.com`); any other name falls under the list's default rule (its last label).
//! - A host on a listed platform keeps its session cookie on its own full host name (what the
//!   product documents for `data-cookiedomain`); a host that *is* a public suffix, an IP address
//!   or a single-label name (`localhost`) gets a host-only cookie.
//! - `data-cookiedomain` names the domain explicitly; it must be the host or one of its parents.
//! - An unparseable host or `data-cookiedomain` is reported with `ERR_DOMAINPARSE`.
//!
//! The plan lists candidates in order; the browser edge keeps the first one whose cookie reads
//! back, so a suffix the embedded list does not know (the browser refuses `Domain=` on it) still
//! ends in a host-only cookie instead of a session that ends right after starting.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use core::fmt;

/// Country second levels with more than one label (the default rule covers single-label TLDs),
/// a small subset of <https://publicsuffix.org/list/>: `example.co.uk` is simply a site.
pub const COUNTRY_SUFFIXES: &str = "\
co.uk org.uk me.uk ltd.uk plc.uk net.uk ac.uk gov.uk sch.uk nhs.uk police.uk \
com.au net.au org.au edu.au gov.au asn.au id.au co.nz net.nz org.nz govt.nz ac.nz \
co.jp ne.jp or.jp ac.jp go.jp gr.jp co.kr or.kr com.cn net.cn org.cn gov.cn edu.cn \
com.hk com.tw com.sg com.my com.ph com.vn co.th in.th co.id or.id co.il org.il co.in net.in \
org.in firm.in gen.in ind.in ac.in gov.in com.pk com.br net.br org.br gov.br com.ar com.mx \
org.mx gob.mx com.co com.pe com.ec com.uy co.za org.za gov.za com.ng co.ke com.eg com.sa \
com.tr org.tr gov.tr com.ua com.pl net.pl org.pl co.at or.at com.es org.es com.pt com.gr";

/// Hosting platforms whose customers' sites are subdomains of a shared name (the private
/// section of the public-suffix list, the ones sites are commonly staged on).
pub const PLATFORM_SUFFIXES: &str = "\
azurewebsites.net azurestaticapps.net azureedge.net cloudapp.net trafficmanager.net \
blob.core.windows.net web.core.windows.net herokuapp.com herokussl.com github.io \
githubusercontent.com gitlab.io netlify.app netlify.com vercel.app now.sh pages.dev \
workers.dev web.app firebaseapp.com appspot.com blogspot.com cloudfront.net \
s3.amazonaws.com elasticbeanstalk.com amplifyapp.com onrender.com fly.dev glitch.me repl.co \
ngrok.io ngrok-free.app ngrok.app surge.sh wixsite.com myshopify.com squarespace.com \
wordpress.com webflow.io bitbucket.io readthedocs.io";

/// The host's shape, as far as cookies care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 or IPv6 address: cookies are host-only.
    Ip,
    /// A name of one label (`localhost`, an intranet name): host-only.
    Single(String),
    /// A dotted name, lowercase, without a trailing dot.
    Name(String),
}

/// Why no domain could be worked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The page's host is not a valid host name (empty, `file:` pages, characters DNS refuses).
    Host(String),
    /// `data-cookiedomain` is not a valid domain name.
    CookieDomain(String),
    /// `data-cookiedomain` is neither the host nor one of its parent domains.
    Foreign {
        /// The configured domain.
        domain: String,
        /// The page's host.
        host: String,
    },
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainError::Host(h) => write!(
                f,
                "ERR_DOMAINPARSE: could not parse domain from \"{h}\"; the session cookie is \
                 host-only (set data-cookiedomain to a valid host name)"
            ),
            DomainError::CookieDomain(d) => write!(
                f,
                "ERR_DOMAINPARSE: data-cookiedomain \"{d}\" is not a valid domain name; using the \
                 default cookie domain"
            ),
            DomainError::Foreign { domain, host } => write!(
                f,
                "ERR_DOMAINPARSE: data-cookiedomain \"{domain}\" does not contain the page's host \
                 \"{host}\"; using the default cookie domain"
            ),
        }
    }
}

impl core::error::Error for DomainError {}

/// Where to try to keep the session cookie, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePlan {
    /// `Some(domain)`: a `Domain=` cookie; `None`: a host-only cookie. Never empty.
    pub candidates: Vec<Option<String>>,
    /// A configuration problem to report (the plan works around it).
    pub error: Option<DomainError>,
    /// Set when the host sits on a public suffix of the embedded list: the cookie is confined to
    /// the host (reported, since the site may expect its subdomains to share the session).
    pub public_suffix: Option<String>,
}

fn valid_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A dotted-quad IPv4 address.
fn is_ipv4(h: &str) -> bool {
    let mut parts = 0;
    for p in h.split('.') {
        let mut n = 0u32;
        for b in p.bytes() {
            if !b.is_ascii_digit() {
                return false;
            }
            n = n * 10 + u32::from(b - b'0');
            if n > 255 {
                return false;
            }
        }
        if p.is_empty() {
            return false;
        }
        parts += 1;
    }
    parts == 4
}

/// An IPv6 address as browsers print it (hex groups, `::`, an IPv4 tail); the browser has
/// already validated it, so the shape is enough.
fn is_ipv6(h: &str) -> bool {
    h.len() >= 2
        && h.contains(':')
        && h.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// Parses a host name (`location.hostname`) or a cookie domain.
pub fn parse_host(raw: &str) -> Result<Host, DomainError> {
    let h = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Some(inner) = h.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return if is_ipv6(inner) {
            Ok(Host::Ip)
        } else {
            Err(DomainError::Host(raw.into()))
        };
    }
    if is_ipv4(&h) || is_ipv6(&h) {
        return Ok(Host::Ip);
    }
    if h.is_empty() || h.len() > 253 || !h.split('.').all(valid_label) {
        return Err(DomainError::Host(raw.into()));
    }
    // A name whose last label is all digits is not a name (`1.2.3` and friends).
    if h.rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainError::Host(raw.into()));
    }
    Ok(if h.contains('.') {
        Host::Name(h)
    } else {
        Host::Single(h)
    })
}

/// The longest public suffix of a dotted `name` (the list's default rule: its last label).
pub fn public_suffix(name: &str) -> &str {
    let mut best = name.rsplit('.').next().unwrap_or(name);
    let list = COUNTRY_SUFFIXES
        .split_ascii_whitespace()
        .chain(PLATFORM_SUFFIXES.split_ascii_whitespace());
    for s in list {
        let under = name.len() > s.len()
            && name.ends_with(s)
            && name.as_bytes()[name.len() - s.len() - 1] == b'.';
        if (under || name == s) && s.len() > best.len() {
            best = &name[name.len() - s.len()..];
        }
    }
    best
}

/// The registrable domain of a dotted `name` (its public suffix plus one label), or `None` when
/// the name is itself a public suffix.
pub fn registrable_domain(name: &str) -> Option<&str> {
    let suffix = public_suffix(name);
    if name.len() == suffix.len() {
        return None;
    }
    let head = &name[..name.len() - suffix.len() - 1];
    let label = head.rsplit('.').next().unwrap_or(head);
    Some(&name[name.len() - suffix.len() - label.len() - 1..])
}

/// True when `host` is `domain` or one of its subdomains (RFC 6265 domain-match).
pub fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// The default plan for a parsed host.
fn default_plan(host: &Host) -> CookiePlan {
    let mut plan = CookiePlan {
        candidates: vec![None],
        error: None,
        public_suffix: None,
    };
    if let Host::Name(name) = host {
        let suffix = public_suffix(name);
        match registrable_domain(name) {
            Some(reg) if is_platform(suffix) => {
                // `shop.azurewebsites.net`: the site is its own host name.
                plan.candidates = vec![Some(reg.to_string()), None];
                plan.public_suffix = Some(suffix.to_string());
            }
            Some(reg) => plan.candidates = vec![Some(reg.to_string()), None],
            None => plan.public_suffix = Some(suffix.to_string()),
        }
    }
    plan
}

/// True for a suffix of [`PLATFORM_SUFFIXES`].
fn is_platform(suffix: &str) -> bool {
    PLATFORM_SUFFIXES
        .split_ascii_whitespace()
        .any(|s| s == suffix)
}

/// The cookie plan for the page's `host` and the optional `data-cookiedomain`.
pub fn cookie_plan(host: &str, cookiedomain: Option<&str>) -> CookiePlan {
    let parsed = match parse_host(host) {
        Ok(h) => h,
        Err(e) => {
            // Host-only is all that is left; the browser decides whether it sticks.
            return CookiePlan {
                candidates: vec![None],
                error: Some(e),
                public_suffix: None,
            };
        }
    };
    let Some(want) = cookiedomain.map(str::trim).filter(|d| !d.is_empty()) else {
        return default_plan(&parsed);
    };
    let want = want.trim_start_matches('.');
    let domain = match parse_host(want) {
        Ok(Host::Name(d) | Host::Single(d)) => d,
        Ok(Host::Ip) | Err(_) => {
            let mut plan = default_plan(&parsed);
            plan.error = Some(DomainError::CookieDomain(want.to_string()));
            return plan;
        }
    };
    let host_name = match &parsed {
        Host::Name(h) | Host::Single(h) => h.clone(),
        Host::Ip => host.trim().to_ascii_lowercase(),
    };
    if !domain_matches(&host_name, &domain) {
        let mut plan = default_plan(&parsed);
        plan.error = Some(DomainError::Foreign {
            domain,
            host: host_name,
        });
        return plan;
    }
    CookiePlan {
        candidates: vec![Some(domain), None],
        error: None,
        public_suffix: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_clean() {
        let list: Vec<&str> = COUNTRY_SUFFIXES
            .split_ascii_whitespace()
            .chain(PLATFORM_SUFFIXES.split_ascii_whitespace())
            .collect();
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "no duplicates");
        assert!(list
            .iter()
            .all(|s| s.contains('.') && parse_host(s).is_ok()));
    }

    #[test]
    fn hosts_parse() {
        assert_eq!(parse_host("127.0.0.1"), Ok(Host::Ip));
        assert_eq!(parse_host("[::1]"), Ok(Host::Ip));
        assert_eq!(parse_host("::ffff:10.0.0.1"), Ok(Host::Ip));
        assert!(parse_host("256.1.1.1").is_err());
        assert_eq!(
            parse_host("localhost"),
            Ok(Host::Single("localhost".into()))
        );
        assert_eq!(
            parse_host("Shop.Example.COM."),
            Ok(Host::Name("shop.example.com".into()))
        );
        assert_eq!(
            parse_host("xn--bcher-kva.example"),
            Ok(Host::Name("xn--bcher-kva.example".into()))
        );
        for bad in [
            "",
            " ",
            "my_shop.test",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "1.2.3",
            "[zz]",
            "http://x.com",
        ] {
            assert!(
                matches!(parse_host(bad), Err(DomainError::Host(_))),
                "{bad:?}"
            );
        }
        assert!(parse_host(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(parse_host("a.".repeat(128).trim_end_matches('.')).is_err());
        assert!(parse_host("a.".repeat(127).trim_end_matches('.')).is_ok());
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("a.example.com"), Some("example.com"));
        assert_eq!(registrable_domain("x.y.example.com"), Some("example.com"));
        assert_eq!(registrable_domain("example.com"), Some("example.com"));
        assert_eq!(registrable_domain("a.b.co.uk"), Some("b.co.uk"));
        assert_eq!(registrable_domain("co.uk"), None);
        assert_eq!(registrable_domain("com"), None);
        assert_eq!(
            registrable_domain("shop.azurewebsites.net"),
            Some("shop.azurewebsites.net")
        );
        assert_eq!(
            registrable_domain("a.shop.herokuapp.com"),
            Some("shop.herokuapp.com")
        );
        assert_eq!(registrable_domain("herokuapp.com"), None);
        // `xco.uk` is not under `co.uk`.
        assert_eq!(registrable_domain("a.xco.uk"), Some("xco.uk"));
        assert!(domain_matches("a.example.com", "example.com"));
        assert!(domain_matches("example.com", "example.com"));
        assert!(!domain_matches("aexample.com", "example.com"));
        assert!(!domain_matches("example.com", "a.example.com"));
    }

    #[test]
    fn subdomains_share_the_registrable_domain() {
        for host in ["a.example.com", "b.example.com", "www.example.com"] {
            let p = cookie_plan(host, None);
            assert_eq!(p.candidates, vec![Some("example.com".into()), None]);
            assert_eq!((p.error, p.public_suffix), (None, None));
        }
    }

    #[test]
    fn public_suffix_platforms_keep_the_cookie_on_the_host() {
        let p = cookie_plan("shop.azurewebsites.net", None);
        assert_eq!(
            p.candidates,
            vec![Some("shop.azurewebsites.net".into()), None]
        );
        assert_eq!(p.public_suffix.as_deref(), Some("azurewebsites.net"));
        assert_eq!(p.error, None);
        let p = cookie_plan("herokuapp.com", None);
        assert_eq!(p.candidates, vec![None]);
        assert_eq!(p.public_suffix.as_deref(), Some("herokuapp.com"));
        // A country second level is not a platform: `shop.example.co.uk` shares `example.co.uk`.
        let p = cookie_plan("shop.example.co.uk", None);
        assert_eq!(p.candidates, vec![Some("example.co.uk".into()), None]);
        assert_eq!(p.public_suffix, None);
    }

    #[test]
    fn local_development_hosts_are_host_only_without_errors() {
        for host in ["localhost", "127.0.0.1", "[::1]", "10.0.0.7", "intranet"] {
            let p = cookie_plan(host, None);
            assert_eq!(p.candidates, vec![None], "{host}");
            assert_eq!((p.error, p.public_suffix), (None, None), "{host}");
        }
    }

    #[test]
    fn unparseable_hosts_report_err_domainparse() {
        let p = cookie_plan("my_shop.test", None);
        assert_eq!(p.candidates, vec![None]);
        let e = p.error.expect("error").to_string();
        assert!(
            e.contains("ERR_DOMAINPARSE") && e.contains("my_shop.test"),
            "{e}"
        );
        assert!(cookie_plan("", None).error.is_some());
    }

    #[test]
    fn cookiedomain_attribute() {
        let p = cookie_plan("abcco.azurewebsites.net", Some("abcco.azurewebsites.net"));
        assert_eq!(
            p.candidates,
            vec![Some("abcco.azurewebsites.net".into()), None]
        );
        assert_eq!((p.error, p.public_suffix), (None, None));
        // A parent domain; a leading dot is tolerated.
        let p = cookie_plan("a.example.com", Some(".Example.com"));
        assert_eq!(p.candidates, vec![Some("example.com".into()), None]);
        // A public suffix is not refused here: the browser refuses it and the edge falls back.
        let p = cookie_plan("shop.azurewebsites.net", Some("azurewebsites.net"));
        assert_eq!(p.candidates, vec![Some("azurewebsites.net".into()), None]);
        // Garbage and foreign domains: reported, default plan.
        let p = cookie_plan("a.example.com", Some("not a domain!"));
        assert!(p.error.unwrap().to_string().contains("ERR_DOMAINPARSE"));
        assert_eq!(p.candidates, vec![Some("example.com".into()), None]);
        let p = cookie_plan("a.example.com", Some("other.com"));
        assert!(matches!(p.error, Some(DomainError::Foreign { .. })));
        assert_eq!(p.candidates[0].as_deref(), Some("example.com"));
        let p = cookie_plan("127.0.0.1", Some("127.0.0.1"));
        assert!(p.error.is_some());
        assert_eq!(p.candidates, vec![None]);
        assert_eq!(cookie_plan("a.example.com", Some("  ")).error, None);
    }
}
