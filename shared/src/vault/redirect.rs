//! A card entered through the transparent redirect: verified by Stripe, then kept in
//! cardvault's own vault (the PAN encrypted), and optionally charged once.

use super::{existing_view, PaymentMethodView};
use crate::app::App;
use crate::dialect::fusebill::redirect::CardEntry;
use crate::domain::{
    now, CustomerId, Instrument, PaymentMethod, PaymentMethodId, Status, StripeRef, Tenant,
};
use crate::error::Error;
use crate::store::{Created, DefaultRule};
use crate::stripe::{CardDetails, StripeAuth, StripeError};

/// What adding a card did.
pub struct Added {
    pub view: PaymentMethodView,
    /// False when the customer already had this card (same fingerprint): nothing was added.
    pub created: bool,
    pub collection: Option<Collection>,
}

/// The outcome of `paymentCollectOptions.collectionAmount`.
#[derive(Debug)]
pub struct Collection {
    /// `Some(true)` collected, `Some(false)` declined or failed, `None` unknown (Stripe did
    /// not answer; the idempotency key makes a later retry safe).
    pub succeeded: Option<bool>,
    pub amount_minor: u64,
    pub currency: String,
    pub payment_intent_id: Option<String>,
    pub message: Option<String>,
}

/// Round trips: one BatchGetItem (customer + fingerprint marker), then Stripe (a customer on
/// first use, a token, the attach), one TransactWriteItems, and for a collection a
/// PaymentIntent. A failure after the attach detaches the card again: nothing half-written.
pub async fn add_redirect_card(
    app: &App,
    tenant: &Tenant,
    customer_id: CustomerId,
    entry: CardEntry,
) -> Result<Added, Error> {
    let keys = app.vault_keys().await?;
    let fingerprint = keys.fingerprint(tenant.id.as_str(), &entry.number);
    let (customer, existing) = app
        .store
        .customer_and_dedupe(&tenant.id, customer_id, Some(&format!("fp:{fingerprint}")))
        .await?;
    let customer = customer.ok_or_else(|| Error::not_found("Customer", customer_id))?;
    if let Some(id) = existing {
        // The card is on file already; a collection asked for still happens, on that card.
        let mut view = existing_view(&app.store, &tenant.id, &customer, id).await?;
        let collection = match (entry.collect_minor, view.payment_method.stripe.clone()) {
            (Some(amount), Some(s)) => {
                let auth = app.stripe_credentials(tenant).await?;
                let pm = &mut view.payment_method;
                Some(collect(app, &auth, tenant, pm, &s.customer_id, amount).await?)
            }
            _ => None,
        };
        return Ok(Added {
            view,
            created: false,
            collection,
        });
    }

    let auth = app.stripe_credentials(tenant).await?;
    let stripe_customer = super::stripe_customer_of(app, &auth, &customer).await?;

    let id = PaymentMethodId::random();
    let name = [&entry.holder.first_name, &entry.holder.last_name]
        .iter()
        .filter_map(|t| t.as_ref().map(|t| t.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    let country = entry
        .holder
        .country_id
        .and_then(crate::domain::geo::country)
        .map(|c| c.alpha2);
    let text = |t: &Option<crate::domain::Text>| t.as_ref().map(|t| t.as_str().to_owned());
    let (line1, line2, city, zip) = (
        text(&entry.holder.address1),
        text(&entry.holder.address2),
        text(&entry.holder.city),
        text(&entry.holder.postal_zip),
    );
    let details = CardDetails {
        number: &entry.number,
        cvv: &entry.cvv,
        expiry: entry.expiry,
        name: &name,
        address_line1: line1.as_deref(),
        address_line2: line2.as_deref(),
        address_city: city.as_deref(),
        address_zip: zip.as_deref(),
        address_country: country,
    };
    let stripe = app.stripe();
    let token = stripe
        .create_card_token(&auth, &details, &format!("cardvault-token-{id}"))
        .await
        .map_err(validation_error)?;
    let card = stripe
        .attach_source(
            &auth,
            &stripe_customer,
            &token,
            &format!("cardvault-attach-{id}"),
        )
        .await
        .map_err(validation_error)?;

    let at = now();
    let mut pm = PaymentMethod {
        id,
        customer_id: customer.id,
        tenant_id: tenant.id.clone(),
        instrument: Instrument::Card {
            brand: entry.number.brand(),
            first6: Some(entry.number.first6()),
            exp_month: entry.expiry.month,
            exp_year: entry.expiry.year,
        },
        last4: entry.number.last4(),
        holder: entry.holder,
        stripe: Some(StripeRef {
            customer_id: stripe_customer.clone(),
            source_id: card.id.clone(),
        }),
        stored_in_vault: true,
        encrypted_pan: Some(keys.encrypt(&entry.number, &pan_context(tenant, customer.id, id))),
        fingerprint: Some(fingerprint),
        status: Status::Active,
        failures: 0,
        last_error: None,
        nickname: None,
        created_at: at,
        modified_at: at,
    };
    let rule = if entry.make_default {
        DefaultRule::Always
    } else {
        DefaultRule::IfNone
    };
    let stored = app
        .store
        .create_payment_method(&pm, &pm.dedupe_keys(), rule)
        .await;
    let undo = || super::detach_unrecorded(app, &auth, &stripe_customer, &card.id);
    match stored {
        Ok(Created::New) => {}
        Ok(Created::Duplicate(existing)) => {
            undo().await;
            return Ok(Added {
                view: existing_view(&app.store, &tenant.id, &customer, existing).await?,
                created: false,
                collection: None,
            });
        }
        Err(e) => {
            undo().await;
            return Err(e.into());
        }
    }

    let collection = match entry.collect_minor {
        Some(amount) => Some(collect(app, &auth, tenant, &mut pm, &stripe_customer, amount).await?),
        None => None,
    };
    Ok(Added {
        view: PaymentMethodView {
            is_default: entry.make_default || customer.default_payment_method_id.is_none(),
            payment_method: pm,
        },
        created: true,
        collection,
    })
}

/// Charges the new card once. A failure leaves the card stored and counts against it.
async fn collect(
    app: &App,
    auth: &StripeAuth,
    tenant: &Tenant,
    pm: &mut PaymentMethod,
    stripe_customer: &str,
    amount: u64,
) -> Result<Collection, Error> {
    let source = pm
        .stripe
        .as_ref()
        .map(|s| s.source_id.clone())
        .unwrap_or_default();
    let result = app
        .stripe()
        .collect(
            auth,
            amount,
            &tenant.currency,
            stripe_customer,
            &source,
            &format!("cardvault-collect-{}", pm.id),
        )
        .await;
    let (intent, outcome, message) = match result {
        Ok(pi) if pi.status == "succeeded" => (Some(pi.id), Some(true), None),
        Ok(pi) => (
            Some(pi.id),
            Some(false),
            Some(format!("The payment is {}.", pi.status)),
        ),
        Err(StripeError::Api { message, .. }) => (None, Some(false), Some(message)),
        // No answer: the charge may or may not have happened, so it is not a failure.
        Err(e) => (None, None, Some(e.to_string())),
    };
    if let (Some(false), Some(message)) = (outcome, &message) {
        app.store.record_payment_failure(pm, message).await?;
        pm.failures += 1;
        pm.last_error = Some(message.clone());
    }
    let failure = message;
    Ok(Collection {
        succeeded: outcome,
        amount_minor: amount,
        currency: tenant.currency.clone(),
        payment_intent_id: intent,
        message: failure,
    })
}

/// Binds a ciphertext to its record: copied anywhere else, it does not decrypt.
pub fn pan_context(tenant: &Tenant, customer: CustomerId, pm: PaymentMethodId) -> String {
    format!("{}:{customer}:{pm}", tenant.id)
}

fn validation_error(e: StripeError) -> Error {
    match e {
        StripeError::Api { message, .. } => Error::BadRequest(format!(
            "There was an error validating the payment method: {message}"
        )),
        other => stripe_unavailable(other),
    }
}

fn stripe_unavailable(_: StripeError) -> Error {
    Error::Upstream("Stripe is unavailable; the card was not stored. Try again.".into())
}
