//! The card and customer store: tenants, customers, payment methods, external references
//! and the user API's Stripe customer links. DynamoDB implements it (`crate::store`), and
//! so does `crate::memory` for unit tests. Each method is one round trip in DynamoDB.

use async_trait::async_trait;

use super::AuditLog;

use crate::domain::{
    ApiKeyRecord, Customer, CustomerId, KeyHash, OnceRecord, Origin, PaymentMethod,
    PaymentMethodId, StripeCustomerLink, Tenant, TenantId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store itself failed (unreachable, throttled, a malformed request of ours).
    #[error("store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored item could not be read back as its record.
    #[error("item encoding")]
    Encoding(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A create hit an existing key.
    #[error("item already exists")]
    AlreadyExists,
    #[error("{0} not found")]
    Missing(&'static str),
    /// A transaction's condition failed: the state changed under us.
    #[error("conflicting concurrent change")]
    Conflict,
}

impl StoreError {
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(e.into())
    }
}

/// What creating a payment method did.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// A payment method with one of the dedupe keys exists already: this one.
    Duplicate(PaymentMethodId),
}

/// The default-card rule applied at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultRule {
    /// Becomes the default only if the customer has none (the first card).
    IfNone,
    /// Becomes the default.
    Always,
}

/// Who used a card token, and for which link. `link_key` is the store's own handle for the
/// link: opaque to the vault, which only hands it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUse {
    pub owner: String,
    pub link_key: String,
}

/// What storing a link did.
#[derive(Debug)]
pub enum LinkWrite {
    Stored,
    /// The token was used already, for this link (a concurrent retry, or another user).
    TokenUsed(TokenUse),
    /// The vault customer is gone (deleted meanwhile) or is another tenant's.
    CustomerGone,
}

/// Tenants and their credentials, as the request path reads them (the operator's writes are
/// [`TenantAdminStore`]).
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// The tenant a public API key belongs to.
    async fn tenant_by_public_key(&self, key: &str) -> Result<Option<TenantId>, StoreError>;
    /// Whether any tenant allows this origin (the CORS preflight names no tenant).
    async fn origin_allowed(&self, origin: &Origin) -> Result<bool, StoreError>;
    async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
}

