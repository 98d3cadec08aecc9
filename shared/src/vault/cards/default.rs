//! The default card: Fusebill's `isDefault`, EmbedThis's `current`. It is one attribute of
//! the customer, changed in one transaction that checks the card still exists, so however
//! many changes run at once the customer ends with exactly one default.

use super::{card_not_found, payment_method_not_found, CardView, Vault};
use crate::domain::{AuditAction, AuditEvent, CustomerId, PaymentMethodId, TenantId};
use crate::error::Error;
use crate::ports::{PaymentGateway, PaymentMethodStore, Ports, StoreError, StripeAuth};
use crate::vault::credentials::StripeRoute;

impl<P: Ports> Vault<P> {
    /// The merchant API's default: the payment method must be the customer's.
    pub async fn make_default(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<(), Error> {
        // The customer is known: one GetItem in its partition, no index.
        let pm = self
            .store
            .payment_method_of(customer, id)
            .await?
            .filter(|pm| &pm.tenant_id == tenant)
            .ok_or_else(|| payment_method_not_found(id))?;
        let event = self.made_default(tenant, customer, id, "ok");
        let set = self
            .store
            .set_default_payment_method(tenant, customer, pm.id);
        match self.recorded(vec![event], set).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(payment_method_not_found(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// The billing card API's current card: `current: true` makes it the account's one
    /// current card, and Stripe's default source follows; `false` leaves the account with
    /// none if it was current.
    pub async fn set_current(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
        current: bool,
    ) -> Result<CardView, Error> {
        let (card, mut customer) = self.account_card(tenant, account, id).await?;
        if current {
            let event = self.made_default(tenant, customer.id, id, "ok");
            let set = self
                .store
                .set_default_payment_method(tenant, customer.id, id);
            match self.recorded(vec![event], set).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Err(card_not_found(id)),
                Err(e) => return Err(e.into()),
            }
            customer.default_payment_method_id = Some(id);
            // Only a card cardvault attached moves Stripe's default: a merchant's imported
            // card sits on the merchant's own Stripe customer, which is not the account's.
            if let (true, Some(s)) = (card.attached_by_vault(&customer), &card.stripe) {
                let settings = self.tenant(tenant).await?;
                let auth = self.stripe_auth(&settings, StripeRoute::Any).await?;
                self.follow_on_stripe(&auth, &s.customer_id, &s.source_id)
                    .await;
            }
        } else {
            // The event is written only if the card was the default when read.
            let events = (customer.default_payment_method_id == Some(id))
                .then(|| self.made_default(tenant, customer.id, id, "unset"))
                .into_iter()
                .collect();
            let clear = self
                .store
                .clear_default_payment_method(tenant, customer.id, id);
            self.recorded(events, clear).await?;
            if customer.default_payment_method_id == Some(id) {
                customer.default_payment_method_id = None;
            }
        }
        Ok(CardView::of(card, &customer))
    }

    fn made_default(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        id: PaymentMethodId,
        outcome: &str,
    ) -> AuditEvent {
        self.event(tenant, AuditAction::CardMadeDefault, outcome)
            .customer(customer)
            .payment_method(id)
    }

    /// Stripe's default source follows the current card. Best effort: the vault's record
    /// is the source of truth, and a failure here is logged, not fatal.
    pub(super) async fn follow_on_stripe(&self, auth: &StripeAuth, customer: &str, card: &str) {
        if let Err(e) = self.gateway.set_default_source(auth, customer, card).await {
            tracing::warn!(error = %e, "Stripe default source not updated");
        }
    }
}
