//! The audit trail: pending events written with their changes, chained per tenant off the
//! request path (`crate::domain::audit`, `crate::chain`). DynamoDB implements it
//! (`crate::store::audit`), and so does `crate::memory`.

use async_trait::async_trait;

use super::{KeyError, StoreError};
use crate::domain::{
    AuditEvent, AuditRecord, ChainHead, CustomerId, PendingEvent, TenantId, Trail,
};

/// The most events one page may ask for.
pub const AUDIT_PAGE_MAX: usize = 100;

/// What the request path does to the trail: add pending events, read chained ones.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Writes `event` pending, on its own: for an event with no change of the vault's to
    /// ride with (a refusal, a Stripe-only effect). One conditional Put; no head is read.
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError>;
    /// One customer's chained events, newest first, at most `limit`, older than `before`
    /// (a sequence number) when given. Other tenants' events are never seen.
    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// A tenant's whole trail (operator tools): its head, then its pending events, then its
    /// records, read in that order, so that a chain commit between the reads only adds
    /// records past the head, and marks past it whose records are read after them
    /// (`verify_shape` checks no further than the head). `Trail::settled` when the head
    /// did not move across the reads. Items of its
    /// partitions that are not its events are in `Trail::unreadable`, not an error.
    async fn tenant_trail(&self, tenant: &TenantId) -> Result<Trail, StoreError>;
}

/// A pending event's key: its tenant and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingKey {
    pub tenant: String,
    pub event_id: String,
}

/// A pending item as read by its key: `pending` is `None` when it is not an event.
#[derive(Clone, Debug)]
pub struct StoredPending {
    pub key: PendingKey,
    pub pending: Option<PendingEvent>,
}

/// What the chainer does to the trail; only its role may.
#[async_trait]
pub trait AuditChainStore: Send + Sync {
    /// The pending items of `keys` (each once) that exist, read consistently.
    async fn pending_events(&self, keys: &[PendingKey]) -> Result<Vec<StoredPending>, StoreError>;
    /// A tenant's chain head, read consistently.
    async fn chain_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError>;
    /// Adds `records` (the next numbers after `prev`) to `tenant`'s chain and marks their
    /// pending events (`tenant`, `event.event_id`) chained, moving the head to `head`: all in one transaction, on condition that the
    /// head is still `prev` and none of the pending events is chained yet.
    /// [`StoreError::Conflict`] if either moved meanwhile.
    async fn extend_chain(
        &self,
        tenant: &str,
        prev: Option<&ChainHead>,
        records: &[AuditRecord],
        head: &ChainHead,
    ) -> Result<(), StoreError>;
}

/// The chain's HMAC key (KMS `GenerateMac`/`VerifyMac`, HMAC-SHA-256).
#[async_trait]
pub trait ChainKey: Send + Sync {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// Whether `mac` is the key's MAC of `message`.
    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, KeyError>;
}
