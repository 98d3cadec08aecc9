//! Importing a card or bank account that already lives in a Stripe customer (the merchant
//! API's `paymentMethodImport`).

use super::{card_parts, checked_last4, split_name, CardView, Vault};
use crate::domain::AuditAction;
use crate::domain::{
    stripe_dedupe_key, AtStripe, Holder, ImportRequest, Instrument, PaymentMethod, StripeRef,
    TenantId,
};
use crate::error::Error;
use crate::ports::{
    Clock, Created, DefaultRule, Ids, PaymentGateway, PaymentMethodStore, Ports, Source,
    StoreError, StripeAuth, StripeError,
};
use crate::vault::credentials::{connection, StripeRoute};

impl<P: Ports> Vault<P> {
    /// Retrieves the source from the Stripe customer and stores it for the customer. The
    /// same source imported twice for the same customer answers the first record.
    ///
    /// Round trips: one BatchGetItem (customer + dedupe marker), the tenant (on a cache
    /// miss), one Stripe GET, one TransactWriteItems. Nothing is written unless Stripe answered with the source.
    pub async fn import_card(
        &self,
        tenant_id: &TenantId,
        route: StripeRoute,
        req: ImportRequest,
    ) -> Result<CardView, Error> {
        let dedupe = stripe_dedupe_key(req.source.as_str());
        let (customer, existing) = self
            .store
            .customer_and_dedupe(tenant_id, req.customer_id, std::slice::from_ref(&dedupe))
            .await?;
        let customer = customer.ok_or_else(|| Error::not_found("Customer", req.customer_id))?;
        // The route is checked before a repeated import is answered: the wrong route is
        // the wrong route whatever the vault holds (the tenant is cached when warm).
        let tenant = self.tenant(tenant_id).await?;
        connection(&tenant, route)?;
        if let Some(id) = existing {
            return self.existing_view(tenant_id, &customer, id).await;
        }

        let auth = self.stripe_auth(&tenant, route).await?;
        let source = match self
            .gateway
            .retrieve_source(&auth, req.stripe_customer.as_str(), req.source.as_str())
            .await
        {
            Ok(s) => s,
            Err(e) => return Err(self.source_error(&auth, e, &req).await),
        };
        let payment_method = self.imported(source, &req, tenant_id)?;

        // The first payment method becomes the default (if_not_exists in the transaction).
        let mut customer = customer;
        let event = self
            .event(tenant_id, AuditAction::CardImported, "ok")
            .customer(customer.id)
            .payment_method(payment_method.id)
            .object(req.source.as_str());
        let dedupe = [dedupe];
        let create =
            self.store
                .create_payment_method(&payment_method, &dedupe, DefaultRule::IfNone);
        match self.recorded(vec![event], create).await {
            Ok(Created::New) => {
                if customer.default_payment_method_id.is_none() {
                    customer.default_payment_method_id = Some(payment_method.id);
                }
                Ok(CardView::of(payment_method, &customer))
            }
            Ok(Created::Duplicate(id)) => self.existing_view(tenant_id, &customer, id).await,
            Err(StoreError::Missing(_)) => Err(Error::not_found("Customer", req.customer_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Stripe's "not found" does not say which id it did not find; asking for the customer
    /// does (only on this failure path, so a good import costs no extra call).
    async fn source_error(&self, auth: &StripeAuth, e: StripeError, req: &ImportRequest) -> Error {
        match e {
            StripeError::Api {
                status: 401 | 403, ..
            } => Error::upstream("Stripe rejected this account's Stripe credentials.", e),
            e if e.is_not_found() => {
                let customer = req.stripe_customer.as_str();
                match self.gateway.customer_exists(auth, customer).await {
                    Ok(false) => Error::BadRequest(format!("No such customer: {customer}")),
                    Ok(true) => Error::BadRequest(format!("No such source: {}", req.source)),
                    Err(StripeError::OutOfTime(e)) => e.into(),
                    Err(e) => Error::upstream(
                        "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.",
                        e,
                    ),
                }
            }
            StripeError::Api { message, .. } => Error::BadRequest(message),
            StripeError::OutOfTime(e) => e.into(),
            e @ (StripeError::Unavailable(_) | StripeError::Decode(_)) => Error::upstream(
                "Stripe is unavailable or answered unexpectedly; nothing was stored. Try again.",
                e,
            ),
        }
    }

    /// The payment method a Stripe source becomes.
    fn imported(
        &self,
        source: Source,
        req: &ImportRequest,
        tenant: &TenantId,
    ) -> Result<PaymentMethod, Error> {
        let bad = |what: &str| Error::Upstream {
            message: format!("Stripe's source has no {what}"),
            source: None,
        };
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
        let last4 = checked_last4(last4).ok_or_else(|| bad("last 4 digits"))?;
        Ok(PaymentMethod::at_stripe(AtStripe {
            id: self.ids.payment_method_id(),
            at: self.clock.now(),
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
}
