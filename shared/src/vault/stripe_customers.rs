//! The user API's Stripe customers: a signed-in user turns a card token into a Stripe
//! customer, and the card joins the user's vault customer (one vault for every dialect).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::{App, StripeMode};
use crate::auth::jwt::Principal;
use crate::domain::{
    now, stripe_dedupe_key, user_ref, AtStripe, Customer, CustomerId, PaymentMethod,
    StripeCustomerLink, StripeRef, TenantId,
};
use crate::error::Error;
use crate::store::{LinkWrite, Store};
use crate::stripe::{CreatedCustomer, StripeAuth, StripeError, StripeToken};

pub const LINKS_LIMIT_MAX: usize = 100;

/// Offset paging: `start` items skipped, at most `limit` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset {
    pub start: usize,
    pub limit: usize,
}

impl Default for Offset {
    fn default() -> Self {
        Self {
            start: 0,
            limit: 20,
        }
    }
}

/// Creates a Stripe customer from `token` for the user, records the link and the card, and
/// answers the link.
///
/// - The same token sent again by the same user (a client retry) answers the first link;
///   by anyone else, 400: a token is used once.
/// - Stripe's idempotency key is derived from the tenant, the user and the token, so even a
///   retry that races the first request gets Stripe's first customer back, not a second.
/// - Nothing is stored unless Stripe created the customer. If storing fails after that,
///   the Stripe customer is deleted again (compensation), so no orphan is left at Stripe.
pub async fn create_stripe_customer(
    app: &App,
    user: &Principal,
    token: StripeToken,
) -> Result<StripeCustomerLink, Error> {
    let token_hash = hex::encode(Sha256::digest(token.reveal().as_bytes()));
    if let Some(used) = app.store.token_use(&user.tenant, &token_hash).await? {
        return replay(&app.store, user, &used).await;
    }

    let tenant = app.tenant(&user.tenant).await?;
    let mode = match &tenant.stripe {
        Some(crate::domain::StripeConnection::Connect { .. }) => StripeMode::Connect,
        Some(crate::domain::StripeConnection::OwnKey { .. }) => StripeMode::OwnKey,
        None => {
            return Err(Error::BadRequest(
                "This account has no Stripe connection configured.".into(),
            ))
        }
    };
    let auth = app.stripe_auth(&tenant, mode).await?;
    let created = app
        .stripe()
        .create_customer_with_source(
            &auth,
            &token,
            &[
                ("cardvault_tenant", user.tenant.as_str()),
                ("cardvault_user", user.user.as_str()),
            ],
            &idempotency_key(&user.tenant, &user.user, &token),
        )
        .await
        .map_err(stripe_error)?;

    // A card Stripe described badly is a permanent failure: the customer goes again.
    let pm = match payment_method(&created, &user.tenant) {
        Ok(pm) => pm,
        Err(e) => {
            compensate(app, &auth, &created.id).await;
            return Err(e);
        }
    };
    match store_link(&app.store, user, &created, pm, &token_hash).await {
        Ok(Stored::New(link)) => Ok(link),
        // A concurrent retry of this very request stored it first, with the same Stripe
        // customer (same idempotency key): nothing to undo.
        Ok(Stored::Existing(link)) if link.stripe_customer_id == created.id => Ok(link),
        Ok(Stored::Existing(_)) | Ok(Stored::TokenTaken) => {
            compensate(app, &auth, &created.id).await;
            Err(token_used())
        }
        // A store failure is transient: the Stripe customer stays, and the client's retry,
        // with the same idempotency key, gets the same customer back and stores it. Deleting
        // it here would make that retry link a deleted customer.
        Err(e) => Err(e),
    }
}

/// A user's links, oldest first, one page of them, and how many there are in all.
/// One Query reads them all: a user holds a handful of cards, not thousands.
pub async fn list_stripe_customers(
    store: &Store,
    user: &Principal,
    page: Offset,
) -> Result<(Vec<StripeCustomerLink>, usize), Error> {
    let links = store
        .stripe_customer_links(&user.tenant, &user.user)
        .await?;
    let total = links.len();
    let page = links
        .into_iter()
        .skip(page.start)
        .take(page.limit)
        .collect();
    Ok((page, total))
}

