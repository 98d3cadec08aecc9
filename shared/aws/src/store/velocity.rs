//! Card-testing counters ([`VelocityStore`]): one item per subject and window, counted
//! with `ADD`, and deleted by the table's TTL (`expiresAt`) once the window is over.

use super::Backend;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Update};

use super::items;
use super::tx::{self, TxError};
use super::{Store, StoreError};
use crate::ports::{Admission, Counter, VelocityStore};

/// Below its limit, or never counted.
const BELOW: &str = "attribute_not_exists(n) OR n < :limit";
/// Concurrent attempts on one hot counter (a tenant's public key) cancel each other's
/// transactions; each retry waits a little longer.
const CONFLICT_RETRIES: u32 = 4;

const ADD_ONE: &str = "SET expiresAt = if_not_exists(expiresAt, :exp) ADD n :one";

fn exp(c: &Counter) -> AttributeValue {
    AttributeValue::N(c.expires_at.to_string())
}

fn one() -> AttributeValue {
    AttributeValue::N("1".into())
}

fn limit(c: &Counter) -> AttributeValue {
    AttributeValue::N(c.limit.to_string())
}

#[async_trait]
impl VelocityStore for Store {
    /// One TransactWriteItems: a conditional `ADD` per counter and a ConditionCheck; the
    /// cancellation reasons say which limit held it back.
    async fn admit(&self, counts: &[Counter], check: &Counter) -> Result<Admission, StoreError> {
        let table = &self.table;
        for attempt in 0..=CONFLICT_RETRIES {
            let mut writes = Vec::with_capacity(counts.len() + 1);
            for c in counts {
                let u = Update::builder()
                    .table_name(table)
                    .set_key(Some(items::velocity_key(&c.key)))
                    .update_expression(ADD_ONE)
                    .condition_expression(BELOW)
                    .expression_attribute_values(":exp", exp(c))
                    .expression_attribute_values(":one", one())
                    .expression_attribute_values(":limit", limit(c));
                writes.push(tx::update(u)?);
            }
            let cc = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(items::velocity_key(&check.key)))
                .condition_expression(BELOW)
                .expression_attribute_values(":limit", limit(check));
            writes.push(tx::check(cc)?);
            match self.transact(writes).await {
                Ok(()) => return Ok(Admission::Admitted),
                Err(TxError::Cancelled(failed)) => match failed.first() {
                    Some(&i) => return Ok(Admission::Refused(i)),
                    // A conflicting transaction on the same counter: try again.
                    None if attempt < CONFLICT_RETRIES => {
                        tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                    }
                    None => return Err(StoreError::Conflict),
                },
                Err(TxError::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// One UpdateItem.
    async fn count(&self, counter: &Counter) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::velocity_key(&counter.key)))
            .update_expression(ADD_ONE)
            .expression_attribute_values(":exp", exp(counter))
            .expression_attribute_values(":one", one())
            .send()
            .await
            .backend()?;
        Ok(())
    }
}
