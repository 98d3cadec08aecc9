//! Reading, listing, deleting payment methods and choosing the default.

use super::PaymentMethodView;
use crate::domain::{Customer, CustomerId, PaymentMethod, PaymentMethodId, TenantId};
use crate::error::Error;
use crate::store::{Store, StoreError};

pub const PAGE_SIZE_MAX: usize = 100;

/// Fusebill-style paging: `pageNumber` counts from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub number: usize,
    pub size: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            number: 0,
            size: 20,
        }
    }
}

fn views(customer: &Customer, methods: Vec<PaymentMethod>) -> Vec<PaymentMethodView> {
    methods
        .into_iter()
        .map(|pm| PaymentMethodView {
            is_default: customer.default_payment_method_id == Some(pm.id),
            payment_method: pm,
        })
        .collect()
}

fn payment_method_not_found(id: PaymentMethodId) -> Error {
    Error::not_found("Payment method", id)
}

/// A customer's cards, newest first, one page of them, and how many there are in all.
/// One Query reads the customer with every payment method it has.
pub async fn list_cards(
    store: &Store,
    tenant: &TenantId,
    customer: CustomerId,
    page: Page,
) -> Result<(Vec<PaymentMethodView>, usize), Error> {
    let (customer, mut methods) = store
        .customer_with_payment_methods(tenant, customer)
        .await?
        .ok_or_else(|| Error::not_found("Customer", customer))?;
    methods.retain(PaymentMethod::is_card);
    methods.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    let total = methods.len();
    let page: Vec<_> = methods
        .into_iter()
        .skip(page.number.saturating_mul(page.size))
        .take(page.size)
        .collect();
    Ok((views(&customer, page), total))
}

/// One payment method of the tenant: a GSI1 Query, then the customer for `isDefault`.
pub async fn payment_method(
    store: &Store,
    tenant: &TenantId,
    id: PaymentMethodId,
) -> Result<PaymentMethodView, Error> {
    let pm = store
        .payment_method(tenant, id)
        .await?
        .ok_or_else(|| payment_method_not_found(id))?;
    let customer = store
        .get_customer(tenant, pm.customer_id)
        .await?
        .ok_or_else(|| payment_method_not_found(id))?;
    Ok(views(&customer, vec![pm]).remove(0))
}

/// Deletes a card. Fusebill's rule: the default cannot be deleted while the customer has
/// other payment methods; the only one can, and the default is cleared with it.
///
/// A Stripe-imported card is not detached from Stripe: the Stripe customer is the
/// merchant's, and removing the card from cardvault's vault must not change it. A card
/// entered through the transparent redirect sits on cardvault's own Stripe customer, and is
/// detached there once its record is gone.
pub async fn delete_card(
    app: &crate::App,
    tenant: &TenantId,
    id: PaymentMethodId,
) -> Result<(), Error> {
    let store = &app.store;
    let pm = store
        .payment_method(tenant, id)
        .await?
        .filter(PaymentMethod::is_card)
        .ok_or_else(|| payment_method_not_found(id))?;
    let (customer, methods) = store
        .customer_with_payment_methods(tenant, pm.customer_id)
        .await?
        .ok_or_else(|| payment_method_not_found(id))?;
    let is_default = customer.default_payment_method_id == Some(id);
    if is_default && methods.len() > 1 {
        return Err(Error::BadRequest(
            "Cannot delete a default payment method".into(),
        ));
    }
    match store
        .delete_payment_method(&pm, &pm.dedupe_keys(), is_default, None)
        .await
    {
        Ok(()) => {
            if let (true, Some(s)) = (pm.stored_in_vault, &pm.stripe) {
                let settings = app.tenant(tenant).await?;
                let auth = app.stripe_credentials(&settings).await?;
                let detached = app
                    .stripe()
                    .detach_source(&auth, &s.customer_id, &s.source_id);
                if let Err(e) = detached.await {
                    tracing::error!(error = %e, "a deleted card is still attached at Stripe");
                }
            }
            Ok(())
        }
        Err(StoreError::Conflict) => Err(Error::Conflict(
            "The payment method or its customer changed during the request; try again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Makes a payment method its customer's default: one TransactWriteItems that checks the
/// payment method still exists and sets the customer's single default attribute. However
/// many run at once, the customer ends with exactly one default.
pub async fn set_default(
    store: &Store,
    tenant: &TenantId,
    customer: CustomerId,
    id: PaymentMethodId,
) -> Result<(), Error> {
    let pm = store
        .payment_method(tenant, id)
        .await?
        .filter(|pm| pm.customer_id == customer)
        .ok_or_else(|| payment_method_not_found(id))?;
    match store
        .set_default_payment_method(tenant, customer, pm.id)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(payment_method_not_found(id)),
        Err(e) => Err(e.into()),
    }
}
