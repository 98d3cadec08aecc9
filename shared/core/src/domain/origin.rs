//! A browser origin (`https://shop.example`), as tenants allow them and browsers send them.
//!
//! Only https origins can be allowed, except `http://localhost` and `http://127.0.0.1` (any
//! port) for development: a page served over plain http can be rewritten on the way, card
//! form included. An http origin stored before this rule is never honoured ([`Origin::honoured`]).
//! Loopback origins are honoured only by a development stack ([`Stage::Dev`]): in
//! production no cardholder's page is on localhost, and a reCAPTCHA token solved on one is
//! anyone's.

use std::fmt;

/// Origins compare as ASCII, case-insensitively, with no trailing slash; this holds the
/// compared form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

/// The plain-http hosts allowed, for development.
const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1"];

/// What a stack is (the template's `Stage`, `CARDVAULT_STAGE`): a development stack
/// honours loopback origins, for CORS and reCAPTCHA hostnames; production never does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    Dev,
    #[default]
    Prod,
}

impl Stage {
    /// `dev` or `prod`; unset is production.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim) {
            None | Some("") | Some("prod") => Ok(Self::Prod),
            Some("dev") => Ok(Self::Dev),
            Some(other) => Err(format!("CARDVAULT_STAGE {other:?}: dev or prod")),
        }
    }

    /// Whether this stack honours `origin` when a tenant allows it.
    pub fn honours(self, origin: &Origin) -> bool {
        self == Self::Dev || !dev_only_host(origin.host())
    }
}

