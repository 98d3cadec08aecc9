//! Calls for cards entered through the transparent redirect: tokenize, attach to the
//! customer's Stripe customer (Stripe validates the card there), detach, collect.

use reqwest::Method;
use serde::Deserialize;

use super::{Card, StripeAuth, StripeClient, StripeError};
use crate::domain::{CardNumber, Cvv, Expiry};

#[derive(Debug, Deserialize)]
struct Object {
    id: String,
}

/// A card as the cardholder entered it, for `POST /v1/tokens`.
pub struct CardDetails<'a> {
    pub number: &'a CardNumber,
    pub cvv: &'a Cvv,
    pub expiry: Expiry,
    pub name: &'a str,
    pub address_line1: Option<&'a str>,
    pub address_line2: Option<&'a str>,
    pub address_city: Option<&'a str>,
    pub address_zip: Option<&'a str>,
    pub address_country: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
}

impl StripeClient {
    /// A Stripe customer for a vault customer. The idempotency key is derived from the vault
    /// customer, so concurrent first cards end up with one Stripe customer.
    pub async fn create_vault_customer(
        &self,
        auth: &StripeAuth,
        idempotency_key: &str,
        vault_customer_id: &str,
    ) -> Result<String, StripeError> {
        let form = [("metadata[cardvault_customer_id]", vault_customer_id)];
        let created: Object = self
            .send(
                auth,
                Method::POST,
                "/v1/customers",
                &form,
                Some(idempotency_key),
            )
            .await?;
        Ok(created.id)
    }

    /// `POST /v1/tokens`: the only place a PAN and CVV leave cardvault.
    pub async fn create_card_token(
        &self,
        auth: &StripeAuth,
        card: &CardDetails<'_>,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let (month, year) = (card.expiry.month.to_string(), card.expiry.year.to_string());
        let mut form = vec![
            ("card[number]", card.number.expose()),
            ("card[cvc]", card.cvv.expose()),
            ("card[exp_month]", month.as_str()),
            ("card[exp_year]", year.as_str()),
            ("card[name]", card.name),
        ];
        for (k, v) in [
            ("card[address_line1]", card.address_line1),
            ("card[address_line2]", card.address_line2),
            ("card[address_city]", card.address_city),
            ("card[address_zip]", card.address_zip),
            ("card[address_country]", card.address_country),
        ] {
            if let Some(v) = v {
                form.push((k, v));
            }
        }
        let token: Object = self
            .send(
                auth,
                Method::POST,
                "/v1/tokens",
                &form,
                Some(idempotency_key),
            )
            .await?;
        Ok(token.id)
    }

    /// Attaches a token's card to a customer; Stripe validates (and may decline) it here.
    pub async fn attach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        token: &str,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        let path = format!("/v1/customers/{customer}/sources");
        self.send(
            auth,
            Method::POST,
            &path,
            &[("source", token)],
            Some(idempotency_key),
        )
        .await
    }

    /// Makes a card the Stripe customer's default source.
    pub async fn set_default_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        let path = format!("/v1/customers/{customer}");
        let _: serde_json::Value = self
            .send(
                auth,
                Method::POST,
                &path,
                &[("default_source", source)],
                None,
            )
            .await?;
        Ok(())
    }

    /// Removes a card from its Stripe customer (compensation after a failed write).
    pub async fn detach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        let path = format!("/v1/customers/{customer}/sources/{source}");
        let _: serde_json::Value = self.send(auth, Method::DELETE, &path, &[], None).await?;
        Ok(())
    }

    /// Collects `amount` (minor units) from a customer's card, confirmed at once.
    pub async fn collect(
        &self,
        auth: &StripeAuth,
        amount_minor: u64,
        currency: &str,
        customer: &str,
        card: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let amount = amount_minor.to_string();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency),
            ("customer", customer),
            ("payment_method", card),
            ("confirm", "true"),
            ("off_session", "true"),
        ];
        self.send(
            auth,
            Method::POST,
            "/v1/payment_intents",
            &form,
            Some(idempotency_key),
        )
        .await
    }
}
