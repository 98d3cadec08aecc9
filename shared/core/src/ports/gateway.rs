//! The payment gateway: Stripe, as the vault uses it. `crate::stripe` implements it over
//! HTTP, and `crate::memory` in memory for unit tests. Every call that creates something
//! takes an idempotency key (see `crate::vault::idempotency`).

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{CardNumber, Cvv, Expiry, OutOfTime, PaymentMethodId, SourceCard, StripeToken};

/// How one call authenticates: a secret key, and for Connect the connected account.
pub struct StripeAuth {
    pub key: SecretString,
    pub account: Option<String>,
}

impl std::fmt::Debug for StripeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeAuth")
            .field("key", &"[REDACTED]")
            .field("account", &self.account)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object (4xx). Not retried.
    #[error("{message}")]
    Api {
        status: u16,
        kind: String,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    /// Unreachable, timing out or answering 5xx, after every retry.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// A 2xx whose body we could not read.
    #[error("unexpected Stripe response: {0}")]
    Decode(String),
    /// The request's deadline stopped the call, before it was sent or while waiting for the
    /// answer: as with `Unavailable`, whether Stripe acted is unknown.
    #[error(transparent)]
    OutOfTime(#[from] OutOfTime),
}

impl StripeError {
    /// Stripe's reason when the card itself was refused (402, `card_error`): which detail
    /// was wrong, so never for the caller's eyes (a card-testing oracle).
    pub fn card_declined(&self) -> Option<&str> {
        match self {
            Self::Api {
                status,
                kind,
                message,
                ..
            } if *status == 402 || kind == "card_error" => Some(message),
            _ => None,
        }
    }

    /// Stripe's own "no such object" (`resource_missing`): the object named is not there.
    /// A bare 404 is not it: a wrong API base, a proxy's path or a key of another account
    /// answers 404 as well, and must not pass for "already detached".
    pub fn is_resource_missing(&self) -> bool {
        matches!(self, Self::Api { code: Some(c), .. } if c == "resource_missing")
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
            || matches!(self, Self::Api { code: Some(c), .. } if c == "resource_missing")
    }
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

/// The metadata key naming the vault card a Stripe card was copied from (re-homing).
pub const CARD_METADATA_KEY: &str = "cardvault_payment_method";

/// A card on file moving to another Stripe connection: the number and expiry, with no
/// CVC (the vault never kept one), as Stripe's card-on-file migrations take it.
pub struct CardOnFile<'a> {
    pub number: &'a CardNumber,
    pub expiry: Expiry,
    pub name: &'a str,
    pub address_line1: Option<&'a str>,
    pub address_line2: Option<&'a str>,
    pub address_city: Option<&'a str>,
    pub address_zip: Option<&'a str>,
    pub address_country: Option<&'a str>,
    /// The vault's card it copies: kept in the Stripe card's metadata
    /// ([`CARD_METADATA_KEY`]), so that a copy is known again after a crash.
    pub vault_card: PaymentMethodId,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    /// Present while the intent is unfinished; the page's Stripe.js takes it.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub next_action: Option<serde_json::Value>,
}

/// Where a new PaymentMethod's card comes from: details the vault was given (the
/// redirect), or a Stripe card token (`tok_…`, made by the cardholder's browser).
pub enum NewCard<'a> {
    Details(&'a CardDetails<'a>),
    Token(&'a str),
    /// A PaymentMethod the browser made with Stripe.js (`pm_…`): read, not made.
    Made(&'a str),
}

/// A SetupIntent, as the vault reads it (`usage=off_session`: saved for later charges).
#[derive(Clone, Deserialize)]
pub struct SetupIntent {
    pub id: String,
    /// `succeeded`, `requires_action`, `requires_payment_method` (declined or failed
    /// authentication), `processing`, `canceled`, …
    pub status: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub next_action: Option<serde_json::Value>,
    #[serde(default)]
    pub customer: Option<String>,
    /// An id, or the object when expanded.
    #[serde(default, deserialize_with = "id_or_object")]
    pub payment_method: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub last_setup_error: Option<serde_json::Value>,
}

impl std::fmt::Debug for SetupIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupIntent")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("customer", &self.customer)
            .field("payment_method", &self.payment_method)
            .finish()
    }
}

fn id_or_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Object(o)) => o.get("id").and_then(|i| i.as_str()).map(Into::into),
        _ => None,
    })
}

/// The metadata keys a vault SetupIntent carries: which vault card it saves.
pub const SETUP_TENANT_KEY: &str = "cardvault_tenant";
pub const SETUP_CARD_KEY: &str = CARD_METADATA_KEY;

