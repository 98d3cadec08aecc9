//! The [`PaymentGateway`] port over Stripe's HTTP API.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;

use super::StripeClient;
use crate::domain::{SourceCard, StripeToken};
use crate::ports::{
    Card, CardDetails, CardOnFile, CreatedCustomer, NewCard, PaymentGateway, PaymentIntent,
    SetupIntent, Source, StripeAuth, StripeError, CARD_METADATA_KEY,
};
use crate::webhook::COLLECTION_METADATA_FORM as COLLECTION_METADATA;

#[derive(Debug, Deserialize)]
struct Object {
    id: String,
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
struct CardList {
    #[serde(default)]
    data: Vec<Card>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct TokenObject {
    card: Object,
}

/// A PaymentMethod (`pm_…`) as Stripe answers it: its card under `card`, the holder under
/// `billing_details`. Read into the same [`Card`] a legacy source is.
#[derive(Deserialize)]
struct PaymentMethodObject {
    id: String,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    card: PmCard,
    #[serde(default)]
    billing_details: BillingDetails,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

#[derive(Default, Deserialize)]
struct PmCard {
    brand: Option<String>,
    last4: Option<String>,
    exp_month: Option<u8>,
    exp_year: Option<u16>,
    country: Option<String>,
    funding: Option<String>,
    fingerprint: Option<String>,
    #[serde(default)]
    checks: Option<PmChecks>,
}

#[derive(Default, Deserialize)]
struct PmChecks {
    cvc_check: Option<String>,
}

#[derive(Default, Deserialize)]
struct BillingDetails {
    name: Option<String>,
    #[serde(default)]
    address: Option<Address>,
}

#[derive(Default, Deserialize)]
struct Address {
    line1: Option<String>,
    line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl PaymentMethodObject {
    fn into_card(self) -> Card {
        let address = self.billing_details.address.unwrap_or_default();
        Card {
            id: self.id,
            customer: self.customer,
            brand: self.card.brand,
            last4: self.card.last4,
            exp_month: self.card.exp_month,
            exp_year: self.card.exp_year,
            name: self.billing_details.name,
            address_line1: address.line1,
            address_line2: address.line2,
            address_city: address.city,
            address_state: address.state,
            address_zip: address.postal_code,
            address_country: address.country,
            country: self.card.country,
            funding: self.card.funding,
            fingerprint: self.card.fingerprint,
            cvc_check: self.card.checks.and_then(|c| c.cvc_check),
            metadata: self.metadata,
        }
    }
}

/// Adds the fields that are given (Stripe takes an absent field as unset; an empty one
/// would clear it).
fn push_given<'a, const N: usize>(
    form: &mut Vec<(&'a str, &'a str)>,
    fields: [(&'a str, Option<&'a str>); N],
) {
    form.extend(fields.into_iter().filter_map(|(k, v)| Some((k, v?))));
}

/// `metadata[<key>]`, the form names of `metadata`'s keys.
fn metadata_keys(metadata: &[(&str, &str)]) -> Vec<String> {
    metadata
        .iter()
        .map(|(k, _)| format!("metadata[{k}]"))
        .collect()
}

/// PaymentMethods (`pm_…`) take their own endpoints; legacy cards (`card_…`) and bank
/// accounts (`ba_…`) the customer's sources.
fn is_payment_method(id: &str) -> bool {
    id.starts_with("pm_")
}

fn missing_payment_method(id: &str) -> StripeError {
    StripeError::Api {
        status: 404,
        kind: "invalid_request_error".into(),
        code: Some("resource_missing".into()),
        param: Some("payment_method".into()),
        message: format!("No such PaymentMethod on this customer: '{id}'"),
    }
}

#[derive(Deserialize)]
struct Deleted {
    #[serde(default)]
    deleted: bool,
}

#[async_trait]
impl PaymentGateway for StripeClient {
    /// `GET /v1/customers/{customer}/sources/{source}`: a card (`card_…`) or bank account (`ba_…`).
    async fn retrieve_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<Source, StripeError> {
        if is_payment_method(source) {
            let path = format!("/v1/payment_methods/{source}");
            let pm: PaymentMethodObject = self.send(auth, Method::GET, &path, &[], None).await?;
            // A PaymentMethod detached, or on another customer, is not this customer's.
            if pm.customer.as_deref() != Some(customer) {
                return Err(missing_payment_method(source));
            }
            return Ok(Source::Card(pm.into_card()));
        }
        let path = format!("/v1/customers/{customer}/sources/{source}");
        self.send(auth, Method::GET, &path, &[], None).await
    }

