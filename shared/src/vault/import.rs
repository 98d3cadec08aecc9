//! Importing a card or bank account that already lives in a Stripe customer.

use super::{existing_view, PaymentMethodView};
use crate::app::{App, StripeMode};
use crate::domain::{
    stripe_dedupe_key, AtStripe, CardBrand, CustomerId, Holder, Instrument, PaymentMethod,
    StripeRef, TenantId, Text,
};
use crate::error::Error;
use crate::store::{Created, DefaultRule, StoreError};
use crate::stripe::{Card, CustomerRef, Source, SourceRef, StripeError};

pub struct ImportRequest {
    pub customer_id: CustomerId,
    pub stripe_customer: CustomerRef,
    pub source: SourceRef,
}

/// Retrieves the source from the Stripe customer and stores it for the customer. The same
/// source imported twice for the same customer answers the first record.
///
/// Round trips: one BatchGetItem (customer + dedupe marker), one Stripe GET, one
/// TransactWriteItems. Nothing is written unless Stripe answered with the source.
pub async fn import_stripe_source(
    app: &App,
    tenant_id: &TenantId,
    mode: StripeMode,
    req: ImportRequest,
) -> Result<PaymentMethodView, Error> {
    let dedupe = stripe_dedupe_key(req.source.as_str());
    let (customer, existing) = app
        .store
        .customer_and_dedupe(tenant_id, req.customer_id, Some(&dedupe))
        .await?;
    let customer = customer.ok_or_else(|| Error::not_found("Customer", req.customer_id))?;
    if let Some(id) = existing {
        return existing_view(&app.store, tenant_id, &customer, id).await;
    }

    let tenant = app.tenant(tenant_id).await?;
    let auth = app.stripe_auth(&tenant, mode).await?;
    let source = app
        .stripe()
        .retrieve_source(&auth, req.stripe_customer.as_str(), req.source.as_str())
        .await
        .map_err(|e| source_error(e, &req))?;
    let payment_method = from_source(source, &req, tenant_id)?;

    // The first payment method becomes the default (if_not_exists in the transaction).
    let is_default = customer.default_payment_method_id.is_none();
    match app
        .store
        .create_payment_method(&payment_method, &[dedupe], DefaultRule::IfNone)
        .await
    {
        Ok(Created::New) => Ok(PaymentMethodView {
            payment_method,
            is_default,
        }),
        Ok(Created::Duplicate(id)) => existing_view(&app.store, tenant_id, &customer, id).await,
        Err(StoreError::Missing(_)) => Err(Error::not_found("Customer", req.customer_id)),
        Err(e) => Err(e.into()),
    }
}

fn source_error(e: StripeError, req: &ImportRequest) -> Error {
    match e {
        StripeError::Api {
            status: 401 | 403, ..
        } => Error::Upstream("Stripe rejected this account's Stripe credentials.".into()),
        e if e.is_not_found() => {
            if e.to_string().contains("No such customer") {
                Error::BadRequest(format!("No such customer: {}", req.stripe_customer))
            } else {
                Error::BadRequest(format!("No such source: {}", req.source))
            }
        }
        StripeError::Api { message, .. } => Error::BadRequest(message),
        StripeError::Unavailable(_) | StripeError::Decode(_) => Error::Upstream(
            "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.".into(),
        ),
    }
}

const NAME_MAX: usize = 50;
const ADDRESS_MAX: usize = 50;
const POSTAL_MAX: usize = 10;

/// "Karen Wood" → ("Karen", "Wood"); "Cher" → ("Cher", none).
fn split_name(name: Option<&str>) -> (Option<Text>, Option<Text>) {
    let name = name.unwrap_or("").trim();
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    (
        Text::from_external(Some(first), NAME_MAX),
        Text::from_external(Some(last), NAME_MAX),
    )
}

/// A Stripe card as the vault keeps it: the card's fields, and its holder's names and
/// address (Stripe's country and state matched to `countryId`/`stateId`). `Err` names what
/// Stripe left out.
pub(super) fn card_parts(card: &Card) -> Result<(Instrument, Holder), &'static str> {
    let (first_name, last_name) = split_name(card.name.as_deref());
    let (country_id, state_id) = crate::domain::geo::from_stripe_address(
        card.address_country.as_deref(),
        card.address_state.as_deref(),
    );
    let holder = Holder {
        first_name,
        last_name,
        address1: Text::from_external(card.address_line1.as_deref(), ADDRESS_MAX),
        address2: Text::from_external(card.address_line2.as_deref(), ADDRESS_MAX),
        city: Text::from_external(card.address_city.as_deref(), ADDRESS_MAX),
        postal_zip: Text::from_external(card.address_zip.as_deref(), POSTAL_MAX),
        country_id,
        state_id,
    };
    let instrument = Instrument::Card {
        brand: CardBrand::from_stripe(card.brand.as_deref().unwrap_or("")),
        first6: None,
        exp_month: card.exp_month.ok_or("expiry month")?,
        exp_year: card.exp_year.ok_or("expiry year")?,
    };
    Ok((instrument, holder))
}

fn from_source(
    source: Source,
    req: &ImportRequest,
    tenant: &TenantId,
) -> Result<PaymentMethod, Error> {
    let bad = |what: &str| Error::Upstream(format!("Stripe's source has no {what}"));
    let (instrument, last4, holder, fingerprint) = match source {
        Source::Card(card) => {
            let (instrument, holder) = card_parts(&card).map_err(bad)?;
            (instrument, card.last4, holder, card.fingerprint)
        }
        Source::BankAccount(ba) => {
            let (first_name, last_name) = split_name(ba.account_holder_name.as_deref());
            let instrument = Instrument::Ach {
                bank_name: ba.bank_name,
                routing_number: ba.routing_number,
            };
            let holder = Holder {
                first_name,
                last_name,
                ..Holder::default()
            };
            (instrument, ba.last4, holder, ba.fingerprint)
        }
    };
    let last4 = last4
        .filter(|l| l.len() == 4 && l.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad("last 4 digits"))?;
    Ok(PaymentMethod::at_stripe(AtStripe {
        customer_id: req.customer_id,
        tenant_id: tenant.clone(),
        instrument,
        last4,
        holder,
        stripe: StripeRef {
            customer_id: req.stripe_customer.to_string(),
            source_id: req.source.to_string(),
        },
        fingerprint,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_the_first_space() {
        let (f, l) = split_name(Some("Mary Ann Smith"));
        assert_eq!(f.unwrap().as_str(), "Mary");
        assert_eq!(l.unwrap().as_str(), "Ann Smith");
        let (f, l) = split_name(Some("Cher"));
        assert_eq!(f.unwrap().as_str(), "Cher");
        assert!(l.is_none());
        assert_eq!(split_name(None), (None, None));
    }
}
