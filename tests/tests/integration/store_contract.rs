//! The store contract: every case below is written once, over the ports
//! ([`CardStore`], [`RehomeStore`], [`AuditChainStore`]), and runs against both adapters:
//! `memory::*` against the in-memory fake (`cardvault_testkit::memory::MemoryStore`, which ~6,000
//! lines of vault unit tests trust), `dynamodb::*` against the DynamoDB adapter
//! (`cardvault_aws::store::Store`) on the stack's DynamoDB Local. A fake that answers
//! otherwise than DynamoDB fails its `memory::` case.
//!
//! What a case may not assert: an order the port does not promise (a customer's payment
//! methods, a batch of customers), and the exact text of a backend error. Each case works
//! in tenants of its own (fresh ids), so runs share the table with every other test.
//!
//! With the stack's functions served, the audit chainer chains every pending event it
//! sees on the table's stream: the cases that extend a chain themselves use events of more
//! than `MAX_EVENT_BYTES`, which the chainer skips (`pending_fault`) and the store's
//! conditions do not look at.

use std::collections::BTreeSet;

use cardvault::domain::{
    audit::GENESIS, ApiKeyRecord, AuditAction, AuditEvent, AuditRecord, ChainHead, Customer,
    CustomerId, NewCustomer, OnceRecord, OnceState, Origin, Outbox, PaymentMethod, PaymentMethodId,
    StoredResponse, StripeCustomerLink, StripeRef, Tenant, TenantId, Timestamp,
};
use cardvault_aws::store::Store;
use cardvault_core::ports::{
    Admission, AuditChainStore, AuditLog, CardStore, Claim, Counter, Created, CustomerStore,
    DefaultMove, DefaultRule, LinkStore, LinkWrite, OnceStore, PaymentMethodStore, PendingKey,
    RehomeStore, StoreError, StripeEventStore, TenantAdminStore, TenantStore, VelocityStore,
};
use cardvault_testkit::memory::MemoryStore;
use serde_json::json;

// ---- the two adapters ---------------------------------------------------------------

/// An adapter under test, with the few writes the ports do not make (tenants are the admin
/// CLI's, a customer deleted behind the vault's back).
trait Harness {
    type S: CardStore + RehomeStore + AuditChainStore + TenantAdminStore;
    fn store(&self) -> &Self::S;
    async fn seed_tenant(&self, tenant: &Tenant);
    async fn seed_api_key(&self, record: &ApiKeyRecord);
    /// Deletes a customer's own item, leaving its cards and references.
    async fn remove_customer(&self, id: CustomerId);
}

struct Memory(MemoryStore);

impl Memory {
    fn new() -> Self {
        Self(MemoryStore::default())
    }
}

impl Harness for Memory {
    type S = MemoryStore;
    fn store(&self) -> &MemoryStore {
        &self.0
    }
    async fn seed_tenant(&self, tenant: &Tenant) {
        self.0.insert_tenant(tenant.clone());
    }
    async fn seed_api_key(&self, record: &ApiKeyRecord) {
        self.0.insert_api_key(record.clone());
    }
    async fn remove_customer(&self, id: CustomerId) {
        self.0.remove_customer(id);
    }
}

struct Dynamo {
    store: Store,
    client: aws_sdk_dynamodb::Client,
}

impl Dynamo {
    /// A client of its own per test: each #[tokio::test] has its own runtime.
    async fn new() -> Self {
        let client = aws_sdk_dynamodb::Client::new(&cardvault_tests::aws().await);
        Self {
            store: Store::new(client.clone(), &cardvault_tests::stack().table),
            client,
        }
    }
}

impl Harness for Dynamo {
    type S = Store;
    fn store(&self) -> &Store {
        &self.store
    }
    /// As the admin CLI does: the tenant, then its settings with their lookup items.
    async fn seed_tenant(&self, tenant: &Tenant) {
        let bare = Tenant {
            public_api_key: None,
            allowed_origins: Vec::new(),
            ..tenant.clone()
        };
        self.store.create_tenant(&bare).await.unwrap();
        self.store.save_tenant(tenant, &bare).await.unwrap();
    }
    async fn seed_api_key(&self, record: &ApiKeyRecord) {
        self.store.create_api_key(record).await.unwrap();
    }
    async fn remove_customer(&self, id: CustomerId) {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.client
            .delete_item()
            .table_name(&cardvault_tests::stack().table)
            .key("PK", S(format!("CUST#{id}")))
            .key("SK", S("CUSTOMER".into()))
            .send()
            .await
            .unwrap();
    }
}

/// Runs each case on both adapters: `memory::<case>` and `dynamodb::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::Memory::new()).await
            })*
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $case() {
                super::$case(&super::Dynamo::new().await).await
            })*
        }
    };
}

contract!(
    // every record reads back as written
    records_read_back_exactly_as_written,
    // tenants
    tenant_reads_answer_only_what_was_set,
    tenant_admin_writes_hold_their_conditions,
    api_keys_are_listed_and_revoked_per_tenant,
    // customers
    create_customer_refuses_a_taken_id,
    get_customer_answers_another_tenants_as_absent,
    customers_by_id_leave_out_absent_and_other_tenants,
    create_with_ref_is_all_or_nothing,
    create_with_ref_takes_a_reference_over_only_from_a_gone_customer,
    external_refs_are_per_tenant,
    link_stripe_customer_keeps_the_first,
    link_stripe_customer_of_an_absent_or_foreign_customer_is_a_conflict,
    // payment methods
    default_rule_if_none_and_always,
    a_duplicate_card_answers_the_existing_one_and_writes_nothing,
    a_taken_card_id_is_already_exists_and_writes_nothing,
    a_card_of_an_absent_or_foreign_customer_is_missing_and_writes_nothing,
    customer_and_dedupe_reads_the_customer_in_scope_and_the_marker,
    customer_with_payment_methods_lists_every_card_in_scope,
    locate_payment_method_answers_within_the_tenant,
    set_default_needs_the_card_and_the_tenant,
    clear_default_only_while_it_is_still_that_card,
    delete_holds_only_on_the_default_as_read,
    delete_of_the_default_moves_it,
    racing_first_cards_make_one_default_and_one_card_per_marker,
    racing_set_default_and_delete_never_leave_a_default_without_its_card,
    record_payment_failure_counts_and_refuses_an_absent_card,
    // links
    a_link_is_written_whole_and_its_token_used_once,
    a_link_for_a_gone_or_foreign_customer_writes_nothing,
    links_are_per_user_and_oldest_first,
    a_link_whose_card_is_a_duplicate_is_a_conflict,
    // velocity
    admit_counts_all_or_nothing,
    count_ignores_the_limit,
    // once
    a_claim_holds_the_key_while_live,
    expired_claims_and_records_free_the_key,
    complete_and_release_only_by_the_owner,
    once_keys_are_per_tenant,
    // audit
    append_is_idempotent_and_per_tenant,
    outbox_events_ride_only_a_committed_change,
    outbox_events_ride_every_write_that_commits_a_transaction,
    extend_chain_holds_on_the_head_and_unmarked_events,
    customer_events_page_newest_first,
    pending_events_answer_the_existing_ones,
    // re-homing
    tenant_customer_ids_page_in_text_order,
    customer_for_rehome_reads_the_target_customer,
    record_target_customer_keeps_the_first_and_the_tenant,
    rehome_payment_method_holds_on_its_old_references,
    rehome_payment_method_refuses_a_taken_marker,
    rehome_targets_are_per_tenant,
    switch_stripe_customer_holds_on_the_old_one,
    // webhooks
    cards_by_stripe_ref_within_the_tenant,
    save_stripe_change_holds_on_the_card_and_the_default,
    revoke_stripe_connection_once_and_only_for_its_account,
    update_link_card_follows_the_card,
);

// ---- records ----------------------------------------------------------------------

fn rand_u64() -> u64 {
    rand::random::<u64>()
}

fn tenant_id() -> TenantId {
    TenantId::try_from(format!("ct-{:016x}", rand_u64())).unwrap()
}

fn customer_id() -> CustomerId {
    CustomerId::random()
}

fn pm_id() -> PaymentMethodId {
    PaymentMethodId::random()
}

fn now() -> Timestamp {
    Timestamp::now_utc()
}

