//! A user's Stripe customer (the user API, Rechat style).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SourceCard;
use super::{CustomerId, PaymentMethodId, TenantId, Timestamp};

/// The link between a signed-in user and a Stripe customer made from one card token. Its id
/// is a UUID, as in the source document. The card is also a payment method of the user's
/// vault customer ([`user_ref`]), so the other dialects see the same card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StripeCustomerLink {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The user (`sub`).
    pub owner: String,
    /// The vault customer the card was recorded under.
    pub customer_id: CustomerId,
    pub payment_method_id: PaymentMethodId,
    /// `cus_…`
    pub stripe_customer_id: String,
    pub source: SourceCard,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<Timestamp>,
    /// Its card waits for the cardholder's authentication: not listed until it succeeds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// The external reference of a user API user's vault customer.
pub fn user_ref(sub: &str) -> String {
    format!("user:{sub}")
}

/// The external reference of a billing card API account's vault customer.
pub fn account_ref(account: &str) -> String {
    format!("account:{account}")
}

/// The billing account a customer stands for, if it is an account's.
pub fn account_ref_of(customer: &super::Customer) -> Option<&str> {
    customer
        .external_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("account:"))
}
