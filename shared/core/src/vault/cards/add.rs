//! A card entered through the transparent redirect: verified by Stripe, then kept in
//! cardvault's own vault (the PAN sealed by the key service), and optionally charged once.

use super::setup::Saved;
use super::{CardView, Vault};
use crate::domain::{
    geo, Actor, AtStripe, AuditAction, CardEntry, Customer, CustomerId, EncryptedPan, Holder,
    Instrument, PanContext, PaymentMethod, PaymentMethodId, StripeRef, Tenant, Text, Timestamp,
};
use crate::error::{ActionRequired, Error};
use crate::ports::{
    CardDetails, Clock, Created, DefaultRule, Ids, KeyService, NewCard, PaymentGateway,
    PaymentMethodStore, Ports, StripeAuth, StripeError,
};
use crate::vault::compensation::Undo;
use crate::vault::credentials::StripeRoute;
use crate::vault::idempotency::IdempotencyKey;

/// A redirect card's customer and duplicate check, before anything is counted or sent.
pub(crate) struct LookedUp {
    customer: Customer,
    existing: Option<PaymentMethodId>,
    /// Under the current fingerprint key, for a new record.
    fingerprint: String,
}

/// A card the redirect saved at Stripe, about to be recorded.
pub(crate) struct NewRedirectCard {
    pub pm: PaymentMethod,
    pub saved: Saved,
    pub make_default: bool,
    pub collect_minor: Option<u64>,
}

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
    /// Round trips: one BatchGetItem (customer + fingerprint marker), a KMS data key (on a
    /// cache miss), then Stripe (a customer on first use, a token, the attach), one
    /// TransactWriteItems, and for a collection a PaymentIntent. A failure after the attach
    /// detaches the card again.
    pub async fn add_entered_card(
        &self,
        tenant: &Tenant,
        customer_id: CustomerId,
        entry: CardEntry,
    ) -> Result<Added, Error> {
        let found = self.look_up_card(tenant, customer_id, &entry).await?;
        self.add_looked_up(tenant, found, entry).await
    }

    /// The customer (absent or another tenant's: 404) and whether the card is on file, by
    /// its fingerprint under every version of the fingerprint key. Nothing else has
    /// happened yet, so the redirect counts its limits only after this.
    pub(crate) async fn look_up_card(
        &self,
        tenant: &Tenant,
        customer_id: CustomerId,
        entry: &CardEntry,
    ) -> Result<LookedUp, Error> {
        let fingerprints = self.keys.fingerprints(&tenant.id, &entry.number).await?;
        let (customer, existing) = self
            .store
            .customer_and_dedupe(&tenant.id, customer_id, &fingerprints.dedupe_keys())
            .await?;
        let customer = customer.ok_or_else(|| Error::not_found("Customer", customer_id))?;
        Ok(LookedUp {
            customer,
            existing,
            fingerprint: fingerprints.current,
        })
    }

    pub(crate) async fn add_looked_up(
        &self,
        tenant: &Tenant,
        found: LookedUp,
        entry: CardEntry,
    ) -> Result<Added, Error> {
        let LookedUp {
            customer,
            existing,
            fingerprint,
        } = found;
        let auth = self.stripe_auth(tenant, StripeRoute::Any).await?;
        if let Some(id) = existing {
            let read = self.store.payment_method_of(customer.id, id).await?;
            match read.filter(|pm| pm.tenant_id == tenant.id) {
                // The record just read is the view: no second read of it.
                Some(pm) if pm.is_on_file() => {
                    let view = CardView::of(pm, &customer);
                    return self.on_file(tenant, &auth, &customer, view, &entry).await;
                }
                // Entered again while its authentication waits (or after it ran out): the
                // old attempt gives way, and this one starts afresh. The number alone never
                // reads the waiting card's SetupIntent.
                Some(pending) => {
                    self.remove_pending(&pending, "superseded").await?;
                    if let Some(waiting) = &pending.pending {
                        self.abandon_setup(&auth, &pending, &waiting.setup_intent)
                            .await;
                    }
                }
                None => {}
            }
        }

        let stripe_customer = self.stripe_customer_of(&auth, &customer).await?;
        let id = self.ids.payment_method_id();
        // Sealed before Stripe sees the card: a KMS failure then needs no compensation, and
        // after the attach only the one write remains.
        let sealed = self
            .keys
            .seal_pan(&entry.number, &PanContext::new(&tenant.id, customer.id, id))
            .await?;
        let name = holder_name(&entry.holder);
        let details = card_details(&entry, &name);
        let saved = self
            .save_card(
                &auth,
                &tenant.id,
                &stripe_customer,
                NewCard::Details(&details),
                id,
                validation_error,
            )
            .await?;
        let card = saved.card().id.clone();
        let stripe = StripeRef {
            customer_id: stripe_customer.clone(),
            source_id: card,
        };
        let (make_default, collect_minor) = (entry.make_default, entry.collect_minor);
        let pm = vault_card(
            id,
            &customer,
            entry,
            stripe,
            sealed,
            fingerprint,
            self.clock.now(),
        );
        let new = NewRedirectCard {
            pm,
            saved,
            make_default,
            collect_minor,
        };
        self.record_redirect_card(tenant, &auth, customer, new)
            .await
    }

    /// Records a card the redirect saved at Stripe (entered, or made by Stripe.js): pending
    /// while its authentication waits, else on file, its collection made, its default
    /// followed at Stripe. A failed write detaches it again.
    pub(crate) async fn record_redirect_card(
        &self,
        tenant: &Tenant,
        auth: &StripeAuth,
        customer: Customer,
        new: NewRedirectCard,
    ) -> Result<Added, Error> {
        let NewRedirectCard {
            mut pm,
            saved,
            make_default,
            collect_minor,
        } = new;
        let Some(stripe) = pm.stripe.clone() else {
            return Err(Error::bug("a redirect card is held at Stripe"));
        };
        let undo = Undo::Detach {
            customer: stripe.customer_id.clone(),
            card: stripe.source_id.clone(),
        };
        if let Saved::Pending(_, si) = &saved {
            pm.hold_for_authentication(si.id.clone(), make_default);
        }
        let pending = matches!(saved, Saved::Pending(..));
        let rule = if make_default {
            DefaultRule::Always
        } else {
            DefaultRule::IfNone
        };
        // The redirect's actor: the cardholder's browser, through the public key.
        let outcome = if pending { "requires_action" } else { "ok" };
        let event = self
            .event(&tenant.id, AuditAction::CardAdded, outcome)
            .actor(&Actor::Redirect)
            .customer(customer.id)
            .payment_method(pm.id);
        let dedupe = pm.dedupe_keys();
        let create = self.store.create_payment_method(&pm, &dedupe, rule);
        match self.recorded(vec![event], create).await {
            Ok(Created::New) => {}
            // A pending card is not attached at Stripe: nothing to undo there.
            Ok(Created::Duplicate(_)) | Err(_) if pending => {
                return Err(Error::Conflict(
                    "The card could not be stored; nothing was kept. Try again.".into(),
                ));
            }
            Ok(Created::Duplicate(existing)) => {
                // A concurrent request stored the same card first: answer its record, as
                // this request entered it. Ours is undone at Stripe unless it is the very
                // PaymentMethod that record holds (two posts of one Stripe.js
                // PaymentMethod): detaching it would take the card from the winner.
                let view = self.existing_view(&tenant.id, &customer, existing).await?;
                let same = view.payment_method.stripe.as_ref().map(|s| &s.source_id)
                    == Some(&stripe.source_id);
                if !same {
                    self.compensate(auth, undo).await;
                }
                return Ok(Added {
                    view: as_entered(view, &pm.holder, &pm.email),
                    created: false,
                    collection: None,
                });
            }
            Err(e) => {
                self.compensate(auth, undo).await;
                return Err(e.into());
            }
        }

        // Nothing is collected from a card that waits for its authentication.
        if let Saved::Pending(_, si) = &saved {
            return Err(Self::action_required(&pm, si));
        }
        let mut customer = customer;
        if make_default || customer.default_payment_method_id.is_none() {
            customer.default_payment_method_id = Some(pm.id);
            // A PaymentMethod saved through a SetupIntent is no one's default at Stripe
            // (a source attached first was): Stripe's default follows, as `make_default`'s.
            self.follow_on_stripe(auth, &pm).await;
        }
        let collection = match collect_minor {
            Some(amount) => Some(
                self.collect(
                    auth,
                    tenant,
                    &mut pm,
                    &stripe.customer_id,
                    amount,
                    self.ids.request_id(),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Added {
            view: CardView::of(pm, &customer),
            created: true,
            collection,
        })
    }

    /// The card is on file already: nothing is added. A matching fingerprint proves only
    /// the number, so the entered details must pass at Stripe first (a verification copy,
    /// attached where Stripe checks the CVC and expiry, then detached again) before the
    /// record on file is answered: otherwise the number alone would read the stored holder,
    /// and a mismatch would answer faster than a decline. A collection asked for then
    /// happens on the card on file, and only if the expiry entered is the one on file.
    async fn on_file(
        &self,
        tenant: &Tenant,
        auth: &StripeAuth,
        customer: &Customer,
        mut view: CardView,
        entry: &CardEntry,
    ) -> Result<Added, Error> {
        let on_file = view.payment_method.stripe.clone();
        let stripe_customer = match &on_file {
            Some(s) => s.customer_id.clone(),
            None => self.stripe_customer_of(auth, customer).await?,
        };
        let pm = &mut view.payment_method;
        let request = self.ids.request_id();
        let keys = (
            IdempotencyKey::recheck_token(pm.id, request),
            IdempotencyKey::recheck_attach(pm.id, request),
        );
        let copy = self
            .verify_at_stripe(auth, &stripe_customer, entry, keys)
            .await?;
        let undo = Undo::Detach {
            customer: stripe_customer.clone(),
            card: copy,
        };
        self.compensate(auth, undo).await;
        let collection = match (entry.collect_minor, on_file) {
            (Some(amount), Some(s)) => {
                let stored = match pm.instrument {
                    Instrument::Card {
                        exp_month,
                        exp_year,
                        ..
                    } => Some((exp_month, exp_year)),
                    Instrument::Ach { .. } => None,
                };
                if stored != Some((entry.expiry.month, entry.expiry.year)) {
                    return Err(Error::Declined {
                        reason: format!(
                            "the expiry entered differs from card {}'s on file; nothing was collected",
                            pm.id
                        ),
                    });
                }
                Some(
                    self.collect(auth, tenant, pm, &s.customer_id, amount, request)
                        .await?,
                )
            }
            _ => None,
        };
        Ok(Added {
            view: as_entered(view, &entry.holder, &entry.email),
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
        (token_key, attach_key): (IdempotencyKey, IdempotencyKey),
    ) -> Result<String, Error> {
        let name = holder_name(&entry.holder);
        let details = card_details(entry, &name);
        let token = self
            .gateway
            .create_card_token(auth, &details, token_key.as_str())
            .await
            .map_err(validation_error)?;
        let attached = self
            .gateway
            .attach_source(auth, stripe_customer, &token, attach_key.as_str())
            .await;
        match attached {
            // Stripe attached the card but its issuer said the CVC is wrong: declined, and
            // undone. The number and expiry alone must neither store a card nor read the
            // one on file.
            Ok(card) if card.cvc_check.as_deref() == Some("fail") => {
                let undo = Undo::Detach {
                    customer: stripe_customer.to_owned(),
                    card: card.id,
                };
                self.compensate(auth, undo).await;
                Err(Error::Declined {
                    reason: "the card's CVC check failed".into(),
                })
            }
            Ok(card) => Ok(card.id),
            Err(e) => {
                self.undo_lost_attach(auth, stripe_customer, &token, &e)
                    .await;
                Err(validation_error(e))
            }
        }
    }

    /// Charges a card once, under this request's idempotency key. A card whose issuer asks
    /// for 3-D Secure for the payment answers [`Error::ActionRequired`] (a `payment_intent`:
    /// the page finishes it with `confirmCardPayment`), and its outcome comes by the
    /// webhook; the card stays on file. A failure leaves the
    /// card stored and counts against it; Stripe's reason is kept on the record as its
    /// `last_error` and logged, and the caller is told only that the payment was declined.
    async fn collect(
        &self,
        auth: &StripeAuth,
        tenant: &Tenant,
        pm: &mut PaymentMethod,
        stripe_customer: &str,
        amount: u64,
        request: uuid::Uuid,
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
                IdempotencyKey::collect(pm.id, request).as_str(),
            )
            .await;
        let (intent, outcome, reason) = match result {
            Ok(pi) if pi.status == "succeeded" => (Some(pi.id), Some(true), None),
            Ok(pi) if pi.status == "requires_action" => {
                return Err(Error::ActionRequired(Box::new(ActionRequired {
                    kind: "payment_intent",
                    intent_id: pi.id,
                    client_secret: pi.client_secret.unwrap_or_default(),
                    next_action: pi.next_action.unwrap_or_default(),
                    payment_method_id: Some(pm.id.get()),
                    expires_at: None,
                })))
            }
            Ok(pi) => {
                let status = format!("The payment is {}.", pi.status);
                (Some(pi.id), Some(false), Some(status))
            }
            Err(StripeError::Api { message, .. }) => (None, Some(false), Some(message)),
            // No answer: the charge may or may not have happened, so it is not a failure.
            Err(e) => {
                tracing::warn!(error = %e, card = %pm.id, "a collection went unanswered");
                (None, None, None)
            }
        };
        let message = match (outcome, &reason) {
            (Some(false), Some(reason)) => {
                tracing::info!(%reason, card = %pm.id, "collection declined");
                self.store.record_payment_failure(pm, reason).await?;
                pm.failures += 1;
                pm.last_error = Some(reason.clone());
                Some(COLLECTION_DECLINED.to_owned())
            }
            (None, _) => Some(COLLECTION_UNKNOWN.to_owned()),
            _ => None,
        };
        Ok(Collection {
            succeeded: outcome,
            amount_minor: amount,
            currency: tenant.currency.clone(),
            payment_intent_id: intent,
            message,
        })
    }
}

/// "First Last", as Stripe takes a cardholder's name.
fn holder_name(holder: &Holder) -> String {
    [&holder.first_name, &holder.last_name]
        .iter()
        .filter_map(|t| t.as_ref().map(Text::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The entered card as Stripe takes it: number, CVC, expiry, and the AVS fields.
fn card_details<'a>(entry: &'a CardEntry, name: &'a str) -> CardDetails<'a> {
    fn text(t: &Option<Text>) -> Option<&str> {
        t.as_ref().map(Text::as_str)
    }
    let holder = &entry.holder;
    CardDetails {
        number: &entry.number,
        cvv: &entry.cvv,
        expiry: entry.expiry,
        name,
        address_line1: text(&holder.address1),
        address_line2: text(&holder.address2),
        address_city: text(&holder.city),
        address_zip: text(&holder.postal_zip),
        address_country: holder.country_id.and_then(geo::country).map(|c| c.alpha2),
    }
}

/// What the browser is told of a failed collection; Stripe's reason stays on the record.
pub const COLLECTION_DECLINED: &str = "The payment was declined.";
/// What it is told when Stripe did not answer.
pub const COLLECTION_UNKNOWN: &str =
    "The payment processor did not answer in time; the payment may have gone through.";

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

/// A card error (402, `card_error`) is a decline: its words (which detail was wrong) go to
/// the log only. Any other error object is ours (a revoked key, a missing Stripe
/// customer): not the cardholder's decline, so it neither counts toward a lockout nor
/// reads as one.
pub(super) fn validation_error(e: StripeError) -> Error {
    match e {
        e if e.card_declined().is_some() => Error::Declined {
            reason: e.card_declined().unwrap_or_default().to_owned(),
        },
        StripeError::OutOfTime(e) => e.into(),
        other => Error::upstream(
            "Stripe is unavailable; the card was not stored. Try again.",
            other,
        ),
    }
}

/// The card on file as a request that entered it again may see it: the record, with the
/// holder and email this request entered, never the stored ones. A caller who knows a
/// card's number and expiry must not read whose it is, where they live or their email.
fn as_entered(mut view: CardView, holder: &Holder, email: &Option<Text>) -> CardView {
    view.payment_method.holder = holder.clone();
    view.payment_method.email = email.clone();
    view
}
