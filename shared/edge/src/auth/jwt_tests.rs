//! RS256 tokens against a JWKS served by wiremock: verification, the key cache and its
//! refresh on rotation, the alg-confusion attack, an unreachable provider, the failure
//! back-off, stale-if-error and single-flight refreshes. No stack: RSA keys are made with
//! the openssl CLI, issuer and audience are fixed here.
//!
//! The back-off ([`JWKS_FAILURE_BACKOFF`], 10 s) and the stale limit ([`JWKS_STALE_LIMIT`],
//! 6 h) have no test hook: what happens once they are over is not tested here.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::auth::jwt::{
    mint_rs256, BearerToken, JwtConfig, JwtVerifier, Mint, Role, Token, JWKS_FAILURE_BACKOFF,
    JWKS_STALE_LIMIT,
};
use crate::domain::TenantId;
use crate::error::Error;
use crate::secret::SecretString;

const ISSUER: &str = "https://idp.example/pool";
const AUDIENCE: &str = "cardvault-app";
/// The deployment's own HS256 secret, which is not the provider's public key.
const PLATFORM_SECRET: &str = "cardvault-unit-test-platform-secret";

/// An RSA key made with the openssl CLI: (PKCS#1 DER private key, JWK n).
fn rsa_key() -> (Vec<u8>, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cardvault-jwks-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    let der = dir.join("key.der");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (pem_s, der_s) = (pem.to_str().unwrap(), der.to_str().unwrap());
    run(&["genrsa", "-traditional", "-out", pem_s, "2048"]);
    run(&[
        "rsa",
        "-in",
        pem_s,
        "-traditional",
        "-outform",
        "DER",
        "-out",
        der_s,
    ]);
    let modulus = run(&["rsa", "-in", pem_s, "-noout", "-modulus"]);
    let hex_n = modulus.trim().strip_prefix("Modulus=").unwrap();
    let n = URL_SAFE_NO_PAD.encode(hex::decode(hex_n).unwrap());
    let key = std::fs::read(&der).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    (key, n)
}

fn jwk(kid: &str, n: &str) -> Value {
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": "AQAB"})
}

fn rs256(der: &[u8], kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(der),
    )
    .unwrap()
}

fn claims(config: &JwtConfig, sub: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({"iss": config.issuer, "aud": config.audience, "sub": sub, "tenant": "demo-a",
           "account": "acct-demo-a", "role": "admin", "iat": now, "exp": now + 300})
}

async fn verify(v: &JwtVerifier, token: &str) -> Result<Token, Error> {
    let token = BearerToken::parse(token).expect("token shape");
    v.verify(&token, || async { Ok(None) }).await
}

async fn jwks_server(keys: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
        .mount(&server)
        .await;
    server
}

fn verifier_for(server: &MockServer) -> (JwtConfig, JwtVerifier) {
    let config = JwtConfig {
        jwks_url: Some(format!("{}/.well-known/jwks.json", server.uri())),
        ..JwtConfig::new(ISSUER, AUDIENCE)
    };
    (config.clone(), JwtVerifier::new(config))
}

async fn jwks_fetches(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// A JWKS endpoint answering `keys` after `delay`.
fn keys_after(keys: Vec<Value>, delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({ "keys": keys }))
        .set_delay(delay)
}

fn unauthorized(r: Result<Token, Error>) -> &'static str {
    match r {
        Err(Error::Unauthorized(m)) => m,
        other => panic!("expected 401, got {other:?}"),
    }
}

