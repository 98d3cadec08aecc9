//! Configuration, read once per cold start from the environment. Every external endpoint
//! is configuration, so tests point the same code at the local stand-ins.

use std::env;
use std::time::Duration;

/// Default secret ids and KMS alias, as `infra/bootstrap.py` creates them locally; the
/// template sets each function's own.
pub const DEFAULT_STRIPE_PLATFORM_SECRET_ID: &str = "cardvault/stripe-platform";
pub const DEFAULT_RECAPTCHA_SECRET_ID: &str = "cardvault/recaptcha";
pub const DEFAULT_FINGERPRINT_SECRET_ID: &str = "cardvault/fingerprint-key";
pub const DEFAULT_CURSOR_SECRET_ID: &str = "cardvault/cursor-key";
pub const DEFAULT_VAULT_KMS_KEY_ID: &str = "alias/cardvault-vault";
/// The audit chain's HMAC key (`crypto::chain_key`).
pub const DEFAULT_AUDIT_KMS_KEY_ID: &str = "alias/cardvault-audit";
/// The pre-KMS keys secret, read only by `cardvault-admin migrate-pans`.
pub const DEFAULT_LEGACY_VAULT_KEYS_SECRET_ID: &str = "cardvault/vault-keys";
/// The HS256 secret's id when `JWT_HS256_SECRET_ID` is not set.
pub const DEFAULT_JWT_HS256_SECRET_ID: &str = "cardvault/jwt-hs256";

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    /// Secret ids, one per key, so each function reads only what it uses (`crypto`,
    /// `vault::credentials`).
    pub stripe_platform_secret_id: String,
    pub recaptcha_secret_id: String,
    pub fingerprint_secret_id: String,
    pub cursor_secret_id: String,
    /// The vault's KMS key (id, ARN or alias) for PAN data keys.
    pub vault_kms_key_id: String,
    /// The audit chain's KMS HMAC key (id, ARN or alias); only the chainer uses it.
    pub audit_kms_key_id: String,
    /// The platform's publishable key (`STRIPE_PUBLISHABLE_KEY`): only `pk_` keys.
    pub stripe_publishable_key: Option<crate::domain::PublishableKey>,
    pub stripe_api_base: String,
    pub recaptcha_verify_url: String,
    /// Per-attempt timeout for Stripe calls (`STRIPE_TIMEOUT_MS`, default 3000).
    pub stripe_timeout: Duration,
    /// Bearer JWTs of the user and billing-card APIs (`JWT_*`; see `auth::jwt`).
    pub jwt: crate::auth::jwt::JwtConfig,
    /// Secrets Manager id of the HS256 secret (a plain string of at least 32 bytes), read
    /// only for an HS256 token and only when no JWKS is configured.
    pub jwt_hs256_secret_id: String,
    /// Secrets Manager id of the platform webhook endpoint's signing secrets
    /// (`STRIPE_WEBHOOK_SECRET_ID`), read only by the webhook function.
    pub stripe_webhook_secret_id: String,
    /// `CARDVAULT_STAGE`: `dev` honours loopback origins; unset or `prod` never does.
    pub stage: crate::domain::Stage,
}

pub use cardvault_aws::sdk::ConfigError;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            stripe_platform_secret_id: optional(
                "STRIPE_PLATFORM_SECRET_ID",
                DEFAULT_STRIPE_PLATFORM_SECRET_ID,
            ),
            recaptcha_secret_id: optional("RECAPTCHA_SECRET_ID", DEFAULT_RECAPTCHA_SECRET_ID),
            fingerprint_secret_id: optional(
                "FINGERPRINT_KEY_SECRET_ID",
                DEFAULT_FINGERPRINT_SECRET_ID,
            ),
            cursor_secret_id: optional("CURSOR_KEY_SECRET_ID", DEFAULT_CURSOR_SECRET_ID),
            vault_kms_key_id: optional("VAULT_KMS_KEY_ID", DEFAULT_VAULT_KMS_KEY_ID),
            audit_kms_key_id: optional("AUDIT_KMS_KEY_ID", DEFAULT_AUDIT_KMS_KEY_ID),
            stripe_publishable_key: match env::var("STRIPE_PUBLISHABLE_KEY") {
                Ok(v) if !v.is_empty() => {
                    Some(crate::domain::PublishableKey::parse(&v).map_err(|e| {
                        ConfigError::Invalid(format!("STRIPE_PUBLISHABLE_KEY: {e}"))
                    })?)
                }
                _ => None,
            },
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
            stripe_webhook_secret_id: optional(
                "STRIPE_WEBHOOK_SECRET_ID",
                crate::domain::stripe_event::DEFAULT_PLATFORM_WEBHOOK_SECRET_ID,
            ),
            stage: crate::domain::Stage::parse(env::var("CARDVAULT_STAGE").ok().as_deref())
                .map_err(ConfigError::Invalid)?,
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
