//! The transparent redirect for a tenant whose page makes the PaymentMethod with Stripe.js
//! (`CardFlow::StripeJs`): the browser posts its `pm_…` id, never the card number, so
//! the vault neither sees nor keeps a PAN (README, "PCI scope"). The PaymentMethod is
//! saved as any other card is (`setup`), with the same 3-D Secure answer.

use super::add::{validation_error, NewRedirectCard};
use super::{card_parts, checked_last4, Added, Vault};
use crate::domain::{AtStripe, Customer, PaymentMethod, StripeJsEntry, StripeRef, Tenant};
use crate::error::Error;
use crate::ports::{Clock, Ids, NewCard, Ports, StripeError};
use crate::vault::credentials::StripeRoute;

impl<P: Ports> Vault<P> {
    /// Saves the browser's PaymentMethod on the customer's Stripe customer and records the
    /// card. Only a PaymentMethod on no customer yet is taken: one saved already (to this
    /// customer or another) answers as an unknown one.
    pub(crate) async fn add_stripe_js_card(
        &self,
        tenant: &Tenant,
        customer: Customer,
        entry: StripeJsEntry,
    ) -> Result<Added, Error> {
        let auth = self.stripe_auth(tenant, StripeRoute::Any).await?;
        let stripe_customer = self.stripe_customer_of(&auth, &customer).await?;
        let id = self.ids.payment_method_id();
        let saved = self
            .save_card(
                &auth,
                &tenant.id,
                &stripe_customer,
                NewCard::Made(&entry.payment_method),
                id,
                stripe_js_error,
            )
            .await?;
        let card = saved.card();
        let bad = |what: &str| Error::bug(format!("Stripe's PaymentMethod has no {what}"));
        let (instrument, stripe_holder) = card_parts(card).map_err(bad)?;
        let last4 = checked_last4(card.last4.clone()).ok_or_else(|| bad("last 4 digits"))?;
        // The holder the form sent, else the one Stripe.js gave Stripe.
        let holder = if entry.holder == Default::default() {
            stripe_holder
        } else {
            entry.holder
        };
        let mut pm = PaymentMethod::at_stripe(AtStripe {
            id,
            at: self.clock.now(),
            customer_id: customer.id,
            tenant_id: tenant.id.clone(),
            instrument,
            last4,
            holder,
            stripe: StripeRef {
                customer_id: stripe_customer,
                source_id: card.id.clone(),
            },
            fingerprint: card.fingerprint.clone(),
        });
        pm.email = entry.email;
        let new = NewRedirectCard {
            pm,
            saved,
            make_default: entry.make_default,
            collect_minor: entry.collect_minor,
        };
        self.record_redirect_card(tenant, &auth, customer, new)
            .await
    }
}

/// As an entered card's errors, but a PaymentMethod Stripe does not know, or one saved
/// already, is the caller's mistake in `paymentMethodId`.
fn stripe_js_error(e: StripeError) -> Error {
    if e.is_not_found() {
        return Error::field(
            "paymentMethodId",
            "paymentMethodId names no PaymentMethod that can be saved.",
        );
    }
    validation_error(e)
}
