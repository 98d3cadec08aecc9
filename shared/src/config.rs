//! Configuration, read once per cold start from the environment. Every external endpoint
//! is configuration, so tests point the same code at the local stand-ins.

use std::env;
use std::time::Duration;

/// The platform secret's id when `PLATFORM_SECRET_ID` is not set (bootstrap.py and the
/// template use the same name).
pub const DEFAULT_PLATFORM_SECRET_ID: &str = "cardvault/platform";
/// The vault keys' secret id when `VAULT_KEYS_SECRET_ID` is not set.
pub const DEFAULT_VAULT_KEYS_SECRET_ID: &str = "cardvault/vault-keys";
/// The HS256 secret's id when `JWT_HS256_SECRET_ID` is not set.
pub const DEFAULT_JWT_HS256_SECRET_ID: &str = "cardvault/jwt-hs256";

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    /// Secrets Manager id of the platform secret (JSON: Stripe keys, reCAPTCHA, JWT).
    pub platform_secret_id: String,
    /// Secrets Manager id of the vault's encryption and fingerprint keys (`crypto`).
    pub vault_keys_secret_id: String,
    pub stripe_api_base: String,
    pub recaptcha_verify_url: String,
    /// Per-attempt timeout for Stripe calls (`STRIPE_TIMEOUT_MS`, default 3000).
    pub stripe_timeout: Duration,
    /// Bearer JWTs of the user and billing-card APIs (`JWT_*`; see `auth::jwt`).
    pub jwt: crate::auth::jwt::JwtConfig,
    /// Secrets Manager id of the HS256 secret (a plain string of at least 32 bytes), read
    /// only for an HS256 token and only when no JWKS is configured.
    pub jwt_hs256_secret_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            platform_secret_id: optional("PLATFORM_SECRET_ID", DEFAULT_PLATFORM_SECRET_ID),
            vault_keys_secret_id: optional("VAULT_KEYS_SECRET_ID", DEFAULT_VAULT_KEYS_SECRET_ID),
            stripe_api_base: optional("STRIPE_API_BASE", "https://api.stripe.com"),
            recaptcha_verify_url: optional(
                "RECAPTCHA_VERIFY_URL",
                "https://www.google.com/recaptcha/api/siteverify",
            ),
            stripe_timeout: Duration::from_millis(
                optional("STRIPE_TIMEOUT_MS", "3000")
                    .parse()
                    .unwrap_or(3000),
            ),
            jwt: crate::auth::jwt::JwtConfig::from_env().map_err(ConfigError::Invalid)?,
            jwt_hs256_secret_id: optional("JWT_HS256_SECRET_ID", DEFAULT_JWT_HS256_SECRET_ID),
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional(name: &str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
