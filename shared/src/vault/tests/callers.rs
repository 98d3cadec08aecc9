//! Who is calling: a merchant's private API key, or a bearer token's principal.

use super::*;
use crate::domain::{ApiKey, ApiKeyRecord};

const REFUSED: &str = "Invalid or revoked API key.";

fn key(raw: &str) -> ApiKey {
    ApiKey::parse(raw).unwrap()
}

fn record(raw: &str, tenant: &str, revoked: bool) -> ApiKeyRecord {
    ApiKeyRecord {
        hash: key(raw).hash(),
        key_id: format!("key-{tenant}"),
        tenant_id: tid(tenant),
        created_at: datetime!(2025-06-01 0:00 UTC),
        revoked_at: revoked.then_some(datetime!(2025-07-01 0:00 UTC)),
    }
}

fn unauthorized(e: Error) -> &'static str {
    match e {
        Error::Unauthorized(m) => m,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn an_active_key_names_its_tenant() {
    let v = vault();
    v.store
        .insert_api_key(record("cvk_connect", CONNECT, false));
    v.store.insert_api_key(record("cvk_own", OWN, false));

    assert_eq!(ok(v.merchant(&key("cvk_connect")).await), tid(CONNECT));
    assert_eq!(ok(v.merchant(&key("cvk_own")).await), tid(OWN));
    assert_eq!(v.store.take_calls(), ["api_key_by_hash"; 2]);
}

#[tokio::test]
async fn a_revoked_key_is_unauthorized() {
    let v = vault();
    v.store.insert_api_key(record("cvk_old", CONNECT, true));
    assert_eq!(
        unauthorized(err(v.merchant(&key("cvk_old")).await)),
        REFUSED
    );
}

#[tokio::test]
async fn an_unknown_key_is_unauthorized() {
    let v = vault();
    v.store
        .insert_api_key(record("cvk_connect", CONNECT, false));
    for raw in ["cvk_other", "cvk_connec", "CVK_CONNECT"] {
        assert_eq!(
            unauthorized(err(v.merchant(&key(raw)).await)),
            REFUSED,
            "{raw}"
        );
    }
}

#[tokio::test]
async fn a_checked_key_is_cached() {
    let v = vault();
    v.store
        .insert_api_key(record("cvk_connect", CONNECT, false));
    ok(v.merchant(&key("cvk_connect")).await);
    assert_eq!(v.store.take_calls(), ["api_key_by_hash"]);

    assert_eq!(ok(v.merchant(&key("cvk_connect")).await), tid(CONNECT));
    assert!(v.store.take_calls().is_empty(), "answered from the cache");

    // The documented window: a key revoked after this container checked it is still
    // accepted here until KEY_CACHE_TTL has passed.
    v.store.insert_api_key(record("cvk_connect", CONNECT, true));
    assert_eq!(ok(v.merchant(&key("cvk_connect")).await), tid(CONNECT));
    // A fresh container refuses it at once.
    let fresh = vault();
    fresh
        .store
        .insert_api_key(record("cvk_connect", CONNECT, true));
    unauthorized(err(fresh.merchant(&key("cvk_connect")).await));
}

#[tokio::test]
async fn a_refused_key_is_not_cached() {
    let v = vault();
    unauthorized(err(v.merchant(&key("cvk_new")).await));
    unauthorized(err(v.merchant(&key("cvk_new")).await));
    assert_eq!(v.store.take_calls(), ["api_key_by_hash"; 2]);

    // Issued meanwhile: accepted at once.
    v.store.insert_api_key(record("cvk_new", CONNECT, false));
    assert_eq!(ok(v.merchant(&key("cvk_new")).await), tid(CONNECT));
}

#[tokio::test]
async fn a_store_failure_is_internal_not_unauthorized() {
    let v = vault();
    v.store.fail("api_key_by_hash");
    assert_internal(err(v.merchant(&key("cvk_connect")).await));
}

#[tokio::test]
async fn a_user_of_an_existing_tenant_is_accepted() {
    let v = vault();
    let p = principal("u1").owner("a1").build();
    assert_eq!(ok(v.user(p.clone()).await), p);
    assert_eq!(v.store.take_calls(), ["get_tenant"]);

    // The tenant is cached now.
    let admin = principal("u2").admin().build();
    assert_eq!(ok(v.user(admin.clone()).await), admin);
    assert!(v.store.take_calls().is_empty());
}

#[tokio::test]
async fn a_user_of_a_missing_tenant_is_unauthorized() {
    let v = vault();
    let p = principal("u1").tenant("gone").build();
    assert_eq!(
        unauthorized(err(v.user(p.clone()).await)),
        "The token's tenant does not exist."
    );
    // Not cached as missing: a tenant created meanwhile is found.
    v.store.insert_tenant(unconnected_tenant("gone"));
    assert_eq!(ok(v.user(p.clone()).await), p);
}
