//! The DynamoDB store: one table, keys designed for the access patterns.
//!
//! | item            | PK                 | SK         | GSI1PK            | GSI1SK             |
//! |-----------------|--------------------|------------|-------------------|--------------------|
//! | tenant          | `TENANT#<tid>`     | `TENANT`   |                   |                    |
//! | private API key | `APIKEY#<sha256>`  | `APIKEY`   | `TENANT#<tid>`    | `APIKEY#<keyId>`   |
//! | public API key  | `PUBKEY#<key>`     | `PUBKEY`   |                   |                    |
//! | customer        | `CUST#<id>`        | `CUSTOMER` | `TENANT#<tid>`    | `CUST#<id>`        |
//! | allowed origin  | `ORIGIN#<origin>`  | `TENANT#<tid>` |               |                    |
//! | external ref    | `EXTREF#<tid>#<ref>` | `EXTREF` |                   |                    |
//! | Stripe cust. link | `USER#<tid>#<sub>` | `SCUS#<µs:020>#<uuid>` |       |                    |
//! | card token used | `STOKEN#<tid>#<sha256>` | `STOKEN` |                |                    |
//!
//! A customer's cards will sit under the customer's own partition (`CUST#<id>` /
//! `CARD#<id>`), so one Query reads a customer with its cards.
//!
//! An external reference (`user:<sub>` for the user API, `account:<id>` for the billing
//! card API) names the one vault customer of a user or account; the item holds its
//! `customerId` and is written in one transaction with the customer. A user's Stripe
//! customer links sit in the user's partition, sorted by creation (zero-padded
//! microseconds), so one Query lists them; the `STOKEN` item records a card token's one
//! use (its SHA-256, never the token) in the link's transaction.

mod items;
mod links;
mod payment_methods;
mod tx;

pub use items::tenant_payment_method_sk;
pub use links::{LinkWrite, TokenUse};
pub use payment_methods::{Created, DefaultRule};

use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    types::{AttributeValue, Delete, Put, TransactWriteItem},
    Client,
};
use serde::de::DeserializeOwned;

use crate::domain::{ApiKeyRecord, Customer, CustomerId, Tenant, TenantId};
use crate::secret::KeyHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("dynamodb: {0}")]
    Dynamo(String),
    #[error("item encoding: {0}")]
    Encoding(#[from] serde_dynamo::Error),
    /// A create hit an existing key.
    #[error("item already exists")]
    AlreadyExists,
    #[error("{0} not found")]
    Missing(&'static str),
    /// A transaction's condition failed: the state changed under us.
    #[error("conflicting concurrent change")]
    Conflict,
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(e: SdkError<E, R>) -> Self {
        Self::Dynamo(DisplayErrorContext(e).to_string())
    }
}

pub type Item = std::collections::HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    // ---- tenants -------------------------------------------------------------------

    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.put_new(items::tenant(tenant)?).await
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(items::tenant_key(id)).await
    }

    /// Replaces a tenant's settings. The public key's lookup item moves with it in the
    /// same transaction, so a key never points at the wrong tenant.
    pub async fn save_tenant(&self, tenant: &Tenant, old: &Tenant) -> Result<(), StoreError> {
        let mut writes = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(items::tenant(tenant)?))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .map_err(|e| StoreError::Dynamo(e.to_string()))?,
            )
            .build()];
        // The origin index answers CORS preflights, which name no tenant.
        let origins = |t: &Tenant| -> std::collections::BTreeSet<String> {
            t.allowed_origins
                .iter()
                .map(|o| crate::cors::normalise(o))
                .collect()
        };
        let (now, before) = (origins(tenant), origins(old));
        for gone in before.difference(&now) {
            writes.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(items::origin_key(gone, &tenant.id)))
                            .build()
                            .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                    )
                    .build(),
            );
        }
        for added in now.difference(&before) {
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(items::origin_key(added, &tenant.id)))
                            .build()
                            .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                    )
                    .build(),
            );
        }
        if tenant.public_api_key != old.public_api_key {
            if let Some(old_key) = &old.public_api_key {
                writes.push(
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(items::public_key_key(old_key)))
                                .build()
                                .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                        )
                        .build(),
                );
            }
            if let Some(new_key) = &tenant.public_api_key {
                writes.push(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(items::public_key(new_key, &tenant.id)))
                                .condition_expression("attribute_not_exists(PK)")
                                .build()
                                .map_err(|e| StoreError::Dynamo(e.to_string()))?,
                        )
                        .build(),
                );
            }
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await?;
        Ok(())
    }

    /// The tenant a public API key belongs to.
    pub async fn tenant_by_public_key(&self, key: &str) -> Result<Option<TenantId>, StoreError> {
        let item = self.get_item(items::public_key_key(key), false).await?;
        Ok(item
            .and_then(|i| i.get("tenantId").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|s| TenantId::try_from(s).ok()))
    }

    /// Whether any tenant allows this origin (one Query, at most one item read).
    pub async fn origin_allowed(&self, origin: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(items::origin_pk(&crate::cors::normalise(origin))),
            )
            .limit(1)
            .send()
            .await?;
        Ok(out.count() > 0)
    }

    // ---- private API keys ----------------------------------------------------------

    pub async fn create_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(items::api_key(record)?).await
    }

    /// One GetItem on the key's hash.
    pub async fn api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get(items::api_key_key(hash)).await
    }

    pub async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.query_gsi1(&items::tenant_pk(tenant), "APIKEY#").await
    }

    /// Marks a key revoked; it answers 401 from then on.
    pub async fn revoke_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<(), StoreError> {
        let record = self
            .list_api_keys(tenant)
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id)
            .ok_or(StoreError::Missing("api key"))?;
        let now = crate::domain::now()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| StoreError::Dynamo(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::api_key_key(&record.hash)))
            .update_expression("SET revokedAt = if_not_exists(revokedAt, :now)")
            .condition_expression("tenantId = :tenant")
            .expression_attribute_values(":now", AttributeValue::S(now))
            .expression_attribute_values(":tenant", AttributeValue::S(tenant.to_string()))
            .send()
            .await?;
        Ok(())
    }

    // ---- customers -----------------------------------------------------------------

    pub async fn create_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        self.put_new(items::customer(customer)?).await
    }

    /// The customer, if it exists and belongs to `tenant`; `None` otherwise, so that
    /// another tenant's customer is indistinguishable from a missing one.
    pub async fn get_customer(
        &self,
        tenant: &TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let customer: Option<Customer> = self.get(items::customer_key(id)).await?;
        Ok(customer.filter(|c| &c.tenant_id == tenant))
    }

    // ---- plumbing ------------------------------------------------------------------

    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The one GetItem: the raw item, if it exists.
    async fn get_item(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await?;
        Ok(out.item)
    }

    /// A record, decoded; eventually consistent.
    async fn get<T: DeserializeOwned>(&self, key: Item) -> Result<Option<T>, StoreError> {
        self.get_item(key, false)
            .await?
            .map(items::from_item)
            .transpose()
    }

    async fn query_gsi1<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :sk)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":sk", AttributeValue::S(sk_prefix.to_owned()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await?;
        pages.into_iter().map(items::from_item).collect()
    }
}
