//! The audit trail: append-only, one hash chain per tenant (`crate::domain::audit`).
//! DynamoDB implements it (`crate::store::audit`), and so does `crate::memory`.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{AuditEvent, AuditRecord, ChainHead, CustomerId, TenantId};

/// The most events one page may ask for.
pub const AUDIT_PAGE_MAX: usize = 100;

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `event` to its tenant's chain, as the next number after the chain's head;
    /// a concurrent append that took that number first makes this one retry on the new
    /// head. Answers the stored record.
    async fn append(&self, event: AuditEvent) -> Result<AuditRecord, StoreError>;
    /// One customer's events, newest first, at most `limit`, older than `before` (a
    /// sequence number) when given. Other tenants' events are never seen.
    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// A tenant's whole chain, oldest first, with its head (operator tools).
    async fn tenant_chain(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<AuditRecord>, Option<ChainHead>), StoreError>;
}
