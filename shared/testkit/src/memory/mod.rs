//! In-memory adapters of every port, for unit tests of the business rules: no AWS, no
//! Stripe, milliseconds per test. Each keeps the semantics its real adapter promises
//! (conditional writes, all-or-nothing transactions, idempotency keys, Stripe's errors),
//! and can be told to fail an operation, for the compensation paths.

mod gateway;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use secrecy::SecretString;

pub use gateway::{
    Credentials, FailWith, FakeCard, MemoryGateway, AUTHENTICATES, CVC_FAILS, DECLINED_AT_ATTACH,
    DECLINES_CHARGES,
};
pub use store::MemoryStore;

use crate::crypto::{DataKey, DataKeys, Key, VaultKeys};
use crate::domain::{CustomerId, PaymentMethodId, TenantId, Timestamp};
use crate::ports::{
    Captcha, CaptchaUnavailable, Clock, Ids, KeyError, Ports, SecretSource, SecretsError, Verdict,
};
use crate::vault::{Adapters, Settings, Vault};

/// The in-memory bundle of ports.
pub struct Memory;

impl Ports for Memory {
    type Store = MemoryStore;
    type Gateway = MemoryGateway;
    type Keys = VaultKeys<MemorySecrets, MemoryDataKeys>;
    type Secrets = MemorySecrets;
    type Captcha = MemoryCaptcha;
    type Clock = FixedClock;
    type Ids = SeqIds;
    /// Stripe's own wire format: the webhook tests sign and send real bodies.
    type Webhooks = crate::stripe_webhook::StripeWebhooks;
}

pub const STRIPE_PLATFORM_SECRET_ID: &str = "test/stripe-platform";
pub const RECAPTCHA_SECRET_ID: &str = "test/recaptcha";
pub const FINGERPRINT_SECRET_ID: &str = "test/fingerprint-key";
pub const CURSOR_SECRET_ID: &str = "test/cursor-key";
pub const PUBLISHABLE_KEY: &str = "pk_test_platform";
/// The platform webhook endpoint's signing secrets (none set by [`vault`]).
pub const WEBHOOK_SECRET_ID: &str = "test/webhook-platform";

/// A key ring secret with one fresh version.
pub fn ring() -> String {
    crate::crypto::rotated_ring(None, time::OffsetDateTime::UNIX_EPOCH)
        .expect("a new ring")
        .to_string()
}

/// A vault over fresh in-memory adapters, with the platform's Stripe key and reCAPTCHA
/// secret, and the fingerprint and cursor key rings, in place: a production stack's.
pub fn vault() -> Vault<Memory> {
    vault_at(crate::domain::Stage::Prod)
}

/// [`vault`] on a stack of this stage.
pub fn vault_at(stage: crate::domain::Stage) -> Vault<Memory> {
    let secrets = MemorySecrets::default();
    secrets.set(STRIPE_PLATFORM_SECRET_ID, "sk_test_platform");
    secrets.set(RECAPTCHA_SECRET_ID, "platform-recaptcha");
    secrets.set(FINGERPRINT_SECRET_ID, &ring());
    secrets.set(CURSOR_SECRET_ID, &ring());
    Vault::new(
        Adapters {
            store: MemoryStore::default(),
            gateway: MemoryGateway::default(),
            keys: VaultKeys::new(
                secrets.clone(),
                MemoryDataKeys::default(),
                FINGERPRINT_SECRET_ID,
                CURSOR_SECRET_ID,
            ),
            secrets,
            captcha: MemoryCaptcha::default(),
            clock: FixedClock::default(),
            ids: SeqIds::default(),
            webhooks: crate::stripe_webhook::StripeWebhooks,
        },
        Settings {
            stripe_platform_secret_id: STRIPE_PLATFORM_SECRET_ID.into(),
            recaptcha_secret_id: RECAPTCHA_SECRET_ID.into(),
            stripe_publishable_key: Some(
                crate::domain::PublishableKey::parse(PUBLISHABLE_KEY).expect("a pk_ key"),
            ),
            stripe_webhook_secret_id: WEBHOOK_SECRET_ID.into(),
            stage,
        },
    )
}

/// KMS in memory: data keys wrapped under a master key with the tenant as associated data
/// (KMS's encryption context), counting each call. [`MemoryDataKeys::writer_only`] refuses
/// `decrypt`, as a writer's IAM does.
#[derive(Default)]
pub struct MemoryDataKeys {
    master: std::sync::OnceLock<DataKey>,
    pub generated: AtomicU64,
    pub decrypted: AtomicU64,
    pub writer_only: std::sync::atomic::AtomicBool,
}

impl MemoryDataKeys {
    fn master(&self) -> &DataKey {
        self.master.get_or_init(|| {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
            DataKey {
                plaintext: secrecy::SecretBox::new(Box::new(k)),
                encrypted: Vec::new(),
                key_id: "memory-kms-key".into(),
            }
        })
    }
}

