//! Customers: created by merchants, or made on first use for a user or an account (their
//! external reference), and linked to a Stripe customer when their first card needs one.

use super::idempotency::IdempotencyKey;
use super::Vault;
use crate::domain::{Customer, CustomerId, NewCustomer, TenantId};
use crate::error::Error;
use crate::ports::{
    Clock, CustomerStore, Ids, PaymentGateway, Ports, StoreError, StripeAuth, StripeError,
};

/// Random ids collide with odds of about n/2^53; a few tries make a clash unobservable.
pub const ID_ATTEMPTS: usize = 4;

impl<P: Ports> Vault<P> {
    fn new_customer(
        &self,
        tenant: &TenantId,
        details: NewCustomer,
        external_ref: Option<&str>,
    ) -> Customer {
        let at = self.clock.now();
        Customer {
            id: self.ids.customer_id(),
            tenant_id: tenant.clone(),
            details,
            default_payment_method_id: None,
            external_ref: external_ref.map(str::to_owned),
            stripe_customer_id: None,
            created_at: at,
            modified_at: at,
        }
    }

    pub async fn create_customer(
        &self,
        tenant: &TenantId,
        details: NewCustomer,
    ) -> Result<Customer, Error> {
        let mut customer = self.new_customer(tenant, details, None);
        for _ in 0..ID_ATTEMPTS {
            let event = self.customer_created(&customer, None);
            match self
                .recorded(vec![event], self.store.create_customer(&customer))
                .await
            {
                Ok(()) => return Ok(customer),
                Err(StoreError::AlreadyExists) => customer.id = self.ids.customer_id(),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::bug("could not allocate a customer id"))
    }

    /// A customer of `tenant`; another tenant's answers exactly as a missing one.
    pub async fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, Error> {
        self.store
            .get_customer(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("Customer", id))
    }

    /// The customer holding an external reference (`account:<id>`, `user:<sub>`), made now
    /// if there is none. Two first requests racing make one customer: the loser reads the
    /// winner's.
    pub async fn customer_for_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Customer, Error> {
        let mut stale = None;
        for _ in 0..ID_ATTEMPTS {
            if let Some(c) = self.store.customer_by_external_ref(tenant, ext_ref).await? {
                return Ok(c);
            }
            if let Some(c) = self.create_for_ref(tenant, ext_ref, stale).await? {
                return Ok(c);
            }
            // Taken: by a concurrent first request (read next time round), by a clash of
            // ids (made again), or by a reference whose customer was deleted since: the
            // next attempt takes that reference over, if it still names the same customer.
            stale = self
                .store
                .customer_id_by_external_ref(tenant, ext_ref)
                .await?;
        }
        Err(Error::bug(format!(
            "could not create the customer for {ext_ref}"
        )))
    }

    /// The id of the customer holding an external reference, made now if there is none:
    /// one read when it exists, for callers whose conditional write checks the customer
    /// item itself (it may have been deleted since its reference was written).
    pub async fn customer_id_for_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<CustomerId, Error> {
        if let Some(id) = self
            .store
            .customer_id_by_external_ref(tenant, ext_ref)
            .await?
        {
            return Ok(id);
        }
        match self.create_for_ref(tenant, ext_ref, None).await? {
            Some(c) => Ok(c.id),
            // Another first request made it meanwhile.
            None => Ok(self.customer_for_ref(tenant, ext_ref).await?.id),
        }
    }

    /// One attempt at making the customer of an external reference (taking it over from
    /// `stale`, a deleted customer, if given); `None` when the reference (or, rarely, the
    /// id) was taken meanwhile.
    async fn create_for_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
        stale: Option<CustomerId>,
    ) -> Result<Option<Customer>, Error> {
        let customer = self.new_customer(tenant, NewCustomer::default(), Some(ext_ref));
        let event = self.customer_created(&customer, Some(ext_ref));
        let create = self
            .store
            .create_customer_with_ref(&customer, ext_ref, stale);
        match self.recorded(vec![event], create).await {
            Ok(()) => Ok(Some(customer)),
            Err(StoreError::AlreadyExists) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The Stripe customer holding a vault customer's cards, created on first use. The
    /// idempotency key is the vault customer's, so concurrent first cards share one.
    pub async fn stripe_customer_of(
        &self,
        auth: &StripeAuth,
        customer: &Customer,
    ) -> Result<String, Error> {
        if let Some(id) = &customer.stripe_customer_id {
            return Ok(id.clone());
        }
        let key = IdempotencyKey::vault_customer(&customer.tenant_id, customer.id);
        let created = self
            .gateway
            .create_vault_customer(auth, key.as_str(), &customer.id.to_string())
            .await
            .map_err(|e| match e {
                StripeError::OutOfTime(e) => e.into(),
                e => Error::upstream("Stripe is unavailable; nothing was stored. Try again.", e),
            })?;
        Ok(self
            .store
            .link_stripe_customer(&customer.tenant_id, customer.id, &created)
            .await?)
    }
}
