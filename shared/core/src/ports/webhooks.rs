//! What Stripe's webhooks read and write (`vault::webhooks`): cards found by their Stripe
//! ids, tenants by their connected account, and the writes an event makes. Part of
//! [`CardStore`](super::CardStore): the same table.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{CustomerId, PaymentMethod, PaymentMethodId, TenantId, Timestamp};

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