/// The operator's writes of tenants and their private API keys
/// (`crate::vault::admin`): a port of its own, as only the admin CLI makes them. Each
/// change takes the audit events staged around it (`Outbox`) into its own write.
#[async_trait]
pub trait TenantAdminStore: Send + Sync {
    /// A new tenant; `AlreadyExists` if the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError>;
    /// Replaces the tenant `old` (as read) with `tenant`, its public key's lookup and its
    /// origins' index moving with it, all or nothing. `Conflict` when the tenant is gone,
    /// its Stripe revocation mark is no longer as read (a webhook revoked it meanwhile), or
    /// the new public key is taken.
    async fn save_tenant(&self, tenant: &Tenant, old: &Tenant) -> Result<(), StoreError>;
    /// A new key record; `AlreadyExists` if its hash is taken.
    async fn create_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The tenant's key records (hashes, ids, dates), active or revoked.
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks the tenant's key `key_id` revoked (kept revoked at its first revocation);
    /// `Missing("api key")` if the tenant has no such key.
    async fn revoke_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// `AlreadyExists` if the id is taken.
    async fn create_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    /// `None` when absent or another tenant's: the two are indistinguishable.
    async fn get_customer(
        &self,
        tenant: &TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, StoreError>;
    /// Customers by id; other tenants' are left out.
    async fn customers(
        &self,
        tenant: &TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError>;
    /// The customer holding an external reference (`user:<sub>`, `account:<id>`).
    async fn customer_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<Customer>, StoreError>;
    /// The id of the customer holding an external reference, read consistently, without
    /// the customer: one round trip, for callers whose next read or conditional write
    /// covers the customer anyway. The reference is the tenant's, so the id is too; the
    /// customer itself may have been deleted since.
    async fn customer_id_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<CustomerId>, StoreError>;
    /// Creates a customer and its external reference together. `AlreadyExists` when the
    /// reference (or, rarely, the id) is taken. With `replacing`, the reference is taken
    /// over from that customer (deleted since its reference was written), on condition that
    /// it still names it.
    async fn create_customer_with_ref(
        &self,
        customer: &Customer,
        ext_ref: &str,
        replacing: Option<CustomerId>,
    ) -> Result<(), StoreError>;
    /// Links a customer to its Stripe customer unless it has one; answers the link that
    /// holds (a concurrent first card may have set it first).
    async fn link_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        stripe_customer: &str,
    ) -> Result<String, StoreError>;
}

#[async_trait]
pub trait PaymentMethodStore: Send + Sync {
    /// The customer (for scope and its default) and the payment method one of the dedupe
    /// keys points at, read together and consistently.
    async fn customer_and_dedupe(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        dedupe: &[String],
    ) -> Result<(Option<Customer>, Option<PaymentMethodId>), StoreError>;
    /// Stores a payment method with its dedupe markers and applies the default rule, all or
    /// nothing. `Missing("customer")` if the customer is gone or another tenant's. A
    /// pending card ignores the rule (never the default), and it and its markers expire
    /// with it (`PendingSetup::expires_at`).
    async fn create_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<Created, StoreError>;
    /// A customer and all its payment methods; `None` when absent or another tenant's.
    async fn customer_with_payment_methods(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
    ) -> Result<Option<(Customer, Vec<PaymentMethod>)>, StoreError>;
    /// A payment method of a known customer, read consistently.
    async fn payment_method_of(
        &self,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, StoreError>;
    /// The customer of a payment method known by id alone, within the tenant: an index
    /// lookup that reads no card data (the index holds none).
    async fn locate_payment_method(
        &self,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError>;
    /// Makes `pm` the default, on condition that it still exists (`Conflict` otherwise).
    async fn set_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError>;
    /// Clears the customer's default if it is still `pm`; otherwise does nothing.
    async fn clear_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError>;
    /// Deletes a payment method and its dedupe markers. When it was the default, the
    /// default moves to `next_default` (or is cleared); the whole holds only if the default
    /// is still what the caller read (`Conflict` otherwise).
    async fn delete_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        was_default: bool,
        next_default: Option<PaymentMethodId>,
    ) -> Result<(), StoreError>;
    /// A pending card authenticated: `active` written on condition the card is still
    /// `read` (pending, unchanged), its dedupe markers kept for good, and `rule` applied to
    /// the customer's default; all or nothing (`Conflict` when the card changed or went).
    async fn activate_payment_method(
        &self,
        read: &PaymentMethod,
        active: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<(), StoreError>;
    /// Counts a failed charge against a payment method and keeps its message.
    async fn record_payment_failure(
        &self,
        pm: &PaymentMethod,
        message: &str,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Who used a card token (by its hash) in this tenant, if anyone did.
    async fn token_use(
        &self,
        tenant: &TenantId,
        token_hash: &str,
    ) -> Result<Option<TokenUse>, StoreError>;
    /// The link a token was used for, if it belongs to `owner`.
    async fn link_for_token_use(
        &self,
        tenant: &TenantId,
        owner: &str,
        used: &TokenUse,
    ) -> Result<Option<StripeCustomerLink>, StoreError>;
    /// Stores a link with its payment method (and dedupe markers, and the default rule
    /// `IfNone`) and the token's use, all or nothing.
    async fn create_stripe_customer_link(
        &self,
        link: &StripeCustomerLink,
        pm: &PaymentMethod,
        dedupe: &[String],
        token_hash: &str,
    ) -> Result<LinkWrite, StoreError>;
    /// A user's links, oldest first.
    async fn stripe_customer_links(
        &self,
        tenant: &TenantId,
        owner: &str,
    ) -> Result<Vec<StripeCustomerLink>, StoreError>;
}

/// One velocity counter: the attempts (or declines) of one subject in one fixed window.
/// `key` names both (`ip#<hash>#<window start>`); the store deletes it after `expires_at`
/// (Unix seconds), when its window is long over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub limit: u32,
    pub expires_at: i64,
}

/// What counting an attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Every counter was below its limit, and each counted one more.
    Admitted,
    /// The counter at this index (of `counts`, then the `check` after them) was at its
    /// limit: nothing was counted.
    Refused(usize),
}

/// Card-testing counters: atomic, and gone after their TTL.
#[async_trait]
pub trait VelocityStore: Send + Sync {
    /// Adds one to each of `counts` if every one of them, and `check` (read, not
    /// counted), is below its limit: all or nothing, in one round trip.
    async fn admit(&self, counts: &[Counter], check: &Counter) -> Result<Admission, StoreError>;
    /// Adds one to `counter`, whatever its limit.
    async fn count(&self, counter: &Counter) -> Result<(), StoreError>;
}

/// What claiming a key found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The record is ours: no live record held the key.
    Claimed,
    /// A live record holds the key: this one.
    Held(OnceRecord),
}

/// Idempotency records: one item per scoped key, gone after its TTL.
#[async_trait]
pub trait OnceStore: Send + Sync {
    /// Writes `record` unless a live one holds its key: live means completed and not past
    /// `expires_at`, or in progress and not past its `until_ms` (`now_ms` decides both).
    async fn claim(&self, record: &OnceRecord, now_ms: i64) -> Result<Claim, StoreError>;
    /// Replaces the record with `record` (completed) if `record.owner` still holds it;
    /// otherwise does nothing (a later attempt took the key over).
    async fn complete(&self, record: &OnceRecord) -> Result<(), StoreError>;
    /// Deletes the record if `owner` still holds it, so that a retry runs anew.
    async fn release(&self, tenant: &TenantId, key: &str, owner: &str) -> Result<(), StoreError>;
}

/// A customer as re-homing reads it: its cards, and the Stripe customer already made for
/// it at the target connection by an earlier (maybe interrupted) run.
pub struct RehomeCustomer {
    pub customer: Customer,
    pub payment_methods: Vec<PaymentMethod>,
    pub target_customer: Option<String>,
}

/// What re-homing vault-held cards to a new Stripe connection reads and writes
/// (`crate::vault::rehome`). A port of its own: only the re-homing function uses it.
#[async_trait]
pub trait RehomeStore: Send + Sync {
    /// Up to `limit` of the tenant's customer ids after `after` (in the store's order, the
    /// same on every call), and whether more follow.
    async fn tenant_customer_ids(
        &self,
        tenant: &TenantId,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<(Vec<CustomerId>, bool), StoreError>;
    /// A customer of the tenant with its payment methods and its Stripe customer at
    /// `target` (a connection label) if one was recorded: one Query. `None` when absent.
    async fn customer_for_rehome(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
    ) -> Result<Option<RehomeCustomer>, StoreError>;
    /// Records the customer's Stripe customer at `target` unless one is recorded already;
    /// answers the one that holds.
    async fn record_target_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
        stripe_customer: &str,
    ) -> Result<String, StoreError>;
    /// Points a payment method at its new Stripe objects (and `stripe_home` at `target`),
    /// swapping its `stripe:` dedupe marker, on condition that its Stripe references are
    /// still `pm.stripe` (`Conflict` otherwise): all or nothing.
    async fn rehome_payment_method(
        &self,
        pm: &PaymentMethod,
        to: &crate::domain::StripeRef,
        target: &str,
    ) -> Result<(), StoreError>;
    /// Registers connected account `account` as a target the tenant proved it controls
    /// (`proof`: how, e.g. [`crate::vault::rehome::PROOF_STRIPE_OAUTH`]): re-homing moves
    /// cards only to a registered account, and the platform's webhooks map that account's
    /// events to the tenant before its connection switches (or if it never does).
    async fn record_rehome_target(
        &self,
        tenant: &TenantId,
        account: &str,
        proof: &str,
    ) -> Result<(), StoreError>;
    /// Whether `account` was registered for the tenant with a proof (a strongly
    /// consistent read).
    async fn rehome_target_registered(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> Result<bool, StoreError>;
    /// Makes `stripe_customer` the customer's own Stripe customer (where new cards go), on
    /// condition that it is still `from`.
    async fn switch_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        from: Option<&str>,
        stripe_customer: &str,
    ) -> Result<(), StoreError>;
}

/// Everything the vault stores.
pub trait CardStore:
    TenantStore
    + CustomerStore
    + PaymentMethodStore
    + LinkStore
    + VelocityStore
    + AuditLog
    + OnceStore
    + super::StripeEventStore
{
}

impl<
        T: TenantStore
            + CustomerStore
            + PaymentMethodStore
            + LinkStore
            + VelocityStore
            + AuditLog
            + OnceStore
            + super::StripeEventStore,
    > CardStore for T
{
}
