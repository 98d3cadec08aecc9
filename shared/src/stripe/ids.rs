//! Stripe object ids, checked at the boundary.

use std::fmt;

/// Parses `raw` as a Stripe id with one of `prefixes`: the prefix, then 1–250 of
/// `[A-Za-z0-9_]`.
fn parse_id(raw: &str, prefixes: &[&str]) -> Option<String> {
    let prefix = prefixes.iter().find(|p| raw.starts_with(**p))?;
    let rest = &raw[prefix.len()..];
    let ok = !rest.is_empty()
        && rest.len() <= 250
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| raw.to_owned())
}

/// `cus_…`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef(String);

impl CustomerRef {
    pub fn parse(raw: &str) -> Option<Self> {
        parse_id(raw, &["cus_"]).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer's source: a card (`card_…`) or a bank account for ACH (`ba_…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRef(String);

impl SourceRef {
    pub fn parse(raw: &str) -> Option<Self> {
        parse_id(raw, &["card_", "ba_"]).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_required() {
        assert!(CustomerRef::parse("cus_AExsNjBZDLMNDK").is_some());
        assert!(SourceRef::parse("card_19uTyBAXix6Ggd0efp4HNNp7").is_some());
        assert!(SourceRef::parse("ba_1Abc").is_some());
        for bad in [
            "",
            "cus_",
            "cus",
            "card_x",
            "acct_1",
            "cus_a b",
            "cus_a/../b",
        ] {
            assert!(CustomerRef::parse(bad).is_none(), "{bad}");
        }
        for bad in ["", "card_", "src_1", "pm_1", "tok_1", "card_a?b"] {
            assert!(SourceRef::parse(bad).is_none(), "{bad}");
        }
    }
}
