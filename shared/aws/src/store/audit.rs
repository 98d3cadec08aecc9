//! The audit trail in DynamoDB ([`AuditLog`], [`AuditChainStore`]). Three kinds of item:
//!
//! - pending events, `AUDITQ#<tid>` / `<event id>`: written by the request path, each in
//!   the transaction of its change (`tx::Store::transact` takes them from the
//!   [`Outbox`](crate::domain::Outbox)), or alone with `attribute_not_exists`. No read of
//!   anything first, and no item that two writes share: a tenant's writes never wait for
//!   each other here. The chainer adds `seq` once it has chained one; nothing else changes
//!   them, and they carry no `expiresAt`, so the table's TTL never deletes one.
//! - the chain, `AUDIT#<tid>` / `SEQ#<seq, 20 digits>`: written only by the chainer.
//!   Events naming a customer are also in the sparse index `AuditByCustomer` (`AUDITPK` =
//!   `AUDIT#<tid>#<customer>`, `AUDITSK` = seq): one Query per page of a customer's events.
//! - the chain's head, `AUDITHEAD#<tid>` / `HEAD`: the last number, its hash and the
//!   head's MAC; written only by the chainer, on condition it is where it was read.

use super::Backend;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::items::{self, s};
use super::tx::{self, build_err, TxError, Write};
use super::{Item, Store, StoreError};
use crate::domain::audit::pending_fault;
use crate::domain::{
    AuditEvent, AuditRecord, ChainHead, CustomerId, PendingEvent, TenantId, Trail,
};
use crate::ports::{AuditChainStore, AuditLog, PendingKey, StoredPending};

pub const AUDIT_INDEX: &str = "AuditByCustomer";

pub fn audit_pk(tenant: &str) -> String {
    format!("AUDIT#{tenant}")
}

pub fn pending_pk(tenant: &str) -> String {
    format!("AUDITQ#{tenant}")
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

fn pending_key(tenant: &str, event_id: &str) -> Item {
    items::key(pending_pk(tenant), event_id)
}

fn pending_item(e: &AuditEvent) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(e).backend()?;
    item.extend(pending_key(&e.tenant_id, &e.event_id));
    Ok(item)
}

/// The Puts of `events` as pending events, each only if new: for a change's transaction.
pub(super) fn pending_writes(table: &str, events: &[AuditEvent]) -> Result<Vec<Write>, StoreError> {
    events
        .iter()
        .map(|e| tx::put_new(table, pending_item(e)?))
        .collect()
}

/// A pending item's event, or `None` if it is not one (a field missing or malformed, or
/// a `seq` that is not a number): such an item is any request-path role's to Put.
fn pending_of(mut item: Item) -> Option<PendingEvent> {
    let seq = match item.remove("seq") {
        None => None,
        Some(v) => Some(v.as_n().ok()?.parse::<u64>().ok()?),
    };
    Some(PendingEvent {
        event: items::from_item(item).ok()?,
        seq,
    })
}

fn sk_of(item: &Item) -> String {
    item.get("SK")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// A record of `tenant`'s chain: its keys from `tenant` and the number, never from the
/// event's body.
fn record_item(tenant: &str, r: &AuditRecord) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(r).backend()?;
    item.extend(items::key(audit_pk(tenant), &seq_sk(r.seq)));
    if let Some(c) = r.event.customer_id {
        item.insert("AUDITPK".into(), s(format!("AUDIT#{tenant}#{c}")));
        item.insert("AUDITSK".into(), n(r.seq));
    }
    Ok(item)
}

/// A record of `tenant`'s chain, if `item` is one: its keys `AUDIT#<tenant>` /
/// `SEQ#<its seq>` and its event the tenant's. The index `AuditByCustomer` returns any
/// item carrying `AUDITPK`, so its keys are what say it is a record.
fn record_of(tenant: &str, mut item: Item) -> Option<AuditRecord> {
    let pk = item.get("PK").and_then(|v| v.as_s().ok()).cloned();
    let sk = sk_of(&item);
    item.remove("AUDITPK");
    item.remove("AUDITSK");
    let r: AuditRecord = items::from_item(item).ok()?;
    (pk.as_deref() == Some(audit_pk(tenant).as_str())
        && sk == seq_sk(r.seq)
        && r.event.tenant_id == tenant)
        .then_some(r)
}

fn head_of(item: &Item) -> Option<ChainHead> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    Some(ChainHead {
        seq: items::id_attr::<u64>(item, "seq")?,
        hash: text("hash")?,
        mac: text("mac").unwrap_or_default(),
    })
}

