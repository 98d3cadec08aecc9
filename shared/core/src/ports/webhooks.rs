//! What Stripe's webhooks need (`vault::webhooks`): Stripe's wire format
//! ([`WebhookFormat`]: a delivery's signature checked, its body read into an event), and
//! the store's side ([`StripeEventStore`], part of [`CardStore`](super::CardStore): the same
//! table): cards found by their Stripe ids, tenants by their connected account, and the
//! writes an event makes.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::stripe_event::{NotAnEvent, SignatureError, SigningSecrets};
use crate::domain::{CustomerId, PaymentMethod, PaymentMethodId, StripeEvent, TenantId, Timestamp};

/// Stripe's webhook wire format: the `Stripe-Signature` header checked against the raw
/// body, and a body that passed read into a [`StripeEvent`]. Pure and synchronous: no call
/// leaves the process. The adapter is `cardvault_stripe::webhook::StripeWebhooks`.
pub trait WebhookFormat: Send + Sync {
    /// Checks `header` (the `Stripe-Signature` header) against `payload` (the raw body) with
    /// `secrets` at `now` (Unix seconds), and answers the signature's timestamp. Nothing is
    /// read from the body before it passes; with no secret, nothing passes.
    fn verify(
        &self,
        secrets: &SigningSecrets,
        header: Option<&str>,
        payload: &[u8],
        now: i64,
    ) -> Result<i64, SignatureError>;
    /// Reads a body whose signature has been checked.
    fn read(&self, payload: &[u8]) -> Result<StripeEvent, NotAnEvent>;
}

/// Where a customer's default moves when Stripe removes the default card: to the newest
/// other card still at Stripe, or nowhere (the billing card API's remove rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultMove {
    pub from: PaymentMethodId,
    pub to: Option<PaymentMethodId>,
}

#[async_trait]
pub trait StripeEventStore: Send + Sync {
    /// The tenant's cards held on Stripe customer `stripe_customer`: the one whose Stripe id
    /// is `source`, or every one when `None`. One index Query; the index holds keys only.
    async fn cards_by_stripe_ref(
        &self,
        tenant: &TenantId,
        stripe_customer: &str,
        source: Option<&str>,
    ) -> Result<Vec<(CustomerId, PaymentMethodId)>, StoreError>;
    /// The tenants connected to Stripe through `account` (Connect), or moving their cards
    /// there (re-homing). One index Query.
    async fn tenants_by_stripe_account(&self, account: &str) -> Result<Vec<TenantId>, StoreError>;
    /// Writes `changed` if the card is still as `read` (its `modifiedAt`), and moves the
    /// customer's default as `default` says, on condition it is still `from`; all or
    /// nothing (`Conflict` when either changed meanwhile).
    async fn save_stripe_change(
        &self,
        read: &PaymentMethod,
        changed: &PaymentMethod,
        default: Option<DefaultMove>,
    ) -> Result<(), StoreError>;
    /// Marks the tenant's Stripe connection revoked at `at`, if it is still `account`.
    /// Answers whether it did.
    async fn revoke_stripe_connection(
        &self,
        tenant: &TenantId,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Brings the user API's view of a card (the link's `source`, and its `deleted_at` when
    /// the card is gone at Stripe) in step with the card, for the user `owner`.
    async fn update_link_card(
        &self,
        tenant: &TenantId,
        owner: &str,
        pm: &PaymentMethod,
    ) -> Result<(), StoreError>;
}
