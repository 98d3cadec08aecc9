//! What a function is built from, declared beside its binary (`functions/*`), as a handler's
//! dependencies are in the hexagonal Lambda samples. The table, the clock, ids and Stripe's
//! webhook format ([`Webhooks`], zero-sized; only the webhook function's code calls it) are
//! every function's; each other port is an adapter, or [`Unwired`] for a function that never
//! uses it. An unwired port's SDK or client is neither built nor linked: `list-countries`
//! carries no KMS, Secrets Manager or Stripe code.
//!
//! ```ignore
//! // Uses<gateway, keys, secrets, captcha>, each Unwired unless named.
//! type App = cardvault::App<Uses<Stripe, Unwired, SecretsManager>>;
//! ```

use std::marker::PhantomData;
use std::sync::OnceLock;

use async_trait::async_trait;

use crate::aws::kms::KmsDataKeys;
use crate::config::Config;
use crate::crypto::{DataKey, DataKeys, Key, VaultKeys};
use crate::domain::{CardNumber, EncryptedPan, PanContext, StripeToken, TenantId};
use crate::net::HttpClient;
use crate::ports::{
    Captcha, CaptchaUnavailable, Card, CardDetails, CardOnFile, CreatedCustomer, Fingerprints,
    KeyError, KeyService, NewCard, PanOpener, PaymentGateway, PaymentIntent, Ports, RandomIds,
    SecretSource, SecretsError, SetupIntent, Source, StripeAuth, StripeError, SystemClock, Verdict,
};
use crate::recaptcha::SiteVerify;
use crate::secret::SecretString;
use crate::store::Store;
use crate::stripe::{RetryPolicy, StripeClient};

/// Stripe over HTTPS.
pub type Stripe = StripeClient;
/// reCAPTCHA's siteverify.
pub type Recaptcha = SiteVerify;
/// Secrets Manager: Stripe keys, the reCAPTCHA and webhook secrets, the HS256 secret.
pub type SecretsManager = crate::secrets::Secrets;
/// Stripe's webhook wire format (signatures, events): every function's, only the webhook
/// function's code calls it. Zero-sized: building it costs nothing.
pub type Webhooks = crate::stripe::webhook::StripeWebhooks;
/// KMS data keys: sealing PANs (and, for re-homing alone, opening them).
pub type Kms = KmsDataKeys;
/// The fingerprint and cursor key rings (Secrets Manager), with `D` for PANs: [`Kms`] for a
/// function that seals or opens one, [`Unwired`] for one that only fingerprints or signs.
pub type KeyRings<D> = VaultKeys<SecretsManager, D>;

/// The adapters a function is built from; [`Uses`] names them. See the module's example.
pub trait Deps: Send + Sync + 'static {
    type Gateway: PaymentGateway + Build;
    type Keys: KeyService + PanOpener + Build;
    type Secrets: SecretSource + Build + Clone;
    type Captcha: Captcha + Build;
}

/// A function's [`Deps`] as the vault's [`Ports`].
pub struct Wired<D>(PhantomData<D>);

impl<D: Deps> Ports for Wired<D> {
    type Store = Store;
    type Gateway = D::Gateway;
    type Keys = D::Keys;
    type Secrets = D::Secrets;
    type Captcha = D::Captcha;
    type Clock = SystemClock;
    type Ids = RandomIds;
    type Webhooks = Webhooks;
}

/// A function's [`Deps`] in one line, in the order gateway, keys, secrets, captcha, each
/// [`Unwired`] unless named: `Uses` alone is the table only.
pub struct Uses<G = Unwired, K = Unwired, S = Unwired, C = Unwired>(Named<(G, K, S, C)>);

/// Types named, never held: `Uses` is `Send` and `Sync` whatever they are.
type Named<T> = PhantomData<fn() -> T>;

impl<G, K, S, C> Deps for Uses<G, K, S, C>
where
    G: PaymentGateway + Build + 'static,
    K: KeyService + PanOpener + Build + 'static,
    S: SecretSource + Build + Clone + 'static,
    C: Captcha + Build + 'static,
{
    type Gateway = G;
    type Keys = K;
    type Secrets = S;
    type Captcha = C;
}

