//! The user and billing card APIs' bearer JWTs, signed with the stack's HS256 secret.

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

pub fn jwt_secret() -> String {
    stack().jwt["secret"]
        .as_str()
        .expect("jwt.secret")
        .to_owned()
}

/// An HS256 token for `sub` of `tenant`, with no role, valid for ten minutes, signed with
/// the stack's secret.
pub fn user_token(tenant: &str, sub: &str) -> String {
    use cardvault::auth::jwt::{mint_hs256, Mint};
    let tenant = cardvault::domain::TenantId::try_from(tenant.to_owned()).unwrap();
    mint_hs256(
        &jwt_config(),
        &cardvault::secret::SecretString::from(jwt_secret()),
        &Mint {
            tenant: &tenant,
            sub,
            account: None,
            role: None,
            ttl: std::time::Duration::from_secs(600),
        },
    )
    .unwrap()
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
