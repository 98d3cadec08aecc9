//! Cards saved for later charges: a PaymentMethod confirmed through a SetupIntent with
//! `usage=off_session`, so that an issuer in the EEA or the UK can ask for 3-D Secure once,
//! now, instead of declining the first renewal ("authentication required").
//!
//! - Succeeded at once: the card is on file, as a legacy card always was.
//! - `requires_action`: the card is kept **pending** ([`Status::Pending`]): never listed,
//!   charged, counted or made the default. The caller gets [`Error::ActionRequired`] with
//!   the SetupIntent's client secret; the page finishes it with Stripe.js.
//! - The card becomes active on `setup_intent.succeeded` (the webhook) or on the page's
//!   confirm call ([`Vault::confirm_setup`]), whichever comes first; each asks Stripe, not
//!   the caller, whether the authentication succeeded.
//! - A failed authentication removes it at once; an abandoned one after
//!   [`PENDING_WINDOW`](crate::domain::PENDING_WINDOW) (unlisted from then, and deleted by
//!   the table's time to live).

use super::{CardView, Vault};
use crate::domain::{
    AuditAction, Customer, CustomerId, OutOfTime, PaymentMethod, PaymentMethodId, Status, Tenant,
    TenantId, Timestamp,
};
use crate::error::{ActionRequired, Error};
use crate::ports::{
    Card, Clock, DefaultRule, NewCard, PaymentGateway, PaymentMethodStore, Ports, SetupIntent,
    StoreError, StripeAuth, StripeError, StripeEventStore, SETUP_CARD_KEY, SETUP_TENANT_KEY,
};
use subtle::ConstantTimeEq;

use crate::vault::compensation::Undo;
use crate::vault::idempotency::IdempotencyKey;

/// What saving a card at Stripe did.
pub(crate) enum Saved {
    /// Attached to the Stripe customer, for off-session charges.
    Active(Card),
    /// Waiting for the cardholder's authentication.
    Pending(Card, Box<SetupIntent>),
}

impl Saved {
    pub(crate) fn card(&self) -> &Card {
        match self {
            Self::Active(c) | Self::Pending(c, _) => c,
        }
    }
}

/// A SetupIntent's statuses while it still waits for the cardholder (or Stripe).
const WAITING: [&str; 3] = ["requires_action", "requires_confirmation", "processing"];

/// What a pending card's SetupIntent says now.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// Authenticated: the card is on file.
    Active,
    /// Still waiting for the cardholder.
    Waiting,
    /// The authentication failed, was canceled or ran out of time: the card is gone.
    Removed,
    /// The SetupIntent succeeded with another PaymentMethod than the card's (someone with
    /// the client secret confirmed it with their own card): the card is gone, and that
    /// PaymentMethod, attached to the customer by Stripe, is to be detached.
    Swapped(Option<String>),
}

impl<P: Ports> Vault<P> {
    /// Makes the card a PaymentMethod and saves it for off-session use on
    /// `stripe_customer`. Stripe's errors go through `map` (each dialect words a decline
    /// its own way). A failure after the PaymentMethod exists detaches it again.
    pub(crate) async fn save_card(
        &self,
        auth: &StripeAuth,
        tenant: &TenantId,
        stripe_customer: &str,
        card: NewCard<'_>,
        id: PaymentMethodId,
        map: fn(StripeError) -> Error,
    ) -> Result<Saved, Error> {
        let keys = (
            IdempotencyKey::payment_method(id),
            IdempotencyKey::setup(id),
        );
        self.save_card_keyed(auth, tenant, stripe_customer, card, id, keys, map)
            .await
    }