fn assert_502(r: Result<Token, Error>) {
    assert!(matches!(r, Err(Error::Upstream { .. })), "{r:?}");
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_locally_served_jwks() {
    let (der, n) = rsa_key();
    let server = jwks_server(vec![jwk("k1", &n)]).await;
    let (config, verifier) = verifier_for(&server);
    let t = verify(&verifier, &rs256(&der, "k1", claims(&config, "idp-user")))
        .await
        .unwrap();
    assert_eq!(t.principal.user, "idp-user");
    assert_eq!(t.principal.tenant.as_str(), "demo-a");
    assert_eq!(t.principal.account.as_deref(), Some("acct-demo-a"));
    assert_eq!(t.principal.role, Some(Role::Admin));
    assert_eq!(t.issuer, ISSUER);
    assert_eq!(t.audiences, [AUDIENCE]);
    // Cached: a second token costs no fetch.
    verify(&verifier, &rs256(&der, "k1", claims(&config, "idp-user-2")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);

    // Expired, or without iss or aud: 401 even with a good signature.
    let mut expired = claims(&config, "idp-user");
    expired["exp"] = json!(jsonwebtoken::get_current_timestamp() - 3600);
    let r = verify(&verifier, &rs256(&der, "k1", expired)).await;
    assert!(unauthorized(r).contains("expired"));
    for field in ["iss", "aud"] {
        let mut c = claims(&config, "idp-user");
        c.as_object_mut().unwrap().remove(field);
        let r = verify(&verifier, &rs256(&der, "k1", c)).await;
        assert!(unauthorized(r).contains("required"), "{field}");
    }

    // Signed by a key the JWKS does not hold, under a kid it does: bad signature.
    let (other_der, _) = rsa_key();
    let r = verify(&verifier, &rs256(&other_der, "k1", claims(&config, "x"))).await;
    assert!(unauthorized(r).contains("signature"));
    assert_eq!(jwks_fetches(&server).await, 1);
}

#[tokio::test]
async fn another_issuer_or_audience_is_returned_for_the_tenant_to_judge() {
    // One provider, many tenants: the verifier checks the signature and times, and the
    // tenant named decides whether it trusts (iss, aud) (`vault::callers`).
    let (der, n) = rsa_key();
    let server = jwks_server(vec![jwk("k1", &n)]).await;
    let (config, verifier) = verifier_for(&server);
    for (field, value, iss, auds) in [
        ("aud", json!("another-app"), ISSUER, vec!["another-app"]),
        ("aud", json!(["x", AUDIENCE]), ISSUER, vec!["x", AUDIENCE]),
        (
            "iss",
            json!("https://cognito-idp.example/other-pool"),
            "https://cognito-idp.example/other-pool",
            vec![AUDIENCE],
        ),
    ] {
        let mut c = claims(&config, "idp-user");
        c[field] = value;
        let t = verify(&verifier, &rs256(&der, "k1", c)).await.unwrap();
        assert_eq!(t.issuer, iss);
        assert_eq!(t.audiences, auds);
    }
}

#[tokio::test]
async fn mint_rs256_makes_tokens_the_verifier_accepts() {
    let (der, n) = rsa_key();
    let server = jwks_server(vec![jwk("local-1", &n)]).await;
    let (config, verifier) = verifier_for(&server);
    let tenant = TenantId::try_from("demo-b".to_owned()).unwrap();
    let token = mint_rs256(
        &config,
        &der,
        "local-1",
        &Mint {
            tenant: &tenant,
            sub: "owner-1",
            account: Some("acct-9"),
            role: Some(Role::Owner),
            ttl: Duration::from_secs(60),
        },
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("local-1"));

    let t = verify(&verifier, &token).await.unwrap();
    assert_eq!(t.principal.tenant, tenant);
    assert_eq!(t.principal.user, "owner-1");
    assert_eq!(t.principal.account.as_deref(), Some("acct-9"));
    assert_eq!(t.principal.role, Some(Role::Owner));
    assert_eq!(
        (t.issuer.as_str(), t.audiences),
        (ISSUER, vec![AUDIENCE.to_owned()])
    );
}

#[tokio::test]
async fn only_rsa_signing_keys_with_a_kid_are_taken_from_the_jwks() {
    let (der, n) = rsa_key();
    let server = jwks_server(vec![
        json!({"kty": "RSA", "use": "enc", "alg": "RS256", "kid": "enc", "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "use": "sig", "alg": "RS384", "kid": "rs384", "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"}),
        // No `use` and no `alg`: an RSA key is taken as a signing key.
        json!({"kty": "RSA", "kid": "bare", "n": n, "e": "AQAB"}),
        jwk("k1", &n),
    ])
    .await;
    let (config, verifier) = verifier_for(&server);
    for kid in ["k1", "bare"] {
        verify(&verifier, &rs256(&der, kid, claims(&config, "a")))
            .await
            .unwrap_or_else(|e| panic!("{kid}: {e:?}"));
    }
    for kid in ["enc", "rs384"] {
        let r = verify(&verifier, &rs256(&der, kid, claims(&config, "a"))).await;
        assert!(unauthorized(r).contains("unknown key"), "{kid}");
    }
}

#[tokio::test]
async fn the_jwks_is_fetched_again_on_an_unknown_kid_at_most_so_often() {
    let (der1, n1) = rsa_key();
    let (der2, n2) = rsa_key();
    let server = MockServer::start().await;
    // The provider rotates after the first fetch: k2 appears.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [jwk("k1", &n1)]})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"keys": [jwk("k1", &n1), jwk("k2", &n2)]})),
        )
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let verifier = verifier.with_jwks_refresh_min(Duration::from_millis(300));

    verify(&verifier, &rs256(&der1, "k1", claims(&config, "a")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);
    // Within the interval an unknown kid does not refetch: 401.
    let r = verify(&verifier, &rs256(&der2, "k2", claims(&config, "b"))).await;
    assert!(unauthorized(r).contains("unknown key"));
    assert_eq!(jwks_fetches(&server).await, 1);
    // After it, the unknown kid refreshes the JWKS and the new key verifies.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let t = verify(&verifier, &rs256(&der2, "k2", claims(&config, "b")))
        .await
        .unwrap();
    assert_eq!(t.principal.user, "b");
    assert_eq!(jwks_fetches(&server).await, 2);
    // A kid nobody has: one more (rate-limited) fetch at most, then 401.
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        let r = verify(&verifier, &rs256(&der2, "k9", claims(&config, "c"))).await;
        assert!(unauthorized(r).contains("unknown key"));
    }
    assert_eq!(jwks_fetches(&server).await, 3);
}

#[tokio::test]
async fn hs256_is_refused_while_a_jwks_is_configured() {
    let (_, n) = rsa_key();
    let server = jwks_server(vec![jwk("k1", &n)]).await;
    let (config, verifier) = verifier_for(&server);
    let platform = SecretString::from(PLATFORM_SECRET.to_owned());
    // The alg-confusion attack (HS256 with the provider's public key as the HMAC secret),
    // and a token correctly signed with the deployment's own HS256 secret: both refused,
    // and the secret is never read.
    let mut forged = Vec::new();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    for secret in [
        n.as_bytes().to_vec(),
        jwk("k1", &n).to_string().into_bytes(),
    ] {
        forged.push(
            jsonwebtoken::encode(
                &header,
                &claims(&config, "mallory"),
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap(),
        );
    }
    let minted = crate::auth::jwt::mint_hs256(
        &config,
        &platform,
        &Mint {
            tenant: &TenantId::try_from("demo-a".to_owned()).unwrap(),
            sub: "u",
            account: None,
            role: None,
            ttl: Duration::from_secs(60),
        },
    )
    .unwrap();
    for token in forged.iter().chain([&minted]) {
        let token = BearerToken::parse(token).unwrap();
        let asked = AtomicBool::new(false);
        let r = verifier
            .verify(&token, || async {
                asked.store(true, Ordering::SeqCst);
                Ok(Some(platform.clone()))
            })
            .await;
        assert_eq!(
            unauthorized(r),
            "HS256 tokens are not accepted by this deployment."
        );
        assert!(!asked.load(Ordering::SeqCst), "the HS256 secret was read");
    }
    assert_eq!(
        jwks_fetches(&server).await,
        0,
        "refused before any key lookup"
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_502_not_401() {
    let (der, _) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    assert_502(verify(&verifier, &rs256(&der, "k1", claims(&config, "a"))).await);
}

#[tokio::test]
async fn a_jwks_that_is_not_json_is_502() {
    let (der, _) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    assert_502(verify(&verifier, &rs256(&der, "k1", claims(&config, "a"))).await);
}

#[tokio::test]
async fn after_a_failed_first_fetch_lookups_within_the_back_off_do_not_ask_again() {
    let (der, n) = rsa_key();
    let server = MockServer::start().await;
    // Down for the first request, up again after.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::ZERO))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let verifier = verifier.with_jwks_refresh_min(Duration::ZERO);

    let started = Instant::now();
    assert_502(verify(&verifier, &rs256(&der, "k1", claims(&config, "a"))).await);
    assert_eq!(jwks_fetches(&server).await, 1);
    // The provider is back, but within the back-off no one asks it: 502 at once, for
    // any kid.
    for kid in ["k1", "k2", "k1"] {
        assert_502(verify(&verifier, &rs256(&der, kid, claims(&config, "a"))).await);
    }
    assert_eq!(
        jwks_fetches(&server).await,
        1,
        "asked again within the back-off"
    );
    assert!(
        started.elapsed() < JWKS_FAILURE_BACKOFF,
        "the test outlived the back-off"
    );
}

#[tokio::test]
async fn after_a_failed_refresh_of_a_fresh_cache_cached_keys_serve_and_unknown_kids_wait() {
    let (der1, n1) = rsa_key();
    let (der2, _) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n1)], Duration::ZERO))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let verifier = verifier.with_jwks_refresh_min(Duration::ZERO);

    verify(&verifier, &rs256(&der1, "k1", claims(&config, "a")))
        .await
        .unwrap();
    // An unknown kid refreshes; the refresh fails: the kid is unknown (401, the cache is
    // good), and the failure is remembered.
    let r = verify(&verifier, &rs256(&der2, "k2", claims(&config, "b"))).await;
    assert!(unauthorized(r).contains("unknown key"));
    assert_eq!(jwks_fetches(&server).await, 2);
    for _ in 0..3 {
        let r = verify(&verifier, &rs256(&der2, "k2", claims(&config, "b"))).await;
        assert!(unauthorized(r).contains("unknown key"));
        verify(&verifier, &rs256(&der1, "k1", claims(&config, "a")))
            .await
            .unwrap();
    }
    assert_eq!(
        jwks_fetches(&server).await,
        2,
        "asked again within the back-off"
    );
}

#[tokio::test]
async fn cached_keys_keep_serving_through_an_outage_past_their_age() {
    // Stale-if-error: the cache is older than its max age and the provider fails.
    let (der, n) = rsa_key();
    let (der2, _) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::ZERO))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let max_age = Duration::from_millis(200);
    let (config, verifier) = verifier_for(&server);
    let verifier = verifier.with_jwks_max_age(max_age);
    assert!(max_age + JWKS_STALE_LIMIT > Duration::from_secs(3600));

    verify(&verifier, &rs256(&der, "k1", claims(&config, "a")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;

    // Stale: the lookup refreshes, the refresh fails, the cached key still verifies.
    let t = verify(&verifier, &rs256(&der, "k1", claims(&config, "b")))
        .await
        .unwrap();
    assert_eq!(t.principal.user, "b");
    assert_eq!(jwks_fetches(&server).await, 2);
    // Within the back-off: served from the stale cache without asking.
    for _ in 0..3 {
        verify(&verifier, &rs256(&der, "k1", claims(&config, "c")))
            .await
            .unwrap();
    }
    // A kid the stale cache lacks is unknown (401), and costs no fetch either.
    let r = verify(&verifier, &rs256(&der2, "k2", claims(&config, "d"))).await;
    assert!(unauthorized(r).contains("unknown key"));
    assert_eq!(jwks_fetches(&server).await, 2);
}

#[tokio::test]
async fn past_their_age_cached_keys_are_replaced_so_a_withdrawn_key_stops_working() {
    let (der1, n1) = rsa_key();
    let (der2, n2) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n1)], Duration::ZERO))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // The provider withdrew k1.
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k2", &n2)], Duration::ZERO))
        .mount(&server)
        .await;
    let max_age = Duration::from_millis(200);
    let (config, verifier) = verifier_for(&server);
    let verifier = verifier.with_jwks_max_age(max_age);

    verify(&verifier, &rs256(&der1, "k1", claims(&config, "a")))
        .await
        .unwrap();
    // Within the max age the cache answers, withdrawn or not.
    verify(&verifier, &rs256(&der1, "k1", claims(&config, "a")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;

    let r = verify(&verifier, &rs256(&der1, "k1", claims(&config, "a"))).await;
    assert!(unauthorized(r).contains("unknown key"));
    assert_eq!(jwks_fetches(&server).await, 2);
    verify(&verifier, &rs256(&der2, "k2", claims(&config, "b")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 2, "the new cache is fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_key_serves_at_once_while_another_lookup_refreshes() {
    let (der, n) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::ZERO))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let slow = Duration::from_millis(800);
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], slow))
        .mount(&server)
        .await;
    let max_age = Duration::from_millis(200);
    let (config, verifier) = verifier_for(&server);
    let verifier = Arc::new(verifier.with_jwks_max_age(max_age));
    verify(&verifier, &rs256(&der, "k1", claims(&config, "a")))
        .await
        .unwrap();
    tokio::time::sleep(max_age + Duration::from_millis(50)).await;

    let refresher = {
        let (v, token) = (verifier.clone(), rs256(&der, "k1", claims(&config, "r")));
        tokio::spawn(async move { verify(&v, &token).await })
    };
    // Let the refresher start its (slow) fetch.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    verify(&verifier, &rs256(&der, "k1", claims(&config, "b")))
        .await
        .unwrap();
    assert!(
        started.elapsed() < slow / 2,
        "waited {:?} for the refresh in flight",
        started.elapsed()
    );
    refresher.await.unwrap().unwrap();
    assert_eq!(jwks_fetches(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_on_a_cold_cache_make_one_jwks_request() {
    const N: usize = 16;
    let (der, n) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::from_millis(300)))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let verifier = Arc::new(verifier);

    let mut lookups = tokio::task::JoinSet::new();
    for i in 0..N {
        let (v, token) = (
            verifier.clone(),
            rs256(&der, "k1", claims(&config, &format!("u{i}"))),
        );
        lookups.spawn(async move { verify(&v, &token).await });
    }
    let mut users = Vec::new();
    while let Some(r) = lookups.join_next().await {
        users.push(r.unwrap().unwrap().principal.user);
    }
    assert_eq!(users.len(), N);
    assert_eq!(jwks_fetches(&server).await, 1);
}

