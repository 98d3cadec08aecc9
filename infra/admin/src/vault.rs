//! The vault the admin CLI calls for tenant administration (`cardvault::vault::admin`):
//! built over the DynamoDB store alone, as a function with `Uses` is. Its other ports are
//! unwired: no tenant operation reaches Stripe, KMS, Secrets Manager or reCAPTCHA, and one
//! that did would fail as that service being down would, saying so.

use cardvault::deps::{Unwired, Uses, Webhooks, Wired};
use cardvault::domain::Stage;
use cardvault::vault::{Adapters, Settings, Vault};
use cardvault_aws::store::Store;
use cardvault_core::ports::{RandomIds, SystemClock};

/// The admin CLI's vault: the functions' wiring with the table alone (`Uses`).
pub type AdminVault = Vault<Wired<Uses>>;

pub fn admin_vault(store: Store) -> AdminVault {
    let adapters = Adapters {
        store,
        gateway: Unwired,
        keys: Unwired,
        secrets: Unwired,
        captcha: Unwired,
        clock: SystemClock,
        ids: RandomIds,
        webhooks: Webhooks::default(),
    };
    // Read by no tenant operation: the functions' own configuration, as its defaults.
    let settings = Settings {
        stripe_platform_secret_id: cardvault::config::DEFAULT_STRIPE_PLATFORM_SECRET_ID.into(),
        recaptcha_secret_id: cardvault::config::DEFAULT_RECAPTCHA_SECRET_ID.into(),
        stripe_publishable_key: None,
        stripe_webhook_secret_id:
            cardvault::domain::stripe_event::DEFAULT_PLATFORM_WEBHOOK_SECRET_ID.into(),
        stage: Stage::default(),
    };
    Vault::new(adapters, settings)
}

/// A vault error as the operator reads it: its whole chain (a store error's cause too).
pub fn chained(e: cardvault_core::Error) -> Box<dyn std::error::Error> {
    e.chain().into()
}
