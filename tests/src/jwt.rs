//! The user and billing card APIs' bearer JWTs: RS256, signed with the local identity
//! provider's key (bootstrap.py), whose JWKS the stack's functions verify against.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::Value;

use crate::stack;

/// The test stack's JWT settings (issuer and audience from stack.json, default claim names).
pub fn jwt_config() -> cardvault::auth::jwt::JwtConfig {
    let jwt = &stack().jwt;
    cardvault::auth::jwt::JwtConfig::new(
        jwt["issuer"]
            .as_str()
            .expect("jwt.issuer in the stack facts"),
        jwt["audience"]
            .as_str()
            .expect("jwt.audience in the stack facts"),
    )
}

fn private_key_der() -> Vec<u8> {
    STANDARD
        .decode(
            stack().jwt["privateKeyDer"]
                .as_str()
                .expect("jwt.privateKeyDer"),
        )
        .expect("base64 DER")
}

fn kid() -> String {
    stack().jwt["kid"].as_str().expect("jwt.kid").to_owned()
}

/// The HS256 secret the stack holds (and refuses tokens signed with, its JWKS being on).
pub fn hs256_secret() -> String {
    stack().jwt["hs256Secret"]
        .as_str()
        .expect("jwt.hs256Secret")
        .to_owned()
}

/// One of bootstrap.py's ready tokens (`jwt.tokens.<name>.token` in the stack facts).
pub fn ready_token(name: &str) -> String {
    stack().jwt["tokens"][name]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("jwt.tokens.{name}"))
        .to_owned()
}

/// Any claims, signed RS256 with the stack's key (for expired or misaddressed tokens).
pub fn sign_claims(claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&private_key_der()),
    )
    .unwrap()
}

/// A token the stack accepts, valid for ten minutes.
pub fn token(tenant: &str, sub: &str, account: Option<&str>, role: Option<&str>) -> String {
    use cardvault::auth::jwt::{mint_rs256, Mint, Role};
    let tenant = cardvault::domain::TenantId::try_from(tenant.to_owned()).unwrap();
    mint_rs256(
        &jwt_config(),
        &private_key_der(),
        &kid(),
        &Mint {
            tenant: &tenant,
            sub,
            account,
            role: role.map(|r| Role::parse(r).expect("owner, admin or user")),
            ttl: std::time::Duration::from_secs(600),
        },
    )
    .unwrap()
}

/// A token for `sub` of `tenant`, with no role.
pub fn user_token(tenant: &str, sub: &str) -> String {
    token(tenant, sub, None, None)
}

/// A user id no other test uses.
pub fn fresh_user(label: &str) -> String {
    format!(
        "{label}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
