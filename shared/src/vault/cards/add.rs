//! A card entered through the transparent redirect: verified by Stripe, then kept in
//! cardvault's own vault (the PAN sealed by the key service), and optionally charged once.

use super::{CardView, Vault};
use crate::domain::{
    geo, AtStripe, CardEntry, Customer, CustomerId, EncryptedPan, Instrument, PanContext,
    PaymentMethod, PaymentMethodId, StripeRef, Tenant, Text, Timestamp,
};
use crate::error::Error;
use crate::ports::{
    CardDetails, Clock, Created, DefaultRule, Ids, KeyService, PaymentGateway, PaymentMethodStore,
    Ports, StripeAuth, StripeError,
};
use crate::vault::compensation::Undo;
use crate::vault::credentials::StripeRoute;
use crate::vault::idempotency::IdempotencyKey;

/// What adding a card did.
pub struct Added {
    pub view: CardView,
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

impl<P: Ports> Vault<P> {
    /// Round trips: one BatchGetItem (customer + fingerprint marker), then Stripe (a
    /// customer on first use, a token, the attach), one TransactWriteItems, and for a
    /// collection a PaymentIntent. A failure after the attach detaches the card again.
    pub async fn add_entered_card(
        &self,
        tenant: &Tenant,
        customer_id: CustomerId,
        entry: CardEntry,
    ) -> Result<Added, Error> {
        let fingerprint = self.keys.fingerprint(&tenant.id, &entry.number).await?;
        let (customer, existing) = self
            .store
            .customer_and_dedupe(&tenant.id, customer_id, Some(&format!("fp:{fingerprint}")))
            .await?;
        let customer = customer.ok_or_else(|| Error::not_found("Customer", customer_id))?;
        if let Some(id) = existing {
            let view = self.existing_view(&tenant.id, &customer, id).await?;
            return self.on_file(tenant, view, entry.collect_minor).await;
        }

        let auth = self.stripe_auth(tenant, StripeRoute::Any).await?;
        let stripe_customer = self.stripe_customer_of(&auth, &customer).await?;
        let id = self.ids.payment_method_id();
        let card = self
            .verify_at_stripe(&auth, &stripe_customer, &entry, id)
            .await?;

        let at = self.clock.now();
        let sealed = self
            .keys
            .seal_pan(&entry.number, &PanContext::new(&tenant.id, customer.id, id))
            .await;
        let undo = Undo::Detach {
            customer: stripe_customer.clone(),
            card: card.clone(),
        };
        let sealed = match sealed {
            Ok(s) => s,
            Err(e) => {
                self.compensate(&auth, undo).await;
                return Err(e.into());
            }
        };
        let stripe = StripeRef {
            customer_id: stripe_customer.clone(),
            source_id: card,
        };
        let (make_default, collect_minor) = (entry.make_default, entry.collect_minor);
        let mut pm = vault_card(id, &customer, entry, stripe, sealed, fingerprint, at);
        let rule = if make_default {
            DefaultRule::Always
        } else {
            DefaultRule::IfNone
        };
        match self
            .store
            .create_payment_method(&pm, &pm.dedupe_keys(), rule)
            .await
        {
            Ok(Created::New) => {}
            Ok(Created::Duplicate(existing)) => {
                // A concurrent request stored the same card first: answer its record.
                self.compensate(&auth, undo).await;
                return Ok(Added {
                    view: self.existing_view(&tenant.id, &customer, existing).await?,
                    created: false,
                    collection: None,
                });
            }
            Err(e) => {
                self.compensate(&auth, undo).await;
                return Err(e.into());
            }
        }

        let collection = match collect_minor {
            Some(amount) => Some(
                self.collect(&auth, tenant, &mut pm, &stripe_customer, amount)
                    .await?,
            ),
            None => None,
        };
        let mut customer = customer;
        if make_default || customer.default_payment_method_id.is_none() {
            customer.default_payment_method_id = Some(pm.id);
        }
        Ok(Added {
            view: CardView::of(pm, &customer),
            created: true,
            collection,
        })
    }

