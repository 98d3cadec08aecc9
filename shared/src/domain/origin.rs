//! A browser origin (`https://shop.example`), as tenants allow them and browsers send them.

use std::fmt;

/// Origins compare as ASCII, case-insensitively, with no trailing slash; this holds the
/// compared form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().trim_end_matches('/').to_ascii_lowercase())
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

    /// Whether `allowed` (a tenant's list, as configured) names this origin.
    pub fn is_in(&self, allowed: &[String]) -> bool {
        allowed.iter().any(|o| Origin::new(o) == *self)
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
        assert!(Origin::new("https://SHOP.example").is_in(&["https://shop.example/".into()]));
        assert!(!Origin::new("https://shop.example.evil").is_in(&["https://shop.example".into()]));
    }

    #[test]
    fn hosts_drop_scheme_port_and_path() {
        assert_eq!(
            Origin::new("https://shop.example:8443").host(),
            "shop.example"
        );
        assert_eq!(Origin::new("http://localhost:3000/x").host(), "localhost");
        assert_eq!(Origin::new("shop.example").host(), "shop.example");
    }
}