fn tenant(id: &TenantId) -> Tenant {
    serde_json::from_value(json!({
        "id": id.as_str(),
        "name": "contract",
        "createdAt": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn customer(t: &TenantId) -> Customer {
    customer_with(t, customer_id())
}

fn customer_with(t: &TenantId, id: CustomerId) -> Customer {
    let at = now();
    Customer {
        id,
        tenant_id: t.clone(),
        details: NewCustomer::default(),
        default_payment_method_id: None,
        external_ref: None,
        stripe_customer_id: None,
        created_at: at,
        modified_at: at,
    }
}

/// A card held at Stripe (`cus_<n>`, `card_<n>`).
fn card(c: &Customer, n: u64) -> PaymentMethod {
    card_with(c, pm_id(), n)
}

fn card_with(c: &Customer, id: PaymentMethodId, n: u64) -> PaymentMethod {
    serde_json::from_value(json!({
        "id": id.get(),
        "customerId": c.id.get(),
        "tenantId": c.tenant_id.as_str(),
        "instrument": {"kind": "card", "brand": "Visa", "expMonth": 8, "expYear": 2031},
        "last4": "4242",
        "holder": {},
        "stripe": {"customerId": format!("cus_ct{n}"), "sourceId": format!("card_ct{n}")},
        "status": "Active",
        "createdAt": "2026-01-01T00:00:00.123456Z",
        "modifiedAt": "2026-01-01T00:00:00.123456Z",
    }))
    .unwrap()
}

fn stripe_key(pm: &PaymentMethod) -> String {
    cardvault::domain::stripe_dedupe_key(&pm.stripe.as_ref().unwrap().source_id)
}

fn link(c: &Customer, pm: &PaymentMethod, owner: &str, at: Timestamp) -> StripeCustomerLink {
    serde_json::from_value(json!({
        "id": uuid_of(rand_u64()),
        "tenantId": c.tenant_id.as_str(),
        "owner": owner,
        "customerId": c.id.get(),
        "paymentMethodId": pm.id.get(),
        "stripeCustomerId": pm.stripe.as_ref().unwrap().customer_id,
        "source": {"id": pm.stripe.as_ref().unwrap().source_id, "brand": "Visa", "last4": "4242",
                   "exp_month": 8, "exp_year": 2031, "customer": pm.stripe.as_ref().unwrap().customer_id},
        "createdAt": rfc3339(at),
        "updatedAt": rfc3339(at),
    }))
    .unwrap()
}

fn uuid_of(n: u64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff)
}

fn rfc3339(t: Timestamp) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn sorted(mut pms: Vec<PaymentMethod>) -> Vec<PaymentMethod> {
    pms.sort_by_key(|p| p.id);
    pms
}

/// The customer as stored now (the test's own tenant).
async fn stored<H: Harness>(h: &H, c: &Customer) -> Option<Customer> {
    h.store().get_customer(&c.tenant_id, c.id).await.unwrap()
}

async fn default_of<H: Harness>(h: &H, c: &Customer) -> Option<PaymentMethodId> {
    stored(h, c).await.unwrap().default_payment_method_id
}

async fn new_customer<H: Harness>(h: &H, t: &TenantId) -> Customer {
    let c = customer(t);
    h.store().create_customer(&c).await.unwrap();
    c
}

async fn new_card<H: Harness>(h: &H, c: &Customer, n: u64) -> PaymentMethod {
    let pm = card(c, n);
    let created = h
        .store()
        .create_payment_method(&pm, &[stripe_key(&pm)], DefaultRule::IfNone)
        .await
        .unwrap();
    assert_eq!(created, Created::New);
    pm
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict))
}

// ---- what is written is what is read --------------------------------------------

/// Every field of every record, the optional ones set: the fake keeps the value, DynamoDB
/// keeps its serde_dynamo encoding, and the two must read back the same.
async fn records_read_back_exactly_as_written<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let n = rand_u64();
    let account = format!("acct_ct{n:x}");
    let record: Tenant = serde_json::from_value(json!({
        "id": t.as_str(),
        "name": "Zoë's «shop» 🛒",
        "publicApiKey": format!("pk_ct{n:x}"),
        "allowedOrigins": [format!("https://ct-{n:x}.example")],
        "stripe": {"kind": "connect", "accountId": account},
        "recaptchaSecretId": "cardvault/tenant/x/recaptcha",
        "stripePublishableKey": "pk_test_x",
        "requireAvs": true,
        "requireRiskFields": true,
        "legacyQueryStringCards": true,
        "trustedIssuers": [{"issuer": "https://idp.example", "audience": "cardvault"}],
        "tokenPolicy": {"maxLifetimeSecs": 600, "allowMissingIat": true},
        "velocity": {"windowSecs": 60, "perIp": 1, "perPublicKey": 2, "perCustomer": 3, "declines": 0},
        "stripeRevokedAt": "2026-02-03T04:05:06.789Z",
        "currency": "eur",
        "createdAt": "2026-01-01T00:00:00.000000001Z",
    }))
    .unwrap();
    h.seed_tenant(&record).await;
    assert_eq!(s.get_tenant(&t).await.unwrap(), Some(record));

    let c: Customer = serde_json::from_value(json!({
        "id": customer_id().get(),
        "tenantId": t.as_str(),
        "firstName": "Zoë", "lastName": "O'Brien-Łukasz", "companyName": "ACME «GmbH»",
        "primaryEmail": "zoe@example.com", "reference": "ref 42",
        "externalRef": "account:42",
        "stripeCustomerId": "cus_ct",
        "createdAt": "2026-01-01T00:00:00.123456789Z",
        "modifiedAt": "2026-01-01T00:00:00+02:00",
    }))
    .unwrap();
    s.create_customer(&c).await.unwrap();
    assert_eq!(stored(h, &c).await, Some(c.clone()));

    let pm: PaymentMethod = serde_json::from_value(json!({
        "id": pm_id().get(),
        "customerId": c.id.get(),
        "tenantId": t.as_str(),
        "instrument": {"kind": "card", "brand": "JCB", "first6": "353011", "expMonth": 1, "expYear": 2040},
        "last4": "0000",
        "holder": {"firstName": "Zoë", "lastName": "Roe", "address1": "1 Main St", "address2": "",
                   "city": "Zürich", "postalZip": "8001", "countryId": 756, "stateId": 0},
        "stripe": {"customerId": "cus_ct", "sourceId": format!("card_ct{n:x}")},
        "stripeHome": "secret:cardvault/tenant/x/stripe",
        "storedInVault": true,
        "encryptedPan": {"keyId": "v1", "encryptedDataKey": "ZGs=", "nonce": "bm9uY2U=", "ciphertext": "Y3Q="},
        "fingerprint": "fp:abc",
        "status": "Active",
        "failures": 3,
        "lastError": "Your card was declined.",
        "nickname": "",
        "email": "zoe@example.com",
        "expiryAsSent": {"month": "01", "year": "40"},
        "stripeCardEvents": {"at": 1767225600, "ids": ["evt_1", "evt_2"]},
        "stripeChargeEvents": {"resetAt": 1, "failedAt": 2, "failures": [2, 3], "ids": ["evt_3"]},
        "stripeEventAt": -5,
        "stripeExpiring": true,
        "removedAtStripe": "2026-01-02T00:00:00Z",
        "createdAt": "2026-01-01T00:00:00.5Z",
        "modifiedAt": "2026-01-01T00:00:00.000001Z",
    }))
    .unwrap();
    s.create_payment_method(&pm, &[stripe_key(&pm)], DefaultRule::IfNone)
        .await
        .unwrap();
    assert_eq!(
        s.payment_method_of(c.id, pm.id).await.unwrap(),
        Some(pm.clone())
    );
    let (_, methods) = s
        .customer_with_payment_methods(&t, c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(methods, vec![pm.clone()]);

    let mut l = link(&c, &pm, "sub|with#odd chars", now());
    l.deleted_at = Some(Timestamp::from_unix_timestamp(1_767_225_601).unwrap());
    l.source.metadata.insert("k".into(), "v".into());
    l.source.address_zip = Some(String::new());
    let other = card(&c, n);
    s.create_stripe_customer_link(&l, &other, &[stripe_key(&other)], "tok-rt")
        .await
        .unwrap();
    assert_eq!(
        s.stripe_customer_links(&t, "sub|with#odd chars")
            .await
            .unwrap(),
        vec![l]
    );
}

// ---- tenants ----------------------------------------------------------------------

async fn tenant_reads_answer_only_what_was_set<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let n = rand_u64();
    let mut record = tenant(&t);
    record.public_api_key = Some(format!("pk_ct{n:x}"));
    record.allowed_origins = vec![format!("https://ct-{n:x}.example")];
    h.seed_tenant(&record).await;
    let hash: cardvault::domain::KeyHash =
        serde_json::from_value(json!(format!("{:064x}", n))).unwrap();
    let key: ApiKeyRecord = serde_json::from_value(json!({
        "hash": hash, "keyId": format!("key{n:x}"), "tenantId": t.as_str(),
        "createdAt": "2026-01-01T00:00:00Z",
    }))
    .unwrap();
    h.seed_api_key(&key).await;

    assert_eq!(s.get_tenant(&t).await.unwrap(), Some(record.clone()));
    assert_eq!(s.get_tenant(&tenant_id()).await.unwrap(), None);
    let pk = record.public_api_key.as_deref().unwrap();
    assert_eq!(s.tenant_by_public_key(pk).await.unwrap(), Some(t.clone()));
    assert_eq!(s.tenant_by_public_key("pk_ct_none").await.unwrap(), None);
    let origin = Origin::new(&record.allowed_origins[0]);
    assert!(s.origin_allowed(&origin).await.unwrap());
    let other = Origin::new(&format!("https://ct-{n:x}-other.example"));
    assert!(!s.origin_allowed(&other).await.unwrap());
    assert_eq!(s.api_key_by_hash(&hash).await.unwrap(), Some(key));
    let none: cardvault::domain::KeyHash =
        serde_json::from_value(json!(format!("{:064x}", n ^ 1))).unwrap();
    assert_eq!(s.api_key_by_hash(&none).await.unwrap(), None);
}