/// Every adapter: the redirect's wiring, the integration tests', and the default of
/// [`crate::App`].
pub type All = Uses<Stripe, KeyRings<Kms>, SecretsManager, Recaptcha>;

/// What an adapter is built from, once per cold start. Building makes no network call:
/// the SDK resolves credentials lazily, secrets are read on first use, and the one HTTP
/// client is built on first use.
pub struct Wiring<'a> {
    pub config: &'a Config,
    aws: &'a aws_types::SdkConfig,
    http: HttpClient,
    /// One Secrets Manager adapter (and cache) for the vault, its keys and the HS256 secret.
    secrets: OnceLock<SecretsManager>,
}

impl<'a> Wiring<'a> {
    pub fn new(config: &'a Config, aws: &'a aws_types::SdkConfig) -> Self {
        Self {
            config,
            aws,
            http: HttpClient::default(),
            secrets: OnceLock::new(),
        }
    }

    pub fn store(&self) -> Store {
        Store::new(
            aws_sdk_dynamodb::Client::new(self.aws),
            &self.config.table_name,
        )
    }

    fn secrets(&self) -> SecretsManager {
        self.secrets
            .get_or_init(|| SecretsManager::new(aws_sdk_secretsmanager::Client::new(self.aws)))
            .clone()
    }
}

/// An adapter built from the [`Wiring`].
pub trait Build {
    fn build(w: &Wiring) -> Self;
}

impl Build for Stripe {
    fn build(w: &Wiring) -> Self {
        StripeClient::new(
            w.http.clone(),
            &w.config.stripe_api_base,
            RetryPolicy {
                timeout: w.config.stripe_timeout,
                ..RetryPolicy::default()
            },
        )
    }
}

impl Build for Webhooks {
    fn build(_: &Wiring) -> Self {
        crate::stripe::webhook::StripeWebhooks
    }
}

impl Build for Recaptcha {
    fn build(w: &Wiring) -> Self {
        SiteVerify::new(w.http.clone(), &w.config.recaptcha_verify_url)
    }
}

impl Build for SecretsManager {
    fn build(w: &Wiring) -> Self {
        w.secrets()
    }
}

impl Build for Kms {
    fn build(w: &Wiring) -> Self {
        KmsDataKeys::new(aws_sdk_kms::Client::new(w.aws), &w.config.vault_kms_key_id)
    }
}

impl<D: DataKeys + Build> Build for KeyRings<D> {
    fn build(w: &Wiring) -> Self {
        VaultKeys::new(
            w.secrets(),
            D::build(w),
            &w.config.fingerprint_secret_id,
            &w.config.cursor_secret_id,
        )
    }
}

/// A port this function does not use. Reaching it is a wiring mistake, found by the
/// function's integration tests: each call fails as that port's backend being down would,
/// and says so in the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unwired;

