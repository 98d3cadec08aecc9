//! Customers and their external references ([`CustomerStore`]).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};

use super::items::{self, key};
use super::tx;
use super::{Store, StoreError};
use crate::domain::{Customer, CustomerId, TenantId};
use crate::ports::CustomerStore;

const EXTREF_SK: &str = "EXTREF";

/// `EXTREF#<tid>#<ref>`: at most one customer per external reference and tenant.
fn extref_key(tenant: &TenantId, ext_ref: &str) -> super::Item {
    key(format!("EXTREF#{tenant}#{ext_ref}"), EXTREF_SK)
}

#[async_trait]
impl CustomerStore for Store {
    async fn create_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.put_new(items::customer(customer)?).await
    }

    /// The customer, if it exists and belongs to `tenant`; `None` otherwise, so that
    /// another tenant's customer is indistinguishable from a missing one.
    async fn get_customer(
        &self,
        tenant: &TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let customer: Option<Customer> = self.get(items::customer_key(id)).await?;
        Ok(customer.filter(|c| &c.tenant_id == tenant))
    }

    /// Customers by id, in one BatchGetItem; other tenants' are left out.
    async fn customers(
        &self,
        tenant: &TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError> {
        let mut unique: Vec<CustomerId> = ids.to_vec();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let keys = unique.into_iter().map(items::customer_key).collect();
        self.batch_get(keys, false)
            .await?
            .into_iter()
            .map(items::from_item::<Customer>)
            .filter(|c| c.as_ref().map_or(true, |c| &c.tenant_id == tenant))
            .collect()
    }

    /// The customer holding an external reference (`user:<sub>`, `account:<id>`) in a
    /// tenant. One GetItem on the reference, one on the customer, both consistent: a
    /// customer a concurrent first request just made must not read as missing, or the
    /// caller would take its reference over as stale.
    async fn customer_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let Some(id) = self.customer_id_by_external_ref(tenant, ext_ref).await? else {
            return Ok(None);
        };
        let customer: Option<Customer> = self
            .get_item(items::customer_key(id), true)
            .await?
            .map(items::from_item)
            .transpose()?;
        Ok(customer.filter(|c| &c.tenant_id == tenant))
    }

    /// One consistent GetItem on the reference.
    async fn customer_id_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        Ok(self
            .get_item(extref_key(tenant, ext_ref), true)
            .await?
            .and_then(|i| items::id_attr::<CustomerId>(&i, "customerId")))
    }

    /// Creates a customer with an external reference, in one transaction with the
    /// reference's uniqueness item, so two concurrent first requests cannot make two
    /// customers. `AlreadyExists` when the reference (or, rarely, the id) is taken: the
    /// caller reads the reference again. With `replacing`, the reference is overwritten
    /// only if it still names that customer and that customer is gone: a live one keeps
    /// its reference whatever a stale read made the caller believe.
    async fn create_customer_with_ref(
        &self,
        customer: &Customer,
        ext_ref: &str,
        replacing: Option<CustomerId>,
    ) -> Result<(), StoreError> {
        let mut reference = extref_key(&customer.tenant_id, ext_ref);
        reference.insert(
            "customerId".into(),
            AttributeValue::N(customer.id.to_string()),
        );
        let mut writes = vec![tx::put_new(&self.table, items::customer(customer)?)?];
        match replacing {
            None => writes.push(tx::put_new(&self.table, reference)?),
            Some(old) => {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(reference))
                    .condition_expression("customerId = :old")
                    .expression_attribute_values(":old", AttributeValue::N(old.to_string()))
                    .build()
                    .map_err(tx::build_err)?;
                writes.push(TransactWriteItem::builder().put(put).build());
                let gone = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(items::customer_key(old)))
                    .condition_expression("attribute_not_exists(PK)");
                writes.push(tx::check(gone)?);
            }
        }
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(tx::TxError::Cancelled(failed)) if !failed.is_empty() => {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Links a customer to its Stripe customer, unless it already has one; answers the link
    /// that holds (a concurrent first card may have set it first).
    async fn link_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        stripe_customer: &str,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::customer_key(customer)))
            .update_expression("SET stripeCustomerId = if_not_exists(stripeCustomerId, :s)")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":s", AttributeValue::S(stripe_customer.to_owned()))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => super::updated_stripe_customer(out.attributes),
            // Absent, or another tenant's: the state is not what the caller read.
            Err(e) if super::condition_failed(&e) => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}