#[tokio::test]
async fn concurrent_lookups_of_a_kid_no_one_has_make_one_jwks_request() {
    let (der, n) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::from_millis(300)))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let t: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|sub| rs256(&der, "k9", claims(&config, sub)))
        .collect();
    let (a, b, c, d, e) = tokio::join!(
        verify(&verifier, &t[0]),
        verify(&verifier, &t[1]),
        verify(&verifier, &t[2]),
        verify(&verifier, &t[3]),
        verify(&verifier, &t[4]),
    );
    for r in [a, b, c, d, e] {
        assert!(unauthorized(r).contains("unknown key"));
    }
    assert_eq!(jwks_fetches(&server).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_during_an_outage_make_one_jwks_request() {
    const N: usize = 8;
    let (der, _) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let verifier = Arc::new(verifier);

    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..N {
        let (v, token) = (verifier.clone(), rs256(&der, "k1", claims(&config, "u")));
        lookups.spawn(async move { verify(&v, &token).await });
    }
    while let Some(r) = lookups.join_next().await {
        assert_502(r.unwrap());
    }
    assert_eq!(jwks_fetches(&server).await, 1);
}

/// A lookup whose future is dropped mid-refresh (a caller's timeout, a cancelled
/// request) leaves `JwksState::refreshing` set for good: no later lookup refreshes
/// again, each waits out `JWKS_TIMEOUT` (3 s) and answers 502 on a cold cache, or keeps
/// serving the stale keys forever on a warm one.
#[tokio::test]
async fn a_cancelled_refresh_does_not_block_later_ones() {
    let (der, n) = rsa_key();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::from_millis(500)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(keys_after(vec![jwk("k1", &n)], Duration::ZERO))
        .mount(&server)
        .await;
    let (config, verifier) = verifier_for(&server);
    let token = rs256(&der, "k1", claims(&config, "a"));
    let cancelled =
        tokio::time::timeout(Duration::from_millis(50), verify(&verifier, &token)).await;
    assert!(cancelled.is_err(), "the first lookup was to be cut short");

    let started = Instant::now();
    verify(&verifier, &token).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_redirecting_jwks_is_not_followed() {
    let (der, n) = rsa_key();
    let elsewhere = jwks_server(vec![jwk("k1", &n)]).await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/.well-known/jwks.json", elsewhere.uri()),
        ))
        .mount(&server)
        .await;
    let (config, v) = verifier_for(&server);
    assert_502(verify(&v, &rs256(&der, "k1", claims(&config, "u"))).await);
    assert_eq!(
        jwks_fetches(&elsewhere).await,
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_key_whose_operations_exclude_verify_is_not_taken() {
    let (der, n) = rsa_key();
    let enc =
        json!({"kty": "RSA", "kid": "enc", "key_ops": ["encrypt", "wrapKey"], "n": n, "e": "AQAB"});
    let ver = json!({"kty": "RSA", "kid": "ver", "key_ops": ["verify"], "n": n, "e": "AQAB"});
    let server = jwks_server(vec![enc, ver]).await;
    let (config, v) = verifier_for(&server);
    assert!(
        unauthorized(verify(&v, &rs256(&der, "enc", claims(&config, "u"))).await)
            .contains("unknown key")
    );
    assert!(verify(&v, &rs256(&der, "ver", claims(&config, "u")))
        .await
        .is_ok());
}