/// The operator's writes (`TenantAdminStore`, `vault::admin`): a tenant is created once;
/// a save holds only on a tenant that exists with its revocation mark as read, and on a
/// public key no one has; its lookup and origin index move with it; its events ride it.
async fn tenant_admin_writes_hold_their_conditions<H: Harness>(h: &H) {
    let s = h.store();
    let (t, other) = (tenant_id(), tenant_id());
    let n = rand_u64();
    let account = format!("acct_ct{n:x}");
    let mut bare = tenant(&t);
    bare.stripe = Some(cardvault::domain::StripeConnection::Connect {
        account_id: account.clone(),
    });
    let made = event(&t, None);
    let (r, left) = Outbox::scope(vec![made.clone()], s.create_tenant(&bare)).await;
    r.unwrap();
    assert!(left.is_empty());
    assert!(matches!(
        s.create_tenant(&bare).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(s.get_tenant(&t).await.unwrap(), Some(bare.clone()));

    // Settings with their lookup items, and an event with them.
    let mut set = bare.clone();
    set.public_api_key = Some(format!("pk_ct{n:x}"));
    set.allowed_origins = vec![format!("https://ct-{n:x}.example")];
    let saved = event(&t, None);
    let (r, left) = Outbox::scope(vec![saved.clone()], s.save_tenant(&set, &bare)).await;
    r.unwrap();
    assert!(left.is_empty());
    assert_eq!(s.get_tenant(&t).await.unwrap(), Some(set.clone()));
    let origin = Origin::new(&set.allowed_origins[0]);
    assert!(s.origin_allowed(&origin).await.unwrap());
    let pk = set.public_api_key.clone().unwrap();
    assert_eq!(s.tenant_by_public_key(&pk).await.unwrap(), Some(t.clone()));

    // Another tenant may not take the key: nothing of it is written, nor its event.
    let mut theirs = tenant(&other);
    h.seed_tenant(&theirs).await;
    let before = theirs.clone();
    theirs.public_api_key = Some(pk.clone());
    theirs.allowed_origins = vec![format!("https://ct-{n:x}-theirs.example")];
    let refused = event(&other, None);
    let (r, left) = Outbox::scope(vec![refused.clone()], s.save_tenant(&theirs, &before)).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(left, vec![refused]);
    assert_eq!(s.get_tenant(&other).await.unwrap(), Some(before));
    let theirs_origin = Origin::new(&theirs.allowed_origins[0]);
    assert!(!s.origin_allowed(&theirs_origin).await.unwrap());
    assert_eq!(s.tenant_by_public_key(&pk).await.unwrap(), Some(t.clone()));

    // A new key and origins replace the old ones' items.
    let mut moved = set.clone();
    moved.public_api_key = Some(format!("pk_ct{n:x}_2"));
    moved.allowed_origins = vec![format!("https://ct-{n:x}-2.example")];
    s.save_tenant(&moved, &set).await.unwrap();
    assert_eq!(s.tenant_by_public_key(&pk).await.unwrap(), None);
    let new_pk = moved.public_api_key.as_deref().unwrap();
    assert_eq!(
        s.tenant_by_public_key(new_pk).await.unwrap(),
        Some(t.clone())
    );
    assert!(!s.origin_allowed(&origin).await.unwrap());
    assert!(s
        .origin_allowed(&Origin::new(&moved.allowed_origins[0]))
        .await
        .unwrap());

    // Revoked since it was read: the save is refused and the mark stands.
    assert!(s
        .revoke_stripe_connection(&t, &account, now())
        .await
        .unwrap());
    let mut stale = moved.clone();
    stale.require_avs = true;
    let r = s.save_tenant(&stale, &moved).await;
    assert!(is_conflict(&r), "{r:?}");
    let now_stored = s.get_tenant(&t).await.unwrap().unwrap();
    assert!(now_stored.stripe_revoked_at.is_some() && !now_stored.require_avs);
    // Read again, it holds.
    let mut fresh = now_stored.clone();
    fresh.require_avs = true;
    s.save_tenant(&fresh, &now_stored).await.unwrap();
    assert_eq!(s.get_tenant(&t).await.unwrap(), Some(fresh));

    // A tenant that is not there is not saved.
    let gone = tenant(&tenant_id());
    let r = s.save_tenant(&gone, &gone).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.get_tenant(&gone.id).await.unwrap(), None);

    let trail = s.tenant_trail(&t).await.unwrap();
    let written: BTreeSet<&str> = trail
        .pending
        .iter()
        .map(|p| p.event.event_id.as_str())
        .collect();
    assert_eq!(
        written,
        [made.event_id.as_str(), saved.event_id.as_str()].into()
    );
    assert!(s.tenant_trail(&other).await.unwrap().pending.is_empty());
}

async fn api_keys_are_listed_and_revoked_per_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let (t, other) = (tenant_id(), tenant_id());
    let n = rand_u64();
    let key = |t: &TenantId, k: u64| -> ApiKeyRecord {
        serde_json::from_value(json!({
            "hash": format!("{:064x}", n.wrapping_add(k)), "keyId": format!("key{n:x}{k}"),
            "tenantId": t.as_str(), "createdAt": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    };
    let (mine, theirs) = (key(&t, 1), key(&other, 2));
    let made = event(&t, None);
    let (r, left) = Outbox::scope(vec![made.clone()], s.create_api_key(&mine)).await;
    r.unwrap();
    assert!(left.is_empty());
    s.create_api_key(&theirs).await.unwrap();
    assert!(matches!(
        s.create_api_key(&mine).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(s.list_api_keys(&t).await.unwrap(), vec![mine.clone()]);
    assert_eq!(s.list_api_keys(&tenant_id()).await.unwrap(), vec![]);

    // Only the tenant's own key, and only one it has.
    for key_id in [theirs.key_id.as_str(), "key_none"] {
        assert!(matches!(
            s.revoke_api_key(&t, key_id).await,
            Err(StoreError::Missing(_))
        ));
    }
    assert!(s.list_api_keys(&other).await.unwrap()[0].is_active());
    s.revoke_api_key(&t, &mine.key_id).await.unwrap();
    let first = s.list_api_keys(&t).await.unwrap()[0].revoked_at;
    assert!(first.is_some());
    assert_eq!(
        s.api_key_by_hash(&mine.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        first
    );
    // Again: still revoked at the first time.
    s.revoke_api_key(&t, &mine.key_id).await.unwrap();
    assert_eq!(s.list_api_keys(&t).await.unwrap()[0].revoked_at, first);
    let trail = s.tenant_trail(&t).await.unwrap();
    assert_eq!(trail.pending.len(), 1);
    assert_eq!(trail.pending[0].event, made);
}

// ---- customers --------------------------------------------------------------------

async fn create_customer_refuses_a_taken_id<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let c = new_customer(h, &t).await;
    let mut again = customer_with(&t, c.id);
    again.stripe_customer_id = Some("cus_second".into());
    assert!(matches!(
        s.create_customer(&again).await,
        Err(StoreError::AlreadyExists)
    ));
    // Another tenant's create of the same id is refused too: ids are global.
    let other = customer_with(&tenant_id(), c.id);
    assert!(matches!(
        s.create_customer(&other).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(stored(h, &c).await, Some(c));
}

async fn get_customer_answers_another_tenants_as_absent<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    assert_eq!(
        s.get_customer(&c.tenant_id, c.id).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(s.get_customer(&tenant_id(), c.id).await.unwrap(), None);
    assert_eq!(
        s.get_customer(&c.tenant_id, customer_id()).await.unwrap(),
        None
    );
}

async fn customers_by_id_leave_out_absent_and_other_tenants<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let a = new_customer(h, &t).await;
    let b = new_customer(h, &t).await;
    let foreign = new_customer(h, &tenant_id()).await;
    let mut found = s
        .customers(&t, &[b.id, a.id, foreign.id, customer_id(), a.id])
        .await
        .unwrap();
    found.sort_by_key(|c| c.id);
    let mut want = vec![a, b];
    want.sort_by_key(|c| c.id);
    assert_eq!(found, want);
    assert!(s.customers(&t, &[]).await.unwrap().is_empty());
}

async fn create_with_ref_is_all_or_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let first = customer(&t);
    s.create_customer_with_ref(&first, "user:ct", None)
        .await
        .unwrap();
    assert_eq!(
        s.customer_by_external_ref(&t, "user:ct").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.customer_id_by_external_ref(&t, "user:ct").await.unwrap(),
        Some(first.id)
    );
    // The reference is taken: the new customer is not written either.
    let second = customer(&t);
    assert!(matches!(
        s.create_customer_with_ref(&second, "user:ct", None).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(stored(h, &second).await, None);
    // The id is taken: the new reference is not written either.
    let same_id = customer_with(&t, first.id);
    assert!(matches!(
        s.create_customer_with_ref(&same_id, "user:other", None)
            .await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        s.customer_id_by_external_ref(&t, "user:other")
            .await
            .unwrap(),
        None
    );
}

async fn create_with_ref_takes_a_reference_over_only_from_a_gone_customer<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let old = customer(&t);
    s.create_customer_with_ref(&old, "account:7", None)
        .await
        .unwrap();
    // The old one still lives: refused, nothing written.
    let new = customer(&t);
    assert!(matches!(
        s.create_customer_with_ref(&new, "account:7", Some(old.id))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(stored(h, &new).await, None);
    h.remove_customer(old.id).await;
    // The reference still names it, the customer is gone.
    assert_eq!(
        s.customer_id_by_external_ref(&t, "account:7")
            .await
            .unwrap(),
        Some(old.id)
    );
    assert_eq!(
        s.customer_by_external_ref(&t, "account:7").await.unwrap(),
        None
    );
    // Replacing a customer the reference does not name: refused.
    assert!(matches!(
        s.create_customer_with_ref(&new, "account:7", Some(customer_id()))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    // Replacing on a reference that does not exist: refused.
    assert!(matches!(
        s.create_customer_with_ref(&new, "account:8", Some(old.id))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(stored(h, &new).await, None);
    s.create_customer_with_ref(&new, "account:7", Some(old.id))
        .await
        .unwrap();
    assert_eq!(
        s.customer_by_external_ref(&t, "account:7").await.unwrap(),
        Some(new)
    );
}

async fn external_refs_are_per_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let (t, u) = (tenant_id(), tenant_id());
    let mine = customer(&t);
    s.create_customer_with_ref(&mine, "user:same", None)
        .await
        .unwrap();
    assert_eq!(
        s.customer_by_external_ref(&u, "user:same").await.unwrap(),
        None
    );
    assert_eq!(
        s.customer_id_by_external_ref(&u, "user:same")
            .await
            .unwrap(),
        None
    );
    let theirs = customer(&u);
    s.create_customer_with_ref(&theirs, "user:same", None)
        .await
        .unwrap();
    assert_eq!(
        s.customer_by_external_ref(&t, "user:same").await.unwrap(),
        Some(mine)
    );
    assert_eq!(
        s.customer_by_external_ref(&u, "user:same").await.unwrap(),
        Some(theirs)
    );
}

async fn link_stripe_customer_keeps_the_first<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    assert_eq!(
        s.link_stripe_customer(&c.tenant_id, c.id, "cus_first")
            .await
            .unwrap(),
        "cus_first"
    );
    assert_eq!(
        s.link_stripe_customer(&c.tenant_id, c.id, "cus_second")
            .await
            .unwrap(),
        "cus_first"
    );
    assert_eq!(
        stored(h, &c).await.unwrap().stripe_customer_id.as_deref(),
        Some("cus_first")
    );
}

async fn link_stripe_customer_of_an_absent_or_foreign_customer_is_a_conflict<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let foreign = s.link_stripe_customer(&tenant_id(), c.id, "cus_x").await;
    assert!(is_conflict(&foreign), "{foreign:?}");
    let absent = s
        .link_stripe_customer(&c.tenant_id, customer_id(), "cus_x")
        .await;
    assert!(is_conflict(&absent), "{absent:?}");
    assert_eq!(stored(h, &c).await.unwrap().stripe_customer_id, None);
}

// ---- payment methods --------------------------------------------------------------

async fn default_rule_if_none_and_always<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    assert_eq!(default_of(h, &c).await, Some(first.id));
    let second = new_card(h, &c, 2).await;
    assert_eq!(default_of(h, &c).await, Some(first.id));
    let third = card(&c, 3);
    assert_eq!(
        s.create_payment_method(&third, &[stripe_key(&third)], DefaultRule::Always)
            .await
            .unwrap(),
        Created::New
    );
    assert_eq!(default_of(h, &c).await, Some(third.id));
    assert_eq!(
        s.payment_method_of(c.id, second.id).await.unwrap(),
        Some(second)
    );
}

async fn a_duplicate_card_answers_the_existing_one_and_writes_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    // Same Stripe card again, with a second marker of its own.
    let again = card(&c, 1);
    let markers = [stripe_key(&again), "fp:ct-new".to_owned()];
    assert_eq!(
        s.create_payment_method(&again, &markers, DefaultRule::Always)
            .await
            .unwrap(),
        Created::Duplicate(first.id)
    );
    // Nothing of it was written: the card, its other marker, the default.
    assert_eq!(s.payment_method_of(c.id, again.id).await.unwrap(), None);
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &["fp:ct-new".to_owned()])
            .await
            .unwrap()
            .1,
        None
    );
    assert_eq!(default_of(h, &c).await, Some(first.id));
    // The duplicate found through a later marker in the list.
    let other = card(&c, 2);
    assert_eq!(
        s.create_payment_method(
            &other,
            &["fp:ct-none".to_owned(), stripe_key(&first)],
            DefaultRule::IfNone
        )
        .await
        .unwrap(),
        Created::Duplicate(first.id)
    );
    assert_eq!(s.payment_method_of(c.id, other.id).await.unwrap(), None);
}

async fn a_taken_card_id_is_already_exists_and_writes_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let same_id = card_with(&c, first.id, 2);
    let r = s
        .create_payment_method(&same_id, &[stripe_key(&same_id)], DefaultRule::Always)
        .await;
    assert!(matches!(r, Err(StoreError::AlreadyExists)), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &[stripe_key(&same_id)])
            .await
            .unwrap()
            .1,
        None
    );
    assert_eq!(default_of(h, &c).await, Some(first.id));
}

async fn a_card_of_an_absent_or_foreign_customer_is_missing_and_writes_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    // The customer is another tenant's.
    let mut foreign = card(&c, 1);
    foreign.tenant_id = tenant_id();
    let r = s
        .create_payment_method(&foreign, &[stripe_key(&foreign)], DefaultRule::Always)
        .await;
    assert!(matches!(r, Err(StoreError::Missing("customer"))), "{r:?}");
    assert_eq!(s.payment_method_of(c.id, foreign.id).await.unwrap(), None);
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &[stripe_key(&foreign)])
            .await
            .unwrap()
            .1,
        None
    );
    assert_eq!(default_of(h, &c).await, None);
    // The customer does not exist.
    let ghost = customer(&c.tenant_id);
    let pm = card(&ghost, 2);
    let r = s
        .create_payment_method(&pm, &[stripe_key(&pm)], DefaultRule::IfNone)
        .await;
    assert!(matches!(r, Err(StoreError::Missing("customer"))), "{r:?}");
    assert_eq!(s.payment_method_of(ghost.id, pm.id).await.unwrap(), None);
    assert_eq!(stored(h, &ghost).await, None);
}

async fn customer_and_dedupe_reads_the_customer_in_scope_and_the_marker<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let pm = new_card(h, &c, 1).await;
    let markers = ["fp:ct-none".to_owned(), stripe_key(&pm)];
    let (found, existing) = s
        .customer_and_dedupe(&c.tenant_id, c.id, &markers)
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.id), Some(c.id));
    assert_eq!(existing, Some(pm.id));
    let (found, _) = s
        .customer_and_dedupe(&tenant_id(), c.id, &markers)
        .await
        .unwrap();
    assert_eq!(found, None);
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, customer_id(), &markers)
            .await
            .unwrap(),
        (None, None)
    );
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &[])
            .await
            .unwrap()
            .1,
        None
    );
}

