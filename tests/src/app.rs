//! The vault in-process, for the fault-injection tests. It builds `cardvault::App` directly,
//! so it follows the `cardvault` crate's API.

use crate::{aws, jwt_config, stack};

/// The vault in-process, on the test stack's table and secrets, with `stripe_api_base`
/// pointed wherever a fault-injection test needs it.
pub async fn app_with_stripe(stripe_api_base: &str) -> cardvault::App {
    app_with_stripe_timeout(stripe_api_base, std::time::Duration::from_millis(300)).await
}

/// The same, with Stripe attempts of `stripe_timeout` each (production's is 3 s).
pub async fn app_with_stripe_timeout(
    stripe_api_base: &str,
    stripe_timeout: std::time::Duration,
) -> cardvault::App {
    let config = cardvault::config::Config {
        table_name: stack().table.clone(),
        stripe_platform_secret_id: cardvault::config::DEFAULT_STRIPE_PLATFORM_SECRET_ID.into(),
        recaptcha_secret_id: cardvault::config::DEFAULT_RECAPTCHA_SECRET_ID.into(),
        fingerprint_secret_id: cardvault::config::DEFAULT_FINGERPRINT_SECRET_ID.into(),
        cursor_secret_id: cardvault::config::DEFAULT_CURSOR_SECRET_ID.into(),
        vault_kms_key_id: cardvault::config::DEFAULT_VAULT_KMS_KEY_ID.into(),
        audit_kms_key_id: cardvault::config::DEFAULT_AUDIT_KMS_KEY_ID.into(),
        stripe_publishable_key: None,
        stripe_api_base: stripe_api_base.into(),
        recaptcha_verify_url: "http://127.0.0.1:9/unused".into(),
        stripe_timeout,
        jwt: jwt_config(),
        jwt_hs256_secret_id: cardvault::config::DEFAULT_JWT_HS256_SECRET_ID.into(),
        stripe_webhook_secret_id:
            cardvault::domain::stripe_event::DEFAULT_PLATFORM_WEBHOOK_SECRET_ID.into(),
        stage: cardvault::domain::Stage::Dev,
    };
    cardvault::App::new(config, &aws().await)
}
