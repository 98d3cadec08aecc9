//! The store in memory: one lock held across each operation makes every write as atomic
//! as DynamoDB's transactions, and each condition is the one the DynamoDB adapter sends.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

mod webhooks;

use crate::domain::audit::pending_fault;
use crate::domain::{
    ApiKeyRecord, AuditEvent, AuditRecord, ChainHead, Customer, CustomerId, KeyHash, OnceRecord,
    OnceState, Origin, Outbox, PaymentMethod, PaymentMethodId, PendingEvent, StripeCustomerLink,
    Tenant, TenantId, Trail,
};
use crate::ports::{
    Admission, AuditChainStore, AuditLog, Claim, Counter, Created, CustomerStore, DefaultRule,
    LinkStore, LinkWrite, OnceStore, PaymentMethodStore, PendingKey, StoreError, StoredPending,
    TenantAdminStore, TenantStore, TokenUse, VelocityStore,
};

#[derive(Default)]
struct State {
    tenants: HashMap<TenantId, Tenant>,
    public_keys: HashMap<String, TenantId>,
    /// The origin index: each (origin, tenant) that allows it.
    origins: BTreeSet<(Origin, TenantId)>,
    api_keys: HashMap<String, ApiKeyRecord>,
    customers: HashMap<CustomerId, Customer>,
    ext_refs: HashMap<(TenantId, String), CustomerId>,
    payment_methods: BTreeMap<(CustomerId, PaymentMethodId), PaymentMethod>,
    dedupe: HashMap<(CustomerId, String), PaymentMethodId>,
    tokens: HashMap<(TenantId, String), TokenUse>,
    /// (tenant, owner) → link key → link; keys sort by creation.
    links: HashMap<(TenantId, String), BTreeMap<String, StripeCustomerLink>>,
    /// Velocity counters by key: (count, expires at). Like DynamoDB's TTL, expiry deletes
    /// nothing a key could be read by again: each key names its own window.
    counters: HashMap<String, (u32, i64)>,
    /// Each tenant's audit chain, oldest first, and its head.
    audit: HashMap<String, Vec<AuditRecord>>,
    heads: HashMap<String, ChainHead>,
    /// Pending items by their key, (tenant, event id): `None` for one that is not an
    /// event (any request-path role could Put one, `put_pending_item`).
    pending: BTreeMap<(String, String), Option<PendingEvent>>,
    /// Idempotency records by (tenant, key).
    once: HashMap<(TenantId, String), OnceRecord>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    failing: Mutex<HashSet<&'static str>>,
    /// Operations that answer `Conflict`, as a conditional write another request beat.
    conflicting: Mutex<HashSet<&'static str>>,
    /// Every operation called, in order: the round trips a rule makes.
    calls: Mutex<Vec<&'static str>>,
    /// Re-homing's progress: (customer, target) → the tenant that recorded it and the
    /// Stripe customer made there.
    rehomed: Mutex<HashMap<(CustomerId, String), (TenantId, String)>>,
    /// Re-homing targets: (tenant, connected account).
    pub(crate) rehome_targets: Mutex<BTreeSet<(TenantId, String)>>,
    /// Tenants a concurrent writer stores just before the next calls of an operation, in
    /// order ([`MemoryStore::interleave`]).
    interleaved: Mutex<HashMap<&'static str, Vec<Tenant>>>,
    /// Customers the next reads by reference miss, and how many times: as an eventually
    /// consistent read of one just made could ([`MemoryStore::miss`]).
    missed: Mutex<HashMap<CustomerId, usize>>,
}

impl MemoryStore {
    /// Seeds a tenant, with its public key and origins.
    pub fn insert_tenant(&self, tenant: Tenant) {
        let mut s = self.state.lock().unwrap();
        if let Some(k) = &tenant.public_api_key {
            s.public_keys.insert(k.clone(), tenant.id.clone());
        }
        for o in &tenant.allowed_origins {
            s.origins.insert((Origin::new(o), tenant.id.clone()));
        }
        s.tenants.insert(tenant.id.clone(), tenant);
    }

    pub fn insert_api_key(&self, record: ApiKeyRecord) {
        let mut s = self.state.lock().unwrap();
        s.api_keys.insert(record.hash.as_str().to_owned(), record);
    }

    /// Removes a customer (as if deleted meanwhile), leaving its cards and references.
    pub fn remove_customer(&self, id: CustomerId) {
        self.state.lock().unwrap().customers.remove(&id);
    }

    /// The next `times` reads of `id` by its external reference answer `None`, as reads
    /// that have not yet seen a customer a concurrent request just made.
    pub fn miss(&self, id: CustomerId, times: usize) {
        self.missed.lock().unwrap().insert(id, times);
    }