async fn customer_with_payment_methods_lists_every_card_in_scope<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    // Ids of different lengths: DynamoDB sorts them as text, the port promises no order.
    let mut cards = Vec::new();
    for (n, id) in [(1, 9_000_001u64), (2, 10_000_001), (3, 123_456_789_012)] {
        let pm = card_with(
            &c,
            PaymentMethodId::try_from(id + rand_u64() % 1000).unwrap(),
            n,
        );
        s.create_payment_method(&pm, &[stripe_key(&pm)], DefaultRule::IfNone)
            .await
            .unwrap();
        cards.push(pm);
    }
    let (found, methods) = s
        .customer_with_payment_methods(&c.tenant_id, c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.default_payment_method_id, Some(cards[0].id));
    assert_eq!(sorted(methods), sorted(cards));
    assert!(s
        .customer_with_payment_methods(&tenant_id(), c.id)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .customer_with_payment_methods(&c.tenant_id, customer_id())
        .await
        .unwrap()
        .is_none());
    let empty = new_customer(h, &c.tenant_id).await;
    let (_, none) = s
        .customer_with_payment_methods(&c.tenant_id, empty.id)
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
}

async fn locate_payment_method_answers_within_the_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let pm = new_card(h, &c, 1).await;
    assert_eq!(
        s.locate_payment_method(&c.tenant_id, pm.id).await.unwrap(),
        Some(c.id)
    );
    assert_eq!(
        s.locate_payment_method(&tenant_id(), pm.id).await.unwrap(),
        None
    );
    assert_eq!(
        s.locate_payment_method(&c.tenant_id, pm_id())
            .await
            .unwrap(),
        None
    );
}

async fn set_default_needs_the_card_and_the_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let second = new_card(h, &c, 2).await;
    s.set_default_payment_method(&c.tenant_id, c.id, second.id)
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, Some(second.id));
    // A card that does not exist, or is another customer's.
    let r = s
        .set_default_payment_method(&c.tenant_id, c.id, pm_id())
        .await;
    assert!(is_conflict(&r), "{r:?}");
    let other = new_customer(h, &c.tenant_id).await;
    let theirs = new_card(h, &other, 3).await;
    let r = s
        .set_default_payment_method(&c.tenant_id, c.id, theirs.id)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    // Another tenant's customer.
    let r = s
        .set_default_payment_method(&tenant_id(), c.id, first.id)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    // The customer is gone, its card left.
    h.remove_customer(other.id).await;
    let r = s
        .set_default_payment_method(&c.tenant_id, other.id, theirs.id)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(default_of(h, &c).await, Some(second.id));
}

async fn clear_default_only_while_it_is_still_that_card<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let second = new_card(h, &c, 2).await;
    s.clear_default_payment_method(&c.tenant_id, c.id, second.id)
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, Some(first.id));
    s.clear_default_payment_method(&tenant_id(), c.id, first.id)
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, Some(first.id));
    s.clear_default_payment_method(&c.tenant_id, customer_id(), first.id)
        .await
        .unwrap();
    s.clear_default_payment_method(&c.tenant_id, c.id, first.id)
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, None);
}

async fn delete_holds_only_on_the_default_as_read<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let second = new_card(h, &c, 2).await;
    // The caller read `first` as not the default: it is.
    let r = s
        .delete_payment_method(&first, &[stripe_key(&first)], false, None)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    // The caller read `second` as the default: it is not.
    let r = s
        .delete_payment_method(&second, &[stripe_key(&second)], true, None)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.payment_method_of(c.id, second.id).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &[stripe_key(&second)])
            .await
            .unwrap()
            .1,
        Some(second.id)
    );
    s.delete_payment_method(&second, &[stripe_key(&second)], false, None)
        .await
        .unwrap();
    assert_eq!(s.payment_method_of(c.id, second.id).await.unwrap(), None);
    // Its marker went with it: the same Stripe card is new again.
    assert_eq!(
        s.customer_and_dedupe(&c.tenant_id, c.id, &[stripe_key(&second)])
            .await
            .unwrap()
            .1,
        None
    );
    // Deleting it again: it is absent.
    let r = s
        .delete_payment_method(&second, &[stripe_key(&second)], false, None)
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(default_of(h, &c).await, Some(first.id));
}

async fn delete_of_the_default_moves_it<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let second = new_card(h, &c, 2).await;
    s.delete_payment_method(&first, &[stripe_key(&first)], true, Some(second.id))
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, Some(second.id));
    s.delete_payment_method(&second, &[stripe_key(&second)], true, None)
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, None);
    let (_, left) = s
        .customer_with_payment_methods(&c.tenant_id, c.id)
        .await
        .unwrap()
        .unwrap();
    assert!(left.is_empty());
}

/// Eight first cards at once, three pairs of them one Stripe card: one default, one of the
/// new cards; one card per marker (the others `Duplicate`, or `Conflict` when DynamoDB
/// cancels a transaction that raced another).
async fn racing_first_cards_make_one_default_and_one_card_per_marker<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let cards: Vec<PaymentMethod> = (0..8).map(|i| card(&c, i % 5)).collect();
    let keys: Vec<[String; 1]> = cards.iter().map(|pm| [stripe_key(pm)]).collect();
    let results = futures_join(
        cards
            .iter()
            .zip(&keys)
            .map(|(pm, key)| s.create_payment_method(pm, key, DefaultRule::IfNone))
            .collect(),
    )
    .await;
    let new: Vec<PaymentMethodId> = cards
        .iter()
        .zip(&results)
        .filter(|(_, r)| matches!(r, Ok(Created::New)))
        .map(|(pm, _)| pm.id)
        .collect();
    for r in &results {
        assert!(matches!(r, Ok(_) | Err(StoreError::Conflict)), "{r:?}");
    }
    let (found, methods) = s
        .customer_with_payment_methods(&c.tenant_id, c.id)
        .await
        .unwrap()
        .unwrap();
    let stored: BTreeSet<PaymentMethodId> = methods.iter().map(|p| p.id).collect();
    assert_eq!(stored, new.iter().copied().collect());
    let markers: BTreeSet<String> = methods.iter().map(stripe_key).collect();
    assert_eq!(markers.len(), methods.len(), "two cards on one marker");
    assert!(new.contains(&found.default_payment_method_id.expect("a default")));
}

