//! Stripe's ids and objects as the domain holds them: checked at the boundary, and the
//! secret ones (card tokens) never printed.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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

/// A single-use card token (`tok_…`) from Stripe.js or `POST /v1/tokens`. Whoever holds an
/// unused token can attach its card, so it is a secret: never printed, never echoed.
#[derive(Clone)]
pub struct StripeToken(SecretString);

impl StripeToken {
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix("tok_")?;
        let ok = !rest.is_empty()
            && rest.len() <= 250
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn reveal(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for StripeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StripeToken([REDACTED])")
    }
}

/// Stripe's card object, with exactly the fields the user API's document shows for a
/// customer's `source`. It is stored and rendered as Stripe sent it (never the number or
/// CVC, which Stripe does not return; `cvc_check` is only Stripe's pass/fail verdict).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCard {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default = "card_object")]
    pub object: String,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub funding: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub exp_year: Option<u16>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub cvc_check: Option<String>,
    #[serde(default)]
    pub exp_month: Option<u8>,
    #[serde(default)]
    pub address_zip: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub address_city: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub address_state: Option<String>,
    #[serde(default)]
    pub dynamic_last4: Option<String>,
    #[serde(default)]
    pub address_country: Option<String>,
    #[serde(default)]
    pub address_zip_check: Option<String>,
    #[serde(default)]
    pub address_line1_check: Option<String>,
    #[serde(default)]
    pub tokenization_method: Option<String>,
}

fn card_object() -> String {
    "card".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stripe's card objects say `"object": "card"`; one stored without it reads as one.
    #[test]
    fn a_source_card_without_its_object_is_a_card() {
        let card: SourceCard = serde_json::from_str(r#"{"id": "card_1"}"#).unwrap();
        assert_eq!(card.object, "card");
    }

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

    #[test]
    fn tokens_are_checked_and_redacted() {
        let t = StripeToken::parse("tok_1AbcDEF").unwrap();
        assert_eq!(t.reveal(), "tok_1AbcDEF");
        assert!(!format!("{t:?}").contains("Abc"));
        // Redacted, not blank: a log line still shows that a token was there.
        assert_eq!(format!("{t:?}"), "StripeToken([REDACTED])");
        for bad in ["", "tok_", "card_1", "tok_a b", "tok_a/b", " tok_1"] {
            assert!(StripeToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_documents_card_reads_and_writes_back_unchanged() {
        let doc = serde_json::json!({
            "id": "card_mock_id", "name": null, "brand": "Visa", "last4": "4242",
            "object": "card", "country": "US", "funding": "credit",
            "customer": "cus_Az3sOfwEJ3XvLY", "exp_year": 2019, "metadata": {},
            "cvc_check": null, "exp_month": 8, "address_zip": null,
            "fingerprint": "KLKJoiVFXSq7RAr4", "address_city": null, "address_line1": null,
            "address_line2": null, "address_state": null, "dynamic_last4": null,
            "address_country": null, "address_zip_check": null, "address_line1_check": null,
            "tokenization_method": null
        });
        let card: SourceCard = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&card).unwrap(), doc);
    }
}

/// A Stripe publishable key (`pk_test_…`, `pk_live_…`): public by design, so it is plain
/// configuration, never a secret. Anything else, an `sk_` or `rk_` key above all, is
/// refused, so a mistake in setup cannot make `/card/getStripe` hand out a secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishableKey(String);

impl PublishableKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = raw.len() <= 255
            && (raw.starts_with("pk_test_") || raw.starts_with("pk_live_"))
            && raw.len() > "pk_test_".len()
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("a Stripe publishable key starts with pk_test_ or pk_live_".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod publishable_key_tests {
    use super::PublishableKey;

    #[test]
    fn only_pk_keys_are_publishable() {
        assert!(PublishableKey::parse("pk_test_cardvault_platform").is_ok());
        assert!(PublishableKey::parse("pk_live_51Habc").is_ok());
        for bad in [
            "sk_test_abc",
            "rk_live_abc",
            "pk_test_",
            "",
            "pk_other_x",
            "pk_test_a b",
        ] {
            assert!(PublishableKey::parse(bad).is_err(), "{bad}");
        }
    }
}
