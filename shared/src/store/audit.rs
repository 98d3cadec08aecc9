//! The audit trail in DynamoDB ([`AuditLog`]). A tenant's chain is one partition,
//! `AUDIT#<tid>`, its events under `SEQ#<seq, 20 digits>`; the chain's head (last number
//! and hash) is a separate item, `AUDITHEAD#<tid>` / `HEAD`, so that the functions' IAM can
//! keep `AUDIT#…` put-only. Events naming a customer are also in the sparse index
//! `AuditByCustomer` (`AUDITPK` = `AUDIT#<tid>#<customer>`, `AUDITSK` = seq): one Query
//! per page of a customer's events, and the tenant in the key keeps tenants apart.
//!
//! An append is two round trips: a consistent GetItem of the head, then one
//! TransactWriteItems that creates the event (`attribute_not_exists`) and moves the head
//! on condition it is still where it was read. Two appends racing for one number: one
//! transaction is cancelled, and it reads the head again.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::items::{self, s};
use super::tx::{build_err, TxError};
use super::{Item, Store, StoreError};
use crate::domain::audit::GENESIS;
use crate::domain::{AuditEvent, AuditRecord, ChainHead, CustomerId, TenantId};
use crate::ports::AuditLog;

pub const AUDIT_INDEX: &str = "AuditByCustomer";
/// Appends to one hot chain cancel each other; each retry waits a random time under a
/// doubling cap ("full jitter"), so that twenty racing writers spread out instead of
/// colliding again in step, as they did with a fixed delay plus a little jitter.
const CONFLICT_RETRIES: u32 = 10;
const BACKOFF_BASE_MS: u64 = 20;
const BACKOFF_CAP_MS: u64 = 1_000;

pub fn audit_pk(tenant: &str) -> String {
    format!("AUDIT#{tenant}")
}

fn head_key(tenant: &str) -> Item {
    items::key(format!("AUDITHEAD#{tenant}"), "HEAD")
}

fn seq_sk(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn record_item(r: &AuditRecord) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(r)?;
    item.extend(items::key(audit_pk(&r.event.tenant_id), &seq_sk(r.seq)));
    if let Some(c) = r.event.customer_id {
        item.insert(
            "AUDITPK".into(),
            s(format!("AUDIT#{}#{c}", r.event.tenant_id)),
        );
        item.insert("AUDITSK".into(), n(r.seq));
    }
    Ok(item)
}

fn record_of(mut item: Item) -> Result<AuditRecord, StoreError> {
    item.remove("AUDITPK");
    item.remove("AUDITSK");
    items::from_item(item)
}

fn head_of(item: &Item) -> Option<ChainHead> {
    Some(ChainHead {
        seq: items::id_attr::<u64>(item, "seq")?,
        hash: item.get("hash")?.as_s().ok()?.clone(),
    })
}

fn put(
    table: &str,
    item: Item,
    condition: &str,
    prev: Option<u64>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    if let Some(prev) = prev {
        p = p.expression_attribute_values(":prev", n(prev));
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(build_err)?)
        .build())
}

impl Store {
    async fn head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .get_item(head_key(tenant), true)
            .await?
            .as_ref()
            .and_then(head_of))
    }
}

#[async_trait]
impl AuditLog for Store {
    async fn append(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let tenant = event.tenant_id.clone();
        for attempt in 0..=CONFLICT_RETRIES {
            if attempt > 0 {
                let cap = (BACKOFF_BASE_MS << attempt).min(BACKOFF_CAP_MS);
                let wait = rand::random::<u64>() % (cap + 1);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            let head = self.head(&tenant).await?;
            let (seq, prev_hash) = head
                .as_ref()
                .map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash.clone()));
            let record = AuditRecord::chain(seq + 1, &prev_hash, event.clone());
            let mut new_head = head_key(&tenant);
            new_head.insert("seq".into(), n(record.seq));
            new_head.insert("hash".into(), s(record.hash.clone()));
            let head_write = match head {
                None => put(&self.table, new_head, "attribute_not_exists(PK)", None)?,
                Some(_) => put(&self.table, new_head, "seq = :prev", Some(seq))?,
            };
            let writes = vec![
                put(
                    &self.table,
                    record_item(&record)?,
                    "attribute_not_exists(PK)",
                    None,
                )?,
                head_write,
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(record),
                Err(TxError::Cancelled(_)) => continue,
                Err(TxError::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(AUDIT_INDEX)
            .expression_attribute_values(":pk", s(format!("AUDIT#{tenant}#{customer}")))
            .scan_index_forward(false)
            .limit(limit.clamp(1, crate::ports::AUDIT_PAGE_MAX) as i32);
        q = match before {
            Some(b) => q
                .key_condition_expression("AUDITPK = :pk AND AUDITSK < :before")
                .expression_attribute_values(":before", n(b)),
            None => q.key_condition_expression("AUDITPK = :pk"),
        };
        let out = q.send().await?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(record_of)
            .collect()
    }

    async fn tenant_chain(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<AuditRecord>, Option<ChainHead>), StoreError> {
        // Every event, then the head: an event and its head move together, so events past
        // the head mean a rewound head (verify reports it), never events hidden by one.
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(audit_pk(tenant.as_str())))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await?;
        let records = pages
            .into_iter()
            .map(record_of)
            .collect::<Result<Vec<_>, _>>()?;
        let head = self.head(tenant.as_str()).await?;
        Ok((records, head))
    }
}