/// Set-default and delete of one card, at once, many times: whichever wins, the default
/// never names a card that is gone.
async fn racing_set_default_and_delete_never_leave_a_default_without_its_card<H: Harness>(h: &H) {
    let s = h.store();
    for round in 0..6 {
        let c = new_customer(h, &tenant_id()).await;
        let first = new_card(h, &c, round * 2).await;
        let second = new_card(h, &c, round * 2 + 1).await;
        let marker = [stripe_key(&second)];
        let (set, delete) = tokio::join!(
            s.set_default_payment_method(&c.tenant_id, c.id, second.id),
            s.delete_payment_method(&second, &marker, false, None),
        );
        assert!(matches!(set, Ok(()) | Err(StoreError::Conflict)), "{set:?}");
        assert!(
            matches!(delete, Ok(()) | Err(StoreError::Conflict)),
            "{delete:?}"
        );
        let (found, methods) = s
            .customer_with_payment_methods(&c.tenant_id, c.id)
            .await
            .unwrap()
            .unwrap();
        let default = found.default_payment_method_id.expect("a default");
        assert!(
            methods.iter().any(|p| p.id == default),
            "round {round}: the default {default} is gone (set {set:?}, delete {delete:?})"
        );
        assert!(default == first.id || default == second.id);
    }
}

/// Every future of `futures`, run at once on this task.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("ready")).collect()
}

async fn record_payment_failure_counts_and_refuses_an_absent_card<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let pm = new_card(h, &c, 1).await;
    s.record_payment_failure(&pm, "declined").await.unwrap();
    s.record_payment_failure(&pm, "insufficient funds")
        .await
        .unwrap();
    let now = s.payment_method_of(c.id, pm.id).await.unwrap().unwrap();
    assert_eq!(now.failures, 2);
    assert_eq!(now.last_error.as_deref(), Some("insufficient funds"));
    // A Stripe event's write that read the card before the failures does not hold.
    let mut stale = pm.clone();
    stale.last4 = "1881".into();
    let r = s.save_stripe_change(&pm, &stale, None).await;
    assert!(
        is_conflict(&r),
        "a write on a read from before the failure: {r:?}"
    );
    let ghost = card(&c, 2);
    let r = s.record_payment_failure(&ghost, "declined").await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.payment_method_of(c.id, ghost.id).await.unwrap(), None);
}

// ---- links ------------------------------------------------------------------------

async fn a_link_is_written_whole_and_its_token_used_once<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    let pm = card(&c, 1);
    let l = link(&c, &pm, "sub-1", now());
    assert!(matches!(
        s.create_stripe_customer_link(&l, &pm, &[stripe_key(&pm)], "tokhash1")
            .await
            .unwrap(),
        LinkWrite::Stored
    ));
    let used = s.token_use(t, "tokhash1").await.unwrap().expect("used");
    assert_eq!(used.owner, "sub-1");
    assert_eq!(
        s.link_for_token_use(t, "sub-1", &used).await.unwrap(),
        Some(l.clone())
    );
    assert_eq!(s.link_for_token_use(t, "sub-2", &used).await.unwrap(), None);
    assert_eq!(s.token_use(&tenant_id(), "tokhash1").await.unwrap(), None);
    // The card became the customer's default (rule IfNone).
    assert_eq!(default_of(h, &c).await, Some(pm.id));
    assert_eq!(s.payment_method_of(c.id, pm.id).await.unwrap(), Some(pm));

    // The token again, by another user with another card: nothing of it is written.
    let pm2 = card(&c, 2);
    let l2 = link(&c, &pm2, "sub-2", now());
    match s
        .create_stripe_customer_link(&l2, &pm2, &[stripe_key(&pm2)], "tokhash1")
        .await
        .unwrap()
    {
        LinkWrite::TokenUsed(again) => assert_eq!(again, used),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.payment_method_of(c.id, pm2.id).await.unwrap(), None);
    assert!(s
        .stripe_customer_links(t, "sub-2")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.stripe_customer_links(t, "sub-1").await.unwrap(), vec![l]);
}

async fn a_link_for_a_gone_or_foreign_customer_writes_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    // A customer that does not exist.
    let ghost = customer(&c.tenant_id);
    let pm = card(&ghost, 1);
    let l = link(&ghost, &pm, "sub-1", now());
    assert!(matches!(
        s.create_stripe_customer_link(&l, &pm, &[stripe_key(&pm)], "tokhash-g")
            .await
            .unwrap(),
        LinkWrite::CustomerGone
    ));
    assert_eq!(s.token_use(&c.tenant_id, "tokhash-g").await.unwrap(), None);
    assert_eq!(s.payment_method_of(ghost.id, pm.id).await.unwrap(), None);
    // Another tenant's customer.
    let u = tenant_id();
    let mut pm = card(&c, 2);
    pm.tenant_id = u.clone();
    let mut l = link(&c, &pm, "sub-1", now());
    l.tenant_id = u.clone();
    assert!(matches!(
        s.create_stripe_customer_link(&l, &pm, &[stripe_key(&pm)], "tokhash-f")
            .await
            .unwrap(),
        LinkWrite::CustomerGone
    ));
    assert_eq!(s.token_use(&u, "tokhash-f").await.unwrap(), None);
    assert_eq!(s.payment_method_of(c.id, pm.id).await.unwrap(), None);
    assert!(s
        .stripe_customer_links(&u, "sub-1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(default_of(h, &c).await, None);
}

async fn links_are_per_user_and_oldest_first<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    let early = Timestamp::from_unix_timestamp(1_767_225_600).unwrap();
    let late = early + time::Duration::microseconds(1);
    let (pm_late, pm_early) = (card(&c, 1), card(&c, 2));
    let l_late = link(&c, &pm_late, "sub-1", late);
    let l_early = link(&c, &pm_early, "sub-1", early);
    for (l, pm, tok) in [(&l_late, &pm_late, "tok-a"), (&l_early, &pm_early, "tok-b")] {
        assert!(matches!(
            s.create_stripe_customer_link(l, pm, &[stripe_key(pm)], tok)
                .await
                .unwrap(),
            LinkWrite::Stored
        ));
    }
    assert_eq!(
        s.stripe_customer_links(t, "sub-1").await.unwrap(),
        vec![l_early, l_late]
    );
    assert!(s
        .stripe_customer_links(t, "sub-9")
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .stripe_customer_links(&tenant_id(), "sub-1")
        .await
        .unwrap()
        .is_empty());
}

async fn a_link_whose_card_is_a_duplicate_is_a_conflict<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let again = card(&c, 1);
    let l = link(&c, &again, "sub-1", now());
    let r = s
        .create_stripe_customer_link(&l, &again, &[stripe_key(&again)], "tok-d")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.token_use(&c.tenant_id, "tok-d").await.unwrap(), None);
    assert!(s
        .stripe_customer_links(&c.tenant_id, "sub-1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(default_of(h, &c).await, Some(first.id));
}

// ---- velocity ---------------------------------------------------------------------

fn counter(limit: u32) -> Counter {
    Counter {
        key: format!("ct-{:016x}#ip#x#0", rand_u64()),
        limit,
        expires_at: Timestamp::now_utc().unix_timestamp() + 3600,
    }
}

async fn admit_counts_all_or_nothing<H: Harness>(h: &H) {
    let s = h.store();
    let (a, b, check) = (counter(3), counter(2), counter(1));
    for _ in 0..2 {
        assert_eq!(
            s.admit(&[a.clone(), b.clone()], &check).await.unwrap(),
            Admission::Admitted
        );
    }
    // `b` is at its limit: refused, and `a` not counted.
    assert_eq!(
        s.admit(&[a.clone(), b.clone()], &check).await.unwrap(),
        Admission::Refused(1)
    );
    // `a` has one left (2 of 3): it was not counted by the refusal.
    assert_eq!(
        s.admit(std::slice::from_ref(&a), &check).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        s.admit(std::slice::from_ref(&a), &check).await.unwrap(),
        Admission::Refused(0)
    );
    // The check is read, never counted: still below its limit of 1.
    let fresh = counter(5);
    assert_eq!(
        s.admit(std::slice::from_ref(&fresh), &check).await.unwrap(),
        Admission::Admitted
    );
    // A check at its limit refuses, by the index after the counts.
    s.count(&check).await.unwrap();
    assert_eq!(
        s.admit(&[fresh.clone(), counter(5)], &check).await.unwrap(),
        Admission::Refused(2)
    );
}

async fn count_ignores_the_limit<H: Harness>(h: &H) {
    let s = h.store();
    let c = counter(1);
    s.count(&c).await.unwrap();
    s.count(&c).await.unwrap();
    assert_eq!(
        s.admit(std::slice::from_ref(&c), &counter(9))
            .await
            .unwrap(),
        Admission::Refused(0)
    );
    let roomier = Counter {
        limit: 3,
        ..c.clone()
    };
    assert_eq!(
        s.admit(std::slice::from_ref(&roomier), &counter(9))
            .await
            .unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        s.admit(&[roomier], &counter(9)).await.unwrap(),
        Admission::Refused(0)
    );
}

// ---- once -------------------------------------------------------------------------

fn now_ms() -> i64 {
    (Timestamp::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn once(t: &TenantId, key: &str, owner: &str, until_ms: i64, expires_at: i64) -> OnceRecord {
    OnceRecord {
        tenant: t.clone(),
        key: key.to_owned(),
        request_hash: format!("hash-{owner}"),
        owner: owner.to_owned(),
        state: OnceState::InProgress { until_ms },
        expires_at,
    }
}

fn completed(r: &OnceRecord, body: &str) -> OnceRecord {
    OnceRecord {
        state: OnceState::Completed(StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_owned(),
        }),
        ..r.clone()
    }
}

async fn a_claim_holds_the_key_while_live<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let now = now_ms();
    let first = once(&t, "k1", "a", now + 60_000, now / 1000 + 3600);
    assert_eq!(s.claim(&first, now).await.unwrap(), Claim::Claimed);
    let second = once(&t, "k1", "b", now + 60_000, now / 1000 + 3600);
    assert_eq!(
        s.claim(&second, now).await.unwrap(),
        Claim::Held(first.clone())
    );
    let done = completed(&first, "{\"id\":1}");
    s.complete(&done).await.unwrap();
    // Completed: held whatever its in-progress expiry was, until `expires_at`.
    assert_eq!(
        s.claim(&second, now + 120_000).await.unwrap(),
        Claim::Held(done)
    );
}

async fn expired_claims_and_records_free_the_key<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let now = now_ms();
    // An attempt past its in-progress expiry (a crash): the key is free.
    let crashed = once(&t, "k1", "a", now - 1, now / 1000 + 3600);
    assert_eq!(s.claim(&crashed, now - 10).await.unwrap(), Claim::Claimed);
    let retry = once(&t, "k1", "b", now + 60_000, now / 1000 + 3600);
    assert_eq!(s.claim(&retry, now).await.unwrap(), Claim::Claimed);
    assert_eq!(
        s.claim(&once(&t, "k1", "c", now + 60_000, now / 1000 + 3600), now)
            .await
            .unwrap(),
        Claim::Held(retry)
    );
    // The boundary: in progress until exactly now is over.
    let edge = once(&t, "k2", "a", now, now / 1000 + 3600);
    assert_eq!(s.claim(&edge, now - 1).await.unwrap(), Claim::Claimed);
    assert_eq!(
        s.claim(&once(&t, "k2", "b", now + 1, now / 1000 + 3600), now - 1)
            .await
            .unwrap(),
        Claim::Held(edge)
    );
    assert_eq!(
        s.claim(&once(&t, "k2", "b", now + 1, now / 1000 + 3600), now)
            .await
            .unwrap(),
        Claim::Claimed
    );
    // A completed record past its window: free. (Times an hour ahead, where no TTL
    // sweep reaches the item.)
    let now = now + 3_600_000;
    let secs = now.div_euclid(1000);
    let old = completed(&once(&t, "k3", "a", now, secs + 1), "{}");
    assert_eq!(s.claim(&old, now).await.unwrap(), Claim::Claimed);
    s.complete(&old).await.unwrap();
    let probe = once(&t, "k3", "b", now + 60_000, secs + 3600);
    // Still inside its window (its last second not yet begun)...
    assert_eq!(
        s.claim(&probe, secs * 1000 + 999).await.unwrap(),
        Claim::Held(old)
    );
    // ...and over at its second.
    assert_eq!(
        s.claim(&probe, (secs + 1) * 1000).await.unwrap(),
        Claim::Claimed
    );
}

