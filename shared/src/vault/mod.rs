//! The vault's operations, over the store. Functions call these; dialects render them.

pub mod billing;
mod import;
mod payment_methods;
mod redirect;
mod stripe_customers;

pub use import::{import_stripe_source, ImportRequest};
pub use payment_methods::{
    delete_card, list_cards, payment_method, set_default, Page, PAGE_SIZE_MAX,
};
pub use redirect::{add_redirect_card, Added, Collection};
pub use stripe_customers::{
    create_stripe_customer, list_stripe_customers, Offset, LINKS_LIMIT_MAX,
};

use crate::domain::{
    now, Customer, CustomerId, NewCustomer, PaymentMethod, PaymentMethodId, TenantId,
};
use crate::error::Error;
use crate::store::{Store, StoreError};

/// Random ids collide with odds of about n/2^53; a few tries make a clash unobservable.
const ID_ATTEMPTS: usize = 4;

pub async fn create_customer(
    store: &Store,
    tenant: &TenantId,
    details: NewCustomer,
) -> Result<Customer, Error> {
    let at = now();
    let mut customer = Customer {
        id: CustomerId::random(),
        tenant_id: tenant.clone(),
        details,
        default_payment_method_id: None,
        external_ref: None,
        stripe_customer_id: None,
        created_at: at,
        modified_at: at,
    };
    for _ in 0..ID_ATTEMPTS {
        match store.create_customer(&customer).await {
            Ok(()) => return Ok(customer),
            Err(StoreError::AlreadyExists) => customer.id = CustomerId::random(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Internal("could not allocate a customer id".into()))
}

/// A customer of `tenant`; another tenant's answers exactly as a missing one.
pub async fn customer(store: &Store, tenant: &TenantId, id: CustomerId) -> Result<Customer, Error> {
    store
        .get_customer(tenant, id)
        .await?
        .ok_or_else(|| Error::not_found("Customer", id))
}

/// The customer holding an external reference (`account:<id>`, `user:<sub>`), made now if
/// there is none. Two first requests racing make one customer: the loser reads the winner's.
pub async fn customer_for_ref(
    store: &Store,
    tenant: &TenantId,
    ext_ref: &str,
) -> Result<Customer, Error> {
    for _ in 0..ID_ATTEMPTS {
        if let Some(c) = store.customer_by_external_ref(tenant, ext_ref).await? {
            return Ok(c);
        }
        let at = now();
        let customer = Customer {
            id: CustomerId::random(),
            tenant_id: tenant.clone(),
            details: NewCustomer::default(),
            default_payment_method_id: None,
            external_ref: Some(ext_ref.to_owned()),
            stripe_customer_id: None,
            created_at: at,
            modified_at: at,
        };
        match store.create_customer_with_ref(&customer, ext_ref).await {
            Ok(()) => return Ok(customer),
            Err(StoreError::AlreadyExists) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Internal(format!(
        "could not create the customer for {ext_ref}"
    )))
}

/// The Stripe customer holding a vault customer's cards, created on first use with an
/// idempotency key derived from the vault customer (concurrent first cards share one).
pub async fn stripe_customer_of(
    app: &crate::App,
    auth: &crate::stripe::StripeAuth,
    customer: &Customer,
) -> Result<String, Error> {
    if let Some(id) = &customer.stripe_customer_id {
        return Ok(id.clone());
    }
    let created = app
        .stripe()
        .create_vault_customer(
            auth,
            &format!("cardvault-customer-{}-{}", customer.tenant_id, customer.id),
            &customer.id.to_string(),
        )
        .await
        .map_err(|_| {
            Error::Upstream("Stripe is unavailable; nothing was stored. Try again.".into())
        })?;
    Ok(app
        .store
        .link_stripe_customer(&customer.tenant_id, customer.id, &created)
        .await?)
}

/// Compensation after a failed write: a card attached at Stripe must not stay there with no
/// record of it. Best effort; a failure is logged with the ids needed to finish by hand.
pub async fn detach_unrecorded(
    app: &crate::App,
    auth: &crate::stripe::StripeAuth,
    stripe_customer: &str,
    card: &str,
) {
    if let Err(e) = app
        .stripe()
        .detach_source(auth, stripe_customer, card)
        .await
    {
        tracing::error!(error = %e, stripe_customer, card, "an unrecorded card is still attached at Stripe");
    }
}

/// A payment method with what the customer record says about it.
#[derive(Clone, Debug)]
pub struct PaymentMethodView {
    pub payment_method: PaymentMethod,
    pub is_default: bool,
}

async fn existing_view(
    store: &Store,
    tenant: &TenantId,
    customer: &Customer,
    id: PaymentMethodId,
) -> Result<PaymentMethodView, Error> {
    // A consistent read in the customer's partition: the marker was just read consistently,
    // and GSI1 may not have the item yet.
    let payment_method = store
        .payment_method_of(customer.id, id)
        .await?
        .filter(|pm| &pm.tenant_id == tenant)
        .ok_or_else(|| Error::Internal(format!("dedupe marker points at missing {id}")))?;
    Ok(PaymentMethodView {
        is_default: customer.default_payment_method_id == Some(id),
        payment_method,
    })
}
