//! Who is calling: a merchant's private API key, or a bearer token's principal.

use super::*;
use crate::domain::{ApiKey, ApiKeyRecord, TrustedIssuer};

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

const UNTRUSTED: &str = "The token's issuer is not trusted by its tenant.";

#[tokio::test]
async fn a_token_from_a_trusted_issuer_for_its_audience_is_accepted() {
    let v = vault();
    let p = principal("u1").owner("a1");
    let expected = p.0.clone();
    assert_eq!(ok(v.user(p.token()).await), expected);
    assert_eq!(v.store.take_calls(), ["get_tenant"]);

    // The tenant is cached now.
    let admin = principal("u2").admin();
    let expected = admin.0.clone();
    assert_eq!(ok(v.user(admin.token()).await), expected);
    assert!(v.store.take_calls().is_empty());
}

#[tokio::test]
async fn a_token_from_an_untrusted_issuer_is_unauthorized() {
    let v = vault();
    for issuer in ["https://evil.example", "test-issuer/", "TEST-ISSUER", ""] {
        let t = principal("u1").owner("a1").token_from(issuer, &[AUDIENCE]);
        assert_eq!(unauthorized(err(v.user(t).await)), UNTRUSTED, "{issuer:?}");
    }
}

#[tokio::test]
async fn the_trusted_issuer_for_an_audience_the_tenant_does_not_list_is_unauthorized() {
    let v = vault();
    for auds in [&["another-app"][..], &["TEST-AUD"], &["test-aud "], &[]] {
        let t = principal("u1").owner("a1").token_from(ISSUER, auds);
        assert_eq!(unauthorized(err(v.user(t).await)), UNTRUSTED, "{auds:?}");
    }
}

#[tokio::test]
async fn an_audience_list_holding_the_trusted_audience_is_accepted() {
    let v = vault();
    let p = principal("u1").owner("a1");
    let expected = p.0.clone();
    let t = p.token_from(ISSUER, &["another-app", AUDIENCE, "third"]);
    assert_eq!(ok(v.user(t).await), expected);
}

#[tokio::test]
async fn trust_is_per_issuer_and_audience_pair_and_per_tenant() {
    let v = vault();
    let mut t = connect_tenant();
    t.trusted_issuers = vec![
        TrustedIssuer {
            issuer: "idp-a".into(),
            audience: "aud-a".into(),
        },
        TrustedIssuer {
            issuer: "idp-b".into(),
            audience: "aud-b".into(),
        },
    ];
    v.store.insert_tenant(t);
    for (iss, aud) in [("idp-a", "aud-a"), ("idp-b", "aud-b")] {
        ok(v.user(principal("u").token_from(iss, &[aud])).await);
    }
    // Each issuer with the other's audience is not a trusted pair.
    for (iss, aud) in [("idp-a", "aud-b"), ("idp-b", "aud-a"), (ISSUER, AUDIENCE)] {
        let e = err(v.user(principal("u").token_from(iss, &[aud])).await);
        assert_eq!(unauthorized(e), UNTRUSTED, "{iss} {aud}");
    }
    // The other tenant's trust does not carry over: OWN still trusts only the fixture's.
    let e = err(v
        .user(principal("u").tenant(OWN).token_from("idp-a", &["aud-a"]))
        .await);
    assert_eq!(unauthorized(e), UNTRUSTED);
    ok(v.user(principal("u").tenant(OWN).token()).await);
}

#[tokio::test]
async fn a_tenant_that_trusts_no_issuer_accepts_no_token() {
    let v = vault();
    let mut t = unconnected_tenant("no-idp");
    t.trusted_issuers.clear();
    v.store.insert_tenant(t);
    let e = err(v.user(principal("u1").tenant("no-idp").token()).await);
    assert_eq!(unauthorized(e), UNTRUSTED);
}

