//! The user API's Stripe customers: a signed-in user turns a card token into a Stripe
//! customer, and the card joins the user's vault customer (one vault for every dialect).

use sha2::{Digest, Sha256};

use super::cards::{card_parts, checked_last4, Saved, Settled};
use super::compensation::Undo;
use super::credentials::StripeRoute;
use super::idempotency::IdempotencyKey;
use super::Vault;
use crate::domain::{
    stripe_dedupe_key, user_ref, AtStripe, AuditAction, CardBrand, Customer, CustomerId,
    PaymentMethod, PaymentMethodId, Principal, SourceCard, StripeCustomerLink, StripeRef,
    StripeToken, TenantId,
};
use crate::error::{Error, CARD_DECLINED};
use crate::ports::{
    Card, Clock, CreatedCustomer, Ids, LinkStore, LinkWrite, NewCard, PaymentGateway,
    PaymentMethodStore, Ports, StripeError, TokenUse,
};

/// The most links one answer holds, and what a list answers when no `limit` is given: the
/// whole list, as the user API's document shows it, up to this bound. A user keeps a
/// handful of cards; the bound keeps one answer well inside Lambda's 6 MB response limit
/// (a link renders to about 1 KB).
pub const LINKS_LIMIT_MAX: usize = 1000;

/// Offset paging: `start` items skipped, at most `limit` returned (by default the whole
/// list, up to [`LINKS_LIMIT_MAX`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset {
    pub start: usize,
    pub limit: usize,
}

impl Default for Offset {
    fn default() -> Self {
        Self {
            start: 0,
            limit: LINKS_LIMIT_MAX,
        }
    }
}

/// What storing a link found.
enum Stored {
    New(StripeCustomerLink),
    Existing(StripeCustomerLink),
    TokenTaken,
}

impl<P: Ports> Vault<P> {
    /// Creates a Stripe customer from `token` for the user, records the link and the card,
    /// and answers the link.
    ///
    /// - The same token sent again by the same user (a client retry) answers the first
    ///   link; by anyone else, exactly what an unknown token answers: another user's
    ///   record is no one's business.
    /// - Stripe's idempotency key is derived from the tenant, the user and the token, so
    ///   even a retry that races the first request gets Stripe's first customer back.
    /// - Nothing is stored unless Stripe created the customer. If the card cannot be
    ///   recorded, the Stripe customer is deleted again, so no orphan is left at Stripe.
    pub async fn create_stripe_customer(
        &self,
        user: &Principal,
        token: StripeToken,
    ) -> Result<StripeCustomerLink, Error> {
        let token_hash = hex::encode(Sha256::digest(token.reveal().as_bytes()));
        if let Some(used) = self.store.token_use(&user.tenant, &token_hash).await? {
            return self.replay(user, &used).await;
        }

        let tenant = self.tenant(&user.tenant).await?;
        let auth = self.stripe_auth(&tenant, StripeRoute::Any).await?;
        // Every Stripe call's key derives from tenant, user and token: a retry that races
        // the first request gets Stripe's first customer, PaymentMethod and SetupIntent.
        let key = IdempotencyKey::stripe_customer(&user.tenant, &user.user, &token);
        let customer = self
            .gateway
            .create_customer(
                &auth,
                &[
                    ("cardvault_tenant", user.tenant.as_str()),
                    ("cardvault_user", user.user.as_str()),
                ],
                key.as_str(),
            )
            .await
            .map_err(stripe_error)?;
        let undo = Undo::DeleteCustomer {
            customer: customer.clone(),
        };
        let id = self.ids.payment_method_id();
        let saved = match self
            .save_card_keyed(
                &auth,
                &user.tenant,
                &customer,
                NewCard::Token(token.reveal()),
                id,
                (key.step("pm"), key.step("setup")),
                stripe_error,
            )
            .await
        {
            Ok(saved) => saved,
            Err(e) => {
                self.compensate(&auth, undo).await;
                return Err(e);
            }
        };
        let created = CreatedCustomer {
            source: source_card(saved.card(), &customer),
            id: customer,
        };

        // A card Stripe described badly is a permanent failure: the customer goes again.
        let mut pm = match self.link_payment_method(&created, &user.tenant, id) {
            Ok(pm) => pm,
            Err(e) => {
                self.compensate(&auth, undo).await;
                return Err(e);
            }
        };
        let pending = match &saved {
            Saved::Pending(_, si) => {
                pm.hold_for_authentication(si.id.clone(), false);
                Some(si)
            }
            Saved::Active(_) => None,
        };
        if let Some(si) = pending {
            return match self
                .store_link(user, &created, pm.clone(), &token_hash)
                .await?
            {
                Stored::New(_) => Err(Self::action_required(&pm, si)),
                // A retry of this request that stored it first: the same answer.
                Stored::Existing(link) if link.stripe_customer_id == created.id => {
                    Err(Self::action_required(&pm, si))
                }
                Stored::Existing(_) | Stored::TokenTaken => Err(no_such_token()),
            };
        }
        match self.store_link(user, &created, pm, &token_hash).await {
            Ok(Stored::New(link)) => Ok(link),
            // A concurrent retry of this very request stored it first, with the same Stripe
            // customer (same idempotency key): nothing to undo.
            Ok(Stored::Existing(link)) if link.stripe_customer_id == created.id => Ok(link),
            Ok(Stored::Existing(_)) | Ok(Stored::TokenTaken) => {
                self.compensate(&auth, undo).await;
                Err(no_such_token())
            }
            // A store failure is transient: the Stripe customer stays, and the client's
            // retry, with the same idempotency key, gets the same customer back and stores
            // it. Deleting it here would make that retry link a deleted customer.
            Err(e) => Err(e),
        }
    }