async fn complete_and_release_only_by_the_owner<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let now = now_ms();
    let exp = now / 1000 + 3600;
    let mine = once(&t, "k1", "a", now + 60_000, exp);
    assert_eq!(s.claim(&mine, now).await.unwrap(), Claim::Claimed);
    // Another attempt's complete and release change nothing.
    let theirs = once(&t, "k1", "b", now + 60_000, exp);
    s.complete(&completed(&theirs, "theirs")).await.unwrap();
    s.release(&t, "k1", "b").await.unwrap();
    let probe = once(&t, "k1", "c", now + 60_000, exp);
    assert_eq!(
        s.claim(&probe, now).await.unwrap(),
        Claim::Held(mine.clone())
    );
    // The owner releases: a retry runs anew.
    s.release(&t, "k1", "a").await.unwrap();
    assert_eq!(s.claim(&probe, now).await.unwrap(), Claim::Claimed);
    // Completing a record nobody holds writes nothing; releasing one does nothing.
    let ghost = once(&t, "k2", "a", now + 60_000, exp);
    s.complete(&completed(&ghost, "ghost")).await.unwrap();
    s.release(&t, "k2", "a").await.unwrap();
    assert_eq!(s.claim(&ghost, now).await.unwrap(), Claim::Claimed);
}

async fn once_keys_are_per_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let now = now_ms();
    let (t, u) = (tenant_id(), tenant_id());
    let a = once(&t, "same", "a", now + 60_000, now / 1000 + 3600);
    let b = once(&u, "same", "b", now + 60_000, now / 1000 + 3600);
    assert_eq!(s.claim(&a, now).await.unwrap(), Claim::Claimed);
    assert_eq!(s.claim(&b, now).await.unwrap(), Claim::Claimed);
    s.release(&u, "same", "a").await.unwrap();
    assert_eq!(
        s.claim(&once(&t, "same", "c", now + 1, now / 1000 + 3600), now)
            .await
            .unwrap(),
        Claim::Held(a)
    );
}

// ---- audit ------------------------------------------------------------------------

fn event(t: &TenantId, c: Option<CustomerId>) -> AuditEvent {
    let e = AuditEvent::new(now(), t, AuditAction::CustomerCreated, "ok");
    match c {
        Some(c) => e.customer(c),
        None => e,
    }
}

/// An event the stack's chainer leaves alone (too large to be one, `pending_fault`).
fn unchainable(t: &TenantId, c: CustomerId) -> AuditEvent {
    event(t, Some(c)).object("x".repeat(9 * 1024))
}

async fn append_is_idempotent_and_per_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let e = event(&t, None);
    s.append(e.clone()).await.unwrap();
    s.append(e.clone()).await.unwrap();
    let trail = s.tenant_trail(&t).await.unwrap();
    let ids: Vec<&str> = trail
        .pending
        .iter()
        .map(|p| p.event.event_id.as_str())
        .collect();
    assert_eq!(ids, [e.event_id.as_str()]);
    assert_eq!(trail.pending[0].event, e);
    assert!(trail.unreadable.is_empty());
    assert!(trail.settled);
    let other = s.tenant_trail(&tenant_id()).await.unwrap();
    assert!(other.pending.is_empty() && other.records.is_empty() && other.head.is_none());
}

async fn outbox_events_ride_only_a_committed_change<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let c = customer(&t);
    let made = event(&t, Some(c.id));
    let (r, left) = Outbox::scope(vec![made.clone()], s.create_customer(&c)).await;
    r.unwrap();
    assert!(left.is_empty());
    // Refused: its event is left to the caller, not written.
    let refused = event(&t, Some(c.id));
    let (r, left) = Outbox::scope(vec![refused.clone()], s.create_customer(&c)).await;
    assert!(matches!(r, Err(StoreError::AlreadyExists)));
    assert_eq!(left, vec![refused.clone()]);
    // A duplicate card changes nothing: no event.
    let pm = new_card(h, &c, 1).await;
    let dup_event = event(&t, Some(c.id));
    let again = card(&c, 1);
    let (r, left) = Outbox::scope(
        vec![dup_event.clone()],
        s.create_payment_method(&again, &[stripe_key(&again)], DefaultRule::IfNone),
    )
    .await;
    assert_eq!(r.unwrap(), Created::Duplicate(pm.id));
    assert_eq!(left, vec![dup_event.clone()]);
    // A default cleared that was not this card: no change, no event.
    let other = card(&c, 2);
    let clear_event = event(&t, Some(c.id));
    let (r, left) = Outbox::scope(
        vec![clear_event.clone()],
        s.clear_default_payment_method(&t, c.id, other.id),
    )
    .await;
    r.unwrap();
    assert_eq!(left, vec![clear_event.clone()]);
    // A default set: one event with it.
    let set_event = event(&t, Some(c.id));
    let (r, left) = Outbox::scope(
        vec![set_event.clone()],
        s.set_default_payment_method(&t, c.id, pm.id),
    )
    .await;
    r.unwrap();
    assert!(left.is_empty());

    let trail = s.tenant_trail(&t).await.unwrap();
    let written: BTreeSet<&str> = trail
        .pending
        .iter()
        .map(|p| p.event.event_id.as_str())
        .collect();
    let want: BTreeSet<&str> = [made.event_id.as_str(), set_event.event_id.as_str()].into();
    assert_eq!(written, want);
}

/// The store's transaction path takes a change's staged events into whatever it commits
/// (`store::tx`): a write that goes out as a transaction, or as a conditional Put or Update
/// made one because events are staged, carries them; a plain single-item write does not.
/// The vault stages events only around the writes that record a change (`Vault::recorded`),
/// but an adapter must not differ on any of them.
async fn outbox_events_ride_every_write_that_commits_a_transaction<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let c = new_customer(h, &t).await;
    let pm = new_card(h, &c, 1).await;
    let staged = || vec![event(&t, Some(c.id))];
    let to = StripeRef {
        customer_id: "cus_moved".into(),
        source_id: "card_moved".into(),
    };
    let (r, left) = Outbox::scope(staged(), s.rehome_payment_method(&pm, &to, "acct_x")).await;
    r.unwrap();
    assert!(left.is_empty(), "rehome_payment_method left {left:?}");
    let (r, left) = Outbox::scope(staged(), s.admit(&[counter(3)], &counter(3))).await;
    assert_eq!(r.unwrap(), Admission::Admitted);
    assert!(left.is_empty(), "admit left {left:?}");
    let (r, left) = Outbox::scope(staged(), s.append(event(&t, None))).await;
    r.unwrap();
    assert!(left.is_empty(), "append left {left:?}");
    // Refused, or plain single-item writes: left to the caller.
    let full = counter(1);
    s.count(&full).await.unwrap();
    let (r, left) =
        Outbox::scope(staged(), s.admit(std::slice::from_ref(&full), &counter(3))).await;
    assert_eq!(r.unwrap(), Admission::Refused(0));
    assert_eq!(left.len(), 1, "refused admit");
    let (r, left) = Outbox::scope(staged(), s.record_payment_failure(&pm, "declined")).await;
    r.unwrap();
    assert_eq!(left.len(), 1, "record_payment_failure");
    let (r, left) = Outbox::scope(staged(), s.link_stripe_customer(&t, c.id, "cus_1")).await;
    r.unwrap();
    assert_eq!(left.len(), 1, "link_stripe_customer");
    // Taken means written: the three riders, the customer's and card's none (made outside
    // a scope), the appended one.
    let trail = s.tenant_trail(&t).await.unwrap();
    assert_eq!(trail.pending.len(), 4, "{:?}", trail.pending);
}

fn record(seq: u64, prev: &str, e: &AuditEvent) -> AuditRecord {
    AuditRecord {
        seq,
        prev_hash: prev.to_owned(),
        hash: format!("h{seq}"),
        event: e.clone(),
    }
}

fn head(seq: u64) -> ChainHead {
    ChainHead {
        seq,
        hash: format!("h{seq}"),
        mac: format!("m{seq}"),
    }
}

fn pending_key(e: &AuditEvent) -> PendingKey {
    PendingKey {
        tenant: e.tenant_id.clone(),
        event_id: e.event_id.clone(),
    }
}

