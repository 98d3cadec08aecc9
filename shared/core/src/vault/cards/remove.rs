//! Removing a card, by each API's rule.
//!
//! - Merchant API: the default cannot be deleted while the customer has other payment
//!   methods; the only one can, and the default is cleared with it.
//! - Billing card API: the current card can be removed; the newest other card becomes
//!   current, or none.
//!
//! Both detach at Stripe only a card that cardvault itself attached, to the vault
//! customer's own Stripe customer (`PaymentMethod::attached_by_vault`); a merchant-imported
//! card is the merchant's and is left at Stripe.

use super::{payment_method_not_found, CardView, Vault};
use crate::domain::{Customer, PaymentMethod, PaymentMethodId, TenantId};
use crate::error::Error;
use crate::ports::{PaymentMethodStore, Ports, StoreError, StripeError};
use crate::vault::compensation::Detached;
use crate::vault::credentials::StripeRoute;

/// Re-reads after a conflicting change to the account's cards, once the card is detached.
const REMOVE_RETRIES: u32 = 5;

/// Whether `id` is the customer's current card, and if so the card that follows it: the
/// newest other card, or none.
fn next_current<'a>(
    customer: &Customer,
    cards: &'a [PaymentMethod],
    id: PaymentMethodId,
) -> (bool, Option<&'a PaymentMethod>) {
    let was_current = customer.default_payment_method_id == Some(id);
    let next = was_current
        .then(|| {
            cards
                .iter()
                .filter(|p| p.id != id && p.is_card_on_file())
                .max_by_key(|p| (p.created_at, p.id))
        })
        .flatten();
    (was_current, next)
}

fn changed_meanwhile() -> Error {
    Error::Conflict(
        "The payment method or its customer changed during the request; try again.".into(),
    )
}

impl<P: Ports> Vault<P> {
    /// The merchant API's delete.
    pub async fn delete_card(&self, tenant: &TenantId, id: PaymentMethodId) -> Result<(), Error> {
        let (pm, customer, methods) = self
            .by_id(tenant, id)
            .await?
            .filter(|(pm, _, _)| pm.is_card_on_file())
            .ok_or_else(|| payment_method_not_found(id))?;
        let is_default = customer.default_payment_method_id == Some(id);
        if is_default && methods.len() > 1 {
            return Err(Error::BadRequest(
                "Cannot delete a default payment method".into(),
            ));
        }
        let dedupe = pm.dedupe_keys();
        let delete = self
            .store
            .delete_payment_method(&pm, &dedupe, is_default, None);
        match self.recorded(vec![self.removed(&pm)], delete).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(changed_meanwhile()),
            Err(e) => return Err(e.into()),
        }
        let Some(s) = pm
            .stripe
            .as_ref()
            .filter(|_| pm.attached_by_vault(&customer))
        else {
            return Ok(());
        };
        // The card is gone from the vault (its event went with it); the detach, an effect
        // at Stripe alone, is an event of its own, written whatever Stripe says.
        let detached = async {
            let settings = self.tenant(tenant).await?;
            let auth = self.stripe_auth(&settings, StripeRoute::Any).await?;
            Ok::<_, Error>(self.detach(&auth, &s.customer_id, &s.source_id).await)
        }
        .await;
        let outcome = match &detached {
            Ok(Ok(d)) => d.outcome(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a deleted card is still attached at Stripe");
                "failed"
            }
            Err(_) => "failed",
        };
        self.record(self.detached(&pm, &s.source_id, outcome)).await;
        detached.map(|_| ())
    }

    /// The billing card API's remove: detaches the card from Stripe (if cardvault attached
    /// it), then removes it. If it was current, the newest other card becomes current.
    pub async fn remove_account_card(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
    ) -> Result<CardView, Error> {
        // The card with its customer and every card of it (the next current card is chosen
        // among them); any other account's card answers as a missing one.
        let (mut card, mut customer, mut others) =
            self.account_card_with_others(tenant, account, id).await?;
        let settings = self.tenant(tenant).await?;
        let auth = self.stripe_auth(&settings, StripeRoute::Any).await?;
        let mut outcome = Detached::Now;
        if let (true, Some(s)) = (card.attached_by_vault(&customer), &card.stripe) {
            // Already gone at Stripe is detached (`Vault::detach`): removing our record is
            // what is left to do.
            match self.detach(&auth, &s.customer_id, &s.source_id).await {
                Ok(d) => outcome = d,
                Err(StripeError::OutOfTime(e)) => return Err(e.into()),
                Err(e) => {
                    return Err(Error::upstream(
                        "Stripe is unavailable; the card was not removed. Try again.",
                        e,
                    ))
                }
            }
        }
        // The card is detached at Stripe now, so its record must go too: a change to the
        // account's current card meanwhile (a concurrent updateCurrent or remove) is read
        // again and the delete retried, rather than leave a card whose Stripe card is gone.
        // Stripe has answered: the detach's event rides with the removal's.
        let detached = card
            .stripe
            .as_ref()
            .filter(|_| card.attached_by_vault(&customer))
            .map(|s| (s.source_id.clone(), outcome));
        let removed = self
            .remove_detached(
                tenant,
                account,
                id,
                detached.as_ref().map(|(s, d)| (s.as_str(), *d)),
                &mut card,
                &mut customer,
                &mut others,
            )
            .await;
        let next = match removed {
            Ok(next) => next,
            Err(e) => {
                // Detached at Stripe, but the removal (and the event riding with it) did
                // not commit: the detach is an event of its own, as `delete_card` writes.
                if let Some((source, d)) = &detached {
                    self.record(self.detached(&card, source, d.outcome())).await;
                }
                return Err(e);
            }
        };
        if let Some(n) = next.as_ref().filter(|n| n.attached_by_vault(&customer)) {
            self.follow_on_stripe(&auth, n).await;
        }
        let mut view = CardView::of(card, &customer);
        view.is_default = false;
        Ok(view)
    }

    /// The removal after the detach (`source` and what it found, if there was one): the delete, retried on a
    /// conflicting change to the account's cards, with its events. Answers the card that
    /// becomes current.
    #[allow(clippy::too_many_arguments)]
    async fn remove_detached(
        &self,
        tenant: &TenantId,
        account: &str,
        id: PaymentMethodId,
        detached: Option<(&str, Detached)>,
        card: &mut PaymentMethod,
        customer: &mut Customer,
        others: &mut Vec<PaymentMethod>,
    ) -> Result<Option<PaymentMethod>, Error> {
        let mut attempt = 0;
        loop {
            let (was_current, next) = next_current(customer, others, id);
            let mut events = vec![self.removed(card)];
            if let Some((source, d)) = detached {
                events.push(self.detached(card, source, d.outcome()));
            }
            let dedupe = card.dedupe_keys();
            let delete =
                self.store
                    .delete_payment_method(card, &dedupe, was_current, next.map(|n| n.id));
            match self.recorded(events, delete).await {
                Ok(()) => return Ok(next.cloned()),
                Err(StoreError::Conflict) if attempt < REMOVE_RETRIES => {
                    attempt += 1;
                    // Removed meanwhile by another request: a missing card, as it now is.
                    (*card, *customer, *others) =
                        self.account_card_with_others(tenant, account, id).await?;
                }
                Err(StoreError::Conflict) => {
                    return Err(Error::Conflict(
                        "The account's cards changed during the request; try again.".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