    /// [`Self::save_card`] under the caller's idempotency keys (the PaymentMethod's, the
    /// SetupIntent's).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn save_card_keyed(
        &self,
        auth: &StripeAuth,
        tenant: &TenantId,
        stripe_customer: &str,
        card: NewCard<'_>,
        id: PaymentMethodId,
        (pm_key, setup_key): (IdempotencyKey, IdempotencyKey),
        map: fn(StripeError) -> Error,
    ) -> Result<Saved, Error> {
        let made = matches!(card, NewCard::Made(_));
        let pm = self
            .gateway
            .create_payment_method(auth, card, pm_key.as_str())
            .await
            .map_err(map)?;
        // A browser's PaymentMethod is taken only fresh: one on a customer already (this
        // one's or another's) answers as an unknown one.
        if made && pm.customer.is_some() {
            return Err(map(StripeError::Api {
                status: 404,
                kind: "invalid_request_error".into(),
                code: Some("resource_missing".into()),
                param: Some("payment_method".into()),
                message: "The PaymentMethod is saved to a customer already.".into(),
            }));
        }
        let vault_card = id.to_string();
        let metadata = [
            (SETUP_TENANT_KEY, tenant.as_str()),
            (SETUP_CARD_KEY, vault_card.as_str()),
        ];
        let undo = Undo::Detach {
            customer: stripe_customer.to_owned(),
            card: pm.id.clone(),
        };
        let setup = self
            .gateway
            .setup_off_session(auth, stripe_customer, &pm.id, &metadata, setup_key.as_str())
            .await;
        match setup {
            // The issuer said the CVC is wrong: declined, and undone, as a legacy card's.
            Ok(si) if si.status == "succeeded" && pm.cvc_check.as_deref() == Some("fail") => {
                self.compensate(auth, undo).await;
                Err(map(card_error("the card's CVC check failed".into())))
            }
            Ok(si) if si.status == "succeeded" => Ok(Saved::Active(pm)),
            Ok(si) if si.status == "requires_action" => Ok(Saved::Pending(pm, Box::new(si))),
            Ok(si) => Err(map(card_error(format!(
                "the card's SetupIntent {} is {}",
                si.id, si.status
            )))),
            Err(e) => {
                // Stripe may have attached it before the answer was lost. A refusal (a
                // 4xx), or a setup the deadline kept from being sent, attached nothing.
                let nothing_sent =
                    matches!(e, StripeError::OutOfTime(OutOfTime { sent: false, .. }));
                if !nothing_sent && !matches!(e, StripeError::Api { .. }) {
                    self.compensate(auth, undo).await;
                }
                Err(map(e))
            }
        }
    }

    /// Settles a pending card by what Stripe says of its SetupIntent `si` (read from Stripe
    /// by the confirm call, or carried by a signed webhook event). The card must be the one
    /// the SetupIntent names; anything else is left alone.
    pub(crate) async fn settle_pending(
        &self,
        pm: &PaymentMethod,
        customer: &Customer,
        si: &SetupIntent,
    ) -> Result<Settled, Error> {
        let now = self.clock.now();
        let Some(pending) = pm.pending.as_ref().filter(|_| pm.status == Status::Pending) else {
            return Ok(Settled::Active);
        };
        if pending.setup_intent != si.id {
            return Err(Error::not_found("Card", pm.id));
        }
        // Anyone holding the client secret can confirm the SetupIntent with another card
        // (Stripe allows it): what 3-D Secure passed must be the card the vault holds, or
        // the card is not taken. (The other PaymentMethod is left to the caller that can
        // reach Stripe: `Settled::Swapped`.)
        let ours = pm.stripe.as_ref().map(|s| s.source_id.as_str());
        if si.status == "succeeded" && si.payment_method.as_deref() != ours {
            tracing::warn!(card = %pm.id, setup_intent = %si.id,
                "a SetupIntent succeeded with another PaymentMethod than the card's: removed");
            self.remove_pending(pm, "payment_method_mismatch").await?;
            return Ok(Settled::Swapped(si.payment_method.clone()));
        }
        match si.status.as_str() {
            "succeeded" => self
                .activate(pm, customer, now)
                .await
                .map(|()| Settled::Active),
            status if WAITING.contains(&status) && pending.expires_at > now => Ok(Settled::Waiting),
            _ => {
                self.remove_pending(pm, si.status.as_str()).await?;
                Ok(Settled::Removed)
            }
        }
    }

    /// [`Self::settle_pending`] where Stripe can be reached: a PaymentMethod swapped in by
    /// someone else, which Stripe attached to the customer, is detached again.
    pub(crate) async fn settle_with_stripe(
        &self,
        auth: &StripeAuth,
        pm: &PaymentMethod,
        customer: &Customer,
        si: &SetupIntent,
    ) -> Result<Settled, Error> {
        let settled = self.settle_pending(pm, customer, si).await?;
        if let (Settled::Swapped(Some(other)), Some(stripe)) = (&settled, &pm.stripe) {
            let undo = Undo::Detach {
                customer: stripe.customer_id.clone(),
                card: other.clone(),
            };
            self.compensate(auth, undo).await;
        }
        // Given up while it still waited (out of time): a late authentication must save
        // nothing at Stripe.
        if settled == Settled::Removed && WAITING.contains(&si.status.as_str()) {
            self.abandon_setup(auth, pm, &si.id).await;
        }
        Ok(settled)
    }

    /// A SetupIntent the vault gave up on (its pending card superseded or out of time):
    /// canceled at Stripe; one that succeeded meanwhile has its PaymentMethod detached, so
    /// no card stays on the Stripe customer that the vault does not hold. Best effort,
    /// logged with the ids.
    pub(crate) async fn abandon_setup(&self, auth: &StripeAuth, pm: &PaymentMethod, id: &str) {
        if self.gateway.cancel_setup_intent(auth, id).await.is_ok() {
            return;
        }
        let si = match self.gateway.retrieve_setup_intent(auth, id).await {
            Ok(si) => si,
            Err(e) => {
                tracing::warn!(error = %e, setup_intent = id, card = %pm.id,
                    "a SetupIntent given up on was neither canceled nor read: cancel it by hand");
                return;
            }
        };
        if let (true, Some(attached), Some(stripe)) =
            (si.status == "succeeded", si.payment_method, &pm.stripe)
        {
            let undo = Undo::Detach {
                customer: stripe.customer_id.clone(),
                card: attached,
            };
            self.compensate(auth, undo).await;
        }
    }

    async fn activate(
        &self,
        pm: &PaymentMethod,
        customer: &Customer,
        at: Timestamp,
    ) -> Result<(), Error> {
        let rule = match pm.pending.as_ref().is_some_and(|p| p.make_default) {
            true => DefaultRule::Always,
            false => DefaultRule::IfNone,
        };
        let mut active = pm.clone();
        active.activate(at);
        let event = self
            .event(&pm.tenant_id, AuditAction::CardAdded, "authenticated")
            .customer(customer.id)
            .payment_method(pm.id);
        let dedupe = pm.dedupe_keys();
        let write = self
            .store
            .activate_payment_method(pm, &active, &dedupe, rule);
        match self.recorded(vec![event], write).await {
            Ok(()) => {
                // The user API's link of the card is listed from now on.
                let owner = customer
                    .external_ref
                    .as_deref()
                    .and_then(|r| r.strip_prefix("user:"));
                if let Some(owner) = owner {
                    self.store
                        .update_link_card(&pm.tenant_id, owner, &active)
                        .await?;
                }
                Ok(())
            }
            // Activated meanwhile (the webhook and the confirm call race): done either way.
            Err(StoreError::Conflict) => {
                match self.store.payment_method_of(pm.customer_id, pm.id).await? {
                    Some(now) if now.is_on_file() => Ok(()),
                    _ => Err(Error::Conflict(
                        "The card changed while it was being confirmed; try again.".into(),
                    )),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A failed, canceled or expired authentication: the pending card and its markers go.
    pub(crate) async fn remove_pending(&self, pm: &PaymentMethod, why: &str) -> Result<(), Error> {
        let event = self
            .event(&pm.tenant_id, AuditAction::CardRemoved, why)
            .customer(pm.customer_id)
            .payment_method(pm.id);
        let dedupe = pm.dedupe_keys();
        let delete = self.store.delete_payment_method(pm, &dedupe, false, None);
        match self.recorded(vec![event], delete).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The answer for a card waiting for its authentication.
    pub(crate) fn action_required(pm: &PaymentMethod, si: &SetupIntent) -> Error {
        Error::ActionRequired(Box::new(ActionRequired {
            kind: "setup_intent",
            intent_id: si.id.clone(),
            client_secret: si.client_secret.clone().unwrap_or_default(),
            next_action: si.next_action.clone().unwrap_or_default(),
            payment_method_id: Some(pm.id.get()),
            expires_at: pm.pending.as_ref().map(|p| p.expires_at),
        }))
    }

    /// The page's confirm call: the pending card of `customer` whose SetupIntent the client
    /// secret names, settled by what Stripe says of that SetupIntent now. The secret is the
    /// proof: only the page that was given it can ask, and Stripe is asked only when the
    /// customer has a card waiting for that very SetupIntent (a guessed secret costs one
    /// read of the customer, no Stripe call). Active: the card's view. Still waiting: the
    /// same [`Error::ActionRequired`]. Anything else (another tenant's or customer's card,
    /// a wrong secret, a card removed) answers as an absent card.
    pub async fn confirm_setup(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        client_secret: &str,
    ) -> Result<CardView, Error> {
        self.confirm(tenant, customer, client_secret, None).await
    }

    /// [`Self::confirm_setup`] from the transparent redirect, unauthenticated but for the
    /// secret: a confirm that would ask Stripe is first counted against the tenant's
    /// card-testing limits (per source IP, per public key, per customer), so that a flood
    /// of posts with a known SetupIntent and wrong secrets cannot spend the tenant's Stripe
    /// rate limit. One that finds no card waiting asks nothing and counts nothing.
    pub async fn confirm_from_redirect(
        &self,
        tenant: &Tenant,
        customer: CustomerId,
        client_secret: &str,
        source_ip: Option<&str>,
    ) -> Result<CardView, Error> {
        self.confirm(
            &tenant.id,
            customer,
            client_secret,
            Some((tenant, source_ip)),
        )
        .await
    }

    async fn confirm(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        client_secret: &str,
        admit: Option<(&Tenant, Option<&str>)>,
    ) -> Result<CardView, Error> {
        let missing = || Error::NotFound {
            entity: "Card",
            id: "(of this client secret)".into(),
        };
        let setup_intent = setup_intent_of(client_secret).ok_or_else(missing)?;
        let (owner, methods) = self
            .store
            .customer_with_payment_methods(tenant, customer)
            .await?
            .ok_or_else(missing)?;
        // Waiting for it, or authenticated by it already (the webhook came first).
        let Some(pm) = methods.into_iter().find(|p| p.saved_by(setup_intent)) else {
            return Err(missing());
        };
        if let Some((settings, ip)) = admit {
            self.admit_now(settings, customer, ip).await?;
        }
        let tenant_settings = self.tenant(tenant).await?;
        let auth = self
            .stripe_auth(
                &tenant_settings,
                crate::vault::credentials::StripeRoute::Any,
            )
            .await?;
        let si = match self
            .gateway
            .retrieve_setup_intent(&auth, setup_intent)
            .await
        {
            Ok(si) => si,
            Err(e) if e.is_not_found() => return Err(missing()),
            Err(StripeError::OutOfTime(e)) => return Err(e.into()),
            Err(e) => {
                return Err(Error::upstream(
                    "Stripe is unavailable; the card was not confirmed. Try again.",
                    e,
                ))
            }
        };
        let secret_matches = si
            .client_secret
            .as_deref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(client_secret.as_bytes())));
        if !secret_matches {
            return Err(missing());
        }
        let settled = if pm.is_on_file() {
            Settled::Active
        } else {
            self.settle_with_stripe(&auth, &pm, &owner, &si).await?
        };
        match settled {
            Settled::Active => {
                let (owner, methods) = self
                    .store
                    .customer_with_payment_methods(tenant, customer)
                    .await?
                    .ok_or_else(missing)?;
                let pm = methods
                    .into_iter()
                    .find(|p| p.id == pm.id && p.is_on_file())
                    .ok_or_else(missing)?;
                let view = CardView::of(pm, &owner);
                // Stripe's invoice default follows the vault's (the webhook, holding no
                // Stripe key, cannot do this: a card it activated waits for a later default
                // change or this call).
                if view.is_default {
                    self.follow_on_stripe(&auth, &view.payment_method).await;
                }
                Ok(view)
            }
            Settled::Waiting => Err(Self::action_required(&pm, &si)),
            Settled::Removed | Settled::Swapped(_) => Err(missing()),
        }
    }
}

/// `seti_…` of a SetupIntent's client secret (`seti_…_secret_…`).
fn setup_intent_of(client_secret: &str) -> Option<&str> {
    let (id, secret) = client_secret.split_once("_secret_")?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (id.strip_prefix("seti_").is_some_and(plain) && plain(secret)).then_some(id)
}

/// A refusal of the card itself, as Stripe words one (a decline for every dialect).
fn card_error(message: String) -> StripeError {
    StripeError::Api {
        status: 402,
        kind: "card_error".into(),
        code: Some("card_declined".into()),
        param: None,
        message,
    }
}
