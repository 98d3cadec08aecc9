//! A card from a Stripe token, saved on an account's Stripe customer as a PaymentMethod
//! (the billing card API's `/card/create`). Only the last four digits are kept, as its
//! document says.

use super::setup::Saved;
use super::{CardView, Vault};
use crate::domain::{
    account_ref, stripe_dedupe_key, AtStripe, AuditAction, CardBrand, Instrument, NewTokenCard,
    PaymentMethod, StripeRef, TenantId,
};
use crate::error::Error;
use crate::ports::{
    Clock, Created, DefaultRule, Ids, NewCard, PaymentMethodStore, Ports, StripeError,
};
use crate::vault::compensation::Undo;
use crate::vault::credentials::StripeRoute;

impl<P: Ports> Vault<P> {
    /// Attaches the token's card to the account's Stripe customer and stores the card. The
    /// number's last four must match the token's, when Stripe reports them.
    pub async fn attach_token_card(
        &self,
        tenant: &TenantId,
        account: &str,
        new: NewTokenCard,
    ) -> Result<CardView, Error> {
        let customer = self.customer_for_ref(tenant, &account_ref(account)).await?;
        let tenant_settings = self.tenant(tenant).await?;
        let auth = self.stripe_auth(&tenant_settings, StripeRoute::Any).await?;
        let stripe_customer = self.stripe_customer_of(&auth, &customer).await?;
        let id = self.ids.payment_method_id();
        // The token becomes a PaymentMethod, saved for off-session charges (`setup`).
        let saved = self
            .save_card(
                &auth,
                tenant,
                &stripe_customer,
                NewCard::Token(new.token.reveal()),
                id,
                token_error,
            )
            .await?;
        let attached = saved.card().clone();
        let undo = Undo::Detach {
            customer: stripe_customer.clone(),
            card: attached.id.clone(),
        };
        let pending = match &saved {
            Saved::Pending(_, si) => Some(si),
            Saved::Active(_) => None,
        };
        if attached.last4.as_deref().is_some_and(|l| l != new.last4) {
            if pending.is_none() {
                self.compensate(&auth, undo).await;
            }
            return Err(Error::field(
                "number",
                "number does not match the card of stripeToken",
            ));
        }
        let mut card = PaymentMethod::at_stripe(AtStripe {
            // The id the attach's idempotency key was made from.
            id,
            at: self.clock.now(),
            customer_id: customer.id,
            tenant_id: tenant.clone(),
            instrument: Instrument::Card {
                brand: CardBrand::from_stripe(attached.brand.as_deref().unwrap_or("")),
                first6: None,
                exp_month: new.month,
                exp_year: new.year,
            },
            last4: new.last4,
            holder: Default::default(),
            stripe: StripeRef {
                customer_id: stripe_customer.clone(),
                source_id: attached.id.clone(),
            },
            fingerprint: attached.fingerprint.clone(),
        });
        card.nickname = Some(new.name.as_str().to_owned());
        card.expiry_as_sent = Some(new.as_sent);
        if let Some(si) = pending {
            card.hold_for_authentication(si.id.clone(), new.current);
        }
        let rule = if new.current {
            DefaultRule::Always
        } else {
            DefaultRule::IfNone
        };
        let outcome = if pending.is_some() {
            "requires_action"
        } else {
            "ok"
        };
        let event = self
            .event(tenant, AuditAction::CardAdded, outcome)
            .customer(customer.id)
            .payment_method(card.id)
            .object(attached.id.as_str());
        let dedupe = [stripe_dedupe_key(&attached.id)];
        let create = self.store.create_payment_method(&card, &dedupe, rule);
        match self.recorded(vec![event], create).await {
            Ok(Created::New) => {}
            // A pending card is not attached at Stripe: nothing to undo there.
            Ok(Created::Duplicate(_)) | Err(_) if pending.is_some() => {
                return Err(Error::Conflict(
                    "The card could not be stored; nothing was kept. Try again.".into(),
                ));
            }
            Ok(Created::Duplicate(_)) => {
                self.compensate(&auth, undo).await;
                return Err(Error::Conflict(
                    "The card could not be stored; nothing was kept. Try again.".into(),
                ));
            }
            Err(e) => {
                self.compensate(&auth, undo).await;
                return Err(e.into());
            }
        }
        if let Some(si) = pending {
            return Err(Self::action_required(&card, si));
        }
        let mut customer = customer;
        if new.current || customer.default_payment_method_id.is_none() {
            customer.default_payment_method_id = Some(id);
            self.follow_on_stripe(&auth, &card).await;
        }
        Ok(CardView::of(card, &customer))
    }
}

fn token_error(e: StripeError) -> Error {
    match e {
        e if e.card_declined().is_some() => {
            tracing::info!(reason = e.card_declined(), "card declined");
            Error::field(
                "stripeToken",
                format!("stripeToken: {}", crate::error::CARD_DECLINED),
            )
        }
        StripeError::Api { message, .. } => {
            Error::field("stripeToken", format!("stripeToken: {message}"))
        }
        StripeError::OutOfTime(e) => e.into(),
        e => Error::upstream("Stripe is unavailable; nothing was stored. Try again.", e),
    }
}