#[tokio::test]
async fn a_token_for_a_missing_tenant_is_refused_like_an_untrusted_one() {
    let v = vault();
    let p = principal("u1").tenant("gone");
    let expected = p.0.clone();
    // The same answer as an untrusted issuer: a token cannot probe which tenants exist.
    assert_eq!(
        unauthorized(err(v.user(p.clone().token()).await)),
        UNTRUSTED
    );
    let untrusted = principal("u1").token_from("https://evil.example", &[AUDIENCE]);
    assert_eq!(unauthorized(err(v.user(untrusted).await)), UNTRUSTED);

    // Not cached as missing: a tenant created meanwhile is found.
    v.store.insert_tenant(unconnected_tenant("gone"));
    assert_eq!(ok(v.user(p.token()).await), expected);
}

#[tokio::test]
async fn a_store_failure_reading_the_tenant_is_internal_not_unauthorized() {
    let v = vault();
    v.store.fail("get_tenant");
    assert_internal(err(v.user(principal("u1").token()).await));
}

#[tokio::test]
async fn a_public_key_found_is_not_looked_up_again_while_warm() {
    let v = vault();
    let pk = format!("pk_{CONNECT}");
    // The redirect asks twice per request (its idempotency guard, then the handler).
    for _ in 0..3 {
        let t = ok(v.tenant_by_public_key(&pk).await).expect("the key's tenant");
        assert_eq!(t.id, tid(CONNECT));
    }
    assert_eq!(
        v.store.take_calls(),
        ["tenant_by_public_key", "get_tenant"],
        "one lookup of the key and one of the tenant, then the warm caches"
    );
}

#[tokio::test]
async fn an_unknown_public_key_is_asked_each_time_so_a_new_key_works_at_once() {
    let v = vault();
    assert!(ok(v.tenant_by_public_key("pk_later").await).is_none());
    assert!(ok(v.tenant_by_public_key("pk_later").await).is_none());
    assert_eq!(v.store.take_calls(), ["tenant_by_public_key"; 2]);

    // The tenant is given that key now: the next request finds it.
    let mut t = connect_tenant();
    t.public_api_key = Some("pk_later".into());
    v.store.insert_tenant(t);
    let found = ok(v.tenant_by_public_key("pk_later").await).expect("the new key's tenant");
    assert_eq!(found.id, tid(CONNECT));
}

/// A trusted issuer's token may still live too long for its tenant: a day by default,
/// what the tenant sets otherwise; without `iat`, only where the tenant allows it, and
/// then what is left of it counts. Each refusal is recorded.
#[tokio::test]
async fn a_token_living_longer_than_its_tenant_allows_is_unauthorized() {
    let v = vault();
    let day = crate::domain::DEFAULT_MAX_TOKEN_LIFETIME_SECS as i64;
    let living = |iat: Option<i64>, lifetime: i64| {
        let mut t = principal("u1").token();
        t.issued_at = iat;
        t.expires_at = iat.unwrap_or(CLOCK_START) + lifetime;
        t
    };
    ok(v.user(living(Some(CLOCK_START - 3600), day)).await);
    let too_long = living(Some(CLOCK_START - 3600), day + 1);
    assert_eq!(
        unauthorized(err(v.user(too_long).await)),
        "The token's lifetime is longer than its tenant allows."
    );
    let no_iat = living(None, 600);
    assert_eq!(
        unauthorized(err(v.user(no_iat.clone()).await)),
        "The token has no iat claim, and its tenant requires one."
    );

    let mut tenant = connect_tenant();
    tenant.token_policy.allow_missing_iat = true;
    tenant.token_policy.max_lifetime_secs = 900;
    let v = vault();
    v.store.insert_tenant(tenant);
    ok(v.user(no_iat).await);
    ok(v.user(living(Some(CLOCK_START), 900)).await);
    assert!(v.user(living(Some(CLOCK_START), 901)).await.is_err());
    // Without iat, what is left of the token counts against the maximum.
    assert!(v.user(living(None, 901)).await.is_err());
}
