//! The vault the admin CLI calls for tenant administration (`cardvault::vault::admin`):
//! built over the DynamoDB store alone. Its other ports are unwired: no tenant operation
//! reaches Stripe (nor reads its webhooks), KMS, Secrets Manager or reCAPTCHA, and one that did would fail as that
//! service being down would, saying so.

use cardvault::deps::Unwired;
use cardvault::domain::Stage;
use cardvault::vault::{Adapters, Settings, Vault};
use cardvault_aws::store::Store;
use cardvault_core::ports::{Ports, RandomIds, SystemClock};

/// The ports of the admin CLI's vault.
pub struct AdminPorts;

impl Ports for AdminPorts {
    type Store = Store;
    type Gateway = Unwired;
    type Keys = Unwired;
    type Secrets = Unwired;
    type Captcha = Unwired;
    type Clock = SystemClock;
    type Ids = RandomIds;
    type Webhooks = Unwired;
}

pub type AdminVault = Vault<AdminPorts>;

pub fn admin_vault(store: Store) -> AdminVault {
    let adapters = Adapters {
        store,
        gateway: Unwired,
        keys: Unwired,
        secrets: Unwired,
        captcha: Unwired,
        clock: SystemClock,
        ids: RandomIds,
        webhooks: Unwired,
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
