//! How domain records become DynamoDB items: the key layout in one place.

use super::Backend;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{de::DeserializeOwned, Serialize};

use super::{Item, StoreError};
use crate::domain::{
    ApiKeyRecord, Customer, CustomerId, KeyHash, Origin, PaymentMethod, PaymentMethodId, Tenant,
    TenantId,
};

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A primary key, plus optional GSI1 keys.
pub fn key(pk: String, sk: &str) -> Item {
    Item::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn with_keys<T: Serialize>(
    record: &T,
    primary: Item,
    gsi1: Option<(String, String)>,
) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record).backend()?;
    item.extend(primary);
    if let Some((pk, sk)) = gsi1 {
        item.insert("GSI1PK".into(), s(pk));
        item.insert("GSI1SK".into(), s(sk));
    }
    Ok(item)
}

/// A numeric id kept in a plain attribute (a uniqueness marker's target).
pub fn id_attr<T: TryFrom<u64>>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .and_then(|n| T::try_from(n).ok())
}

/// Drops the key attributes and decodes the rest.
pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    // Items written while a GSI2 existed still carry its keys.
    for k in [
        "PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "STRIPEPK", "STRIPESK",
    ] {
        item.remove(k);
    }
    serde_dynamo::from_item(item).backend()
}

pub fn tenant_pk(id: &TenantId) -> String {
    format!("TENANT#{id}")
}

pub fn tenant_key(id: &TenantId) -> Item {
    key(tenant_pk(id), "TENANT")
}

/// A Connect tenant is also in GSI1 under its connected account (`STRIPEACCT#<acct>`).
pub fn tenant(t: &Tenant) -> Result<Item, StoreError> {
    let account = match &t.stripe {
        Some(crate::domain::StripeConnection::Connect { account_id }) => {
            Some((stripe_account_gsi1pk(account_id), tenant_pk(&t.id)))
        }
        _ => None,
    };
    with_keys(t, tenant_key(&t.id), account)
}

pub fn api_key_key(hash: &KeyHash) -> Item {
    key(format!("APIKEY#{}", hash.as_str()), "APIKEY")
}

pub fn api_key(r: &ApiKeyRecord) -> Result<Item, StoreError> {
    with_keys(
        r,
        api_key_key(&r.hash),
        Some((tenant_pk(&r.tenant_id), format!("APIKEY#{}", r.key_id))),
    )
}

pub fn public_key_key(k: &str) -> Item {
    key(format!("PUBKEY#{k}"), "PUBKEY")
}

pub fn public_key(k: &str, tenant: &TenantId) -> Item {
    let mut item = public_key_key(k);
    item.insert("tenantId".into(), s(tenant.as_str()));
    item
}

pub fn customer_key(id: CustomerId) -> Item {
    key(customer_pk(id), "CUSTOMER")
}

pub fn customer(c: &Customer) -> Result<Item, StoreError> {
    with_keys(
        c,
        customer_key(c.id),
        Some((tenant_pk(&c.tenant_id), format!("CUST#{}", c.id))),
    )
}

pub fn origin_pk(origin: &Origin) -> String {
    format!("ORIGIN#{origin}")
}

pub fn origin_key(origin: &Origin, tenant: &TenantId) -> Item {
    key(origin_pk(origin), &tenant_pk(tenant))
}

pub fn customer_pk(id: CustomerId) -> String {
    format!("CUST#{id}")
}

pub const PM_PREFIX: &str = "PM#";
pub const PM_KEY_PREFIX: &str = "PMKEY#";

pub fn payment_method_key(customer: CustomerId, id: PaymentMethodId) -> Item {
    key(customer_pk(customer), &format!("{PM_PREFIX}{id}"))
}

/// GSI1 finds a payment method by id alone; [`STRIPE_REF_INDEX`] by its Stripe ids.
pub fn payment_method(pm: &PaymentMethod) -> Result<Item, StoreError> {
    let mut item = with_keys(
        pm,
        payment_method_key(pm.customer_id, pm.id),
        Some((format!("{PM_PREFIX}{}", pm.id), "PM".into())),
    )?;
    if let Some(stripe) = &pm.stripe {
        let (pk, sk) = stripe_ref_keys(&pm.tenant_id, pm.id, stripe);
        item.insert("STRIPEPK".into(), s(pk));
        item.insert("STRIPESK".into(), s(sk));
    }
    Ok(item)
}

/// The [`STRIPE_REF_INDEX`] keys of the tenant's card `id` for its Stripe references
/// `stripe`: every write that changes the references sets these with them (`store::rehome`
/// and the backfill too).
pub fn stripe_ref_keys(
    tenant: &TenantId,
    id: PaymentMethodId,
    stripe: &crate::domain::StripeRef,
) -> (String, String) {
    (
        stripe_ref_pk(tenant, &stripe.customer_id),
        format!("{}{}", stripe_ref_sk_prefix(&stripe.source_id), id),
    )
}

/// The sparse index of cards by their Stripe ids (webhooks): `STRIPEPK` =
/// `STRIPE#<tenant>#<Stripe customer>`, `STRIPESK` = `<card, source or PaymentMethod id>#<id>`.
/// It projects keys only: the card's own key (`CUST#…`, `PM#…`) is all a lookup needs, and
/// no card data can reach it. The tenant in the key keeps tenants apart.
pub const STRIPE_REF_INDEX: &str = "StripeRefs";

pub fn stripe_ref_pk(tenant: &TenantId, stripe_customer: &str) -> String {
    format!("STRIPE#{tenant}#{stripe_customer}")
}

pub fn stripe_ref_sk_prefix(source: &str) -> String {
    format!("{source}#")
}

/// GSI1 finds the tenants connected through a Stripe account (Connect webhooks).
pub fn stripe_account_gsi1pk(account: &str) -> String {
    format!("STRIPEACCT#{account}")
}

/// A uniqueness marker under the customer (`PMKEY#stripe:card_…`, `PMKEY#fp:…`): written
/// in the same transaction as the payment method, so a duplicate can never be stored.
pub fn dedupe_key(customer: CustomerId, dedupe: &str) -> Item {
    key(customer_pk(customer), &format!("{PM_KEY_PREFIX}{dedupe}"))
}

pub fn dedupe(customer: CustomerId, dedupe: &str, pm: PaymentMethodId) -> Item {
    let mut item = dedupe_key(customer, dedupe);
    item.insert("paymentMethodId".into(), AttributeValue::N(pm.to_string()));
    item
}

/// A velocity counter (`VEL#<tid>#ip#<hash>#<window start>`, …): expired by the table's TTL
/// on `expiresAt`.
pub fn velocity_key(counter: &str) -> Item {
    key(format!("VEL#{counter}"), "VEL")
}