    /// A Stripe customer for a vault customer. The idempotency key is derived from the vault
    /// customer, so concurrent first cards end up with one Stripe customer.
    async fn create_vault_customer(
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

    /// `POST /v1/customers` with `source=tok_…`: one call creates the customer and attaches
    /// the card. `sources` is expanded (API versions since 2020-08-27 leave it out), so the
    /// card comes back in the same answer. `idempotency_key` makes a retry, ours or the
    /// caller's, return the first customer instead of creating a second.
    async fn create_customer_with_source(
        &self,
        auth: &StripeAuth,
        token: &StripeToken,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<CreatedCustomer, StripeError> {
        let keys = metadata_keys(metadata);
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
    async fn delete_customer(&self, auth: &StripeAuth, id: &str) -> Result<(), StripeError> {
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

    /// `GET /v1/customers/{id}`: a deleted customer does not exist.
    async fn customer_exists(&self, auth: &StripeAuth, id: &str) -> Result<bool, StripeError> {
        let path = format!("/v1/customers/{id}");
        match self
            .send::<Deleted>(auth, Method::GET, &path, &[], None)
            .await
        {
            Ok(c) => Ok(!c.deleted),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/tokens`: the only place a PAN and CVV leave cardvault.
    async fn create_card_token(
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
        push_given(
            &mut form,
            [
                ("card[address_line1]", card.address_line1),
                ("card[address_line2]", card.address_line2),
                ("card[address_city]", card.address_city),
                ("card[address_zip]", card.address_zip),
                ("card[address_country]", card.address_country),
            ],
        );
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
    async fn attach_source(
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
    async fn set_default_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        let path = format!("/v1/customers/{customer}");
        // A PaymentMethod is the default of invoices and subscriptions through
        // `invoice_settings`; a legacy card through `default_source`, and then the
        // PaymentMethod default, which Stripe would prefer, is cleared.
        let form: &[(&str, &str)] = if is_payment_method(source) {
            &[("invoice_settings[default_payment_method]", source)]
        } else {
            &[
                ("default_source", source),
                ("invoice_settings[default_payment_method]", ""),
            ]
        };
        let _: serde_json::Value = self.send(auth, Method::POST, &path, form, None).await?;
        Ok(())
    }

    /// Removes a card from its Stripe customer (compensation after a failed write).
    async fn detach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError> {
        if is_payment_method(source) {
            let path = format!("/v1/payment_methods/{source}/detach");
            return match self
                .send::<serde_json::Value>(auth, Method::POST, &path, &[], None)
                .await
            {
                Ok(_) => Ok(()),
                // Stripe refuses to detach a PaymentMethod attached to no customer (400, not
                // a 404): it is not on this customer, which is all a detach is for.
                Err(StripeError::Api { status: 400, .. }) => {
                    let path = format!("/v1/payment_methods/{source}");
                    let pm: PaymentMethodObject =
                        self.send(auth, Method::GET, &path, &[], None).await?;
                    match pm.customer {
                        Some(other) if other == customer => Err(StripeError::Decode(format!(
                            "{source} is still on {customer} after its detach was refused"
                        ))),
                        _ => Err(missing_payment_method(source)),
                    }
                }
                Err(e) => Err(e),
            };
        }
        let path = format!("/v1/customers/{customer}/sources/{source}");
        let _: serde_json::Value = self.send(auth, Method::DELETE, &path, &[], None).await?;
        Ok(())
    }

    /// Collects `amount` (minor units) from a customer's card, confirmed at once.
    async fn collect(
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
            // On-session: the cardholder is at the page, so a card whose issuer asks for
            // 3-D Secure answers `requires_action` and the page finishes it.
            ("payment_method_types[]", "card"),
            // The redirect counts its own declines on the card; the webhook, seeing this,
            // does not count the same decline again (`webhook`).
            (COLLECTION_METADATA, "redirect"),
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

    /// `POST /v1/payment_methods`: the card's details (the redirect, where the vault was
    /// given the number) or a card token's card.
    async fn create_payment_method(
        &self,
        auth: &StripeAuth,
        card: NewCard<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        let mut form = vec![("type", "card")];
        let (month, year);
        match card {
            // Made in the browser: only read (the vault never sees its number).
            NewCard::Made(id) => {
                let path = format!("/v1/payment_methods/{id}");
                let pm: PaymentMethodObject =
                    self.send(auth, Method::GET, &path, &[], None).await?;
                return Ok(pm.into_card());
            }
            NewCard::Token(token) => form.push(("card[token]", token)),
            NewCard::Details(card) => {
                (month, year) = (card.expiry.month.to_string(), card.expiry.year.to_string());
                form.extend([
                    ("card[number]", card.number.expose()),
                    ("card[cvc]", card.cvv.expose()),
                    ("card[exp_month]", month.as_str()),
                    ("card[exp_year]", year.as_str()),
                ]);
                if !card.name.is_empty() {
                    form.push(("billing_details[name]", card.name));
                }
                push_given(
                    &mut form,
                    [
                        ("billing_details[address][line1]", card.address_line1),
                        ("billing_details[address][line2]", card.address_line2),
                        ("billing_details[address][city]", card.address_city),
                        ("billing_details[address][postal_code]", card.address_zip),
                        ("billing_details[address][country]", card.address_country),
                    ],
                );
            }
        }
        let pm: PaymentMethodObject = self
            .send(
                auth,
                Method::POST,
                "/v1/payment_methods",
                &form,
                Some(idempotency_key),
            )
            .await?;
        Ok(pm.into_card())
    }

    async fn setup_off_session(
        &self,
        auth: &StripeAuth,
        customer: &str,
        payment_method: &str,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<SetupIntent, StripeError> {
        let keys = metadata_keys(metadata);
        let mut form = vec![
            ("customer", customer),
            ("payment_method", payment_method),
            ("payment_method_types[]", "card"),
            ("usage", "off_session"),
            ("confirm", "true"),
        ];
        form.extend(
            keys.iter()
                .map(String::as_str)
                .zip(metadata.iter().map(|(_, v)| *v)),
        );
        self.send(
            auth,
            Method::POST,
            "/v1/setup_intents",
            &form,
            Some(idempotency_key),
        )
        .await
    }

    async fn retrieve_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError> {
        let path = format!("/v1/setup_intents/{id}");
        self.send(auth, Method::GET, &path, &[], None).await
    }

    async fn cancel_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError> {
        let path = format!("/v1/setup_intents/{id}/cancel");
        self.send(auth, Method::POST, &path, &[], None).await
    }

    async fn create_customer(
        &self,
        auth: &StripeAuth,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let keys = metadata_keys(metadata);
        let form: Vec<(&str, &str)> = keys
            .iter()
            .map(String::as_str)
            .zip(metadata.iter().map(|(_, v)| *v))
            .collect();
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

    /// `GET /v1/tokens/{token}`: the token's card, whose id the card keeps once attached.
    async fn token_card_id(&self, auth: &StripeAuth, token: &str) -> Result<String, StripeError> {
        let path = format!("/v1/tokens/{token}");
        let token: TokenObject = self.send(auth, Method::GET, &path, &[], None).await?;
        Ok(token.card.id)
    }

    /// `POST /v1/customers/{customer}/sources` with `source[object]=card` and the card's
    /// number and expiry: no token, and no CVC, which Stripe does not require of a card on
    /// file (the platform needs Stripe's approval to send raw card numbers, as every
    /// card-on-file migration does).
    async fn add_card_on_file(
        &self,
        auth: &StripeAuth,
        customer: &str,
        card: &CardOnFile<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError> {
        let (month, year) = (card.expiry.month.to_string(), card.expiry.year.to_string());
        let vault_card = card.vault_card.to_string();
        let metadata = format!("metadata[{CARD_METADATA_KEY}]");
        let mut form = vec![
            (metadata.as_str(), vault_card.as_str()),
            ("source[object]", "card"),
            ("source[number]", card.number.expose()),
            ("source[exp_month]", month.as_str()),
            ("source[exp_year]", year.as_str()),
            ("source[name]", card.name),
        ];
        push_given(
            &mut form,
            [
                ("source[address_line1]", card.address_line1),
                ("source[address_line2]", card.address_line2),
                ("source[address_city]", card.address_city),
                ("source[address_zip]", card.address_zip),
                ("source[address_country]", card.address_country),
            ],
        );
        let path = format!("/v1/customers/{customer}/sources");
        self.send(auth, Method::POST, &path, &form, Some(idempotency_key))
            .await
    }

    /// `GET /v1/customers/{customer}/sources?object=card`, every page.
    async fn list_cards(
        &self,
        auth: &StripeAuth,
        customer: &str,
    ) -> Result<Vec<Card>, StripeError> {
        let mut cards = Vec::new();
        loop {
            let mut path = format!("/v1/customers/{customer}/sources?object=card");
            if let Some(last) = cards.last().map(|c: &Card| c.id.clone()) {
                path.push_str(&format!("&starting_after={last}"));
            }
            let page: CardList = self.send(auth, Method::GET, &path, &[], None).await?;
            let more = page.has_more && !page.data.is_empty();
            cards.extend(page.data);
            if !more {
                return Ok(cards);
            }
        }
    }
}