/// A host no production page is served from: `localhost` and its subdomains (RFC 6761
/// sends them all to loopback), an IP literal (`127.0.0.2`, `127.1`, `0.0.0.0`), or a name
/// with a trailing dot (`localhost.`), which would slip past a comparison of names.
fn dev_only_host(host: &str) -> bool {
    LOOPBACK_HOSTS.contains(&host)
        || host.ends_with(".localhost")
        || host.ends_with('.')
        || host.starts_with('[')
        || host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl Origin {
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().trim_end_matches('/').to_ascii_lowercase())
    }

    /// An origin a tenant may allow: `https://host[:port]`, or `http://` on localhost or
    /// 127.0.0.1; nothing after the host and port.
    pub fn parse_allowed(raw: &str) -> Result<Self, String> {
        let origin = Self::new(raw);
        let (scheme, rest) = origin
            .0
            .split_once("://")
            .ok_or_else(|| format!("origin {raw:?} must start with https://"))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
        if !host_ok || !port_ok {
            return Err(format!(
                "origin {raw:?} must be scheme://host[:port] with no path"
            ));
        }
        match scheme {
            "https" => Ok(origin),
            "http" if LOOPBACK_HOSTS.contains(&host) => Ok(origin),
            "http" => Err(format!(
                "origin {raw:?} must use https (plain http only on localhost or 127.0.0.1)"
            )),
            _ => Err(format!("origin {raw:?} must start with https://")),
        }
    }

    /// Whether this origin could be allowed at all (see [`Origin::parse_allowed`]).
    pub fn may_be_allowed(&self) -> bool {
        Self::parse_allowed(&self.0).is_ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host: `https://shop.example:8443` → `shop.example`.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let host = rest.split('/').next().unwrap_or(rest);
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    }

    /// Whether `allowed` (a tenant's list, as configured) names this origin, among the
    /// entries that `stage` honours.
    pub fn is_in(&self, allowed: &[String], stage: Stage) -> bool {
        Self::honoured(allowed, stage).any(|o| o == *self)
    }

    /// The entries of a tenant's list that are honoured: one that could not be allowed
    /// today (plain http stored before https was required) is skipped, not trusted, and so
    /// is a loopback origin outside a development stack.
    pub fn honoured(allowed: &[String], stage: Stage) -> impl Iterator<Item = Origin> + '_ {
        allowed
            .iter()
            .filter_map(|o| Origin::parse_allowed(o).ok())
            .filter(move |o| stage.honours(o))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_without_case_or_trailing_slash() {
        assert_eq!(
            Origin::new(" https://Shop.Example/ "),
            Origin::new("https://shop.example")
        );
        assert!(Origin::new("https://SHOP.example")
            .is_in(&["https://shop.example/".into()], Stage::Dev));
        assert!(!Origin::new("https://shop.example.evil")
            .is_in(&["https://shop.example".into()], Stage::Dev));
    }

    #[test]
    fn hosts_drop_scheme_port_and_path() {
        assert_eq!(
            Origin::new("https://shop.example:8443").host(),
            "shop.example"
        );
        assert_eq!(Origin::new("http://localhost:3000/x").host(), "localhost");
        assert_eq!(Origin::new("shop.example").host(), "shop.example");
        // Only a number after the last colon is a port.
        assert_eq!(
            Origin::new("https://shop.example:tls").host(),
            "shop.example:tls"
        );
        let origin = Origin::new("https://shop.example:8443");
        assert_eq!(origin.as_str(), "https://shop.example:8443");
        assert_eq!(origin.to_string(), origin.as_str());
    }

    #[test]
    fn only_https_origins_may_be_allowed_but_loopback_http_for_development() {
        for ok in [
            "https://shop.example",
            "https://Shop.Example:8443",
            "https://shop.example/",
            "http://localhost",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "HTTP://LOCALHOST:3000",
        ] {
            assert!(Origin::parse_allowed(ok).is_ok(), "{ok}");
        }
        // The error says what to change: http is the problem, not an unknown scheme.
        let e = Origin::parse_allowed("http://shop.example").unwrap_err();
        assert!(
            e.contains("must use https (plain http only on localhost"),
            "{e}"
        );
        for bad in [
            "http://shop.example",
            "http://shop.example:443",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://evil.example/localhost",
            "http://[::1]:3000",
            "http://0.0.0.0:3000",
            "ftp://shop.example",
            "shop.example",
            "https://",
            "https://shop.example/checkout",
            "https://shop.example:0",
            "https://shop.example:99999",
            "https://user@shop.example",
            "https://shop.example?x=1",
            "https://shop example",
        ] {
            assert!(Origin::parse_allowed(bad).is_err(), "{bad}");
        }
        let why = Origin::parse_allowed("http://shop.example").unwrap_err();
        assert!(why.contains("https"), "{why}");
    }

    #[test]
    fn an_http_origin_stored_before_the_rule_is_not_honoured() {
        let stored: Vec<String> = vec![
            "http://shop.example".into(),
            "https://secure.example".into(),
            "http://localhost:3000".into(),
        ];
        assert!(!Origin::new("http://shop.example").is_in(&stored, Stage::Dev));
        assert!(Origin::new("https://secure.example").is_in(&stored, Stage::Dev));
        assert!(Origin::new("http://localhost:3000").is_in(&stored, Stage::Dev));
        let kept: Vec<String> = Origin::honoured(&stored, Stage::Dev)
            .map(|o| o.to_string())
            .collect();
        assert_eq!(kept, ["https://secure.example", "http://localhost:3000"]);
        assert!(!Origin::new("http://shop.example").may_be_allowed());
    }

    /// Production honours no loopback origin, of either scheme, whatever a tenant lists;
    /// a development stack honours them. Unset is production; anything else is refused.
    #[test]
    fn loopback_origins_are_honoured_only_by_a_development_stack() {
        let stored: Vec<String> = vec![
            "http://localhost:3000".into(),
            "http://127.0.0.1:8080".into(),
            "https://localhost:8443".into(),
            "https://shop.example".into(),
        ];
        let kept = |stage| {
            Origin::honoured(&stored, stage)
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(Stage::Prod), ["https://shop.example"]);
        // Other names of loopback, and IP literals, are no production page's either.
        for other in [
            "https://localhost.",
            "https://app.localhost",
            "https://127.0.0.2",
            "https://127.1",
            "https://0.0.0.0",
            "https://10.0.0.7:8443",
            "https://shop.example.",
        ] {
            let listed = vec![other.to_owned()];
            assert_eq!(
                Origin::honoured(&listed, Stage::Prod).count(),
                0,
                "{other} in production"
            );
        }
        assert!(Origin::new("https://localhost.shop.example")
            .is_in(&["https://localhost.shop.example".into()], Stage::Prod));
        assert_eq!(kept(Stage::Dev).len(), 4);
        assert!(!Origin::new("http://localhost:3000").is_in(&stored, Stage::Prod));
        assert!(Origin::new("https://shop.example").is_in(&stored, Stage::Prod));
        assert_eq!(Stage::parse(None), Ok(Stage::Prod));
        assert_eq!(Stage::parse(Some("")), Ok(Stage::Prod));
        assert_eq!(Stage::parse(Some("prod")), Ok(Stage::Prod));
        assert_eq!(Stage::parse(Some("dev")), Ok(Stage::Dev));
        assert!(Stage::parse(Some("Dev")).is_err());
        assert!(Stage::parse(Some("staging")).is_err());
        assert_eq!(Stage::default(), Stage::Prod);
    }
}
