//! Building blocks for transactions, shared by every part of the store.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::{Item, StoreError};

/// An SDK builder's "missing field" error: a bug of ours, reported as a store error.
pub fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Dynamo(e.to_string())
}

/// A Put that only creates: it fails if the key exists.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(build_err)?,
        )
        .build())
}

/// Which of a cancelled transaction's items failed their condition, in request order.
pub fn cancelled_by_conditions<R>(e: &SdkError<TransactWriteItemsError, R>) -> Vec<usize> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect(),
        _ => Vec::new(),
    }
}