#[async_trait]
impl AuditLog for Store {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        match self.put_new(pending_item(&event)?).await {
            // Its own id, already written: a retry of this very Put.
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // At most `limit`: DynamoDB's Limit is at least 1.
        if limit == 0 {
            return Ok(Vec::new());
        }
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
        let out = q.send().await.backend()?;
        let mut found = Vec::new();
        for item in out.items.unwrap_or_default() {
            let keys = (item.get("PK").cloned(), item.get("SK").cloned());
            match record_of(tenant.as_str(), item) {
                Some(r) if r.event.customer_id == Some(customer.get()) => found.push(r),
                // Written around the chainer (the index takes any item with AUDITPK).
                _ => tracing::warn!(?keys, "an item in AuditByCustomer is not a record; dropped"),
            }
        }
        Ok(found)
    }

    async fn tenant_trail(&self, tenant: &TenantId) -> Result<Trail, StoreError> {
        // Read again while the chainer moves the head meanwhile: a trail read as of one
        // head is `settled`, and checked strictly. Still moving after a few reads, the
        // last is checked as of its first head read (see `verify_shape`).
        let mut trail = self.trail_once(tenant.as_str()).await?;
        for _ in 0..4 {
            if self.chain_head(tenant.as_str()).await? == trail.head {
                trail.settled = true;
                break;
            }
            trail = self.trail_once(tenant.as_str()).await?;
        }
        Ok(trail)
    }
}

impl Store {
    /// One read of a trail: its head, then its pending events, then its records (see the
    /// port: a chain commit between two of them is then no break).
    async fn trail_once(&self, t: &str) -> Result<Trail, StoreError> {
        let head = self.chain_head(t).await?;
        let mut trail = Trail {
            head,
            ..Trail::default()
        };
        for item in self.partition(pending_pk(t)).await? {
            let sk = sk_of(&item);
            let p = pending_of(item);
            match pending_fault(t, &sk, p.as_ref()) {
                None => trail.pending.extend(p),
                Some(why) => trail
                    .unreadable
                    .push((format!("{}/{sk}", pending_pk(t)), why)),
            }
        }
        for item in self.partition(audit_pk(t)).await? {
            let sk = sk_of(&item);
            match record_of(t, item) {
                Some(r) => trail.records.push(r),
                None => trail.unreadable.push((
                    format!("{}/{sk}", audit_pk(t)),
                    "not a record of this chain",
                )),
            }
        }
        Ok(trail)
    }
}

#[async_trait]
impl AuditChainStore for Store {
    async fn pending_events(&self, keys: &[PendingKey]) -> Result<Vec<StoredPending>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let keys = chunk
                .iter()
                .map(|k| pending_key(&k.tenant, &k.event_id))
                .collect();
            for item in self.batch_get(keys, true).await? {
                let pk = item.get("PK").and_then(|v| v.as_s().ok()).cloned();
                let key = PendingKey {
                    tenant: pk
                        .as_deref()
                        .and_then(|pk| pk.strip_prefix(&pending_pk("")))
                        .unwrap_or_default()
                        .to_owned(),
                    event_id: sk_of(&item),
                };
                found.push(StoredPending {
                    key,
                    pending: pending_of(item),
                });
            }
        }
        Ok(found)
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .get_item(head_key(tenant), true)
            .await?
            .as_ref()
            .and_then(head_of))
    }

    async fn extend_chain(
        &self,
        tenant: &str,
        prev: Option<&ChainHead>,
        records: &[AuditRecord],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(records.len() * 2 + 1);
        for r in records {
            writes.push(tx::put_new(&self.table, record_item(tenant, r)?)?);
            let mark = Update::builder()
                .table_name(&self.table)
                .set_key(Some(pending_key(tenant, &r.event.event_id)))
                .update_expression("SET seq = :seq")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(seq)")
                .expression_attribute_values(":seq", n(r.seq));
            writes.push(tx::update(mark)?);
        }
        let mut item = head_key(tenant);
        item.insert("seq".into(), n(head.seq));
        item.insert("hash".into(), s(head.hash.clone()));
        item.insert("mac".into(), s(head.mac.clone()));
        writes.push(match prev {
            None => tx::put_new(&self.table, item)?,
            Some(p) => {
                let put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("seq = :prev AND #h = :hash")
                    .expression_attribute_names("#h", "hash")
                    .expression_attribute_values(":prev", n(p.seq))
                    .expression_attribute_values(":hash", s(p.hash.clone()))
                    .build()
                    .map_err(build_err)?;
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(put)
                    .build()
            }
        });
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(_)) => Err(StoreError::Conflict),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