    /// Every payment method stored, in key order.
    pub fn payment_methods(&self) -> Vec<PaymentMethod> {
        let s = self.state.lock().unwrap();
        s.payment_methods.values().cloned().collect()
    }

    /// Overwrites a stored payment method (a record damaged or written around the rules).
    pub fn replace_payment_method(&self, pm: PaymentMethod) {
        let mut s = self.state.lock().unwrap();
        s.payment_methods.insert((pm.customer_id, pm.id), pm);
    }

    pub fn customer_count(&self) -> usize {
        self.state.lock().unwrap().customers.len()
    }

    pub fn link_count(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.links.values().map(BTreeMap::len).sum()
    }

    /// A velocity counter's value now (0 when it was never counted).
    pub fn counter(&self, key: &str) -> u32 {
        let s = self.state.lock().unwrap();
        s.counters.get(key).map_or(0, |(n, _)| *n)
    }

    /// Every velocity counter key, sorted.
    pub fn counter_keys(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let mut keys: Vec<_> = s.counters.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Stores `tenant` just before the next call of `op` (one call per `interleave`), as
    /// a concurrent writer (a webhook's revocation) between a caller's read and its write.
    pub fn interleave(&self, op: &'static str, tenant: Tenant) {
        self.interleaved
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .push(tenant);
    }

    /// Makes every later call of `op` (a port method's name) fail as the backend would.
    pub fn fail(&self, op: &'static str) {
        self.failing.lock().unwrap().insert(op);
    }

    /// Makes every later call of `op` lose its condition, as if another request always
    /// wrote first.
    pub fn conflict(&self, op: &'static str) {
        self.conflicting.lock().unwrap().insert(op);
    }

    pub fn heal_conflict(&self, op: &'static str) {
        self.conflicting.lock().unwrap().remove(op);
    }

    pub fn heal(&self, op: &'static str) {
        self.failing.lock().unwrap().remove(op);
    }

    /// The operations called so far, and forgets them.
    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn enter(&self, op: &'static str) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.calls.lock().unwrap().push(op);
        if self.failing.lock().unwrap().contains(op) {
            return Err(StoreError::backend(format!("injected failure of {op}")));
        }
        if self.conflicting.lock().unwrap().contains(op) {
            return Err(StoreError::Conflict);
        }
        let mut state = self.state.lock().unwrap();
        let next = self
            .interleaved
            .lock()
            .unwrap()
            .get_mut(op)
            .filter(|queue| !queue.is_empty())
            .map(|queue| queue.remove(0));
        if let Some(t) = next {
            state.tenants.insert(t.id.clone(), t);
        }
        Ok(state)
    }
}

/// A change's audit events ([`Outbox`]) join its write, as `store::tx` puts them in its
/// transaction.
fn commit_events(s: &mut State) {
    for event in Outbox::staged() {
        let key = (event.tenant_id.clone(), event.event_id.clone());
        s.pending
            .insert(key, Some(PendingEvent { event, seq: None }));
    }
    Outbox::taken();
}

fn customer_of<'a>(s: &'a State, tenant: &TenantId, id: CustomerId) -> Option<&'a Customer> {
    s.customers.get(&id).filter(|c| &c.tenant_id == tenant)
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        Ok(self.enter("get_tenant")?.tenants.get(id).cloned())
    }

    async fn tenant_by_public_key(&self, key: &str) -> Result<Option<TenantId>, StoreError> {
        Ok(self
            .enter("tenant_by_public_key")?
            .public_keys
            .get(key)
            .cloned())
    }

    async fn origin_allowed(&self, origin: &Origin) -> Result<bool, StoreError> {
        let s = self.enter("origin_allowed")?;
        Ok(s.origins.iter().any(|(o, _)| o == origin))
    }

    async fn api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .enter("api_key_by_hash")?
            .api_keys
            .get(hash.as_str())
            .cloned())
    }
}

