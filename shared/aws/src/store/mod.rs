//! The DynamoDB adapter of the [`CardStore`](crate::ports::CardStore) port: one table, keys
//! designed for the access patterns. The key schema is in the README ("Key schema"), and
//! made in one place, [`items`].

pub mod audit;
mod customers;
mod items;
mod links;
mod once;
mod payment_methods;
mod rehome;
mod tenants;
mod tx;
mod velocity;
mod webhooks;

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::{AttributeValue, KeysAndAttributes},
    Client,
};
use serde::de::DeserializeOwned;

pub use crate::ports::StoreError;
use tx::build_err;
pub use webhooks::Backfill;

/// The SDK's and serde_dynamo's errors as the store's (the port's error type lives in the
/// core, so this adapter converts with `.backend()?` rather than a `From` impl).
pub(crate) trait Backend<T> {
    fn backend(self) -> Result<T, StoreError>;
}

/// The SDK's error, kept whole as the store's backend error (its sources carry the
/// service's code and message).
impl<T, E, R> Backend<T> for Result<T, SdkError<E, R>>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn backend(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}

impl<T> Backend<T> for Result<T, serde_dynamo::Error> {
    fn backend(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Encoding(e.into()))
    }
}

pub type Item = std::collections::HashMap<String, AttributeValue>;

/// The Stripe customer an `if_not_exists` update of `stripeCustomerId` left in place
/// (`ReturnValues: UPDATED_NEW`): ours, or the one a concurrent writer set first.
fn updated_stripe_customer(attributes: Option<Item>) -> Result<String, StoreError> {
    attributes
        .and_then(|a| a.get("stripeCustomerId")?.as_s().ok().cloned())
        .ok_or(StoreError::Missing("stripeCustomerId"))
}

/// A single-item write whose condition did not hold.
fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

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

    // ---- plumbing: every single-item read and write goes through these -------------

    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        // A change with audit events: a transaction of the Put and its events, still one
        // round trip.
        if !crate::domain::Outbox::staged().is_empty() {
            let put = tx::put_new(&self.table, item)?;
            return match self.transact(vec![put]).await {
                Ok(()) => Ok(()),
                Err(tx::TxError::Cancelled(failed)) if failed == [0] => {
                    Err(StoreError::AlreadyExists)
                }
                Err(e) => Err(e.into()),
            };
        }
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
            Err(e) if condition_failed(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    /// A conditional UpdateItem (`u` without its table): whether its condition held. With
    /// a change's audit events staged, a transaction of it and them, still one round trip.
    async fn update_if(
        &self,
        u: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    ) -> Result<bool, StoreError> {
        let u = u.table_name(&self.table).build().map_err(build_err)?;
        if !crate::domain::Outbox::staged().is_empty() {
            let write = aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .update(u)
                .build();
            return match self.transact(vec![write]).await {
                Ok(()) => Ok(true),
                Err(tx::TxError::Cancelled(failed)) if failed == [0] => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(e)),
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
            .await
            .backend()?;
        Ok(out.item)
    }

    /// Every item of one customer's partition (the customer, its cards, its links),
    /// read consistently: one Query, paged.
    async fn customer_partition(
        &self,
        customer: crate::domain::CustomerId,
    ) -> Result<Vec<Item>, StoreError> {
        self.partition(items::customer_pk(customer)).await
    }

    /// Every item of the partition `pk`, read consistently: one Query, paged.
    async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .backend()
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
            .await
            .backend()?;
        pages.into_iter().map(items::from_item).collect()
    }

    /// Every item of `keys` that exists (at most 100 keys), retrying the keys DynamoDB
    /// leaves unprocessed under load, so that "absent" never means "throttled".
    async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(build_err)?,
        );
        for attempt in 0..5u32 {
            let Some(request) = pending.take() else {
                return Ok(found);
            };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .backend()?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
        }
        match pending {
            None => Ok(found),
            Some(_) => Err(StoreError::backend("BatchGetItem left keys unprocessed")),
        }
    }
}