async fn extend_chain_holds_on_the_head_and_unmarked_events<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let c = customer_id();
    let (e1, e2, e3) = (unchainable(&t, c), unchainable(&t, c), unchainable(&t, c));
    for e in [&e1, &e2, &e3] {
        s.append(e.clone()).await.unwrap();
    }
    let ts = t.as_str();
    assert_eq!(s.chain_head(ts).await.unwrap(), None);
    let (r1, r2) = (record(1, GENESIS, &e1), record(2, "h1", &e2));
    s.extend_chain(ts, None, &[r1.clone(), r2.clone()], &head(2))
        .await
        .unwrap();
    assert_eq!(s.chain_head(ts).await.unwrap(), Some(head(2)));
    // A head that moved meanwhile: nothing of the chunk is written.
    let r3 = record(3, "h2", &e3);
    for prev in [None, Some(head(1))] {
        let r = s
            .extend_chain(ts, prev.as_ref(), std::slice::from_ref(&r3), &head(3))
            .await;
        assert!(is_conflict(&r), "{r:?}");
    }
    // An event chained already, on the right head: nothing written either.
    let again = record(4, "h3", &e1);
    let r = s
        .extend_chain(ts, Some(&head(2)), &[r3.clone(), again], &head(4))
        .await;
    assert!(is_conflict(&r), "{r:?}");
    // An event that is not pending.
    let ghost = record(3, "h2", &unchainable(&t, c));
    let r = s.extend_chain(ts, Some(&head(2)), &[ghost], &head(3)).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.chain_head(ts).await.unwrap(), Some(head(2)));
    let stored = s
        .pending_events(&[pending_key(&e1), pending_key(&e2), pending_key(&e3)])
        .await
        .unwrap();
    let mut seqs: Vec<(String, Option<u64>)> = stored
        .iter()
        .map(|p| {
            (
                p.key.event_id.clone(),
                p.pending.as_ref().and_then(|p| p.seq),
            )
        })
        .collect();
    seqs.sort();
    let mut want = vec![
        (e1.event_id.clone(), Some(1)),
        (e2.event_id.clone(), Some(2)),
        (e3.event_id.clone(), None),
    ];
    want.sort();
    assert_eq!(seqs, want);
    let trail = s.tenant_trail(&t).await.unwrap();
    assert_eq!(trail.records, vec![r1, r2]);
    assert_eq!(trail.head, Some(head(2)));
    // The right head: the chain goes on.
    s.extend_chain(ts, Some(&head(2)), std::slice::from_ref(&r3), &head(3))
        .await
        .unwrap();
    assert_eq!(s.tenant_trail(&t).await.unwrap().records.len(), 3);
}

async fn customer_events_page_newest_first<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let (c, d) = (customer_id(), customer_id());
    let events: Vec<AuditEvent> = [c, d, c, c, d]
        .iter()
        .map(|who| unchainable(&t, *who))
        .collect();
    for e in &events {
        s.append(e.clone()).await.unwrap();
    }
    let mut prev = GENESIS.to_owned();
    let records: Vec<AuditRecord> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let r = record(i as u64 + 1, &prev, e);
            prev = r.hash.clone();
            r
        })
        .collect();
    s.extend_chain(t.as_str(), None, &records, &head(5))
        .await
        .unwrap();
    let seqs = |rs: Vec<AuditRecord>| rs.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(s.customer_events(&t, c, None, 10).await.unwrap()),
        [4, 3, 1]
    );
    assert_eq!(
        seqs(s.customer_events(&t, c, None, 2).await.unwrap()),
        [4, 3]
    );
    assert_eq!(
        seqs(s.customer_events(&t, c, Some(3), 2).await.unwrap()),
        [1]
    );
    assert_eq!(
        seqs(s.customer_events(&t, c, Some(1), 2).await.unwrap()),
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(s.customer_events(&t, d, None, 10).await.unwrap()),
        [5, 2]
    );
    assert!(s
        .customer_events(&tenant_id(), c, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .customer_events(&t, customer_id(), None, 10)
        .await
        .unwrap()
        .is_empty());
    // At most `limit`: none at all for 0.
    assert!(s.customer_events(&t, c, None, 0).await.unwrap().is_empty());
}

async fn pending_events_answer_the_existing_ones<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let e = event(&t, None);
    s.append(e.clone()).await.unwrap();
    let missing = PendingKey {
        tenant: t.as_str().to_owned(),
        event_id: "2026-01-01T00:00:00.000000Z#none".into(),
    };
    let foreign = PendingKey {
        tenant: tenant_id().as_str().to_owned(),
        event_id: e.event_id.clone(),
    };
    let found = s
        .pending_events(&[missing, pending_key(&e), foreign])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, pending_key(&e));
    assert_eq!(found[0].pending.as_ref().map(|p| &p.event), Some(&e));
    assert!(s.pending_events(&[]).await.unwrap().is_empty());
    // A key named twice: refused, as BatchGetItem refuses it (the chainer names each once).
    let twice = s.pending_events(&[pending_key(&e), pending_key(&e)]).await;
    assert!(matches!(twice, Err(StoreError::Backend(_))), "{twice:?}");
}

// ---- re-homing --------------------------------------------------------------------

async fn tenant_customer_ids_page_in_text_order<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let base = rand_u64() % 1_000_000;
    // 7, 8 and 16 digits: text order is not numeric order.
    let ids: Vec<CustomerId> = [
        9_000_000 + base,
        10_000_000 + base,
        1_000_000_000_000_000 + base,
        2_000_000 + base,
    ]
    .into_iter()
    .map(|n| CustomerId::try_from(n).unwrap())
    .collect();
    for id in &ids {
        s.create_customer(&customer_with(&t, *id)).await.unwrap();
    }
    new_customer(h, &tenant_id()).await;
    let mut text: Vec<CustomerId> = ids.clone();
    text.sort_by_key(|id| id.to_string());
    let (page, more) = s.tenant_customer_ids(&t, None, 3).await.unwrap();
    assert_eq!(page, text[..3]);
    assert!(more);
    let (rest, more) = s.tenant_customer_ids(&t, Some(page[2]), 3).await.unwrap();
    assert_eq!(rest, text[3..]);
    assert!(!more);
    // A page that ends exactly at the last one: nothing more follows.
    let (all, more) = s.tenant_customer_ids(&t, None, 4).await.unwrap();
    assert_eq!(all, text);
    assert!(!more, "a full last page says more follow");
    let (none, more) = s.tenant_customer_ids(&t, Some(text[3]), 3).await.unwrap();
    assert!(none.is_empty() && !more);
}

async fn customer_for_rehome_reads_the_target_customer<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let pm = new_card(h, &c, 1).await;
    let t = &c.tenant_id;
    let read = s
        .customer_for_rehome(t, c.id, "acct_new")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.customer.id, c.id);
    assert_eq!(read.payment_methods, vec![pm]);
    assert_eq!(read.target_customer, None);
    s.record_target_customer(t, c.id, "acct_new", "cus_target")
        .await
        .unwrap();
    let read = s
        .customer_for_rehome(t, c.id, "acct_new")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.target_customer.as_deref(), Some("cus_target"));
    let other = s
        .customer_for_rehome(t, c.id, "acct_other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.target_customer, None);
    assert!(s
        .customer_for_rehome(&tenant_id(), c.id, "acct_new")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .customer_for_rehome(t, customer_id(), "acct_new")
        .await
        .unwrap()
        .is_none());
}

async fn record_target_customer_keeps_the_first_and_the_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    assert_eq!(
        s.record_target_customer(t, c.id, "acct_x", "cus_1")
            .await
            .unwrap(),
        "cus_1"
    );
    assert_eq!(
        s.record_target_customer(t, c.id, "acct_x", "cus_2")
            .await
            .unwrap(),
        "cus_1"
    );
    // Another tenant naming this customer: refused, never answered this tenant's.
    let r = s
        .record_target_customer(&tenant_id(), c.id, "acct_x", "cus_3")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    let read = s
        .customer_for_rehome(t, c.id, "acct_x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.target_customer.as_deref(), Some("cus_1"));
}

async fn rehome_payment_method_holds_on_its_old_references<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let pm = new_card(h, &c, 1).await;
    let to = StripeRef {
        customer_id: "cus_moved".into(),
        source_id: "card_moved".into(),
    };
    s.rehome_payment_method(&pm, &to, "acct_new").await.unwrap();
    let moved = s.payment_method_of(c.id, pm.id).await.unwrap().unwrap();
    // A Stripe event's write that read the card before the move does not hold.
    let mut stale = pm.clone();
    stale.last4 = "1881".into();
    let r = s.save_stripe_change(&pm, &stale, None).await;
    assert!(
        is_conflict(&r),
        "a write on a read from before the move: {r:?}"
    );
    assert_eq!(moved.stripe.as_ref(), Some(&to));
    assert_eq!(moved.stripe_home.as_deref(), Some("acct_new"));
    let markers = |src: &str| vec![cardvault::domain::stripe_dedupe_key(src)];
    let t = &c.tenant_id;
    assert_eq!(
        s.customer_and_dedupe(t, c.id, &markers("card_moved"))
            .await
            .unwrap()
            .1,
        Some(pm.id)
    );
    assert_eq!(
        s.customer_and_dedupe(t, c.id, &markers("card_ct1"))
            .await
            .unwrap()
            .1,
        None
    );
    assert_eq!(
        s.cards_by_stripe_ref(t, "cus_moved", Some("card_moved"))
            .await
            .unwrap(),
        vec![(c.id, pm.id)]
    );
    // Moved already: the old references no longer hold.
    let elsewhere = StripeRef {
        customer_id: "cus_3".into(),
        source_id: "card_3".into(),
    };
    let r = s.rehome_payment_method(&pm, &elsewhere, "acct_3").await;
    assert!(is_conflict(&r), "{r:?}");
    // A card with no Stripe references, a card that is not there, another tenant's.
    let mut vault_only = card(&c, 4);
    vault_only.stripe = None;
    s.create_payment_method(&vault_only, &[], DefaultRule::IfNone)
        .await
        .unwrap();
    let r = s
        .rehome_payment_method(&vault_only, &elsewhere, "acct_3")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, vault_only.id).await.unwrap(),
        Some(vault_only)
    );
    let r = s
        .rehome_payment_method(&card(&c, 5), &elsewhere, "acct_3")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    let mut foreign = moved.clone();
    foreign.tenant_id = tenant_id();
    let r = s
        .rehome_payment_method(&foreign, &elsewhere, "acct_3")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    // Removed at Stripe meanwhile: never made chargeable again.
    let mut removed = moved.clone();
    removed.removed_at_stripe = Some(now());
    let off = DefaultMove {
        from: pm.id,
        to: None,
    };
    s.save_stripe_change(&moved, &removed, Some(off))
        .await
        .unwrap();
    let r = s
        .rehome_payment_method(&removed, &elsewhere, "acct_3")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, pm.id)
            .await
            .unwrap()
            .unwrap()
            .stripe,
        Some(to)
    );
    assert_eq!(
        s.customer_and_dedupe(t, c.id, &markers("card_3"))
            .await
            .unwrap()
            .1,
        None
    );
}