/// The operator's writes, with the DynamoDB adapter's conditions (`store::tenants`).
#[async_trait]
impl TenantAdminStore for MemoryStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut s = self.enter("create_tenant")?;
        if s.tenants.contains_key(&tenant.id) {
            return Err(StoreError::AlreadyExists);
        }
        s.tenants.insert(tenant.id.clone(), tenant.clone());
        commit_events(&mut s);
        Ok(())
    }

    async fn save_tenant(&self, tenant: &Tenant, old: &Tenant) -> Result<(), StoreError> {
        let mut s = self.enter("save_tenant")?;
        // The tenant exists and its revocation mark is as read.
        match s.tenants.get(&tenant.id) {
            Some(now) if now.stripe_revoked_at == old.stripe_revoked_at => {}
            _ => return Err(StoreError::Conflict),
        }
        let key_changed = tenant.public_api_key != old.public_api_key;
        if let Some(new_key) = tenant.public_api_key.as_ref().filter(|_| key_changed) {
            if s.public_keys.contains_key(new_key) {
                return Err(StoreError::Conflict);
            }
        }
        if key_changed {
            if let Some(old_key) = &old.public_api_key {
                s.public_keys.remove(old_key);
            }
            if let Some(new_key) = &tenant.public_api_key {
                s.public_keys.insert(new_key.clone(), tenant.id.clone());
            }
        }
        let index = |t: &Tenant| -> BTreeSet<(Origin, TenantId)> {
            t.allowed_origins
                .iter()
                .map(|o| (Origin::new(o), t.id.clone()))
                .collect()
        };
        for gone in index(old) {
            s.origins.remove(&gone);
        }
        s.origins.extend(index(tenant));
        s.tenants.insert(tenant.id.clone(), tenant.clone());
        commit_events(&mut s);
        Ok(())
    }

    async fn create_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut s = self.enter("create_api_key")?;
        if s.api_keys.contains_key(record.hash.as_str()) {
            return Err(StoreError::AlreadyExists);
        }
        s.api_keys
            .insert(record.hash.as_str().to_owned(), record.clone());
        commit_events(&mut s);
        Ok(())
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let s = self.enter("list_api_keys")?;
        let mut keys: Vec<ApiKeyRecord> = s
            .api_keys
            .values()
            .filter(|k| &k.tenant_id == tenant)
            .cloned()
            .collect();
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    async fn revoke_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<(), StoreError> {
        let mut s = self.enter("revoke_api_key")?;
        let record = s
            .api_keys
            .values_mut()
            .find(|k| &k.tenant_id == tenant && k.key_id == key_id)
            .ok_or(StoreError::Missing("api key"))?;
        record
            .revoked_at
            .get_or_insert_with(time::OffsetDateTime::now_utc);
        Ok(())
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn create_customer(&self, customer: &Customer) -> Result<(), StoreError> {
        let mut s = self.enter("create_customer")?;
        if s.customers.contains_key(&customer.id) {
            return Err(StoreError::AlreadyExists);
        }
        s.customers.insert(customer.id, customer.clone());
        commit_events(&mut s);
        Ok(())
    }

    async fn get_customer(
        &self,
        tenant: &TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let s = self.enter("get_customer")?;
        Ok(customer_of(&s, tenant, id).cloned())
    }

    async fn customers(
        &self,
        tenant: &TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, StoreError> {
        let s = self.enter("customers")?;
        let unique: BTreeSet<_> = ids.iter().copied().collect();
        Ok(unique
            .into_iter()
            .filter_map(|id| customer_of(&s, tenant, id).cloned())
            .collect())
    }

    async fn customer_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<Customer>, StoreError> {
        let s = self.enter("customer_by_external_ref")?;
        Ok(s.ext_refs
            .get(&(tenant.clone(), ext_ref.to_owned()))
            .filter(|id| match self.missed.lock().unwrap().get_mut(id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .and_then(|id| customer_of(&s, tenant, *id))
            .cloned())
    }

    async fn customer_id_by_external_ref(
        &self,
        tenant: &TenantId,
        ext_ref: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let s = self.enter("customer_id_by_external_ref")?;
        Ok(s.ext_refs
            .get(&(tenant.clone(), ext_ref.to_owned()))
            .copied())
    }

    async fn create_customer_with_ref(
        &self,
        customer: &Customer,
        ext_ref: &str,
        replacing: Option<CustomerId>,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("create_customer_with_ref")?;
        let key = (customer.tenant_id.clone(), ext_ref.to_owned());
        // As the DynamoDB adapter's transaction: a new id, the reference unchanged since
        // read, and a reference taken over only from a customer that is gone.
        if s.customers.contains_key(&customer.id)
            || s.ext_refs.get(&key).copied() != replacing
            || replacing.is_some_and(|old| s.customers.contains_key(&old))
        {
            return Err(StoreError::AlreadyExists);
        }
        s.customers.insert(customer.id, customer.clone());
        s.ext_refs.insert(key, customer.id);
        commit_events(&mut s);
        Ok(())
    }

    async fn link_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        stripe_customer: &str,
    ) -> Result<String, StoreError> {
        let mut s = self.enter("link_stripe_customer")?;
        let c = s
            .customers
            .get_mut(&customer)
            .filter(|c| &c.tenant_id == tenant)
            .ok_or(StoreError::Conflict)?;
        Ok(c.stripe_customer_id
            .get_or_insert_with(|| stripe_customer.to_owned())
            .clone())
    }
}

/// The writes of a new payment method, all or nothing: the item and its markers must be
/// new, and the customer must be the tenant's.
fn insert_payment_method(
    s: &mut State,
    pm: &PaymentMethod,
    dedupe: &[String],
    rule: DefaultRule,
) -> Result<Created, StoreError> {
    if customer_of(s, &pm.tenant_id, pm.customer_id).is_none() {
        return Err(StoreError::Missing("customer"));
    }
    for d in dedupe {
        if let Some(existing) = s.dedupe.get(&(pm.customer_id, d.clone())) {
            return Ok(Created::Duplicate(*existing));
        }
    }
    if s.payment_methods.contains_key(&(pm.customer_id, pm.id)) {
        return Err(StoreError::AlreadyExists);
    }
    s.payment_methods
        .insert((pm.customer_id, pm.id), pm.clone());
    for d in dedupe {
        s.dedupe.insert((pm.customer_id, d.clone()), pm.id);
    }
    // A pending card is never the default.
    if pm.is_on_file() {
        apply_rule(s, pm, rule);
    }
    Ok(Created::New)
}

fn apply_rule(s: &mut State, pm: &PaymentMethod, rule: DefaultRule) {
    let c = s.customers.get_mut(&pm.customer_id).expect("checked above");
    match rule {
        DefaultRule::Always => c.default_payment_method_id = Some(pm.id),
        DefaultRule::IfNone => {
            c.default_payment_method_id.get_or_insert(pm.id);
        }
    }
}

#[async_trait]
impl PaymentMethodStore for MemoryStore {
    async fn customer_and_dedupe(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        dedupe: &[String],
    ) -> Result<(Option<Customer>, Option<PaymentMethodId>), StoreError> {
        let s = self.enter("customer_and_dedupe")?;
        let existing = dedupe
            .iter()
            .find_map(|d| s.dedupe.get(&(customer, d.clone())).copied());
        Ok((customer_of(&s, tenant, customer).cloned(), existing))
    }

    async fn create_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<Created, StoreError> {
        let mut s = self.enter("create_payment_method")?;
        let created = insert_payment_method(&mut s, pm, dedupe, rule)?;
        if created == Created::New {
            commit_events(&mut s);
        }
        Ok(created)
    }

    async fn customer_with_payment_methods(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
    ) -> Result<Option<(Customer, Vec<PaymentMethod>)>, StoreError> {
        let s = self.enter("customer_with_payment_methods")?;
        Ok(customer_of(&s, tenant, customer).map(|c| {
            let methods = s
                .payment_methods
                .range((customer, PaymentMethodId::MIN)..)
                .take_while(|((cid, _), _)| *cid == customer)
                .map(|(_, pm)| pm.clone())
                .collect();
            (c.clone(), methods)
        }))
    }

    async fn payment_method_of(
        &self,
        customer: CustomerId,
        id: PaymentMethodId,
    ) -> Result<Option<PaymentMethod>, StoreError> {
        let s = self.enter("payment_method_of")?;
        Ok(s.payment_methods.get(&(customer, id)).cloned())
    }

    async fn locate_payment_method(
        &self,
        tenant: &TenantId,
        id: PaymentMethodId,
    ) -> Result<Option<CustomerId>, StoreError> {
        let s = self.enter("locate_payment_method")?;
        Ok(s.payment_methods
            .values()
            .find(|pm| pm.id == id && &pm.tenant_id == tenant)
            .map(|pm| pm.customer_id))
    }

    async fn set_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("set_default_payment_method")?;
        if !s.payment_methods.contains_key(&(customer, pm)) {
            return Err(StoreError::Conflict);
        }
        match s
            .customers
            .get_mut(&customer)
            .filter(|c| &c.tenant_id == tenant)
        {
            Some(c) => {
                c.default_payment_method_id = Some(pm);
                commit_events(&mut s);
                Ok(())
            }
            None => Err(StoreError::Conflict),
        }
    }

    async fn clear_default_payment_method(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        pm: PaymentMethodId,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("clear_default_payment_method")?;
        if let Some(c) = s
            .customers
            .get_mut(&customer)
            .filter(|c| &c.tenant_id == tenant)
        {
            if c.default_payment_method_id == Some(pm) {
                c.default_payment_method_id = None;
                commit_events(&mut s);
            }
        }
        Ok(())
    }

    async fn delete_payment_method(
        &self,
        pm: &PaymentMethod,
        dedupe: &[String],
        was_default: bool,
        next_default: Option<PaymentMethodId>,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("delete_payment_method")?;
        let key = (pm.customer_id, pm.id);
        let is_default = s
            .customers
            .get(&pm.customer_id)
            .is_some_and(|c| c.default_payment_method_id == Some(pm.id));
        if !s.payment_methods.contains_key(&key) || is_default != was_default {
            return Err(StoreError::Conflict);
        }
        s.payment_methods.remove(&key);
        for d in dedupe {
            s.dedupe.remove(&(pm.customer_id, d.clone()));
        }
        if was_default {
            if let Some(c) = s.customers.get_mut(&pm.customer_id) {
                c.default_payment_method_id = next_default;
            }
        }
        commit_events(&mut s);
        Ok(())
    }

    async fn activate_payment_method(
        &self,
        read: &PaymentMethod,
        active: &PaymentMethod,
        _dedupe: &[String],
        rule: DefaultRule,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("activate_payment_method")?;
        let stored = s
            .payment_methods
            .get_mut(&(active.customer_id, active.id))
            .filter(|p| p.modified_at == read.modified_at && !p.is_on_file())
            .ok_or(StoreError::Conflict)?;
        *stored = active.clone();
        if customer_of(&s, &active.tenant_id, active.customer_id).is_none() {
            return Err(StoreError::Conflict);
        }
        apply_rule(&mut s, active, rule);
        commit_events(&mut s);
        Ok(())
    }

    async fn record_payment_failure(
        &self,
        pm: &PaymentMethod,
        message: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("record_payment_failure")?;
        let stored = s
            .payment_methods
            .get_mut(&(pm.customer_id, pm.id))
            .ok_or(StoreError::Conflict)?;
        stored.failures += 1;
        stored.last_error = Some(message.to_owned());
        // As the DynamoDB adapter's `modifiedAt = :now`.
        stored.modified_at = time::OffsetDateTime::now_utc();
        Ok(())
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn token_use(
        &self,
        tenant: &TenantId,
        token_hash: &str,
    ) -> Result<Option<TokenUse>, StoreError> {
        let s = self.enter("token_use")?;
        Ok(s.tokens
            .get(&(tenant.clone(), token_hash.to_owned()))
            .cloned())
    }

    async fn link_for_token_use(
        &self,
        tenant: &TenantId,
        owner: &str,
        used: &TokenUse,
    ) -> Result<Option<StripeCustomerLink>, StoreError> {
        let s = self.enter("link_for_token_use")?;
        if used.owner != owner {
            return Ok(None);
        }
        Ok(s.links
            .get(&(tenant.clone(), owner.to_owned()))
            .and_then(|l| l.get(&used.link_key))
            .cloned())
    }

    async fn create_stripe_customer_link(
        &self,
        link: &StripeCustomerLink,
        pm: &PaymentMethod,
        dedupe: &[String],
        token_hash: &str,
    ) -> Result<LinkWrite, StoreError> {
        let mut s = self.enter("create_stripe_customer_link")?;
        let token_key = (link.tenant_id.clone(), token_hash.to_owned());
        if let Some(used) = s.tokens.get(&token_key) {
            return Ok(LinkWrite::TokenUsed(used.clone()));
        }
        if customer_of(&s, &pm.tenant_id, pm.customer_id).is_none() {
            return Ok(LinkWrite::CustomerGone);
        }
        match insert_payment_method(&mut s, pm, dedupe, DefaultRule::IfNone)? {
            Created::New => {}
            Created::Duplicate(_) => return Err(StoreError::Conflict),
        }
        let link_key = format!(
            "{:020}#{}",
            link.created_at.unix_timestamp_nanos() / 1_000,
            link.id
        );
        s.tokens.insert(
            token_key,
            TokenUse {
                owner: link.owner.clone(),
                link_key: link_key.clone(),
            },
        );
        s.links
            .entry((link.tenant_id.clone(), link.owner.clone()))
            .or_default()
            .insert(link_key, link.clone());
        commit_events(&mut s);
        Ok(LinkWrite::Stored)
    }

    async fn stripe_customer_links(
        &self,
        tenant: &TenantId,
        owner: &str,
    ) -> Result<Vec<StripeCustomerLink>, StoreError> {
        let s = self.enter("stripe_customer_links")?;
        Ok(s.links
            .get(&(tenant.clone(), owner.to_owned()))
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default())
    }
}

/// The conditions the DynamoDB adapter sends: `attribute_not_exists(n) OR n < :limit` on
/// each counter and on the check, with every `ADD n :one` applied only if all hold.
#[async_trait]
impl VelocityStore for MemoryStore {
    async fn admit(&self, counts: &[Counter], check: &Counter) -> Result<Admission, StoreError> {
        let mut s = self.enter("admit")?;
        let below = |c: &Counter| s.counters.get(&c.key).is_none_or(|(n, _)| *n < c.limit);
        if let Some(i) = counts.iter().chain([check]).position(|c| !below(c)) {
            return Ok(Admission::Refused(i));
        }
        for c in counts {
            let entry = s.counters.entry(c.key.clone()).or_insert((0, c.expires_at));
            entry.0 += 1;
        }
        // A transaction in the DynamoDB adapter: staged events ride with it.
        commit_events(&mut s);
        Ok(Admission::Admitted)
    }

    async fn count(&self, counter: &Counter) -> Result<(), StoreError> {
        let mut s = self.enter("count")?;
        let entry = s
            .counters
            .entry(counter.key.clone())
            .or_insert((0, counter.expires_at));
        entry.0 += 1;
        Ok(())
    }
}

impl MemoryStore {
    /// A tenant's audit events, oldest first (for assertions): the chained ones, then the
    /// pending ones not chained yet, numbered on as the chainer would number them.
    pub fn audit_events(&self, tenant: &TenantId) -> Vec<AuditRecord> {
        let s = self.state.lock().unwrap();
        let mut all = s.audit.get(tenant.as_str()).cloned().unwrap_or_default();
        let unchained = s
            .pending
            .iter()
            .filter(|((t, _), _)| t == tenant.as_str())
            .filter_map(|(_, p)| p.as_ref().filter(|p| p.seq.is_none()))
            .map(|p| p.event.clone());
        for event in unchained {
            all.push(AuditRecord {
                seq: all.len() as u64 + 1,
                prev_hash: String::new(),
                hash: String::new(),
                event,
            });
        }
        all
    }

    /// The keys of every pending event not chained yet, as the stream would deliver them.
    pub fn unchained(&self) -> Vec<PendingKey> {
        let s = self.state.lock().unwrap();
        s.pending
            .iter()
            .filter(|(_, p)| p.as_ref().is_none_or(|p| p.seq.is_none()))
            .map(|((tenant, event_id), _)| PendingKey {
                tenant: tenant.clone(),
                event_id: event_id.clone(),
            })
            .collect()
    }

    /// Puts a pending item as any request-path role could: `AUDITQ#<tenant>` / `sk`, with
    /// `event` as its body (`None`: not an event at all).
    pub fn put_pending_item(&self, tenant: &str, sk: &str, event: Option<PendingEvent>) {
        let mut s = self.state.lock().unwrap();
        s.pending.insert((tenant.to_owned(), sk.to_owned()), event);
    }

    /// Deletes a chained record (as someone with the table's admin rights could).
    pub fn delete_audit_record(&self, tenant: &TenantId, seq: u64) {
        let mut s = self.state.lock().unwrap();
        if let Some(chain) = s.audit.get_mut(tenant.as_str()) {
            chain.retain(|r| r.seq != seq);
        }
    }

    /// Sets a tenant's head (a rewind, by someone with the table's admin rights).
    pub fn set_audit_head(&self, tenant: &TenantId, head: ChainHead) {
        let mut s = self.state.lock().unwrap();
        s.heads.insert(tenant.as_str().to_owned(), head);
    }

    /// Edits a chained record in place.
    pub fn edit_audit_record(
        &self,
        tenant: &TenantId,
        seq: u64,
        edit: impl FnOnce(&mut AuditRecord),
    ) {
        let mut s = self.state.lock().unwrap();
        if let Some(r) = s
            .audit
            .get_mut(tenant.as_str())
            .and_then(|c| c.iter_mut().find(|r| r.seq == seq))
        {
            edit(r);
        }
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append(&self, event: AuditEvent) -> Result<(), StoreError> {
        let mut s = self.enter("audit_append")?;
        let key = (event.tenant_id.clone(), event.event_id.clone());
        // The DynamoDB adapter's conditional Put (a transaction with any staged events,
        // which ride only if the Put is new).
        if let std::collections::btree_map::Entry::Vacant(v) = s.pending.entry(key) {
            v.insert(Some(PendingEvent { event, seq: None }));
            commit_events(&mut s);
        }
        Ok(())
    }

    async fn customer_events(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let s = self.enter("audit_customer_events")?;
        Ok(s.audit
            .get(tenant.as_str())
            .into_iter()
            .flatten()
            .rev()
            .filter(|r| r.event.customer_id == Some(customer.get()))
            .filter(|r| before.is_none_or(|b| r.seq < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn tenant_trail(&self, tenant: &TenantId) -> Result<Trail, StoreError> {
        let s = self.enter("audit_tenant_trail")?;
        let t = tenant.as_str();
        let mut trail = Trail {
            records: s.audit.get(t).cloned().unwrap_or_default(),
            head: s.heads.get(t).cloned(),
            // One lock across the reads: no chain commit between them.
            settled: true,
            ..Trail::default()
        };
        for ((_, sk), p) in s.pending.iter().filter(|((pt, _), _)| pt == t) {
            match pending_fault(t, sk, p.as_ref()) {
                None => trail.pending.extend(p.clone()),
                Some(why) => trail.unreadable.push((format!("AUDITQ#{t}/{sk}"), why)),
            }
        }
        Ok(trail)
    }
}

/// The chainer's side, with the conditions `store::audit` sends.
#[async_trait]
impl AuditChainStore for MemoryStore {
    async fn pending_events(&self, keys: &[PendingKey]) -> Result<Vec<StoredPending>, StoreError> {
        let s = self.enter("audit_pending_events")?;
        // BatchGetItem refuses a key named twice.
        if keys.iter().collect::<HashSet<_>>().len() < keys.len() {
            return Err(StoreError::backend("ValidationException: duplicate keys"));
        }
        Ok(keys
            .iter()
            .filter_map(|k| {
                let p = s.pending.get(&(k.tenant.clone(), k.event_id.clone()))?;
                Some(StoredPending {
                    key: k.clone(),
                    pending: p.clone(),
                })
            })
            .collect())
    }

    async fn chain_head(&self, tenant: &str) -> Result<Option<ChainHead>, StoreError> {
        let s = self.enter("audit_chain_head")?;
        Ok(s.heads.get(tenant).cloned())
    }

    async fn extend_chain(
        &self,
        tenant: &str,
        prev: Option<&ChainHead>,
        records: &[AuditRecord],
        head: &ChainHead,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("audit_extend_chain")?;
        // DynamoDB refuses a transaction with two operations on one item.
        let ids: HashSet<&str> = records.iter().map(|r| r.event.event_id.as_str()).collect();
        if ids.len() < records.len() {
            return Err(StoreError::backend(
                "ValidationException: two operations on one item",
            ));
        }
        let head_holds = match (s.heads.get(tenant), prev) {
            (None, None) => true,
            (Some(h), Some(p)) => h.seq == p.seq && h.hash == p.hash,
            _ => false,
        };
        let chain = s.audit.get(tenant);
        let free = |seq: u64| chain.is_none_or(|c| c.iter().all(|r| r.seq != seq));
        let unmarked = |r: &AuditRecord| {
            s.pending
                .get(&(tenant.to_owned(), r.event.event_id.clone()))
                .is_some_and(|p| p.as_ref().is_some_and(|p| p.seq.is_none()))
        };
        if !head_holds || !records.iter().all(|r| free(r.seq) && unmarked(r)) {
            return Err(StoreError::Conflict);
        }
        for r in records {
            if let Some(Some(p)) = s
                .pending
                .get_mut(&(tenant.to_owned(), r.event.event_id.clone()))
            {
                p.seq = Some(r.seq);
            }
        }
        s.audit
            .entry(tenant.to_owned())
            .or_default()
            .extend(records.iter().cloned());
        s.heads.insert(tenant.to_owned(), head.clone());
        Ok(())
    }
}

/// The conditions the DynamoDB adapter sends (`store::once`).
#[async_trait]
impl OnceStore for MemoryStore {
    async fn claim(&self, record: &OnceRecord, now_ms: i64) -> Result<Claim, StoreError> {
        let mut s = self.enter("claim")?;
        let id = (record.tenant.clone(), record.key.clone());
        if let Some(held) = s.once.get(&id) {
            let live = held.expires_at * 1000 > now_ms
                && match held.state {
                    OnceState::InProgress { until_ms } => until_ms > now_ms,
                    OnceState::Completed(_) => true,
                };
            if live {
                return Ok(Claim::Held(held.clone()));
            }
        }
        s.once.insert(id, record.clone());
        Ok(Claim::Claimed)
    }

    async fn complete(&self, record: &OnceRecord) -> Result<(), StoreError> {
        let mut s = self.enter("complete")?;
        let id = (record.tenant.clone(), record.key.clone());
        if s.once.get(&id).is_some_and(|r| r.owner == record.owner) {
            s.once.insert(id, record.clone());
        }
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut s = self.enter("release")?;
        let id = (tenant.clone(), key.to_owned());
        if s.once.get(&id).is_some_and(|r| r.owner == owner) {
            s.once.remove(&id);
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Every idempotency record, for tests.
    pub fn once_records(&self) -> Vec<OnceRecord> {
        self.state.lock().unwrap().once.values().cloned().collect()
    }
}

#[async_trait]
impl crate::ports::RehomeStore for MemoryStore {
    async fn tenant_customer_ids(
        &self,
        tenant: &TenantId,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<(Vec<CustomerId>, bool), StoreError> {
        let s = self.enter("tenant_customer_ids")?;
        // The DynamoDB adapter's order: the ids as text.
        let mut ids: Vec<CustomerId> = s
            .customers
            .values()
            .filter(|c| &c.tenant_id == tenant)
            .map(|c| c.id)
            .filter(|id| after.is_none_or(|a| id.to_string() > a.to_string()))
            .collect();
        ids.sort_by_key(|id| id.to_string());
        let more = ids.len() > limit;
        ids.truncate(limit);
        Ok((ids, more))
    }

    async fn customer_for_rehome(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
    ) -> Result<Option<crate::ports::RehomeCustomer>, StoreError> {
        let s = self.enter("customer_for_rehome")?;
        let target_customer = self
            .rehomed
            .lock()
            .unwrap()
            .get(&(customer, target.to_owned()))
            .map(|(_, stripe)| stripe.clone());
        Ok(
            customer_of(&s, tenant, customer).map(|c| crate::ports::RehomeCustomer {
                customer: c.clone(),
                payment_methods: s
                    .payment_methods
                    .range((customer, PaymentMethodId::MIN)..)
                    .take_while(|((c, _), _)| *c == customer)
                    .map(|(_, pm)| pm.clone())
                    .collect(),
                target_customer,
            }),
        )
    }

    /// As the DynamoDB adapter's condition: a record another tenant made for this
    /// customer id is refused (`Conflict`), never answered.
    async fn record_target_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        target: &str,
        stripe_customer: &str,
    ) -> Result<String, StoreError> {
        let _s = self.enter("record_target_customer")?;
        let mut rehomed = self.rehomed.lock().unwrap();
        let (owner, stripe) = rehomed
            .entry((customer, target.to_owned()))
            .or_insert_with(|| (tenant.clone(), stripe_customer.to_owned()));
        if owner != tenant {
            return Err(StoreError::Conflict);
        }
        Ok(stripe.clone())
    }

    async fn rehome_payment_method(
        &self,
        pm: &PaymentMethod,
        to: &crate::domain::StripeRef,
        target: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("rehome_payment_method")?;
        // The DynamoDB adapter's transaction: the card on condition of its old references
        // (a card with none is refused before anything is written), the old marker out,
        // and the new one in only if no card holds it yet.
        let from = pm.stripe.clone().ok_or(StoreError::Conflict)?;
        let new = (
            pm.customer_id,
            crate::domain::stripe_dedupe_key(&to.source_id),
        );
        let old = (
            pm.customer_id,
            crate::domain::stripe_dedupe_key(&from.source_id),
        );
        if s.dedupe.contains_key(&new) && new != old {
            return Err(StoreError::Conflict);
        }
        let stored = s
            .payment_methods
            .get_mut(&(pm.customer_id, pm.id))
            .filter(|p| {
                p.tenant_id == pm.tenant_id
                    && p.stripe.as_ref() == Some(&from)
                    && p.removed_at_stripe.is_none()
            })
            .ok_or(StoreError::Conflict)?;
        stored.stripe = Some(to.clone());
        stored.stripe_home = Some(target.to_owned());
        // As the adapter's `modifiedAt = :now`: a write conditioned on the card as read
        // before (a Stripe event's) no longer holds.
        stored.modified_at = time::OffsetDateTime::now_utc();
        s.dedupe.remove(&old);
        s.dedupe.insert(new, pm.id);
        commit_events(&mut s);
        Ok(())
    }

    async fn record_rehome_target(
        &self,
        tenant: &TenantId,
        account: &str,
        _proof: &str,
    ) -> Result<(), StoreError> {
        drop(self.enter("record_rehome_target")?);
        self.rehome_targets
            .lock()
            .unwrap()
            .insert((tenant.clone(), account.to_owned()));
        Ok(())
    }

    async fn rehome_target_registered(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> Result<bool, StoreError> {
        drop(self.enter("rehome_target_registered")?);
        Ok(self
            .rehome_targets
            .lock()
            .unwrap()
            .contains(&(tenant.clone(), account.to_owned())))
    }

    async fn switch_stripe_customer(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        from: Option<&str>,
        stripe_customer: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.enter("switch_stripe_customer")?;
        let c = s
            .customers
            .get_mut(&customer)
            .filter(|c| &c.tenant_id == tenant && c.stripe_customer_id.as_deref() == from)
            .ok_or(StoreError::Conflict)?;
        c.stripe_customer_id = Some(stripe_customer.to_owned());
        Ok(())
    }
}
