//! Ports: what the vault needs from the outside world, as traits. Business rules
//! (`crate::vault`) depend on these alone; adapters implement them:
//!
//! | port | production adapter | unit-test adapter |
//! |---|---|---|
//! | [`CardStore`] | `store::Store` (DynamoDB) | `memory::MemoryStore` |
//! | [`AuditLog`] (part of [`CardStore`]: same table) | `store::Store` | `memory::MemoryStore` |
//! | [`TenantAdminStore`] (the operator's writes, `vault::admin`) | `store::Store` | `memory::MemoryStore` |
//! | [`PaymentGateway`] | `stripe::StripeClient` (HTTPS) | `memory::MemoryGateway` |
//! | [`KeyService`] | `crypto::VaultKeys` (KMS data keys, key rings in secrets) | `crypto::VaultKeys` over `memory::{MemorySecrets, MemoryDataKeys}` |
//! | [`SecretSource`] | `secrets::Secrets` (Secrets Manager) | `memory::MemorySecrets` |
//! | [`Captcha`] | `recaptcha::SiteVerify` (HTTPS) | `memory::MemoryCaptcha` |
//! | [`WebhookFormat`] (Stripe's signatures and events) | `stripe::webhook::StripeWebhooks` | the same (`stripe_webhook`, compiled into the core's tests) |
//! | [`Clock`], [`Ids`] | [`SystemClock`], [`RandomIds`] | `memory::FixedClock`, `memory::SeqIds` |

mod audit;
mod captcha;
mod clock;
mod gateway;
mod keys;
mod secrets;
mod store;
mod webhooks;

pub use audit::{AuditChainStore, AuditLog, ChainKey, PendingKey, StoredPending, AUDIT_PAGE_MAX};
pub use captcha::{Captcha, CaptchaUnavailable, Verdict};
pub use clock::{Clock, Ids, RandomIds, SystemClock};
pub use gateway::{
    BankAccount, Card, CardDetails, CardOnFile, CreatedCustomer, NewCard, PaymentGateway,
    PaymentIntent, SetupIntent, Source, StripeAuth, StripeError, CARD_METADATA_KEY, SETUP_CARD_KEY,
    SETUP_TENANT_KEY,
};
pub use keys::{Fingerprints, KeyError, KeyService, PanOpener};
pub use secrets::{SecretSource, SecretsError};
pub use store::{
    Admission, CardStore, Claim, Counter, Created, CustomerStore, DefaultRule, LinkStore,
    LinkWrite, OnceStore, PaymentMethodStore, RehomeCustomer, RehomeStore, StoreError,
    TenantAdminStore, TenantStore, TokenUse, VelocityStore,
};
pub use webhooks::{DefaultMove, StripeEventStore, WebhookFormat};

/// The adapters one vault is built from: one type per port.
pub trait Ports: Send + Sync + 'static {
    type Store: CardStore;
    type Gateway: PaymentGateway;
    type Keys: KeyService;
    type Secrets: SecretSource;
    type Captcha: Captcha;
    type Clock: Clock;
    type Ids: Ids;
    type Webhooks: WebhookFormat;
}

/// The port errors become the domain's [`Error`](crate::Error) here, keeping their source:
/// each is ours (a 5xx), never the caller's, unless a rule decided otherwise first.
mod into_error {
    use super::*;
    use crate::error::Error;

    impl From<StoreError> for Error {
        fn from(e: StoreError) -> Self {
            Error::internal("store", e)
        }
    }

    impl From<SecretsError> for Error {
        fn from(e: SecretsError) -> Self {
            Error::internal("secrets", e)
        }
    }

    impl From<KeyError> for Error {
        fn from(e: KeyError) -> Self {
            Error::internal("vault keys", e)
        }
    }
}
