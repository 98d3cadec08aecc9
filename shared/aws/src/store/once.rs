//! Idempotency records ([`OnceStore`]): one item per scoped key, `ONCE#<tid>#<key>`, with
//! its state, the request's hash, the attempt that holds it and, once done, the answer.
//! The table's TTL (`expiresAt`) deletes it some time after its window; until then the
//! conditions below treat a record past its window, or an attempt past its in-progress
//! expiry, as absent.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::items::{key, s};
use super::{condition_failed, Item, Store, StoreError};
use crate::domain::{OnceRecord, OnceState, StoredResponse, TenantId};
use crate::ports::{Claim, OnceStore};

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// Free: never written, past its window, or an attempt past its in-progress expiry.
const FREE: &str = "attribute_not_exists(PK) OR expiresAt <= :now_s \
                    OR (#state = :in_progress AND inProgressUntil <= :now_ms)";

fn once_key(tenant: &TenantId, k: &str) -> Item {
    key(format!("ONCE#{tenant}#{k}"), "ONCE")
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item(r: &OnceRecord) -> Result<Item, StoreError> {
    let mut item = once_key(&r.tenant, &r.key);
    item.insert("tenantId".into(), s(r.tenant.as_str()));
    item.insert("requestHash".into(), s(&r.request_hash));
    item.insert("owner".into(), s(&r.owner));
    item.insert("expiresAt".into(), n(r.expires_at));
    match &r.state {
        OnceState::InProgress { until_ms } => {
            item.insert("state".into(), s(IN_PROGRESS));
            item.insert("inProgressUntil".into(), n(*until_ms));
        }
        OnceState::Completed(resp) => {
            item.insert("state".into(), s(COMPLETED));
            let json = serde_json::to_string(resp).map_err(|e| StoreError::Encoding(e.into()))?;
            item.insert("response".into(), s(json));
        }
    }
    Ok(item)
}

fn from_item(tenant: &TenantId, k: &str, item: &Item) -> Result<OnceRecord, StoreError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StoreError::Encoding(format!("once record without {name}").into()))
    };
    let num = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Encoding(format!("once record without {name}").into()))
    };
    let state = if text("state")? == COMPLETED {
        let resp: StoredResponse =
            serde_json::from_str(&text("response")?).map_err(|e| StoreError::Encoding(e.into()))?;
        OnceState::Completed(resp)
    } else {
        OnceState::InProgress {
            until_ms: num("inProgressUntil")?,
        }
    };
    Ok(OnceRecord {
        tenant: tenant.clone(),
        key: k.to_owned(),
        request_hash: text("requestHash")?,
        owner: text("owner")?,
        state,
        expires_at: num("expiresAt")?,
    })
}

/// A write conditioned on its owner: a failed condition means a later attempt took the key
/// over after this one's in-progress expiry, and that attempt's record stands.
fn unless_taken_over<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Ok(()),
        Err(e) => Err(StoreError::backend(e)),
    }
}

#[async_trait]
impl OnceStore for Store {
    /// One conditional PutItem; when a live record holds the key, DynamoDB returns it with
    /// the failure (or, where it does not, one consistent GetItem reads it).
    async fn claim(&self, record: &OnceRecord, now_ms: i64) -> Result<Claim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression(FREE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", n(now_ms.div_euclid(1000)))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let returned = match result {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if condition_failed(&e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(c) => c.item,
                _ => None,
            },
            Err(e) => return Err(StoreError::backend(e)),
        };
        let held = match returned {
            Some(item) => item,
            None => match self
                .get_item(once_key(&record.tenant, &record.key), true)
                .await?
            {
                Some(item) => item,
                // Released between the two calls: the key is free; the caller retries.
                None => return Err(StoreError::Conflict),
            },
        };
        Ok(Claim::Held(from_item(&record.tenant, &record.key, &held)?))
    }

    async fn complete(&self, record: &OnceRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&record.owner))
            .send()
            .await;
        unless_taken_over(result)
    }

    async fn release(&self, tenant: &TenantId, k: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(once_key(tenant, k)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        unless_taken_over(result)
    }
}