    /// A user's links, oldest first, one page of them, and how many there are in all.
    /// One Query reads them all: a user holds a handful of cards, not thousands.
    pub async fn list_stripe_customers(
        &self,
        user: &Principal,
        page: Offset,
    ) -> Result<(Vec<StripeCustomerLink>, usize), Error> {
        let links = self
            .store
            .stripe_customer_links(&user.tenant, &user.user)
            .await?;
        // A link whose card waits for its authentication is not a card on file yet.
        let links: Vec<_> = links.into_iter().filter(|l| !l.pending).collect();
        let total = links.len();
        let page = links
            .into_iter()
            .skip(page.start)
            .take(page.limit)
            .collect();
        Ok((page, total))
    }

    async fn replay(&self, user: &Principal, used: &TokenUse) -> Result<StripeCustomerLink, Error> {
        let link = self
            .store
            .link_for_token_use(&user.tenant, &user.user, used)
            .await?
            .ok_or_else(no_such_token)?;
        if !link.pending {
            return Ok(link);
        }
        self.replay_pending(user, link).await
    }

    /// A retry of a request whose card waited for its authentication: never the link of a
    /// card not on file. Settled by what Stripe says of its SetupIntent now, as the confirm
    /// call does: active, the link; still waiting, the first answer again; gone, as an
    /// unknown token.
    async fn replay_pending(
        &self,
        user: &Principal,
        mut link: StripeCustomerLink,
    ) -> Result<StripeCustomerLink, Error> {
        let Some(pm) = self
            .store
            .payment_method_of(link.customer_id, link.payment_method_id)
            .await?
            .filter(|pm| pm.tenant_id == user.tenant)
        else {
            return Err(no_such_token());
        };
        let Some(pending) = pm.pending.as_ref().filter(|_| !pm.is_on_file()) else {
            link.pending = false;
            return Ok(link);
        };
        let tenant = self.tenant(&user.tenant).await?;
        let auth = self.stripe_auth(&tenant, StripeRoute::Any).await?;
        let si = self
            .gateway
            .retrieve_setup_intent(&auth, &pending.setup_intent)
            .await
            .map_err(stripe_error)?;
        let customer = self.customer(&user.tenant, link.customer_id).await?;
        match self.settle_with_stripe(&auth, &pm, &customer, &si).await? {
            Settled::Active => {
                link.pending = false;
                Ok(link)
            }
            Settled::Waiting => Err(Self::action_required(&pm, &si)),
            Settled::Removed | Settled::Swapped(_) => Err(no_such_token()),
        }
    }