#[async_trait]
impl DataKeys for MemoryDataKeys {
    async fn generate(&self, tenant: &TenantId) -> Result<DataKey, KeyError> {
        use secrecy::ExposeSecret;
        self.generated.fetch_add(1, Ordering::SeqCst);
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
        let wrapped = crate::crypto::seal(self.master(), &hex::encode(k), tenant.as_str());
        let encrypted = serde_json::to_vec(&wrapped).expect("serialisable");
        let plaintext: Key = secrecy::SecretBox::new(Box::new(k));
        debug_assert_eq!(plaintext.expose_secret().len(), 32);
        Ok(DataKey {
            plaintext,
            encrypted,
            key_id: "memory-kms-key".into(),
        })
    }

    async fn decrypt(&self, encrypted: &[u8], tenant: &TenantId) -> Result<Key, KeyError> {
        use secrecy::ExposeSecret;
        if self.writer_only.load(Ordering::SeqCst) {
            return Err(KeyError::Unavailable("AccessDenied: kms:Decrypt".into()));
        }
        self.decrypted.fetch_add(1, Ordering::SeqCst);
        let wrapped = serde_json::from_slice(encrypted)
            .map_err(|_| KeyError::Keys("not a data key".into()))?;
        let key = crate::crypto::open(&self.master().plaintext, &wrapped, tenant.as_str())?;
        let bytes = hex::decode(key.expose_secret())
            .map_err(|_| KeyError::Keys("not a data key".into()))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Keys("not a data key".into()))?;
        Ok(secrecy::SecretBox::new(Box::new(array)))
    }
}

/// Secrets by id; clones share them.
#[derive(Clone, Default)]
pub struct MemorySecrets {
    values: std::sync::Arc<Mutex<HashMap<String, String>>>,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl MemorySecrets {
    /// How many times a secret was asked for.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, id: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(id.to_owned(), value.to_owned());
    }

    pub fn remove(&self, id: &str) {
        self.values.lock().unwrap().remove(id);
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn secret(&self, id: &str) -> Result<SecretString, SecretsError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.values.lock().unwrap().get(id) {
            Some(v) => Ok(SecretString::from(v.clone())),
            None => Err(SecretsError::Fetch {
                id: id.to_owned(),
                source: "no such secret".into(),
            }),
        }
    }
}

/// siteverify: answers the verdict set for a token (`None`: unreachable), and records the
/// secret each question was asked with.
#[derive(Default)]
pub struct MemoryCaptcha {
    verdicts: Mutex<HashMap<String, Option<Verdict>>>,
    pub asked_with: Mutex<Vec<String>>,
}

impl MemoryCaptcha {
    pub fn answer(&self, token: &str, verdict: Option<Verdict>) {
        self.verdicts
            .lock()
            .unwrap()
            .insert(token.to_owned(), verdict);
    }
}

#[async_trait]
impl Captcha for MemoryCaptcha {
    async fn siteverify(
        &self,
        secret: &SecretString,
        token: &str,
        _remote_ip: Option<&str>,
    ) -> Result<Verdict, CaptchaUnavailable> {
        use secrecy::ExposeSecret;
        self.asked_with
            .lock()
            .unwrap()
            .push(secret.expose_secret().to_owned());
        match self.verdicts.lock().unwrap().get(token) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Err(CaptchaUnavailable("unreachable".into())),
            None => Ok(Verdict {
                success: false,
                hostname: None,
                error_codes: vec!["invalid-input-response".into()],
            }),
        }
    }
}

/// A clock that moves only when told, one microsecond per reading, so that creation order
/// is strict.
pub struct FixedClock {
    micros: AtomicU64,
}

impl Default for FixedClock {
    fn default() -> Self {
        Self {
            // 2026-01-01T00:00:00Z
            micros: AtomicU64::new(1_767_225_600_000_000),
        }
    }
}

impl FixedClock {
    /// Moves the clock on (a velocity window passing).
    pub fn advance(&self, secs: u64) {
        self.micros.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        let us = self.micros.fetch_add(1, Ordering::SeqCst);
        Timestamp::from_unix_timestamp_nanos(i128::from(us) * 1_000).expect("in range")
    }
}

/// Ids 1000001, 1000002, … in the order asked; [`SeqIds::repeat_next`] hands out an id
/// again, for the id-collision paths.
#[derive(Default)]
pub struct SeqIds {
    next: AtomicU64,
    repeats: Mutex<Vec<u64>>,
}

impl SeqIds {
    fn take(&self) -> u64 {
        if let Some(n) = self.repeats.lock().unwrap().pop() {
            return n;
        }
        1_000_001 + self.next.fetch_add(1, Ordering::SeqCst)
    }

    /// The next `times` ids repeat the last one handed out.
    pub fn repeat_next(&self, times: usize) {
        let last = 1_000_000 + self.next.load(Ordering::SeqCst);
        self.repeats
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(last, times));
    }
}

impl Ids for SeqIds {
    fn customer_id(&self) -> CustomerId {
        CustomerId::try_from(self.take()).expect("small ids are valid")
    }

    fn payment_method_id(&self) -> PaymentMethodId {
        PaymentMethodId::try_from(self.take()).expect("small ids are valid")
    }

    fn link_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(0, self.take())
    }

    fn request_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(1, self.take())
    }
}
