//! The billing card API's operations (EmbedThis style): an account's cards, kept by its
//! owner, seen across the tenant by admins. An account is a customer of the tenant found
//! by its external reference `account:<id>`, made on first use.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};

use super::customer_for_ref;
use crate::app::App;
use crate::domain::{
    account_ref, stripe_dedupe_key, AtStripe, CardBrand, Customer, Instrument, PaymentMethod,
    PaymentMethodId, StripeRef, TenantId, Text,
};
use crate::error::Error;
use crate::store::{tenant_payment_method_sk, Created, DefaultRule, StoreError};
use crate::stripe::{StripeError, StripeToken};

/// A card with what its customer says about it.
#[derive(Debug)]
pub struct BillingCard {
    pub card: PaymentMethod,
    pub current: bool,
    /// The account (`account:<id>` reference) the card belongs to, if it is an account's.
    pub account: Option<String>,
}

fn view(card: PaymentMethod, customer: &Customer) -> BillingCard {
    BillingCard {
        current: customer.default_payment_method_id == Some(card.id),
        account: customer
            .external_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("account:"))
            .map(str::to_owned),
        card,
    }
}

fn card_not_found(id: PaymentMethodId) -> Error {
    Error::not_found("Card", id)
}

/// What `/card/create` takes, checked.
pub struct NewBillingCard {
    pub name: Text,
    pub last4: String,
    pub month: u8,
    pub year: u16,
    pub token: StripeToken,
    pub current: bool,
}

