//! The vault's operations, over the store. Functions call these; dialects render them.

use crate::domain::{now, Customer, CustomerId, NewCustomer, TenantId};
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
