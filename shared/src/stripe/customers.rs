//! Stripe customers created from a card token (the user API's `POST /payments/stripe/customers`).

use std::collections::BTreeMap;
use std::fmt;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{StripeAuth, StripeClient, StripeError};

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

/// A new customer and the card its token became.
#[derive(Clone, Debug)]
pub struct CreatedCustomer {
    pub id: String,
    pub source: SourceCard,
}

#[derive(Deserialize)]
struct CustomerObject {
    id: String,
    #[serde(default)]
    default_source: Option<String>,
    #[serde(default)]
    sources: Option<SourceList>,
}

#[derive(Deserialize)]
struct SourceList {
    #[serde(default)]
    data: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Deleted {
    #[serde(default)]
    deleted: bool,
}

impl StripeClient {
    /// `POST /v1/customers` with `source=tok_…`: one call creates the customer and attaches
    /// the card. `sources` is expanded (API versions since 2020-08-27 leave it out), so the
    /// card comes back in the same answer. `idempotency_key` makes a retry, ours or the
    /// caller's, return the first customer instead of creating a second.
    pub async fn create_customer_with_source(
        &self,
        auth: &StripeAuth,
        token: &StripeToken,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<CreatedCustomer, StripeError> {
        let keys: Vec<String> = metadata
            .iter()
            .map(|(k, _)| format!("metadata[{k}]"))
            .collect();
        let mut form = vec![("source", token.reveal()), ("expand[]", "sources")];
        form.extend(
            keys.iter()
                .map(String::as_str)
                .zip(metadata.iter().map(|(_, v)| *v)),
        );
        let customer: CustomerObject = self
            .send(
                auth,
                Method::POST,
                "/v1/customers",
                &form,
                Some(idempotency_key),
            )
            .await?;
        let decode =
            |what: &str| StripeError::Decode(format!("new customer {}: {what}", customer.id));
        let cards: Vec<SourceCard> = customer
            .sources
            .map(|s| s.data)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v["object"] == "card")
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        let wanted = customer.default_source.as_deref();
        let source = match cards
            .iter()
            .find(|c| Some(c.id.as_str()) == wanted)
            .or(cards.first())
        {
            Some(card) => card.clone(),
            // Not expanded after all: read the default source.
            None => {
                let id = wanted.ok_or_else(|| decode("no source"))?;
                let path = format!("/v1/customers/{}/sources/{id}", customer.id);
                self.send(auth, Method::GET, &path, &[], None).await?
            }
        };
        Ok(CreatedCustomer {
            id: customer.id,
            source,
        })
    }

    /// `DELETE /v1/customers/{id}`: undoes [`Self::create_customer_with_source`] when what
    /// follows it fails. An already-deleted customer counts as deleted.
    pub async fn delete_customer(&self, auth: &StripeAuth, id: &str) -> Result<(), StripeError> {
        let path = format!("/v1/customers/{id}");
        match self
            .send::<Deleted>(auth, Method::DELETE, &path, &[], None)
            .await
        {
            Ok(d) if d.deleted => Ok(()),
            Ok(_) => Err(StripeError::Decode(format!("{id} was not deleted"))),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl From<&SourceCard> for super::Card {
    fn from(c: &SourceCard) -> Self {
        Self {
            id: c.id.clone(),
            customer: c.customer.clone(),
            brand: c.brand.clone(),
            last4: c.last4.clone(),
            exp_month: c.exp_month,
            exp_year: c.exp_year,
            name: c.name.clone(),
            address_line1: c.address_line1.clone(),
            address_line2: c.address_line2.clone(),
            address_city: c.address_city.clone(),
            address_state: c.address_state.clone(),
            address_zip: c.address_zip.clone(),
            address_country: c.address_country.clone(),
            country: c.country.clone(),
            funding: c.funding.clone(),
            fingerprint: c.fingerprint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_redacted() {
        let t = StripeToken::parse("tok_1AbcDEF").unwrap();
        assert_eq!(t.reveal(), "tok_1AbcDEF");
        assert!(!format!("{t:?}").contains("Abc"));
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