    /// The card is on file already: nothing is added, and a collection asked for still
    /// happens, on that card.
    async fn on_file(
        &self,
        tenant: &Tenant,
        mut view: CardView,
        collect_minor: Option<u64>,
    ) -> Result<Added, Error> {
        let collection = match (collect_minor, view.payment_method.stripe.clone()) {
            (Some(amount), Some(s)) => {
                let auth = self.stripe_auth(tenant, StripeRoute::Any).await?;
                let pm = &mut view.payment_method;
                Some(
                    self.collect(&auth, tenant, pm, &s.customer_id, amount)
                        .await?,
                )
            }
            _ => None,
        };
        Ok(Added {
            view,
            created: false,
            collection,
        })
    }

    /// Tokenizes the entered card and attaches it to the Stripe customer, where Stripe
    /// validates it. Answers the attached card's id.
    async fn verify_at_stripe(
        &self,
        auth: &StripeAuth,
        stripe_customer: &str,
        entry: &CardEntry,
        id: PaymentMethodId,
    ) -> Result<String, Error> {
        let holder = &entry.holder;
        let name = [&holder.first_name, &holder.last_name]
            .iter()
            .filter_map(|t| t.as_ref().map(Text::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        fn text(t: &Option<Text>) -> Option<&str> {
            t.as_ref().map(Text::as_str)
        }
        let details = CardDetails {
            number: &entry.number,
            cvv: &entry.cvv,
            expiry: entry.expiry,
            name: &name,
            address_line1: text(&holder.address1),
            address_line2: text(&holder.address2),
            address_city: text(&holder.city),
            address_zip: text(&holder.postal_zip),
            address_country: holder.country_id.and_then(geo::country).map(|c| c.alpha2),
        };
        let token = self
            .gateway
            .create_card_token(auth, &details, IdempotencyKey::card_token(id).as_str())
            .await
            .map_err(validation_error)?;
        let attached = self
            .gateway
            .attach_source(
                auth,
                stripe_customer,
                &token,
                IdempotencyKey::attach(id).as_str(),
            )
            .await;
        match attached {
            Ok(card) => Ok(card.id),
            Err(e) => {
                self.undo_lost_attach(auth, stripe_customer, &token, &e)
                    .await;
                Err(validation_error(e))
            }
        }
    }

    /// Charges a card once. A failure leaves the card stored and counts against it.
    async fn collect(
        &self,
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
        let result = self
            .gateway
            .collect(
                auth,
                amount,
                &tenant.currency,
                stripe_customer,
                &source,
                IdempotencyKey::collect(pm.id).as_str(),
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
            self.store.record_payment_failure(pm, message).await?;
            pm.failures += 1;
            pm.last_error = Some(message.clone());
        }
        Ok(Collection {
            succeeded: outcome,
            amount_minor: amount,
            currency: tenant.currency.clone(),
            payment_intent_id: intent,
            message,
        })
    }
}

/// The record of a card whose PAN the vault holds, sealed.
fn vault_card(
    id: PaymentMethodId,
    customer: &Customer,
    entry: CardEntry,
    stripe: StripeRef,
    sealed: EncryptedPan,
    fingerprint: String,
    at: Timestamp,
) -> PaymentMethod {
    let mut pm = PaymentMethod::at_stripe(AtStripe {
        id,
        at,
        customer_id: customer.id,
        tenant_id: customer.tenant_id.clone(),
        instrument: Instrument::Card {
            brand: entry.number.brand(),
            first6: Some(entry.number.first6()),
            exp_month: entry.expiry.month,
            exp_year: entry.expiry.year,
        },
        last4: entry.number.last4(),
        holder: entry.holder,
        stripe,
        fingerprint: Some(fingerprint),
    });
    pm.stored_in_vault = true;
    pm.encrypted_pan = Some(sealed);
    pm.email = entry.email;
    pm
}

fn validation_error(e: StripeError) -> Error {
    match e {
        StripeError::Api { message, .. } => Error::BadRequest(format!(
            "There was an error validating the payment method: {message}"
        )),
        StripeError::OutOfTime(e) => e.into(),
        other => Error::upstream(
            "Stripe is unavailable; the card was not stored. Try again.",
            other,
        ),
    }
}