/// Attaches the token's card to the account's Stripe customer and stores the card, keeping
/// only the last four digits of the number (which must match the token's, when Stripe
/// reports them).
pub async fn create_card(
    app: &App,
    tenant: &TenantId,
    account: &str,
    new: NewBillingCard,
) -> Result<BillingCard, Error> {
    let customer = customer_for_ref(&app.store, tenant, &account_ref(account)).await?;
    let tenant_settings = app.tenant(tenant).await?;
    let auth = app.stripe_credentials(&tenant_settings).await?;
    let stripe_customer = super::stripe_customer_of(app, &auth, &customer).await?;
    let id = PaymentMethodId::random();
    let stripe = app.stripe();
    let attached = stripe
        .attach_source(
            &auth,
            &stripe_customer,
            new.token.reveal(),
            &format!("cardvault-attach-{id}"),
        )
        .await
        .map_err(token_error)?;
    let undo = || super::detach_unrecorded(app, &auth, &stripe_customer, &attached.id);
    if attached.last4.as_deref().is_some_and(|l| l != new.last4) {
        undo().await;
        return Err(Error::field(
            "number",
            "number does not match the card of stripeToken",
        ));
    }
    let mut card = PaymentMethod::at_stripe(AtStripe {
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
    // The id the Stripe attach's idempotency key was made from.
    card.id = id;
    card.nickname = Some(new.name.as_str().to_owned());
    let rule = if new.current {
        DefaultRule::Always
    } else {
        DefaultRule::IfNone
    };
    match app
        .store
        .create_payment_method(&card, &[stripe_dedupe_key(&attached.id)], rule)
        .await
    {
        Ok(Created::New) => {}
        Ok(Created::Duplicate(_)) => {
            undo().await;
            return Err(Error::Conflict(
                "The card could not be stored; nothing was kept. Try again.".into(),
            ));
        }
        Err(e) => {
            undo().await;
            return Err(e.into());
        }
    }
    let current = new.current || customer.default_payment_method_id.is_none();
    if current {
        follow_on_stripe(app, &auth, &stripe_customer, &attached.id).await;
    }
    let mut customer = customer;
    if current {
        customer.default_payment_method_id = Some(id);
    }
    Ok(view(card, &customer))
}

/// Stripe's default source follows the current card. Best effort: the vault's record is
/// the source of truth, and a failure here is logged, not fatal.
async fn follow_on_stripe(app: &App, auth: &crate::stripe::StripeAuth, customer: &str, card: &str) {
    if let Err(e) = app.stripe().set_default_source(auth, customer, card).await {
        tracing::warn!(error = %e, "Stripe default source not updated");
    }
}

/// One card of the tenant (admin).
pub async fn get_card(
    app: &App,
    tenant: &TenantId,
    id: PaymentMethodId,
) -> Result<BillingCard, Error> {
    let card = app
        .store
        .payment_method(tenant, id)
        .await?
        .filter(PaymentMethod::is_card)
        .ok_or_else(|| card_not_found(id))?;
    let customer = app
        .store
        .get_customer(tenant, card.customer_id)
        .await?
        .ok_or_else(|| card_not_found(id))?;
    Ok(view(card, &customer))
}

/// A card of the owner's own account: any other card answers as a missing one.
async fn own_card(
    app: &App,
    tenant: &TenantId,
    account: &str,
    id: PaymentMethodId,
) -> Result<(PaymentMethod, Customer), Error> {
    let card = get_card(app, tenant, id).await?;
    if card.account.as_deref() != Some(account) {
        return Err(card_not_found(id));
    }
    let customer = app
        .store
        .get_customer(tenant, card.card.customer_id)
        .await?
        .ok_or_else(|| card_not_found(id))?;
    Ok((card.card, customer))
}

/// Detaches the card from Stripe and removes it. If it was current, the newest other card
/// becomes current, or none.
pub async fn remove_card(
    app: &App,
    tenant: &TenantId,
    account: &str,
    id: PaymentMethodId,
) -> Result<BillingCard, Error> {
    let (card, customer) = own_card(app, tenant, account, id).await?;
    let (_, others) = app
        .store
        .customer_with_payment_methods(tenant, customer.id)
        .await?
        .ok_or_else(|| card_not_found(id))?;
    let was_current = customer.default_payment_method_id == Some(id);
    let next = was_current
        .then(|| {
            others
                .iter()
                .filter(|p| p.id != id && p.is_card())
                .max_by_key(|p| (p.created_at, p.id))
        })
        .flatten();
    let settings = app.tenant(tenant).await?;
    let auth = app.stripe_credentials(&settings).await?;
    if let Some(s) = &card.stripe {
        match app
            .stripe()
            .detach_source(&auth, &s.customer_id, &s.source_id)
            .await
        {
            Ok(()) => {}
            // Already gone at Stripe: removing our record is what is left to do.
            Err(e) if e.is_not_found() => {}
            Err(_) => {
                return Err(Error::Upstream(
                    "Stripe is unavailable; the card was not removed. Try again.".into(),
                ))
            }
        }
    }
    match app
        .store
        .delete_payment_method(&card, &card.dedupe_keys(), was_current, next.map(|n| n.id))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(Error::Conflict(
                "The account's cards changed during the request; try again.".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(s) = next.and_then(|n| n.stripe.as_ref()) {
        follow_on_stripe(app, &auth, &s.customer_id, &s.source_id).await;
    }
    Ok(BillingCard {
        card,
        current: false,
        account: Some(account.to_owned()),
    })
}

/// Makes a card the account's one current card (one transaction), or, with
/// `current: false`, leaves the account with none if it was current.
pub async fn update_current(
    app: &App,
    tenant: &TenantId,
    account: &str,
    id: PaymentMethodId,
    current: bool,
) -> Result<BillingCard, Error> {
    let (card, mut customer) = own_card(app, tenant, account, id).await?;
    if current {
        match app
            .store
            .set_default_payment_method(tenant, customer.id, id)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(card_not_found(id)),
            Err(e) => return Err(e.into()),
        }
        customer.default_payment_method_id = Some(id);
        if let Some(s) = &card.stripe {
            let settings = app.tenant(tenant).await?;
            let auth = app.stripe_credentials(&settings).await?;
            follow_on_stripe(app, &auth, &s.customer_id, &s.source_id).await;
        }
    } else {
        app.store
            .clear_default_payment_method(tenant, customer.id, id)
            .await?;
        if customer.default_payment_method_id == Some(id) {
            customer.default_payment_method_id = None;
        }
    }
    Ok(view(card, &customer))
}

/// An opaque page cursor: where to continue, for which tenant, signed so that no one can
/// forge one (to read another tenant, or to jump anywhere).
#[derive(Serialize, Deserialize)]
struct Cursor {
    t: String,
    k: String,
    /// "n": next (older), "p": previous (newer).
    d: String,
}

const CURSOR_PURPOSE: &str = "card-find-cursor";

fn encode_cursor(keys: &crate::crypto::VaultKeys, c: &Cursor) -> String {
    let body = serde_json::to_vec(c).unwrap_or_default();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        keys.sign(CURSOR_PURPOSE, &body)
    )
}

fn decode_cursor(
    keys: &crate::crypto::VaultKeys,
    raw: &str,
    tenant: &TenantId,
    direction: &str,
) -> Result<Cursor, Error> {
    let invalid = || Error::BadRequest("The cursor is not valid; start again without one.".into());
    let (body, mac) = raw.split_once('.').ok_or_else(invalid)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    if !keys.verify(CURSOR_PURPOSE, &body, mac) {
        return Err(invalid());
    }
    let cursor: Cursor = serde_json::from_slice(&body).map_err(|_| invalid())?;
    // Another tenant's cursor, or a `prev` cursor given as `next`, is not this page's.
    if cursor.t != tenant.as_str() || cursor.d != direction {
        return Err(invalid());
    }
    Ok(cursor)
}

pub enum PageFrom {
    Start,
    Next(String),
    Prev(String),
}

/// One page of the tenant's cards, newest first, with cursors to the pages around it.
/// Round trips: one Query on GSI2 and one BatchGetItem for the cards' customers.
pub async fn find_cards(
    app: &App,
    tenant: &TenantId,
    limit: usize,
    from: PageFrom,
) -> Result<(Vec<BillingCard>, Option<String>, Option<String>), Error> {
    let keys = app.vault_keys().await?;
    let (after, newest_first) = match &from {
        PageFrom::Start => (None, true),
        PageFrom::Next(raw) => (Some(decode_cursor(&keys, raw, tenant, "n")?.k), true),
        PageFrom::Prev(raw) => (Some(decode_cursor(&keys, raw, tenant, "p")?.k), false),
    };
    let (mut cards, more) = app
        .store
        .tenant_payment_methods(tenant, limit, after.as_deref(), newest_first)
        .await?;
    if !newest_first {
        cards.reverse();
    }
    let ids: Vec<_> = cards.iter().map(|c| c.customer_id).collect();
    let customers = app.store.customers(tenant, &ids).await?;
    let cursor = |pm: &PaymentMethod, d: &str| {
        encode_cursor(
            &keys,
            &Cursor {
                t: tenant.to_string(),
                k: tenant_payment_method_sk(pm),
                d: d.into(),
            },
        )
    };
    // Going forward, "more" means older cards exist; going back, newer ones.
    let (has_older, has_newer) = match from {
        PageFrom::Start => (more, false),
        PageFrom::Next(_) => (more, true),
        PageFrom::Prev(_) => (true, more),
    };
    let next = cards.last().filter(|_| has_older).map(|c| cursor(c, "n"));
    let prev = cards.first().filter(|_| has_newer).map(|c| cursor(c, "p"));
    let views = cards
        .into_iter()
        .filter(PaymentMethod::is_card)
        .filter_map(|c| {
            let customer = customers.iter().find(|x| x.id == c.customer_id)?;
            Some(view(c, customer))
        })
        .collect();
    Ok((views, next, prev))
}

/// What a UI needs to tokenize cards for this tenant: never a secret key.
pub struct StripeConfig {
    pub publishable_key: Option<String>,
    pub account_id: Option<String>,
}

pub async fn stripe_config(app: &App, tenant: &TenantId) -> Result<StripeConfig, Error> {
    let t = app.tenant(tenant).await?;
    Ok(match &t.stripe {
        Some(crate::domain::StripeConnection::Connect { account_id }) => StripeConfig {
            publishable_key: app.platform_secrets().await?.stripe_publishable_key,
            account_id: Some(account_id.clone()),
        },
        Some(crate::domain::StripeConnection::OwnKey { .. }) => StripeConfig {
            publishable_key: t.stripe_publishable_key.clone(),
            account_id: None,
        },
        None => StripeConfig {
            publishable_key: None,
            account_id: None,
        },
    })
}

fn token_error(e: StripeError) -> Error {
    match e {
        StripeError::Api { message, .. } => {
            Error::field("stripeToken", format!("stripeToken: {message}"))
        }
        _ => Error::Upstream("Stripe is unavailable; nothing was stored. Try again.".into()),
    }
}