impl Build for Unwired {
    fn build(_: &Wiring) -> Self {
        Unwired
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the {0} port is not wired into this function (functions/*: its Deps)")]
struct NotWired(&'static str);

fn not_wired(port: &'static str) -> NotWired {
    tracing::error!(port, "a port this function was not built with was called");
    NotWired(port)
}

#[async_trait]
impl DataKeys for Unwired {
    async fn generate(&self, _: &TenantId) -> Result<DataKey, KeyError> {
        Err(KeyError::Unavailable(Box::new(not_wired("KMS"))))
    }

    async fn decrypt(&self, _: &[u8], _: &TenantId) -> Result<Key, KeyError> {
        Err(KeyError::Unavailable(Box::new(not_wired("KMS"))))
    }
}

fn keys_not_wired<T>() -> Result<T, KeyError> {
    Err(KeyError::Unavailable(Box::new(not_wired("keys"))))
}

#[async_trait]
impl KeyService for Unwired {
    async fn fingerprints(&self, _: &TenantId, _: &CardNumber) -> Result<Fingerprints, KeyError> {
        keys_not_wired()
    }

    async fn seal_pan(&self, _: &CardNumber, _: &PanContext) -> Result<EncryptedPan, KeyError> {
        keys_not_wired()
    }

    async fn sign(&self, _: &str, _: &[u8]) -> Result<String, KeyError> {
        keys_not_wired()
    }

    async fn request_digest(&self, _: &str, _: &[u8]) -> Result<String, KeyError> {
        keys_not_wired()
    }

    async fn verify(&self, _: &str, _: &[u8], _: &str) -> Result<bool, KeyError> {
        keys_not_wired()
    }
}

#[async_trait]
impl PanOpener for Unwired {
    async fn open_pan(&self, _: &EncryptedPan, _: &PanContext) -> Result<CardNumber, KeyError> {
        keys_not_wired()
    }
}

#[async_trait]
impl SecretSource for Unwired {
    async fn secret(&self, id: &str) -> Result<SecretString, SecretsError> {
        Err(SecretsError::Fetch {
            id: id.to_owned(),
            source: Box::new(not_wired("Secrets Manager")),
        })
    }
}

#[async_trait]
impl Captcha for Unwired {
    async fn siteverify(
        &self,
        _: &SecretString,
        _: &str,
        _: Option<&str>,
    ) -> Result<Verdict, CaptchaUnavailable> {
        Err(CaptchaUnavailable(Box::new(not_wired("reCAPTCHA"))))
    }
}

fn stripe_not_wired<T>() -> Result<T, StripeError> {
    Err(StripeError::Unavailable(not_wired("Stripe").to_string()))
}

#[async_trait]
impl PaymentGateway for Unwired {
    async fn retrieve_source(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &str,
    ) -> Result<Source, StripeError> {
        stripe_not_wired()
    }

    async fn create_vault_customer(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &str,
    ) -> Result<String, StripeError> {
        stripe_not_wired()
    }

    async fn create_customer_with_source(
        &self,
        _: &StripeAuth,
        _: &StripeToken,
        _: &[(&str, &str)],
        _: &str,
    ) -> Result<CreatedCustomer, StripeError> {
        stripe_not_wired()
    }

    async fn delete_customer(&self, _: &StripeAuth, _: &str) -> Result<(), StripeError> {
        stripe_not_wired()
    }

    async fn customer_exists(&self, _: &StripeAuth, _: &str) -> Result<bool, StripeError> {
        stripe_not_wired()
    }

    async fn create_card_token(
        &self,
        _: &StripeAuth,
        _: &CardDetails<'_>,
        _: &str,
    ) -> Result<String, StripeError> {
        stripe_not_wired()
    }

    async fn attach_source(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Card, StripeError> {
        stripe_not_wired()
    }

    async fn set_default_source(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &str,
    ) -> Result<(), StripeError> {
        stripe_not_wired()
    }

    async fn detach_source(&self, _: &StripeAuth, _: &str, _: &str) -> Result<(), StripeError> {
        stripe_not_wired()
    }

    async fn collect(
        &self,
        _: &StripeAuth,
        _: u64,
        _: &str,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<PaymentIntent, StripeError> {
        stripe_not_wired()
    }

    async fn token_card_id(&self, _: &StripeAuth, _: &str) -> Result<String, StripeError> {
        stripe_not_wired()
    }

    async fn create_payment_method(
        &self,
        _: &StripeAuth,
        _: NewCard<'_>,
        _: &str,
    ) -> Result<Card, StripeError> {
        stripe_not_wired()
    }

    async fn setup_off_session(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &str,
        _: &[(&str, &str)],
        _: &str,
    ) -> Result<SetupIntent, StripeError> {
        stripe_not_wired()
    }

    async fn retrieve_setup_intent(
        &self,
        _: &StripeAuth,
        _: &str,
    ) -> Result<SetupIntent, StripeError> {
        stripe_not_wired()
    }

    async fn create_customer(
        &self,
        _: &StripeAuth,
        _: &[(&str, &str)],
        _: &str,
    ) -> Result<String, StripeError> {
        stripe_not_wired()
    }

    async fn cancel_setup_intent(
        &self,
        _: &StripeAuth,
        _: &str,
    ) -> Result<SetupIntent, StripeError> {
        stripe_not_wired()
    }

    async fn add_card_on_file(
        &self,
        _: &StripeAuth,
        _: &str,
        _: &CardOnFile<'_>,
        _: &str,
    ) -> Result<Card, StripeError> {
        stripe_not_wired()
    }

    async fn list_cards(&self, _: &StripeAuth, _: &str) -> Result<Vec<Card>, StripeError> {
        stripe_not_wired()
    }
}
