//! The default card: Fusebill's `isDefault`, EmbedThis's `current`. It is one attribute of
//! the customer, changed in one transaction that checks the card still exists, so however
//! many changes run at once the customer ends with exactly one default.

use super::{card_not_found, payment_method_not_found, CardView, Vault};
use crate::domain::{
    AuditAction, AuditEvent, CustomerId, PaymentMethod, PaymentMethodId, TenantId,
};
use crate::error::Error;
use crate::ports::{PaymentGateway, PaymentMethodStore, Ports, StoreError, StripeAuth};
use crate::telemetry;
use crate::vault::credentials::StripeRoute;

impl<P: Ports> Vault<P> {
    /// The merchant API's default: the payment method must be the customer's.
    pub async fn make_default(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<(), Error> {
        // The customer is known: one consistent Query of its partition, no index. It
        // answers the customer too, whose own Stripe customer says whether Stripe's default
        // follows (`set_current`'s rule, `attached_by_vault`), in the same round trip.
        let (owner, cards) = self
            .store
            .customer_with_payment_methods(tenant, customer)
            .await?
            .ok_or_else(|| payment_method_not_found(id))?;
        let pm = cards
            .into_iter()
            .find(|pm| pm.id == id && pm.is_on_file())
            .ok_or_else(|| payment_method_not_found(id))?;
        let follows = pm.attached_by_vault(&owner);
        let event = self.made_default(tenant, customer, id, "ok");
        let set = self
            .store
            .set_default_payment_method(tenant, customer, pm.id);
        match self.recorded(vec![event], set).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(payment_method_not_found(id)),
            Err(e) => return Err(e.into()),
        }
        // A card cardvault attached, to the customer's own Stripe customer: Stripe's
        // default follows it. An imported card is the merchant's, on the merchant's Stripe
        // customer, and is left alone.
        if follows {
            self.follow_on_stripe_of(tenant, &pm).await;
        }
        Ok(())
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
            if card.attached_by_vault(&customer) {
                self.follow_on_stripe_of(tenant, &card).await;
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

    /// Stripe's default source follows the vault's default card `pm` (one cardvault
    /// attached). Best effort, on purpose: the vault's change has committed and is the
    /// source of truth (cardvault's own charges name the card), so failing the request now
    /// would answer an error for a change that was made. A failure is logged at `warn` (ids
    /// only), counted ([`telemetry::STRIPE_DEFAULT_SOURCE_FAILURES`], by tenant) and
    /// audited (`stripe.defaultSourceSet`, outcome `failed`), so that it is seen and set
    /// again by hand or by the next change of the default.
    pub(super) async fn follow_on_stripe(&self, auth: &StripeAuth, pm: &PaymentMethod) {
        let Some(s) = &pm.stripe else { return };
        if let Err(e) = self
            .gateway
            .set_default_source(auth, &s.customer_id, &s.source_id)
            .await
        {
            self.not_followed(pm, &e.to_string()).await;
        }
    }

    /// [`Self::follow_on_stripe`] on the tenant's connection. The change has committed, so
    /// credentials that cannot be had now (a connection revoked meanwhile) are one more
    /// way for the step to fail, not an error of the request's.
    async fn follow_on_stripe_of(&self, tenant: &TenantId, pm: &PaymentMethod) {
        let auth = async {
            let settings = self.tenant(tenant).await?;
            self.stripe_auth(&settings, StripeRoute::Any).await
        };
        match auth.await {
            Ok(auth) => self.follow_on_stripe(&auth, pm).await,
            Err(e) => self.not_followed(pm, &e.to_string()).await,
        }
    }

    /// Stripe's default source did not follow `pm`: logged, counted and audited.
    async fn not_followed(&self, pm: &PaymentMethod, error: &str) {
        let Some(s) = &pm.stripe else { return };
        tracing::warn!(
            error,
            tenant = %pm.tenant_id,
            customer = %pm.customer_id,
            payment_method = %pm.id,
            stripe_customer = %s.customer_id,
            stripe_card = %s.source_id,
            "Stripe default source not updated"
        );
        telemetry::count(
            telemetry::STRIPE_DEFAULT_SOURCE_FAILURES,
            pm.tenant_id.as_str(),
        );
        let event = self
            .event(&pm.tenant_id, AuditAction::StripeDefaultSourceSet, "failed")
            .customer(pm.customer_id)
            .payment_method(pm.id)
            .object(s.source_id.as_str());
        self.record(event).await;
    }
}