/// A new customer and the card its token became.
#[derive(Clone, Debug)]
pub struct CreatedCustomer {
    pub id: String,
    pub source: SourceCard,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// A customer's source: a card (`card_…`) or a bank account (`ba_…`).
    async fn retrieve_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<Source, StripeError>;
    /// A Stripe customer holding a vault customer's cards.
    async fn create_vault_customer(
        &self,
        auth: &StripeAuth,
        idempotency_key: &str,
        vault_customer_id: &str,
    ) -> Result<String, StripeError>;
    /// One call makes a customer and attaches the token's card.
    async fn create_customer_with_source(
        &self,
        auth: &StripeAuth,
        token: &StripeToken,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<CreatedCustomer, StripeError>;
    /// An already-deleted customer counts as deleted.
    async fn delete_customer(&self, auth: &StripeAuth, id: &str) -> Result<(), StripeError>;
    /// Whether the customer exists (and is not deleted).
    async fn customer_exists(&self, auth: &StripeAuth, id: &str) -> Result<bool, StripeError>;
    /// The only place a PAN and CVV leave cardvault: a token id back.
    async fn create_card_token(
        &self,
        auth: &StripeAuth,
        card: &CardDetails<'_>,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;
    /// Attaches a token's card to a customer; Stripe validates (and may decline) it here.
    async fn attach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        token: &str,
        idempotency_key: &str,
    ) -> Result<Card, StripeError>;
    async fn set_default_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError>;
    async fn detach_source(
        &self,
        auth: &StripeAuth,
        customer: &str,
        source: &str,
    ) -> Result<(), StripeError>;
    /// Collects `amount_minor` from a customer's card, confirmed at once, on-session (the
    /// cardholder is at the page): a card whose issuer asks for 3-D Secure answers
    /// `requires_action`.
    async fn collect(
        &self,
        auth: &StripeAuth,
        amount_minor: u64,
        currency: &str,
        customer: &str,
        card: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError>;
    /// The id of the card a card token stands for, attached or not: what to detach when an
    /// attach's answer was lost (its card id is the token's).
    async fn token_card_id(&self, auth: &StripeAuth, token: &str) -> Result<String, StripeError>;
    /// Adds a card on file to a customer without a CVC (`POST /v1/customers/{id}/sources`
    /// with the card's details): re-homing's one way in for a card it holds.
    async fn add_card_on_file(
        &self,
        auth: &StripeAuth,
        customer: &str,
        card: &CardOnFile<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError>;
    /// `POST /v1/payment_methods` (type `card`): a PaymentMethod, not yet attached. Its
    /// card reads as a [`Card`] (id `pm_…`).
    async fn create_payment_method(
        &self,
        auth: &StripeAuth,
        card: NewCard<'_>,
        idempotency_key: &str,
    ) -> Result<Card, StripeError>;
    /// `POST /v1/setup_intents` with `confirm=true`, `usage=off_session`: saves the
    /// PaymentMethod for later off-session charges, attaching it to `customer` when it
    /// succeeds. A card whose issuer asks for 3-D Secure answers `requires_action`; a
    /// declined one Stripe's 402.
    async fn setup_off_session(
        &self,
        auth: &StripeAuth,
        customer: &str,
        payment_method: &str,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<SetupIntent, StripeError>;
    async fn retrieve_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError>;
    /// `POST /v1/setup_intents/{id}/cancel`: a SetupIntent the vault gave up on (its card
    /// superseded or out of time), so that a late authentication saves nothing.
    async fn cancel_setup_intent(
        &self,
        auth: &StripeAuth,
        id: &str,
    ) -> Result<SetupIntent, StripeError>;
    /// A customer without a card (the user API's, before its first PaymentMethod).
    async fn create_customer(
        &self,
        auth: &StripeAuth,
        metadata: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<String, StripeError>;
    /// A customer's cards (what an interrupted re-homing may have added already).
    async fn list_cards(&self, auth: &StripeAuth, customer: &str)
        -> Result<Vec<Card>, StripeError>;
}

// The parts of Stripe's objects the vault reads. Unknown fields are ignored.

/// A customer's source: a card or a bank account, told apart by `object`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum Source {
    Card(Card),
    BankAccount(BankAccount),
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Card {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub exp_month: Option<u8>,
    #[serde(default)]
    pub exp_year: Option<u16>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub address_city: Option<String>,
    #[serde(default)]
    pub address_state: Option<String>,
    #[serde(default)]
    pub address_zip: Option<String>,
    #[serde(default)]
    pub address_country: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub funding: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The issuer's verdict on the CVC sent with it: `pass`, `fail`, `unavailable`,
    /// `unchecked`, or none.
    #[serde(default)]
    pub cvc_check: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct BankAccount {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    #[serde(default)]
    pub routing_number: Option<String>,
    #[serde(default)]
    pub account_holder_name: Option<String>,
    #[serde(default)]
    pub account_holder_type: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl From<&SourceCard> for Card {
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
            cvc_check: c.cvc_check.clone(),
            metadata: Default::default(),
        }
    }
}

impl From<&Card> for SourceCard {
    /// A card as Stripe shows it inside its customer (`object: card`), every field kept.
    fn from(c: &Card) -> Self {
        Self {
            id: c.id.clone(),
            object: "card".into(),
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
            cvc_check: c.cvc_check.clone(),
            metadata: c
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..SourceCard::default()
        }
    }
}