/// `cv-scus-` and the SHA-256 of tenant, user and token: the same request always maps to
/// the same key, and the key reveals none of the three.
fn idempotency_key(tenant: &TenantId, user: &str, token: &StripeToken) -> String {
    let mut h = Sha256::new();
    for part in [tenant.as_str(), user, token.reveal()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    format!("cv-scus-{}", hex::encode(h.finalize()))
}

fn token_used() -> Error {
    Error::BadRequest("This Stripe token has already been used; create a new token.".into())
}

async fn replay(
    store: &Store,
    user: &Principal,
    used: &crate::store::TokenUse,
) -> Result<StripeCustomerLink, Error> {
    store
        .link_for_token_use(&user.tenant, &user.user, used)
        .await?
        .ok_or_else(token_used)
}

/// Deletes the Stripe customer a failed request made. If even that fails, the log line
/// names the customer for the operator; the customer holds no charge, only the card.
async fn compensate(app: &App, auth: &StripeAuth, customer: &str) {
    if let Err(e) = app.stripe().delete_customer(auth, customer).await {
        tracing::error!(stripe_customer = customer, error = %e,
            "could not delete the Stripe customer of a failed request; delete it by hand");
    }
}

enum Stored {
    New(StripeCustomerLink),
    Existing(StripeCustomerLink),
    TokenTaken,
}

/// Finds or creates the user's vault customer and writes the link, the payment method and
/// the token's use in one transaction. A customer deleted meanwhile is made again, once.
async fn store_link(
    store: &Store,
    user: &Principal,
    created: &CreatedCustomer,
    mut pm: PaymentMethod,
    token_hash: &str,
) -> Result<Stored, Error> {
    for _ in 0..2 {
        let customer = user_customer(store, user).await?;
        pm.customer_id = customer.id;
        let at = now();
        let link = StripeCustomerLink {
            id: Uuid::new_v4(),
            tenant_id: user.tenant.clone(),
            owner: user.user.clone(),
            customer_id: customer.id,
            payment_method_id: pm.id,
            stripe_customer_id: created.id.clone(),
            source: created.source.clone(),
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        let dedupe = [stripe_dedupe_key(&created.source.id)];
        match store
            .create_stripe_customer_link(&link, &pm, &dedupe, token_hash)
            .await?
        {
            LinkWrite::Stored => return Ok(Stored::New(link)),
            LinkWrite::TokenUsed(used) => {
                return Ok(
                    match store
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
async fn user_customer(store: &Store, user: &Principal) -> Result<Customer, Error> {
    super::customer_for_ref(store, &user.tenant, &user_ref(&user.user)).await
}

fn stripe_error(e: StripeError) -> Error {
    match e {
        StripeError::Api {
            status: 401 | 403, ..
        } => Error::Upstream("Stripe rejected this account's Stripe credentials.".into()),
        StripeError::Api { code: Some(c), .. } if c == "token_already_used" => token_used(),
        e if e.is_not_found() => Error::BadRequest(
            "No such token: the Stripe token is unknown, or was made for another Stripe account."
                .into(),
        ),
        StripeError::Api { message, .. } if message.contains("more than once") => token_used(),
        StripeError::Api { message, .. } => Error::BadRequest(format!("Stripe: {message}")),
        StripeError::Unavailable(_) | StripeError::Decode(_) => Error::Upstream(
            "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.".into(),
        ),
    }
}

/// The Stripe card as a vault payment method; its customer is set once known.
fn payment_method(created: &CreatedCustomer, tenant: &TenantId) -> Result<PaymentMethod, Error> {
    let card = &created.source;
    let bad = |what: &str| Error::Internal(format!("Stripe's new card has no {what}"));
    let (instrument, holder) =
        super::import::card_parts(&crate::stripe::Card::from(card)).map_err(bad)?;
    let last4 = card
        .last4
        .clone()
        .filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad("last 4 digits"))?;
    Ok(PaymentMethod::at_stripe(AtStripe {
        // Set once the user's vault customer is known.
        customer_id: CustomerId::try_from(1).expect("1 is a valid id"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_stable_and_separate_users() {
        let t = TenantId::try_from("demo-a".to_string()).unwrap();
        let tok = StripeToken::parse("tok_abc").unwrap();
        let k = idempotency_key(&t, "u1", &tok);
        assert_eq!(k, idempotency_key(&t, "u1", &tok));
        assert_ne!(k, idempotency_key(&t, "u2", &tok));
        assert!(!k.contains("abc") && k.starts_with("cv-scus-") && k.len() < 255);
        // The separator keeps ("a", "bc") and ("ab", "c") apart.
        let t2 = TenantId::try_from("demo-ab".to_string()).unwrap();
        assert_ne!(
            idempotency_key(&t, "bu1", &tok),
            idempotency_key(&t2, "u1", &tok)
        );
    }
}