async fn rehome_payment_method_refuses_a_taken_marker<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let a = new_card(h, &c, 1).await;
    let b = new_card(h, &c, 2).await;
    // Moving `a` onto `b`'s Stripe card would leave two cards on one marker.
    let onto_b = b.stripe.clone().unwrap();
    let r = s.rehome_payment_method(&a, &onto_b, "acct_new").await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, a.id).await.unwrap(),
        Some(a.clone())
    );
    let t = &c.tenant_id;
    assert_eq!(
        s.customer_and_dedupe(t, c.id, &[stripe_key(&b)])
            .await
            .unwrap()
            .1,
        Some(b.id)
    );
    assert_eq!(
        s.customer_and_dedupe(t, c.id, &[stripe_key(&a)])
            .await
            .unwrap()
            .1,
        Some(a.id)
    );
}

async fn rehome_targets_are_per_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let (t, u) = (tenant_id(), tenant_id());
    let account = format!("acct_ct{:x}", rand_u64());
    assert!(!s.rehome_target_registered(&t, &account).await.unwrap());
    s.record_rehome_target(&t, &account, "stripe-oauth")
        .await
        .unwrap();
    s.record_rehome_target(&t, &account, "stripe-oauth")
        .await
        .unwrap();
    assert!(s.rehome_target_registered(&t, &account).await.unwrap());
    assert!(!s.rehome_target_registered(&u, &account).await.unwrap());
    assert_eq!(
        s.tenants_by_stripe_account(&account).await.unwrap(),
        vec![t.clone()]
    );
    // A tenant connected through it, and one moving there: each once.
    let mut connected = tenant(&u);
    connected.stripe = Some(cardvault::domain::StripeConnection::Connect {
        account_id: account.clone(),
    });
    h.seed_tenant(&connected).await;
    let mut want = vec![t, u];
    want.sort();
    assert_eq!(s.tenants_by_stripe_account(&account).await.unwrap(), want);
    assert!(s
        .tenants_by_stripe_account(&format!("{account}x"))
        .await
        .unwrap()
        .is_empty());
}

async fn switch_stripe_customer_holds_on_the_old_one<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    let r = s
        .switch_stripe_customer(t, c.id, Some("cus_a"), "cus_b")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    s.switch_stripe_customer(t, c.id, None, "cus_a")
        .await
        .unwrap();
    let r = s.switch_stripe_customer(t, c.id, None, "cus_b").await;
    assert!(is_conflict(&r), "{r:?}");
    let r = s
        .switch_stripe_customer(&tenant_id(), c.id, Some("cus_a"), "cus_b")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    let r = s
        .switch_stripe_customer(t, customer_id(), None, "cus_b")
        .await;
    assert!(is_conflict(&r), "{r:?}");
    s.switch_stripe_customer(t, c.id, Some("cus_a"), "cus_b")
        .await
        .unwrap();
    assert_eq!(
        stored(h, &c).await.unwrap().stripe_customer_id.as_deref(),
        Some("cus_b")
    );
}

// ---- webhooks ---------------------------------------------------------------------

async fn cards_by_stripe_ref_within_the_tenant<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    let n = rand_u64() % 1_000_000_000;
    let mut a = card(&c, n);
    let mut b = card(&c, n + 1);
    // Both on one Stripe customer.
    b.stripe.as_mut().unwrap().customer_id = a.stripe.as_ref().unwrap().customer_id.clone();
    for pm in [&mut a, &mut b] {
        s.create_payment_method(pm, &[stripe_key(pm)], DefaultRule::IfNone)
            .await
            .unwrap();
    }
    let cus = a.stripe.as_ref().unwrap().customer_id.clone();
    let mut all = s.cards_by_stripe_ref(t, &cus, None).await.unwrap();
    all.sort();
    let mut want = vec![(c.id, a.id), (c.id, b.id)];
    want.sort();
    assert_eq!(all, want);
    let src = b.stripe.as_ref().unwrap().source_id.clone();
    assert_eq!(
        s.cards_by_stripe_ref(t, &cus, Some(&src)).await.unwrap(),
        vec![(c.id, b.id)]
    );
    assert!(s
        .cards_by_stripe_ref(&tenant_id(), &cus, None)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .cards_by_stripe_ref(t, &cus, Some("card_none"))
        .await
        .unwrap()
        .is_empty());
    // A source id that merely starts like another's is not it.
    let prefix = &src[..src.len() - 1];
    assert!(s
        .cards_by_stripe_ref(t, &cus, Some(prefix))
        .await
        .unwrap()
        .is_empty());
}

async fn save_stripe_change_holds_on_the_card_and_the_default<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let first = new_card(h, &c, 1).await;
    let second = new_card(h, &c, 2).await;
    let mut changed = first.clone();
    changed.last4 = "1881".into();
    changed.modified_at = now();
    s.save_stripe_change(&first, &changed, None).await.unwrap();
    assert_eq!(
        s.payment_method_of(c.id, first.id).await.unwrap(),
        Some(changed.clone())
    );
    // Read before that change: refused, and the card kept.
    let mut stale = first.clone();
    stale.last4 = "0005".into();
    let r = s.save_stripe_change(&first, &stale, None).await;
    assert!(is_conflict(&r), "{r:?}");
    // Removed, while the default is not what the move says: refused.
    let mut removed = changed.clone();
    removed.removed_at_stripe = Some(now());
    removed.modified_at = now();
    let wrong = DefaultMove {
        from: second.id,
        to: None,
    };
    let r = s.save_stripe_change(&changed, &removed, Some(wrong)).await;
    assert!(is_conflict(&r), "{r:?}");
    // Removed, the default not moved though it is this card: refused.
    let r = s.save_stripe_change(&changed, &removed, None).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        s.payment_method_of(c.id, first.id).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(default_of(h, &c).await, Some(first.id));
    let right = DefaultMove {
        from: first.id,
        to: Some(second.id),
    };
    s.save_stripe_change(&changed, &removed, Some(right))
        .await
        .unwrap();
    assert_eq!(default_of(h, &c).await, Some(second.id));
    assert_eq!(
        s.payment_method_of(c.id, first.id).await.unwrap(),
        Some(removed)
    );
    // A card that is not there.
    let ghost = card(&c, 3);
    let r = s.save_stripe_change(&ghost, &ghost, None).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.payment_method_of(c.id, ghost.id).await.unwrap(), None);
}

async fn revoke_stripe_connection_once_and_only_for_its_account<H: Harness>(h: &H) {
    let s = h.store();
    let t = tenant_id();
    let account = format!("acct_ct{:x}", rand_u64());
    let mut record = tenant(&t);
    record.stripe = Some(cardvault::domain::StripeConnection::Connect {
        account_id: account.clone(),
    });
    h.seed_tenant(&record).await;
    let at = Timestamp::from_unix_timestamp(1_767_225_600).unwrap();
    assert!(!s
        .revoke_stripe_connection(&t, "acct_other", at)
        .await
        .unwrap());
    assert!(!s
        .revoke_stripe_connection(&tenant_id(), &account, at)
        .await
        .unwrap());
    assert!(s.revoke_stripe_connection(&t, &account, at).await.unwrap());
    assert!(!s.revoke_stripe_connection(&t, &account, at).await.unwrap());
    assert_eq!(
        s.get_tenant(&t).await.unwrap().unwrap().stripe_revoked_at,
        Some(at)
    );
    let own = tenant_id();
    let mut record = tenant(&own);
    record.stripe = Some(cardvault::domain::StripeConnection::OwnKey {
        secret_id: format!("cardvault/tenant/{own}/stripe"),
    });
    h.seed_tenant(&record).await;
    assert!(!s
        .revoke_stripe_connection(&own, &account, at)
        .await
        .unwrap());
}

async fn update_link_card_follows_the_card<H: Harness>(h: &H) {
    let s = h.store();
    let c = new_customer(h, &tenant_id()).await;
    let t = &c.tenant_id;
    let pm = card(&c, 1);
    let l = link(&c, &pm, "sub-1", now());
    s.create_stripe_customer_link(&l, &pm, &[stripe_key(&pm)], "tok-u")
        .await
        .unwrap();
    let mut changed = pm.clone();
    changed.last4 = "1881".into();
    changed.instrument = serde_json::from_value(
        json!({"kind": "card", "brand": "MasterCard", "expMonth": 9, "expYear": 2032}),
    )
    .unwrap();
    changed.modified_at = Timestamp::from_unix_timestamp(1_767_225_700).unwrap();
    changed.removed_at_stripe = Some(Timestamp::from_unix_timestamp(1_767_225_650).unwrap());
    s.update_link_card(t, "sub-1", &changed).await.unwrap();
    // Another user's view is not touched.
    s.update_link_card(t, "sub-2", &changed).await.unwrap();
    let links = s.stripe_customer_links(t, "sub-1").await.unwrap();
    assert_eq!(links.len(), 1);
    let got = &links[0];
    assert_eq!(got.source.brand.as_deref(), Some("MasterCard"));
    assert_eq!(got.source.last4.as_deref(), Some("1881"));
    assert_eq!(got.source.exp_month, Some(9));
    assert_eq!(got.source.exp_year, Some(2032));
    assert_eq!(got.updated_at, changed.modified_at);
    assert_eq!(got.deleted_at, changed.removed_at_stripe);
    // A later removal keeps the first one's time.
    let mut later = changed.clone();
    later.removed_at_stripe = Some(Timestamp::from_unix_timestamp(1_767_225_800).unwrap());
    s.update_link_card(t, "sub-1", &later).await.unwrap();
    assert_eq!(
        s.stripe_customer_links(t, "sub-1").await.unwrap()[0].deleted_at,
        changed.removed_at_stripe
    );
}
