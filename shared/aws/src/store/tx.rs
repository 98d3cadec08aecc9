//! The one transaction path: build the writes, send them, decode a cancellation. Every
//! TransactWriteItems in the store goes through [`Store::transact`], which is also where a
//! change's audit events join it (from the [`Outbox`]).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::{ConditionCheckBuilder, UpdateBuilder};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::{audit, Item, Store, StoreError};
use crate::domain::Outbox;

/// An SDK builder's "missing field" error: a bug of ours, reported as a store error.
pub fn build_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

/// One write of a transaction.
pub type Write = TransactWriteItem;

/// A Put that only creates: it fails its condition if the key exists.
pub fn put_new(table: &str, item: Item) -> Result<Write, StoreError> {
    put_if(table, item, Some("attribute_not_exists(PK)"))
}

/// A Put, on `condition` if given.
pub fn put_if(table: &str, item: Item, condition: Option<&str>) -> Result<Write, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A Put on `condition`, with its values and names.
pub fn put_if_values(
    table: &str,
    item: Item,
    condition: &str,
    values: &[(&str, AttributeValue)],
    names: &[(&str, &str)],
) -> Result<Write, StoreError> {
    let mut put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    for (k, v) in values {
        put = put.expression_attribute_values(*k, v.clone());
    }
    for (k, v) in names {
        put = put.expression_attribute_names(*k, *v);
    }
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(build_err)?)
        .build())
}

/// A Delete of `key`, on `condition` if given.
pub fn delete_if(table: &str, key: Item, condition: Option<&str>) -> Result<Write, StoreError> {
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

pub fn update(u: UpdateBuilder) -> Result<Write, StoreError> {
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(build_err)?)
        .build())
}

pub fn check(c: ConditionCheckBuilder) -> Result<Write, StoreError> {
    Ok(TransactWriteItem::builder()
        .condition_check(c.build().map_err(build_err)?)
        .build())
}

/// Why a transaction did not happen.
#[derive(Debug)]
pub enum TxError {
    /// DynamoDB cancelled it: these writes (indices in request order) failed their
    /// condition. Empty when it was cancelled for another reason (a conflicting
    /// transaction in flight).
    Cancelled(Vec<usize>),
    Store(StoreError),
}

impl From<TxError> for StoreError {
    /// A cancellation means the state changed under the caller.
    fn from(e: TxError) -> Self {
        match e {
            TxError::Cancelled(_) => StoreError::Conflict,
            TxError::Store(e) => e,
        }
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl Store {
    /// Sends one TransactWriteItems: all of `writes`, or none. The audit events staged for
    /// this change ride along, after `writes` (so a cancellation's indices are the
    /// caller's); they are taken only when the transaction commits, so a retry carries them
    /// again and a cancelled change leaves no event.
    pub(super) async fn transact(&self, mut writes: Vec<Write>) -> Result<(), TxError> {
        let staged = Outbox::staged();
        writes.extend(audit::pending_writes(&self.table, &staged)?);
        // The SDK retries a timed-out attempt with the same token: one that committed
        // before its answer was lost then answers success (for 10 minutes), instead of
        // failing its own conditions and passing for a conflict the caller would undo.
        let token = uuid::Uuid::new_v4().to_string();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => {
                Outbox::taken();
                Ok(())
            }
            Err(e) => match cancelled_by_conditions(&e) {
                Some(failed) => Err(TxError::Cancelled(failed)),
                None => Err(TxError::Store(StoreError::backend(e))),
            },
        }
    }
}

/// Which of a cancelled transaction's writes failed their condition, in request order;
/// `None` if it was not cancelled at all.
fn cancelled_by_conditions<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<usize>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect(),
        ),
        _ => None,
    }
}
