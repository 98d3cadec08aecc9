//! RS256 tokens against a JWKS served by wiremock: verification, the key cache and its
//! refresh on rotation, the alg-confusion attack, and an unreachable provider. No stack:
//! RSA keys are made with the openssl CLI, issuer and audience are fixed here.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::auth::jwt::{BearerToken, JwtConfig, JwtVerifier, Principal, Role};
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

async fn verify(v: &JwtVerifier, token: &str) -> Result<Principal, Error> {
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

#[tokio::test]
async fn rs256_tokens_verify_against_a_locally_served_jwks() {
    let (der, n) = rsa_key();
    let server = jwks_server(vec![jwk("k1", &n)]).await;
    let (config, verifier) = verifier_for(&server);
    let p = verify(&verifier, &rs256(&der, "k1", claims(&config, "idp-user")))
        .await
        .unwrap();
    assert_eq!(p.user, "idp-user");
    assert_eq!(p.tenant.as_str(), "demo-a");
    assert_eq!(p.account.as_deref(), Some("acct-demo-a"));
    assert_eq!(p.role, Some(Role::Admin));
    // Cached: a second token costs no fetch.
    verify(&verifier, &rs256(&der, "k1", claims(&config, "idp-user-2")))
        .await
        .unwrap();
    assert_eq!(jwks_fetches(&server).await, 1);

    // Wrong audience, wrong issuer, expired: 401 even with a good signature.
    for (field, value) in [
        ("aud", json!("another-app")),
        ("iss", json!("https://cognito-idp.example/other-pool")),
        ("exp", json!(jsonwebtoken::get_current_timestamp() - 3600)),
    ] {
        let mut c = claims(&config, "idp-user");
        c[field] = value;
        let r = verify(&verifier, &rs256(&der, "k1", c)).await;
        assert!(matches!(r, Err(Error::Unauthorized(_))), "{field}: {r:?}");
    }

    // Signed by a key the JWKS does not hold, under a kid it does: bad signature.
    let (other_der, _) = rsa_key();
    let r = verify(&verifier, &rs256(&other_der, "k1", claims(&config, "x"))).await;
    assert!(matches!(r, Err(Error::Unauthorized(m)) if m.contains("signature")));
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
    assert!(
        matches!(r, Err(Error::Unauthorized(m)) if m.contains("unknown key")),
        "{r:?}"
    );
    assert_eq!(jwks_fetches(&server).await, 1);
    // After it, the unknown kid refreshes the JWKS and the new key verifies.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let p = verify(&verifier, &rs256(&der2, "k2", claims(&config, "b")))
        .await
        .unwrap();
    assert_eq!(p.user, "b");
    assert_eq!(jwks_fetches(&server).await, 2);
    // A kid nobody has: one more (rate-limited) fetch at most, then 401.
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..3 {
        let r = verify(&verifier, &rs256(&der2, "k9", claims(&config, "c"))).await;
        assert!(matches!(r, Err(Error::Unauthorized(_))));
    }
    assert_eq!(jwks_fetches(&server).await, 3);
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_refused() {
    // The alg-confusion attack: HS256 with the provider's public key as the HMAC secret.
    let (_, n) = rsa_key();
    let server = jwks_server(vec![jwk("k1", &n)]).await;
    let (config, _) = verifier_for(&server);
    let verifier = JwtVerifier::new(config.clone());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    for secret in [
        n.as_bytes().to_vec(),
        jwk("k1", &n).to_string().into_bytes(),
    ] {
        let forged = jsonwebtoken::encode(
            &header,
            &claims(&config, "mallory"),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        let token = BearerToken::parse(&forged).unwrap();
        // Even where HS256 is accepted, only with the platform secret.
        let r = verifier
            .verify(&token, || async {
                Ok(Some(SecretString::from(PLATFORM_SECRET.to_owned())))
            })
            .await;
        assert!(matches!(r, Err(Error::Unauthorized(_))), "{r:?}");
    }
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
    let r = verify(&verifier, &rs256(&der, "k1", claims(&config, "a"))).await;
    assert!(matches!(r, Err(Error::Upstream { .. })), "{r:?}");
}