    /// Finds or creates the user's vault customer and writes the link, the payment method
    /// and the token's use in one transaction. A customer deleted meanwhile is made again,
    /// once.
    ///
    /// The user's customer is known by its reference's id alone (one GetItem): the
    /// transaction's condition on the customer item checks that it still exists and is
    /// the tenant's, so reading it first as well would add a round trip and prove nothing
    /// more.
    async fn store_link(
        &self,
        user: &Principal,
        created: &CreatedCustomer,
        mut pm: PaymentMethod,
        token_hash: &str,
    ) -> Result<Stored, Error> {
        for attempt in 0..2 {
            let customer_id = if attempt == 0 {
                self.customer_id_for_ref(&user.tenant, &user_ref(&user.user))
                    .await?
            } else {
                self.user_customer(user).await?.id
            };
            pm.customer_id = customer_id;
            let at = self.clock.now();
            let link = StripeCustomerLink {
                id: self.ids.link_id(),
                tenant_id: user.tenant.clone(),
                owner: user.user.clone(),
                customer_id,
                payment_method_id: pm.id,
                stripe_customer_id: created.id.clone(),
                source: created.source.clone(),
                created_at: at,
                updated_at: at,
                deleted_at: None,
                pending: !pm.is_on_file(),
            };
            let dedupe = [stripe_dedupe_key(&created.source.id)];
            let outcome = if pm.is_on_file() {
                "ok"
            } else {
                "requires_action"
            };
            let event = self
                .event(&user.tenant, AuditAction::CardAdded, outcome)
                .customer(link.customer_id)
                .payment_method(link.payment_method_id)
                .object(link.stripe_customer_id.as_str());
            let create = self
                .store
                .create_stripe_customer_link(&link, &pm, &dedupe, token_hash);
            match self.recorded(vec![event], create).await? {
                LinkWrite::Stored => return Ok(Stored::New(link)),
                LinkWrite::TokenUsed(used) => {
                    return Ok(
                        match self
                            .store
                            .link_for_token_use(&user.tenant, &user.user, &used)
                            .await?
                        {
                            Some(existing) => Stored::Existing(existing),
                            None => Stored::TokenTaken,
                        },
                    )
                }
                LinkWrite::CustomerGone => continue,
            }
        }
        Err(Error::Conflict(
            "The account changed during the request; try again.".into(),
        ))
    }

    /// The user's one vault customer, under its external reference `user:<sub>`.
    async fn user_customer(&self, user: &Principal) -> Result<Customer, Error> {
        self.customer_for_ref(&user.tenant, &user_ref(&user.user))
            .await
    }

    /// The Stripe card as a vault payment method; its customer is set once known.
    fn link_payment_method(
        &self,
        created: &CreatedCustomer,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<PaymentMethod, Error> {
        let card = &created.source;
        let bad = |what: &str| Error::bug(format!("Stripe's new card has no {what}"));
        let (instrument, holder) = card_parts(&Card::from(card)).map_err(bad)?;
        let last4 = checked_last4(card.last4.clone()).ok_or_else(|| bad("last 4 digits"))?;
        Ok(PaymentMethod::at_stripe(AtStripe {
            id,
            at: self.clock.now(),
            // Set once the user's vault customer is known.
            customer_id: CustomerId::MIN,
            tenant_id: tenant.clone(),
            instrument,
            last4,
            holder,
            stripe: StripeRef {
                customer_id: created.id.clone(),
                source_id: card.id.clone(),
            },
            fingerprint: card.fingerprint.clone(),
        }))
    }
}

/// A PaymentMethod's card as the user API shows a Stripe customer's card (`source`): on
/// its customer (or to be, once authenticated), with a source's brand spelling ("Visa",
/// "American Express"), not a PaymentMethod's ("visa").
fn source_card(card: &Card, customer: &str) -> SourceCard {
    let mut source = SourceCard::from(card);
    source.customer = Some(customer.to_owned());
    source.brand = card
        .brand
        .as_deref()
        .map(|b| CardBrand::from_stripe(b).stripe_name().to_owned());
    source
}

/// An unknown token, and one another user already used, answer alike.
fn no_such_token() -> Error {
    Error::BadRequest(
        "No such token: the Stripe token is unknown, or was made for another Stripe account."
            .into(),
    )
}

fn token_used() -> Error {
    Error::BadRequest("This Stripe token has already been used; create a new token.".into())
}

fn stripe_error(e: StripeError) -> Error {
    match e {
        StripeError::Api {
            status: 401 | 403, ..
        } => Error::upstream("Stripe rejected this account's Stripe credentials.", e),
        StripeError::Api { code: Some(c), .. } if c == "token_already_used" => token_used(),
        e if e.is_not_found() => no_such_token(),
        e if e.card_declined().is_some() => {
            tracing::info!(reason = e.card_declined(), "card declined");
            Error::BadRequest(format!("Stripe: {CARD_DECLINED}"))
        }
        StripeError::Api { message, .. } => Error::BadRequest(format!("Stripe: {message}")),
        StripeError::OutOfTime(e) => e.into(),
        e @ (StripeError::Unavailable(_) | StripeError::Decode(_)) => Error::upstream(
            "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.",
            e,
        ),
    }
}
